package httpsig

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/dunglas/httpsfv"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/fetch"
	"github.com/aauth-ps/aauth-ps/ps/jose"
)

// ErrProviderRefused is what a ProviderGate wraps when policy refuses an
// agent provider; the request gets 401 invalid_jwt.
var ErrProviderRefused = errors.New("agent provider refused by policy")

// verifyAgentToken verifies the agent token carried by a `jwt`-scheme
// Signature-Key member, in the order of PS-REQUIREMENTS §2.2.1: every check
// that needs no network runs before the agent provider is contacted.
//
// With revocationWithReplay, step 9 is left to the caller's replay write
// (Verify); a refusal after it here still answers a revocation first.
func (v *Verifier) verifyAgentToken(ctx context.Context, now time.Time, member httpsfv.Item, revocation revocationCheck) (*Agent, error) {
	raw, ok := member.Params.Get("jwt")
	if !ok {
		return nil, aauth.SigErr(aauth.SigInvalidKey, "the jwt scheme requires a jwt parameter")
	}
	token, ok := raw.(string)
	if !ok {
		return nil, aauth.SigErr(aauth.SigInvalidKey, "the jwt parameter must be a string")
	}
	if agent := v.tokens.get(token, now); agent != nil {
		// Verified before (see tokencache.go); what may have changed since
		// is checked again.
		if err := v.admitProvider(ctx, agent.Provider); err != nil {
			return nil, err
		}
		if revocation == revocationNow {
			if err := v.notRevoked(ctx, agent); err != nil {
				return nil, err
			}
		}
		return agent, nil
	}

	// 1. Well-formed compact JWT.
	jwt, err := jose.ParseCompact(token)
	if err != nil {
		return nil, &aauth.SignatureError{Code: aauth.SigInvalidJWT, Detail: "the agent token is not a well-formed JWT", Cause: err}
	}
	// 2. typ first (P§common-verification (1), A-30).
	if typ := jwt.HeaderString("typ"); !jose.TypMatches(typ, aauth.TypAgentToken) {
		return nil, aauth.SigErrf(aauth.SigInvalidJWT, "the Signature-Key token must have typ %s", aauth.TypAgentToken)
	}
	// 3. Header alg fully specified and accepted; kid present.
	alg := jwt.HeaderString("alg")
	if !slices.Contains(v.cfg.AcceptAlgs, alg) {
		return nil, aauth.SigErr(aauth.SigInvalidJWT, "the agent token's alg is not an accepted fully-specified algorithm")
	}
	kid := jwt.HeaderString("kid")
	if kid == "" {
		return nil, aauth.SigErr(aauth.SigInvalidJWT, "the agent token has no kid")
	}
	// 4. exp (no tolerance) and iat (present; bounded ahead by the window, A-20).
	exp, hasExp, err := jwt.NumericDate("exp")
	if err != nil || !hasExp {
		return nil, aauth.SigErr(aauth.SigInvalidJWT, "the agent token has no valid exp")
	}
	if !time.Unix(exp, 0).After(now) {
		return nil, aauth.SigErr(aauth.SigExpiredJWT, "the agent token has expired")
	}
	iat, hasIat, err := jwt.NumericDate("iat")
	if err != nil || !hasIat {
		return nil, aauth.SigErr(aauth.SigInvalidJWT, "the agent token has no valid iat")
	}
	if time.Unix(iat, 0).After(now.Add(v.cfg.Window)) {
		return nil, aauth.SigErr(aauth.SigClockSkew, "the agent token's iat is ahead of the server clock by more than the signature window")
	}
	// 5. Required claims, dwk, iss, and the identifier syntax of sub, ps and
	// parent_agent (step 9 of §2.2.1, run before any fetch so a malformed
	// token never causes one).
	agent, err := v.agentClaims(jwt)
	if err != nil {
		return nil, err
	}
	agent.TokenExp, agent.TokenIAT = time.Unix(exp, 0), time.Unix(iat, 0)
	agent.Token = token
	if err := v.admitProvider(ctx, agent.Provider); err != nil {
		return nil, err
	}

	// 6–8. Discovery, key selection, JWT signature (refresh once on failure).
	if err := v.verifyTokenSignature(ctx, jwt, agent.Provider, kid, alg); err != nil {
		return nil, err
	}
	// 9. Revocation (or with the replay write).
	if revocation == revocationNow {
		if err := v.notRevoked(ctx, agent); err != nil {
			return nil, err
		}
	}
	// 10. cnf.jwk admission: structure, alg, kty/crv agreement.
	cnfJWK := jwt.Claims["cnf"].(map[string]any)["jwk"].(map[string]any)
	key, err := jose.ParsePublicJWK(cnfJWK, v.cfg.AcceptAlgs)
	var refusal error
	switch {
	case errors.Is(err, jose.ErrUnsupportedAlgorithm):
		refusal = &aauth.SignatureError{Code: aauth.SigUnsupportedAlgorithm, AcceptAlgs: slices.Clone(v.cfg.AcceptAlgs),
			Detail: "the agent key's alg is absent, polymorphic or not accepted", Cause: err}
	case err != nil:
		refusal = &aauth.SignatureError{Code: aauth.SigInvalidKey, Detail: "the agent key in cnf.jwk is not usable", Cause: err}
	}
	if refusal != nil {
		if revocation == revocationWithReplay {
			refusal = v.revokedFirst(ctx, agent, refusal)
		}
		return nil, refusal
	}
	agent.Key = key
	v.tokens.put(agent, now)
	return agent, nil
}

