// Package chain resolves the two request parameters that change who a
// token is issued for or to, at both token endpoints: `upstream_token`
// (call chaining: a resource acting as an agent asks on behalf of the
// person a token it was shown names) and `subagent_token` (a parent agent
// asks for one of its sub-agents). What it resolves goes into the one
// tokens.Agent value the flows already carry (Agent.Upstream,
// Agent.SubAgent), so the decision and issuance paths stay the same.
//
// Implements draft-hardt-oauth-aauth-protocol-11 §Upstream Token
// Verification, §Call Chaining, §Intermediary Agent Identity, §Sub-Agents;
// PS-REQUIREMENTS §2.2.7, §2.2.8, §3.10, §3.11.
package chain

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/agents"
	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/httpsig"
	"github.com/aauth-ps/aauth-ps/ps/jose"
	"github.com/aauth-ps/aauth-ps/ps/resourcetoken"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

// Records are the PS's issuance records and directed identifiers
// (*tokens.Service).
type Records interface {
	PersonTokenRecord(ctx context.Context, jti string) (*tokens.Record, error)
	AuthTokenRecord(ctx context.Context, jti string) (*tokens.AuthRecord, error)
	PersonBySub(ctx context.Context, resource, sub string) (string, error)
	Presentations
}

// Presentations lists the person tokens this PS presented to access
// server as for (aud, sub), newest first (*tokens.Service).
type Presentations interface {
	PresentedPersonTokens(ctx context.Context, as, aud, sub string) ([]tokens.Record, error)
}

// ObtainedWith is the record of the person token an auth token of access
// server as for (aud, sub), bound to key cnf under mission, was obtained
// with: among the person tokens this PS presented to that AS for (aud,
// sub), known when the PS resolved it before (a recheck), else the newest
// bound to the same key under the same mission; nil when there is none.
// An AS's auth token names no presented_jti, so key and mission are what
// tie it to the person token. Used for an upstream auth token
// (P§upstream-token-verification (4)) and a presented one (the step-up,
// PS-266): revoking that person token revokes what the AS issued on it
// (P§revocation-cascade).
func ObtainedWith(ctx context.Context, p Presentations, as, aud, sub, cnf, mission, known string) (*tokens.Record, error) {
	recs, err := p.PresentedPersonTokens(ctx, as, aud, sub)
	if err != nil {
		return nil, err
	}
	for i := range recs {
		rec := &recs[i]
		if (known != "" && rec.JTI == known) || (known == "" && rec.CnfThumbprint == cnf && rec.MissionS256 == mission) {
			return rec, nil
		}
	}
	return nil, nil
}

// Bindings finds an agent's binding to a person (*agents.Service).
type Bindings interface {
	Lookup(ctx context.Context, provider, agentID string) (*agents.Binding, error)
}

// Revocations answers whether the PS holds a revocation for a token (the
// store, as for the agent token in Signature-Key).
type Revocations interface {
	IsRevoked(ctx context.Context, iss, jti string) (bool, error)
}

// SubAgents verifies a subagent_token for its parent (*httpsig.Verifier).
type SubAgents interface {
	VerifySubAgentToken(ctx context.Context, raw string, parent *httpsig.Agent) (*httpsig.Agent, error)
}

// Options configure a Resolver. All are required but Now.
type Options struct {
	Issuer string
	Keys   resourcetoken.OwnKeys
	// Access resolves an access server's keys (discovery), for an
	// upstream auth token an AS issued; nil accepts none (optional).
	Access      resourcetoken.Keys
	Records     Records
	Bindings    Bindings
	Revocations Revocations
	SubAgents   SubAgents
	AcceptAlgs  []string
	// Window is how far ahead of the PS clock an iat may be (clock_skew).
	Window time.Duration
	Now    func() time.Time
	// MissionEnded answers mission_terminated when the mission with this
	// s256 has ended (nil otherwise); optional. A revoked upstream token
	// under an ended mission gets the mission's answer, as at every other
	// endpoint (PS-§3.17): its revocation came from the mission ending.
	MissionEnded func(ctx context.Context, s256 string) error
}

