package tokens

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/faults"
	"github.com/aauth-ps/aauth-ps/ps/jose"
	"github.com/aauth-ps/aauth-ps/ps/telemetry"
)

// Defaults.
const (
	// MaxPersonTokenLifetime is the draft's ceiling (P§person-token-structure).
	MaxPersonTokenLifetime = time.Hour
	// ClockSkew is how long records outlive their token.
	ClockSkew = 300 * time.Second
	// minLifetime: issuing a token with less left than this is pointless.
	minLifetime = 5 * time.Second
)

// ErrTooShort means the caps leave the token less than a few seconds.
var ErrTooShort = errors.New("tokens: the token would expire at once")

// Signer signs a JWT of type typ with the PS's active key.
type Signer interface {
	SignJWT(ctx context.Context, typ string, claims map[string]any) (string, error)
}

// Store is what issuance needs from the database: issuance records,
// directed identifiers and consents (ps/store implements it).
type Store interface {
	RecordPersonToken(ctx context.Context, r Record) error
	PersonTokenRecords(ctx context.Context, missionS256 string) ([]Record, error)
	PurgePersonTokenRecords(ctx context.Context, expiredBefore time.Time) (int64, error)
	// DirectedSub returns the stored sub of (person, resource), storing
	// candidate first when there is none (concurrent callers agree).
	DirectedSub(ctx context.Context, personID, resource, candidate string, at time.Time) (string, error)
	// StoredDirectedSub reads it without storing ("" when none).
	StoredDirectedSub(ctx context.Context, personID, resource string) (string, error)
	PersonBySub(ctx context.Context, resource, sub string) (string, error)
	HasConsent(ctx context.Context, personID, agentIss, agentSub, resource string) (bool, error)
	GrantConsent(ctx context.Context, personID, agentIss, agentSub, resource string, at time.Time) error
	NewResourcesSince(ctx context.Context, agentIss, agentSub string, since time.Time) (int64, error)
	// PersonTokenRecord reads one record (dberr.ErrNotFound when none).
	PersonTokenRecord(ctx context.Context, jti string) (*Record, error)
	// PresentedPersonTokens lists the records of the person tokens this
	// PS presented to access server as for (aud, sub), newest first.
	PresentedPersonTokens(ctx context.Context, as, aud, sub string) ([]Record, error)

	RecordAuthToken(ctx context.Context, r AuthRecord) error
	AuthTokenRecord(ctx context.Context, jti string) (*AuthRecord, error)
	AuthTokenRecords(ctx context.Context, missionS256 string) ([]AuthRecord, error)
	PurgeAuthTokenRecords(ctx context.Context, expiredBefore time.Time) (int64, error)
	GrantedScopes(ctx context.Context, personID, agentIss, agentSub, resource string) ([]string, error)
	GrantScopes(ctx context.Context, personID, agentIss, agentSub, resource string, scopes []string, at time.Time) error
	// Grants lists the person's consents and scope grants (scope grants
	// one per agent × resource), newest first.
	Grants(ctx context.Context, personID string) ([]Grant, error)
	// RemoveGrant deletes one of the person's grants (every scope of a
	// scope grant); dberr.ErrNotFound when the person has none such.
	RemoveGrant(ctx context.Context, personID string, key GrantKey) error
	// TouchGrant sets the grant's last use to at (every scope of a scope
	// grant); no grant, nothing changes and no error.
	TouchGrant(ctx context.Context, personID string, key GrantKey, at time.Time) error
	// R3Grant reads the remembered choice on one R3 document (key.Kind
	// GrantR3; dberr.ErrNotFound when none).
	R3Grant(ctx context.Context, personID string, key GrantKey) (*R3Remembered, error)
	// GrantR3 stores the choice (upsert), keeping at most
	// MaxR3GrantsPerResource per agent and resource.
	GrantR3(ctx context.Context, personID string, key GrantKey, g R3Remembered, at time.Time) error
	RevocationGuard

	// AfterCommit runs f after the transaction the store is bound to
	// commits (at once outside one): the "token issued" log line is
	// written only for a token that was really issued.
	AfterCommit(f func())
}

// Options configure the issuer.
type Options struct {
	Issuer string
	Signer Signer
	Store  Store
	Now    func() time.Time
	// Lifetime of person tokens (≤ 1 h; default 1 h).
	Lifetime time.Duration
	// Log receives one "token issued" event per issuance, after commit
	// (never the token itself). nil: discard.
	Log *slog.Logger
}

// Service issues the PS's tokens and keeps their records and the consents.
type Service struct{ o Options }

