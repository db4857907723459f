package federation

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/fetch"
)

// Security review (branch rev): expected to FAIL until fixed.

// TestASClarificationQuestionBounded (PS-126; security review 2026-12-07,
// finding 11): an AS's clarification question is bounded like the PS's
// own (pending.MaxMarkdown, 8 KiB): a longer one is refused
// (as_unreachable) before anything stores, shows or passes it on. Before
// the fix only its options were bounded, and the question reached the
// pending payload and the person's page at up to 256 KiB.
func TestASClarificationQuestionBounded(t *testing.T) {
	q := strings.Repeat("Which calendar? ", 200<<10/16)
	body, _ := json.Marshal(map[string]any{"clarification": q})
	if w, err := clarification(body, time.Unix(1_800_000_000, 0)); err == nil {
		t.Fatalf("an AS clarification of %d bytes was accepted (question kept: %d bytes); want it refused beyond 8 KiB", len(q), len(w.Question))
	}
}

type reviewDiscovery struct{}

func (reviewDiscovery) Key(context.Context, string, string, string) (fetch.KeyResult, error) {
	return fetch.KeyResult{}, errors.New("no keys")
}
func (reviewDiscovery) RefreshKey(context.Context, string, string, string) (fetch.KeyResult, error) {
	return fetch.KeyResult{}, errors.New("no keys")
}
func (reviewDiscovery) Metadata(_ context.Context, issuer, _ string) (map[string]any, error) {
	return map[string]any{"issuer": issuer, "auth_token_endpoint": issuer + "/token"}, nil
}

type reviewHTTP struct{ res *fetch.Response }

func (h reviewHTTP) Do(*http.Request) (*fetch.Response, error) { return h.res, nil }

type reviewSigner struct{}

func (reviewSigner) Sign(context.Context, *http.Request, []byte) error { return nil }

// TestASInteractionURLAdmittedByEgressPolicy (PS-125; security review
// 2026-12-07, finding 10): an AS's requirement=interaction url goes
// through the egress policy, as a resource's does: one naming a loopback,
// private or link-local address is refused (as_unreachable), never shown
// to the person or passed to the agent. Before the fix only its shape was
// checked.
func TestASInteractionURLAdmittedByEgressPolicy(t *testing.T) {
	h := http.Header{}
	h.Set("Location", "https://as.test/token/pending/1")
	h.Set("AAuth-Requirement", `requirement=interaction; url="https://10.0.0.5/admin"; code="ABCD1234"`)
	c := New(Options{Issuer: "https://ps.test", Discovery: reviewDiscovery{}, Signer: reviewSigner{},
		HTTP: reviewHTTP{res: &fetch.Response{StatusCode: http.StatusAccepted, Header: h, Body: []byte(`{"status":"pending"}`)}}})
	out, err := c.Start(context.Background(), &Request{Expect: Expected{AccessServer: "https://as.test"}}, nil)
	if err == nil && out.Wait != nil {
		t.Fatalf("an AS interaction url on a private address was admitted and would be shown/passed on: %+v", out.Wait)
	}
}

type reviewSlowAS struct {
	now   *time.Time
	calls int
}

func (h *reviewSlowAS) Do(*http.Request) (*fetch.Response, error) {
	h.calls++
	*h.now = h.now.Add(4 * time.Second) // each answer takes 4 s (under the fetcher's 5 s)
	hd := http.Header{}
	hd.Set("Location", "https://as.test/token/pending/1")
	hd.Set("AAuth-Requirement", "requirement=claims")
	return &fetch.Response{StatusCode: http.StatusAccepted, Header: hd, Body: []byte(`{"status":"pending","required_claims":["email"]}`)}, nil
}