// Resolver verifies upstream and sub-agent tokens.
type Resolver struct{ o Options }

// New builds a Resolver.
func New(o Options) *Resolver {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Window == 0 {
		o.Window = aauth.DefaultSignatureWindowSeconds * time.Second
	}
	return &Resolver{o: o}
}

// Params are the two parameters as a token request carried them ("" when
// absent).
type Params struct {
	UpstreamToken string
	SubagentToken string
}

// Parse reads upstream_token and subagent_token from a request body:
// strings no longer than a JWT this PS parses, else 400 invalid_request.
func Parse(m map[string]any) (Params, error) {
	var p Params
	for _, f := range []struct {
		name string
		dst  *string
	}{{"upstream_token", &p.UpstreamToken}, {"subagent_token", &p.SubagentToken}} {
		v, ok := m[f.name]
		if !ok {
			continue
		}
		s, isStr := v.(string)
		if !isStr || s == "" || len(s) > jose.MaxJWTLength {
			return Params{}, aauth.BadRequest(fmt.Sprintf("%s must be a compact JWT of at most %d bytes", f.name, jose.MaxJWTLength))
		}
		*f.dst = s
	}
	return p, nil
}

// Apply verifies what p carries for the signer a and records the result in
// ag: ag.Upstream for an upstream token, ag.SubAgent for a sub-agent
// token (and a.SubAgent: the verified sub-agent). Every failure is a 400
// with the draft's code (or 503/500), and ag is unchanged.
func (r *Resolver) Apply(ctx context.Context, a *httpsig.Agent, ag *tokens.Agent, p Params) error {
	var up *tokens.Upstream
	var sub *tokens.SubAgent
	if p.UpstreamToken != "" {
		var err error
		if up, err = r.Upstream(ctx, p.UpstreamToken, a); err != nil {
			return err
		}
	}
	if p.SubagentToken != "" {
		sa, err := r.o.SubAgents.VerifySubAgentToken(ctx, p.SubagentToken, a)
		if err != nil {
			return err
		}
		sub = &tokens.SubAgent{Sub: sa.ID, TokenJTI: sa.TokenJTI, TokenExp: sa.TokenExp, Key: sa.Key}
		// The server records the accepted sub-agent token, as it does the
		// signer's, once the request succeeded (PS-293).
		a.SubAgent = sa
	}
	ag.Upstream, ag.SubAgent = up, sub
	return nil
}

func invalid(detail string) *aauth.Problem {
	return aauth.NewProblem(http.StatusBadRequest, aauth.ErrInvalidUpstreamToken, detail)
}

func revoked(detail string) *aauth.Problem {
	return aauth.NewProblem(http.StatusBadRequest, aauth.ErrRevokedUpstreamToken, detail)
}