// New builds a Service.
func New(o Options) (*Service, error) {
	if o.Issuer == "" || o.Signer == nil || o.Store == nil {
		return nil, errors.New("tokens: Issuer, Signer and Store are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Lifetime <= 0 || o.Lifetime > MaxPersonTokenLifetime {
		o.Lifetime = MaxPersonTokenLifetime
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{o: o}, nil
}

// WithStore is the Service bound to st (a transaction): what it issues and
// records commits or rolls back with the decision it belongs to.
func (s *Service) WithStore(st Store) *Service {
	c := *s
	c.o.Store = st
	return &c
}

// PersonTokenRequest is everything a person token is made of, resolved by
// the flow that asks for it: the agent, the person, the resource, the
// mission (nil outside one) and any further cap on exp.
type PersonTokenRequest struct {
	Agent    Agent
	PersonID string
	Username string // for the operator log only
	Tenant   string
	Resource string
	Mission  *mission.Record
	// Presigned, when set, is this token signed before the transaction
	// (PresignPersonToken): issued if the transaction reads what it was
	// signed from.
	Presigned *Presigned
}

// Issued is a signed token.
type Issued struct {
	Token string
	JTI   string
	Sub   string
	Exp   time.Time
}

// binding is what every token the PS issues to an agent shares: the
// agent's key in cnf, an audience, and an exp capped by one hour (or the
// configured lifetime), the agent token, the mission and an upstream token.
// The auth token endpoint issues through the same path.
type binding struct {
	agent    Agent
	audience string
	mission  *mission.Record
	caps     []*time.Time
}

// claims are the bound claims of a token issued at now with jti, or
// ErrTooShort, or the mission's terminated problem.
func (s *Service) claims(b binding, now time.Time, jti string) (map[string]any, time.Time, error) {
	key, agentCaps := b.agent.holder()
	if faults.On(faults.NoAgentExpCap) {
		agentCaps = nil
	}
	if key == nil {
		return nil, time.Time{}, errors.New("tokens: the agent's key is required")
	}
	exp := now.Add(s.o.Lifetime)
	caps := append(append(agentCaps, b.agent.upstreamExp()), b.caps...)
	if b.mission != nil {
		if ok, reason := b.mission.State().Active(now); !ok {
			return nil, time.Time{}, mission.Terminated(reason)
		}
		caps = append(caps, b.mission.ExpiresAt)
	}
	for _, c := range caps {
		if c != nil && !c.IsZero() && c.Before(exp) {
			exp = *c
		}
	}
	if exp.Sub(now) < minLifetime {
		return nil, time.Time{}, ErrTooShort
	}
	cnf, err := jose.PublicJWK(key.Key, "")
	if err != nil {
		return nil, time.Time{}, err
	}
	c := map[string]any{"iss": s.o.Issuer, "aud": b.audience, "cnf": map[string]any{"jwk": cnf},
		"jti": jti, "iat": now.Unix(), "exp": exp.Unix()}
	if b.mission != nil {
		c["mission_s256"] = b.mission.S256
	}
	return c, exp, nil
}

// IssuePersonToken signs a person token (aa-person+jwt) and records it. A
// mission that is no longer active answers its terminated problem, a
// revoked agent, sub-agent or upstream token its revoked problem: checked
// again in the caller's transaction (guard), so check and issuance commit
// together.
func (s *Service) IssuePersonToken(ctx context.Context, r PersonTokenRequest) (_ *Issued, err error) {
	ctx, span := telemetry.Start(ctx, "aauth.issue", telemetry.AttrTokenType.String("person"))
	defer func() { telemetry.End(span, err) }()
	now := s.o.Now()
	if r.Mission, err = s.guard(ctx, r.Agent, r.Mission); err != nil {
		return nil, err
	}
	candidate := r.Presigned.subCandidate()
	if candidate == "" {
		candidate = randomID()
	}
	sub, err := s.o.Store.DirectedSub(ctx, r.PersonID, r.Resource, candidate, now)
	if err != nil {
		return nil, err
	}
	tok, claims, at, exp, err := s.signed(ctx, aauth.TypPersonToken, now, r.Presigned, s.personClaims(r, sub))
	span.SetAttributes(telemetry.AttrPresigned.Bool(err == nil && r.Presigned != nil && tok == r.Presigned.token))
	if err != nil {
		return nil, err
	}
	jti := claims["jti"].(string)
	rec := Record{JTI: jti, Aud: r.Resource, Sub: sub, PersonID: r.PersonID, AgentIss: r.Agent.Iss, AgentSub: r.Agent.Sub,
		AgentTokenJTI: r.Agent.TokenJTI, CnfThumbprint: r.Agent.HolderThumbprint(), Tenant: r.Tenant, IssuedAt: at, Exp: exp,
		Lineage: r.Agent.lineage()}
	if r.Mission != nil {
		rec.MissionS256 = r.Mission.S256
	}
	if err := s.o.Store.RecordPersonToken(ctx, rec); err != nil {
		return nil, err
	}
	if r.Mission == nil || !r.Mission.Approves(r.Resource) {
		// Issued on the person's standing consent, not the mission's.
		if err := s.touchGrant(ctx, r.PersonID, GrantKey{Kind: GrantConsent, AgentIss: r.Agent.Iss, AgentSub: r.Agent.Sub, Resource: r.Resource}); err != nil {
			return nil, err
		}
	}
	s.logIssued(ctx, "person", rec.JTI, r.PersonID, r.Username, r.Agent, r.Resource, rec.MissionS256, nil, exp.Sub(now))
	return &Issued{Token: tok, JTI: jti, Sub: sub, Exp: exp}, nil
}

// personClaims builds r's person token for the directed sub sub.
func (s *Service) personClaims(r PersonTokenRequest, sub string) claimBuilder {
	return func(at time.Time, jti string) (map[string]any, time.Time, error) {
		claims, exp, err := s.claims(binding{agent: r.Agent, audience: r.Resource, mission: r.Mission}, at, jti)
		if err != nil {
			return nil, exp, err
		}
		claims["dwk"], claims["sub"] = aauth.DWKPerson, sub
		if r.Tenant != "" {
			claims["tenant"] = r.Tenant
		}
		return claims, exp, nil
	}
}

// PresignPersonToken signs r's person token before the transaction that
// will issue it (Presigned), with r.Mission as read so far and the
// person's stored directed sub at the resource (a new candidate when
// there is none); nil when it cannot. Nothing is written.
func (s *Service) PresignPersonToken(ctx context.Context, r PersonTokenRequest) *Presigned {
	// The store answers a sub this process saw committed from memory
	// (pairwise.go), so presigning usually reads nothing.
	sub, err := s.o.Store.StoredDirectedSub(ctx, r.PersonID, r.Resource)
	if err != nil {
		return nil
	}
	if sub == "" {
		sub = randomID()
	}
	return s.presign(ctx, aauth.TypPersonToken, sub, s.personClaims(r, sub))
}

// Record is a person-token issuance record (PS-259).
type Record struct {
	JTI, Aud, Sub, PersonID, AgentIss, AgentSub, AgentTokenJTI, CnfThumbprint, MissionS256, Tenant string
	IssuedAt, Exp                                                                                  time.Time
	Lineage
}

// Records lists the issuance records of a mission (or all when s256 is "").
func (s *Service) Records(ctx context.Context, missionS256 string) ([]Record, error) {
	return s.o.Store.PersonTokenRecords(ctx, missionS256)
}

// DirectedSub returns the person's identifier at resource, creating it on
// first use: random, so it reveals nothing and cannot be derived (PS-080),
// and stored, so it is the same in every token for that resource (PS-077).
func (s *Service) DirectedSub(ctx context.Context, personID, resource string) (string, error) {
	return s.o.Store.DirectedSub(ctx, personID, resource, randomID(), s.o.Now())
}

// PersonBySub resolves the person behind a directed sub at a resource (call
// chaining); "" when this PS never minted it.
func (s *Service) PersonBySub(ctx context.Context, resource, sub string) (string, error) {
	return s.o.Store.PersonBySub(ctx, resource, sub)
}

// Purge deletes issuance records (person and auth tokens) past exp +
// clock skew.
func (s *Service) Purge(ctx context.Context) (int64, error) {
	before := s.o.Now().Add(-ClockSkew)
	n, err := s.o.Store.PurgePersonTokenRecords(ctx, before)
	if err != nil {
		return n, err
	}
	m, err := s.o.Store.PurgeAuthTokenRecords(ctx, before)
	return n + m, err
}

// HasConsent reports whether the person let this agent act at resource
// as them (P§person-token-endpoint: asked on first use).
func (s *Service) HasConsent(ctx context.Context, personID, agentIss, agentSub, resource string) (bool, error) {
	return s.o.Store.HasConsent(ctx, personID, agentIss, agentSub, resource)
}

// GrantConsent records the person's consent (idempotent).
func (s *Service) GrantConsent(ctx context.Context, personID, agentIss, agentSub, resource string) error {
	return s.o.Store.GrantConsent(ctx, personID, agentIss, agentSub, resource, s.o.Now())
}

// NewResourcesSince counts the resources an agent was granted since t:
// the input of the distinct-resources rate limit (PS-070).
func (s *Service) NewResourcesSince(ctx context.Context, agentIss, agentSub string, t time.Time) (int64, error) {
	return s.o.Store.NewResourcesSince(ctx, agentIss, agentSub, t)
}

func randomID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// logIssued writes the operator's "token issued" event once the issuing
// transaction commits: who for, which agent and resource, the mission and
// scope, the lifetime in seconds. Never the token.
func (s *Service) logIssued(ctx context.Context, kind, jti, personID, username string, a Agent, resource, missionS256 string, scope []string, life time.Duration) {
	s.o.Store.AfterCommit(func() {
		attrs := []any{"token", kind, "jti", jti, "person", personID, "username", username, "agent", a.Sub, "provider", a.Iss,
			"resource", resource, "lifetime_s", int64(life / time.Second)}
		if missionS256 != "" {
			attrs = append(attrs, "mission", missionS256)
		}
		if len(scope) > 0 {
			attrs = append(attrs, "scope", strings.Join(scope, " "))
		}
		s.o.Log.InfoContext(ctx, "token issued", attrs...)
	})
}