// TestClaimsLoopKeepsTheBudget (PS-124, PS-127; security review
// 2026-12-07, finding 9): a requirement=claims answer is an exchange like
// a poll, within Options.Budget: an AS answering every claims POST with
// another requirement=claims no longer holds the request for rounds × the
// fetch timeout (2 min 12 s before the fix), the loop hands back a Wait.
func TestClaimsLoopKeepsTheBudget(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	as := &reviewSlowAS{now: &now}
	c := New(Options{Issuer: "https://ps.test", Discovery: reviewDiscovery{}, Signer: reviewSigner{}, HTTP: as,
		Now: func() time.Time { return now }})
	start := now
	_, _ = c.Start(context.Background(), &Request{Expect: Expected{AccessServer: "https://as.test"}}, nil)
	if spent := now.Sub(start); spent > 15*time.Second {
		t.Fatalf("one Start spent %v in %d exchanges with an AS that keeps asking for claims; budget %v", spent, as.calls, c.Budget())
	}
}

// reviewTrustStore is an in-memory Store for Trust.
type reviewTrustStore struct {
	as  map[string]AccessServer
	rel []Release
}

func (s *reviewTrustStore) AccessServer(_ context.Context, issuer string) (*AccessServer, error) {
	a, ok := s.as[issuer]
	if !ok {
		return nil, dberr.ErrNotFound
	}
	return &a, nil
}
func (s *reviewTrustStore) AccessServers(context.Context) ([]AccessServer, error) { return nil, nil }
func (s *reviewTrustStore) SetAccessServer(_ context.Context, a AccessServer) error {
	s.as[a.Issuer] = a
	return nil
}
func (s *reviewTrustStore) SetAccessServerBilling(context.Context, string, string, time.Time) error {
	return nil
}
func (s *reviewTrustStore) ClaimReleases(_ context.Context, personID string) ([]Release, error) {
	var out []Release
	for _, r := range s.rel {
		if r.PersonID == personID {
			out = append(out, r)
		}
	}
	return out, nil
}
func (s *reviewTrustStore) RecordClaimRelease(_ context.Context, personID, as, claim string, at time.Time) error {
	s.rel = append(s.rel, Release{PersonID: personID, AccessServer: as, Claim: claim, ReleasedAt: at})
	return nil
}
func (s *reviewTrustStore) StopClaimRelease(context.Context, string, string, time.Time) error {
	return nil
}
func (s *reviewTrustStore) ResumeClaimRelease(context.Context, string, string) (bool, error) {
	return false, nil
}
func (s *reviewTrustStore) RecordPresentation(context.Context, string, string, string, time.Time) error {
	return nil
}
func (s *reviewTrustStore) Presentations(context.Context, string) ([]string, error) { return nil, nil }

// TestDistrustedASReleasedNothing (PS-117, PS-124; security review
// 2026-12-07, finding 4): once the operator distrusts an AS
// (`access-servers distrust`), Offer/Allow/Release give it nothing, even
// for a request federated with it before. Before the fix its release rule
// still applied and the person's claims kept going to it.
func TestDistrustedASReleasedNothing(t *testing.T) {
	ctx := context.Background()
	st := &reviewTrustStore{as: map[string]AccessServer{}}
	tr := NewTrust(st, AllowAny, nil)
	const as = "https://as.test"
	if err := tr.Set(ctx, as, StatusTrusted, []string{"email"}, "op"); err != nil {
		t.Fatal(err)
	}
	have := map[string]any{"email": "alice@example.com"}
	if got, err := tr.Allow(ctx, "p1", as, []string{"email"}, have); err != nil || got["email"] == nil {
		t.Fatalf("the person's yes: %v %v", got, err)
	}
	if err := tr.Set(ctx, as, StatusDistrusted, nil, "op"); err != nil {
		t.Fatal(err)
	}
	if err := tr.Admit(ctx, as); err == nil {
		t.Fatal("a distrusted AS is admitted")
	}
	if got, err := tr.Release(ctx, "p1", as, []string{"email"}, have); err != nil || len(got) != 0 {
		t.Fatalf("claims released to an AS the operator distrusted: %v %v", got, err)
	}
}