// admitProvider applies the operator's provider policy (step 5).
func (v *Verifier) admitProvider(ctx context.Context, provider string) error {
	if v.cfg.Providers == nil {
		return nil
	}
	if err := v.cfg.Providers.Admit(ctx, provider); err != nil {
		if errors.Is(err, ErrProviderRefused) {
			return &aauth.SignatureError{Code: aauth.SigInvalidJWT, Detail: "this person server does not accept agents of this agent provider", Cause: err}
		}
		return internalError("provider policy", err)
	}
	return nil
}

// revocationCheck says when step 9, the agent token's revocation, runs.
type revocationCheck int

const (
	revocationNow        revocationCheck = iota // in verifyAgentToken
	revocationWithReplay                        // with the replay write (Verify)
)

// notRevoked is step 9: no revocation is recorded for the agent token.
func (v *Verifier) notRevoked(ctx context.Context, agent *Agent) error {
	revoked, err := v.cfg.Revocations.IsRevoked(ctx, agent.Provider, agent.TokenJTI)
	if err != nil {
		return internalError("revocation lookup", err)
	}
	if revoked {
		return errAgentTokenRevoked()
	}
	return nil
}

// revokedFirst is refusal, unless the agent token is revoked: a refusal
// from a step after step 9 when step 9 was left to the replay write, so
// that the answer is still the one the steps' order gives. It runs only on
// the way to a refusal.
func (v *Verifier) revokedFirst(ctx context.Context, agent *Agent, refusal error) error {
	if err := v.notRevoked(ctx, agent); err != nil {
		return err
	}
	return refusal
}

func errAgentTokenRevoked() error {
	return aauth.SigErr(aauth.SigRevokedJWT, "the agent token has been revoked")
}

// agentClaims checks the claims that need no network and builds the Agent.
func (v *Verifier) agentClaims(jwt *jose.CompactJWT) (*Agent, error) {
	invalid := func(detail string) error { return aauth.SigErr(aauth.SigInvalidJWT, detail) }
	iss, ok := jwt.ClaimString("iss")
	if !ok {
		return nil, invalid("the agent token has no iss")
	}
	if dwk, _ := jwt.ClaimString("dwk"); dwk != aauth.DWKAgent {
		return nil, invalid("the agent token's dwk must be " + aauth.DWKAgent)
	}
	if err := v.cfg.Identifiers.CheckServer(iss); err != nil {
		return nil, invalid("the agent token's iss is not a valid server identifier")
	}
	sub, ok := jwt.ClaimString("sub")
	if !ok {
		return nil, invalid("the agent token has no sub")
	}
	jti, ok := jwt.ClaimString("jti")
	if !ok || jti == "" {
		return nil, invalid("the agent token has no jti")
	}
	cnf, ok := jwt.Claims["cnf"].(map[string]any)
	if !ok {
		return nil, invalid("the agent token has no cnf")
	}
	if _, ok := cnf["jwk"].(map[string]any); !ok {
		return nil, invalid("the agent token has no cnf.jwk")
	}
	parsed, err := v.cfg.Identifiers.ParseAgentID(sub)
	if err != nil {
		return nil, invalid("the agent token's sub is not a valid agent identifier")
	}
	// an agent provider names only agents in its own domain.
	if parsed.Domain != aauth.ServerHost(iss) {
		return nil, invalid("the agent identifier's domain is not the agent provider's")
	}
	a := &Agent{ID: sub, Parsed: parsed, Provider: iss, TokenJTI: jti, Claims: jwt.Claims}
	if ps, present := jwt.Claims["ps"]; present {
		s, isStr := ps.(string)
		if !isStr || v.cfg.Identifiers.CheckServer(s) != nil {
			return nil, invalid("the agent token's ps is not a valid server identifier")
		}
		a.PS = s
	}
	if pa, present := jwt.Claims["parent_agent"]; present {
		s, isStr := pa.(string)
		if !isStr {
			return nil, invalid("the agent token's parent_agent is not a valid agent identifier")
		}
		if _, err := v.cfg.Identifiers.ParseAgentID(s); err != nil {
			return nil, invalid("the agent token's parent_agent is not a valid agent identifier")
		}
		a.ParentAgent = s
	} else if parsed.IsSubAgentName() {
		// P§agent-identifiers: a top-level local part MUST NOT contain '+', but
		// parties MUST NOT parse it for protocol decisions; parent_agent alone
		// marks a sub-agent. Logged as an agent-provider anomaly.
		v.cfg.Logger.Warn("agent provider issued a top-level agent identifier containing '+'",
			"agent", sub, "provider", iss)
	}
	return a, nil
}