// Upstream verifies an upstream token for the intermediary a (the
// verified signer) per P§upstream-token-verification and resolves the
// person from this PS's own records.
func (r *Resolver) Upstream(ctx context.Context, raw string, a *httpsig.Agent) (*tokens.Upstream, error) {
	t, err := jose.ParseCompact(raw)
	if err != nil {
		return nil, invalid("the upstream token is not a well-formed JWT")
	}
	up := &tokens.Upstream{}
	// Step 1: typ tells a person token from an auth token; nothing else.
	switch typ := t.HeaderString("typ"); {
	case jose.TypMatches(typ, aauth.TypPersonToken):
		up.Typ = aauth.TypPersonToken
	case jose.TypMatches(typ, aauth.TypAuthToken):
		up.Typ = aauth.TypAuthToken
	default:
		return nil, invalid("the upstream token is neither a person token nor an auth token")
	}
	alg, kid := t.HeaderString("alg"), t.HeaderString("kid")
	if !slices.Contains(r.o.AcceptAlgs, alg) || kid == "" {
		return nil, invalid("the upstream token's alg is not accepted, or it has no kid")
	}
	// Step 2: this PS issued it, or (an auth token) an access server this
	// PS presented a person token to for its aud and sub; its ps is this
	// PS either way.
	as, err := r.signers().Verify(ctx, t, up.Typ, "the upstream token", r.o.AcceptAlgs)
	var se *resourcetoken.SignerError
	if errors.As(err, &se) {
		return nil, invalid(se.Detail)
	} else if err != nil {
		return nil, err
	}
	up.Iss = as
	if up.Typ == aauth.TypAuthToken {
		if ps, _ := t.ClaimString("ps"); ps != r.o.Issuer {
			return nil, invalid("the upstream auth token's ps is not this person server")
		}
	}
	up.Aud, _ = t.ClaimString("aud")
	up.Sub, _ = t.ClaimString("sub")
	up.JTI, _ = t.ClaimString("jti")
	if up.Aud == "" || up.Sub == "" || up.JTI == "" {
		return nil, invalid("the upstream token has no aud, sub or jti")
	}
	if v, present := t.Claims["mission_s256"]; present {
		s, ok := v.(string)
		if !ok || s == "" {
			return nil, invalid("the upstream token's mission_s256 is not a string")
		}
		up.MissionS256 = s
	}
	// cnf.jwk is the calling agent's key: required and usable, but not
	// compared with the key that signed this request (the intermediary's).
	cnf, _ := t.Claims["cnf"].(map[string]any)
	jwk, _ := cnf["jwk"].(map[string]any)
	cnfKey, err := jose.ParsePublicJWK(jwk, r.o.AcceptAlgs)
	if err != nil {
		return nil, invalid("the upstream token's cnf.jwk is missing or unusable")
	}
	exp, hasExp, err := t.NumericDate("exp")
	if err != nil || !hasExp {
		return nil, invalid("the upstream token has no valid exp")
	}
	iat, hasIat, err := t.NumericDate("iat")
	if err != nil || !hasIat || exp-iat > int64(resourcetoken.MaxPresentedLifetime/time.Second) {
		return nil, invalid("the upstream token has no valid iat or lives longer than an hour")
	}
	now := r.o.Now()
	if time.Unix(iat, 0).After(now.Add(r.o.Window)) {
		return nil, aauth.NewProblem(http.StatusBadRequest, aauth.ErrClockSkew, "the upstream token's iat is ahead of the PS clock by more than the signature window")
	}
	// Step 3: the intermediary is its own agent provider, so its agent
	// token's iss is the resource the calling agent presented the token to.
	if up.Aud != a.Provider {
		return nil, invalid("the upstream token's aud is not the intermediary that signed the request (its agent token's iss)")
	}
	up.Exp = time.Unix(exp, 0)
	if !up.Exp.After(now) {
		return nil, aauth.NewProblem(http.StatusBadRequest, aauth.ErrExpiredUpstreamToken,
			"the upstream token has expired; the calling agent must re-authorize at the intermediary")
	}
	if err := r.resolve(ctx, up, cnfKey.Thumbprint); err != nil {
		return nil, err
	}
	return up, nil
}

// signers is the issuer and key resolution shared with presented tokens.
func (r *Resolver) signers() resourcetoken.Signers {
	sg := resourcetoken.Signers{Issuer: r.o.Issuer, Own: r.o.Keys}
	if r.o.Access != nil {
		sg.Access = r.o.Access
		sg.Federated = func(ctx context.Context, as, aud, sub string) (bool, error) {
			recs, err := r.o.Records.PresentedPersonTokens(ctx, as, aud, sub)
			return len(recs) > 0, err
		}
	}
	return sg
}

// via is the record of the person token an access server's upstream auth
// token was obtained with (ObtainedWith; up.Via when known), noted in
// up.Via; nil when there is none.
func (r *Resolver) via(ctx context.Context, up *tokens.Upstream, cnf string) (*issued, error) {
	rec, err := ObtainedWith(ctx, r.o.Records, up.Iss, up.Aud, up.Sub, cnf, up.MissionS256, up.Via)
	if err != nil || rec == nil {
		return nil, err
	}
	up.Via = rec.JTI
	return r.record(ctx, aauth.TypPersonToken, rec.JTI)
}

