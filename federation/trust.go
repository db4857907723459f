package federation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/dberr"
)

// Policy is the operator's policy on access servers, as for agent
// providers: allow-any admits every AS not distrusted; allow-list only
// trusted ones.
type Policy string

// Policies.
const (
	AllowAny  Policy = "allow-any"
	AllowList Policy = "allow-list"
)

// ParsePolicy reads --access-server-policy.
func ParsePolicy(s string) (Policy, error) {
	switch Policy(s) {
	case AllowAny, AllowList:
		return Policy(s), nil
	case "":
		return AllowAny, nil
	}
	return "", fmt.Errorf("access server policy %q: want allow-any or allow-list", s)
}

// Status of an access server at this PS.
type Status string

// Statuses.
const (
	StatusSeen       Status = "seen"
	StatusTrusted    Status = "trusted"
	StatusDistrusted Status = "distrusted"
)

// AccessServer is what this PS knows of an AS.
type AccessServer struct {
	Issuer string
	Status Status
	// Claims are the operator's release rule: the claims this PS may
	// release to the AS on requirement=claims (none by default).
	Claims    []string
	BillingAt *time.Time
	BillingBy string
	UpdatedAt time.Time
	UpdatedBy string
}

// Release is one claim this PS released to an AS for a person.
type Release struct {
	PersonID     string
	AccessServer string
	Claim        string
	ReleasedAt   time.Time
	// StoppedAt is when the person stopped future release to this AS.
	StoppedAt *time.Time
}

// Store keeps access servers, releases and presentations (*store.Store).
type Store interface {
	AccessServer(ctx context.Context, issuer string) (*AccessServer, error)
	AccessServers(ctx context.Context) ([]AccessServer, error)
	SetAccessServer(ctx context.Context, a AccessServer) error
	SetAccessServerBilling(ctx context.Context, issuer, by string, at time.Time) error
	ClaimReleases(ctx context.Context, personID string) ([]Release, error)
	RecordClaimRelease(ctx context.Context, personID, as, claim string, at time.Time) error
	StopClaimRelease(ctx context.Context, personID, as string, at time.Time) error
	// ResumeClaimRelease removes the person's stop on as; false when there
	// was none.
	ResumeClaimRelease(ctx context.Context, personID, as string) (bool, error)
	RecordPresentation(ctx context.Context, jti, personID, as string, exp time.Time) error
	Presentations(ctx context.Context, jti string) ([]string, error)
}

// Trust applies the operator's policy and release rules and the person's
// choices.
type Trust struct {
	st     Store
	policy Policy
	now    func() time.Time
}

// NewTrust returns the trust service.
func NewTrust(st Store, policy Policy, now func() time.Time) *Trust {
	if now == nil {
		now = time.Now
	}
	return &Trust{st: st, policy: policy, now: now}
}

// ErrNotTrusted: the operator does not let this PS federate with the AS.
var ErrNotTrusted = errors.New("federation: the access server is not trusted by this person server")

// WithStore is t on st (a transaction), so that a decision joins the
// caller's transaction (its audit row commits with it).
func (t *Trust) WithStore(st Store) *Trust {
	c := *t
	c.st = st
	return &c
}

// Admit applies the policy before anything is fetched from as.
func (t *Trust) Admit(ctx context.Context, as string) error {
	a, err := t.st.AccessServer(ctx, as)
	if isNotFound(err) {
		a, err = nil, nil
	}
	if err != nil {
		return err
	}
	if t.refuses(a) {
		return ErrNotTrusted
	}
	return nil
}

// refuses is the policy's one decision on an AS, a nil when this PS has
// no record of it: distrusted, or under allow-list not trusted.
func (t *Trust) refuses(a *AccessServer) bool {
	switch {
	case a != nil && a.Status == StatusDistrusted:
		return true
	case t.policy == AllowList && (a == nil || a.Status != StatusTrusted):
		return true
	}
	return false
}

// List lists the access servers this PS knows.
func (t *Trust) List(ctx context.Context) ([]AccessServer, error) { return t.st.AccessServers(ctx) }