// verifyTokenSignature runs discovery and the JWT signature check, refreshing
// the issuer's JWKS once when a cached key fails (P§jwks-discovery).
func (v *Verifier) verifyTokenSignature(ctx context.Context, jwt *jose.CompactJWT, iss, kid, alg string) error {
	res, err := v.cfg.Discovery.Key(ctx, iss, aauth.DWKAgent, kid)
	if err != nil {
		return discoveryError(err)
	}
	err = checkWithJWKSKey(jwt, res.JWK, alg, v.cfg.AcceptAlgs)
	if err == nil || !res.FromCache {
		return err
	}
	res, rerr := v.cfg.Discovery.RefreshKey(ctx, iss, aauth.DWKAgent, kid)
	if rerr != nil {
		if errors.Is(rerr, fetch.ErrUnknownKey) {
			return discoveryError(rerr)
		}
		// The floor forbids a refresh or the provider is unreachable:
		// the original failure stands.
		return err
	}
	return checkWithJWKSKey(jwt, res.JWK, alg, v.cfg.AcceptAlgs)
}

// checkWithJWKSKey admits the agent provider's key (it must carry an alg
// equal to the header's, A-31) and verifies the JWT with it.
func checkWithJWKSKey(jwt *jose.CompactJWT, member map[string]any, headerAlg string, accept []string) error {
	if a, _ := member["alg"].(string); a != headerAlg {
		return aauth.SigErr(aauth.SigInvalidJWT, "the agent provider's key does not carry the token's alg")
	}
	key, err := jose.ParsePublicJWK(member, accept)
	if err != nil {
		return &aauth.SignatureError{Code: aauth.SigInvalidJWT, Detail: "the agent provider's key is not usable", Cause: err}
	}
	if err := jwt.VerifySignature(key); err != nil {
		return &aauth.SignatureError{Code: aauth.SigInvalidJWT, Detail: "the agent token's signature does not verify", Cause: err}
	}
	return nil
}

// discoveryError maps key-discovery failures onto Signature-Error codes,
// or 503 for a transient failure with nothing cached.
func discoveryError(err error) error {
	switch {
	case errors.Is(err, fetch.ErrIssuerMissing):
		return &aauth.SignatureError{Code: aauth.SigIssuerMissing, Detail: "the agent provider's metadata has no issuer", Cause: err}
	case errors.Is(err, fetch.ErrIssuerMismatch):
		return &aauth.SignatureError{Code: aauth.SigIssuerMismatch, Detail: "the agent provider's metadata names another issuer", Cause: err}
	case errors.Is(err, fetch.ErrUnknownKey):
		return &aauth.SignatureError{Code: aauth.SigUnknownKey, Detail: "the agent token's kid is not in the agent provider's JWKS", Cause: err}
	case errors.Is(err, fetch.ErrUnavailable):
		retry := 5
		var ue *fetch.UnavailableError
		if errors.As(err, &ue) && ue.RetryAfter > 0 {
			retry = ue.RetryAfterSeconds()
		}
		p := aauth.Unavailable("the agent provider's keys could not be fetched; retry later", retry)
		p.Cause = err
		return p
	case errors.Is(err, fetch.ErrEgressDenied), errors.Is(err, fetch.ErrBadMetadata):
		return &aauth.SignatureError{Code: aauth.SigInvalidJWT, Detail: "the agent provider's keys cannot be obtained", Cause: err}
	}
	return &aauth.Problem{Status: http.StatusInternalServerError, Code: aauth.ErrServerError, Detail: "internal error", Cause: err}
}