// issued is what the PS recorded about a token it issued, either kind.
type issued struct {
	aud, sub, personID, agentIss, agentSub string
	// tokenJTIs are the agent tokens the holder acted with (the agent's
	// and, for a sub-agent, the sub-agent's).
	tokenJTIs   []string
	missionS256 string
	tokens.Lineage
}

// record reads the issuance record of jti, of the kind typ (or either
// when typ is ""); nil when the PS keeps none.
func (r *Resolver) record(ctx context.Context, typ, jti string) (*issued, error) {
	if typ != aauth.TypAuthToken {
		rec, err := r.o.Records.PersonTokenRecord(ctx, jti)
		if err == nil {
			return &issued{aud: rec.Aud, sub: rec.Sub, personID: rec.PersonID, agentIss: rec.AgentIss, agentSub: rec.AgentSub,
				tokenJTIs: []string{rec.AgentTokenJTI, rec.SubAgentTokenJTI}, missionS256: rec.MissionS256, Lineage: rec.Lineage}, nil
		}
		if !errors.Is(err, dberr.ErrNotFound) {
			return nil, err
		}
		if typ != "" {
			return nil, nil
		}
	}
	rec, err := r.o.Records.AuthTokenRecord(ctx, jti)
	if errors.Is(err, dberr.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &issued{aud: rec.Aud, sub: rec.Sub, personID: rec.PersonID, agentIss: rec.AgentIss, agentSub: rec.AgentSub,
		tokenJTIs: []string{rec.AgentTokenJTI, rec.SubAgentTokenJTI}, missionS256: rec.MissionS256, Lineage: rec.Lineage}, nil
}

// resolve runs steps 4–6 against the PS's own records: the calling agent,
// its revocations and binding (every agent up the chain, to the first one,
// whose binding is what made the person reachable), the person, the depth.
func (r *Resolver) resolve(ctx context.Context, up *tokens.Upstream, cnf string) error {
	iss := r.o.Issuer
	if up.Iss != "" {
		iss = up.Iss // an access server's auth token
	}
	if rv, err := r.o.Revocations.IsRevoked(ctx, iss, up.JTI); err != nil {
		return err
	} else if rv {
		if up.MissionS256 != "" && r.o.MissionEnded != nil {
			if err := r.o.MissionEnded(ctx, up.MissionS256); err != nil {
				return err
			}
		}
		return revoked("the upstream token has been revoked")
	}
	var rec *issued
	var err error
	if up.Iss != "" {
		rec, err = r.via(ctx, up, cnf)
	} else {
		rec, err = r.record(ctx, up.Typ, up.JTI)
	}
	if err != nil {
		return err
	}
	if rec == nil || rec.aud != up.Aud || rec.sub != up.Sub || rec.missionS256 != up.MissionS256 {
		return invalid("this person server cannot identify the agent the upstream token was issued to")
	}
	if up.Via != "" {
		// Revoking the person token revokes what was obtained with it,
		// as far as this PS can tell.
		if rv, err := r.o.Revocations.IsRevoked(ctx, r.o.Issuer, up.Via); err != nil {
			return err
		} else if rv {
			return revoked("the person token the upstream auth token was obtained with has been revoked")
		}
	}
	personID, err := r.o.Records.PersonBySub(ctx, up.Aud, up.Sub)
	if err != nil {
		return err
	}
	if personID == "" || personID != rec.personID {
		return invalid("the upstream token's sub is not an identifier this person server issued at its aud")
	}
	if rec.Depth >= tokens.MaxChainDepth {
		return invalid(fmt.Sprintf("the call chain is longer than this person server allows (%d hops)", tokens.MaxChainDepth))
	}
	up.PersonID, up.Depth = personID, rec.Depth
	// Walk up to the first agent; the depth bound bounds the walk.
	for hop := rec; ; {
		for _, jti := range hop.tokenJTIs {
			if jti == "" {
				continue
			}
			if rv, err := r.o.Revocations.IsRevoked(ctx, hop.agentIss, jti); err != nil {
				return err
			} else if rv {
				return revoked("the agent the upstream token was issued to has been revoked")
			}
		}
		if hop.UpstreamJTI == "" {
			return r.bound(ctx, hop)
		}
		next, err := r.record(ctx, "", hop.UpstreamJTI)
		if err != nil {
			return err
		}
		if next == nil || next.personID != personID || next.Depth >= hop.Depth {
			return invalid("this person server cannot identify the agent the call chain started with")
		}
		hop = next
	}
}

// bound: the first agent of the chain is still bound to the person.
func (r *Resolver) bound(ctx context.Context, first *issued) error {
	b, err := r.o.Bindings.Lookup(ctx, first.agentIss, first.agentSub)
	if errors.Is(err, dberr.ErrNotFound) {
		return revoked("the agent the upstream token was issued to is no longer connected to the person")
	}
	if err != nil {
		return err
	}
	if b.State != agents.BindingActive || b.PersonID != first.personID {
		return revoked("the person revoked the agent the upstream token was issued to")
	}
	return nil
}

// Deadline is when a pending request for ag must end with 408 expired: the
// upstream token's exp on a chained request (PS-278), else zero.
func Deadline(ag tokens.Agent) time.Time {
	if ag.Upstream == nil {
		return time.Time{}
	}
	return ag.Upstream.Exp
}

// TooShort is the answer when the caps on exp leave nothing to issue: the
// upstream token when it is the tightest cap (expired_upstream_token),
// else the mission's expires_at (mission_terminated).
func TooShort(ag tokens.Agent, ms *mission.Record) error {
	if up := ag.Upstream; up != nil && (ms == nil || ms.ExpiresAt == nil || !up.Exp.After(*ms.ExpiresAt)) {
		return aauth.NewProblem(http.StatusBadRequest, aauth.ErrExpiredUpstreamToken, "the upstream token expires too soon to issue anything on it")
	}
	return mission.Terminated(mission.ReasonExpired)
}

// SubAgentFunc adapts a function to SubAgents (the composition root binds
// the verifier once it exists).
type SubAgentFunc func(ctx context.Context, raw string, parent *httpsig.Agent) (*httpsig.Agent, error)

// VerifySubAgentToken calls f.
func (f SubAgentFunc) VerifySubAgentToken(ctx context.Context, raw string, parent *httpsig.Agent) (*httpsig.Agent, error) {
	return f(ctx, raw, parent)
}

// Recheck runs the record checks of an upstream token again (its
// revocation, the calling agent's and the first agent's binding, the
// person): a chained request the person decides on later must not issue
// on a chain revoked meanwhile. nil up is nothing to check.
func (r *Resolver) Recheck(ctx context.Context, up *tokens.Upstream) error {
	if up == nil {
		return nil
	}
	again := *up
	if err := r.resolve(ctx, &again, ""); err != nil {
		return err
	}
	if again.PersonID != up.PersonID {
		return invalid("the upstream token names another person than when the request was made")
	}
	return nil
}

// Persons reads a person by id (*interact.Service).
type Persons interface {
	PersonByID(ctx context.Context, id string) (*account.Person, error)
}

// Person is the person a chained request is for: the one the upstream
// token names, read without any binding (PS-277); a disabled account is
// 403 denied, as for a bound agent.
func Person(ctx context.Context, persons Persons, up *tokens.Upstream) (*account.Person, error) {
	p, err := persons.PersonByID(ctx, up.PersonID)
	if err != nil {
		return nil, err
	}
	if p.Disabled {
		return nil, aauth.NewProblem(http.StatusForbidden, aauth.ErrDenied, "the person's account is disabled")
	}
	return p, nil
}