// Set records an operator's decision on as: its status and, when claims
// is not nil, its release rule.
func (t *Trust) Set(ctx context.Context, as string, status Status, claims []string, by string) error {
	switch status {
	case StatusSeen, StatusTrusted, StatusDistrusted:
	default:
		return errors.New("federation: unknown access server status")
	}
	cur, err := t.st.AccessServer(ctx, as)
	if err != nil && !errors.Is(err, dberr.ErrNotFound) {
		return err
	}
	a := AccessServer{Issuer: as, Status: status, Claims: claims, UpdatedAt: t.now(), UpdatedBy: by}
	if cur != nil && claims == nil {
		a.Claims = cur.Claims
	}
	return t.st.SetAccessServer(ctx, a)
}

// Billing reports whether this PS has a billing relationship with as.
func (t *Trust) Billing(ctx context.Context, as string) (bool, error) {
	a, err := t.st.AccessServer(ctx, as)
	if errors.Is(err, dberr.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return a.BillingAt != nil, nil
}

// SetBilling records a billing relationship with as, accepted by by.
func (t *Trust) SetBilling(ctx context.Context, as, by string) error {
	return t.st.SetAccessServerBilling(ctx, as, by, t.now())
}

// Releasable are the claim names a release rule may list: identity
// claims of the person, never sub (P§requirement-claims, PS-124): a sub
// is directed per resource and the presented token already carries it.
var Releasable = []string{"name", "email", "email_verified", "tenant", "groups", "roles"}

// ParseClaims reads a release rule ("email name"), refusing unknown names.
func ParseClaims(s string) ([]string, error) {
	out := []string{}
	for _, c := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' }) {
		if !slices.Contains(Releasable, c) {
			return nil, fmt.Errorf("claim %q cannot be released (releasable: %s)", c, strings.Join(Releasable, ", "))
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// Release answers requirement=claims for personID at as without asking:
// what the person allowed before (Allow), nothing after they refused or
// stopped, and ErrAskPerson while they have made no choice and Offer is
// not empty. Of required, only claims the operator's rule for as lists
// and the person has (have) are released, never sub; each is recorded
// for the person to see.
func (t *Trust) Release(ctx context.Context, personID, as string, required []string, have map[string]any) (map[string]any, error) {
	allowed, stopped, err := t.Chosen(ctx, personID, as)
	switch {
	case err != nil:
		return nil, err
	case stopped:
		return map[string]any{}, nil
	case allowed:
		return t.Allow(ctx, personID, as, required, have)
	}
	offer, err := t.Offer(ctx, as, required, have)
	if err != nil || len(offer) == 0 {
		return offer, err
	}
	return nil, ErrAskPerson
}

func isNotFound(err error) bool { return errors.Is(err, dberr.ErrNotFound) }

// Releases lists what was released for personID, per AS.
func (t *Trust) Releases(ctx context.Context, personID string) ([]Release, error) {
	return t.st.ClaimReleases(ctx, personID)
}

// StopRelease stops future release to as for personID.
func (t *Trust) StopRelease(ctx context.Context, personID, as string) error {
	return t.st.StopClaimRelease(ctx, personID, as, t.now())
}

// ShareAgain undoes the person's stop (or refusal) for as: the details
// they released before may go to as again, and an AS step asking for
// others asks them again. False when there was no stop.
func (t *Trust) ShareAgain(ctx context.Context, personID, as string) (bool, error) {
	return t.st.ResumeClaimRelease(ctx, personID, as)
}

// Presented records that this PS presented person token jti to as.
func (t *Trust) Presented(ctx context.Context, personID, as, jti string, exp time.Time) error {
	return t.st.RecordPresentation(ctx, jti, personID, as, exp)
}

// PresentedTo lists the access servers person token jti was presented to.
func (t *Trust) PresentedTo(ctx context.Context, jti string) ([]string, error) {
	return t.st.Presentations(ctx, jti)
}
