package suite

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// threePartyFlow (IDP-3, IDP-4 three-party; PS §3.7, §3.8): the connected
// agent presents its person token to the test resource, which issues a
// resource token naming it; the agent sends both to auth_token_endpoint.
// Bad pairs are refused with their codes first; then the auth token is
// obtained (the person consenting if asked) and checked.
func threePartyFlow(ctx context.Context, t *Target, rec recorder) error {
	e4, err := t.need(ctx, "auth_token_endpoint")
	if err != nil {
		return err
	}
	b, err := t.bound(ctx)
	if err != nil {
		return err
	}
	a, pt, rs := b.agent, b.pt, t.Resource
	spec, err := conformance.TokenFor(pt.raw, a.Key, conformance.ResourceAPIScope)
	if err != nil {
		return err
	}
	mintRT := func(change func(*conformance.ResourceTokenSpec)) string {
		s := spec
		if change != nil {
			change(&s)
		}
		tok, err := rs.MintResourceToken(s)
		if err != nil {
			panic(err)
		}
		return tok
	}
	good := mintRT(nil)
	send := func(body map[string]any) (*Response, error) {
		if _, ok := body["capabilities"]; !ok {
			body["capabilities"] = []string{"interaction"}
		}
		return t.agentSend(ctx, a, http.MethodPost, e4, jsonBody(body), nil)
	}
	x := &threeParty{a: a, pt: pt, rs: rs, e4: e4, spec: spec, mint: mintRT, send: send}
	// A person token that expires in seconds, named by a resource token
	// now and submitted once it has expired (PS-265), while the other
	// refusals are sent.
	late, err := t.shortPresented(ctx, rec, x)
	if err != nil {
		return err
	}
	refuse := func(key string, body map[string]any, status int, code string) error {
		r, err := send(body)
		if err != nil {
			return err
		}
		rec(key, ExpectProblem(r, status, code))
		return nil
	}
	other, err := conformance.NewAgentKey(aauth.AlgEd25519)
	if err != nil {
		return err
	}
	for _, c := range []struct {
		key    string
		body   map[string]any
		status int
		code   string
	}{
		{"PS-081 E4 without a string resource_token gets 400 invalid_request", map[string]any{"presented_token": pt.raw}, 400, aauth.ErrInvalidRequest},
		{"PS-260 E4 without presented_token gets 400 invalid_request", map[string]any{"resource_token": mintRT(func(s *conformance.ResourceTokenSpec) { s.PresentedJTI = randomHex(8) })}, 400, aauth.ErrInvalidRequest},
		// The -11 rule holds even when the PS could look the named token up
		// in its own records (the August 2026 reading did).
		{"PS-260 E4 without presented_token gets 400 even when the PS issued the named token", map[string]any{"resource_token": good}, 400, aauth.ErrInvalidRequest},
		{"PS-082 a resource_token that is no JWT gets 400 invalid_resource_token", map[string]any{"resource_token": "not.a.jwt", "presented_token": pt.raw}, 400, aauth.ErrInvalidResourceToken},
		{"PS-083 a person token sent as resource_token gets 400 invalid_resource_token", map[string]any{"resource_token": pt.raw, "presented_token": pt.raw}, 400, aauth.ErrInvalidResourceToken},
		{"PS-085 a resource token with a bad signature gets 400 invalid_resource_token", map[string]any{"resource_token": mintRT(func(s *conformance.ResourceTokenSpec) { s.SignWith = other }), "presented_token": pt.raw}, 400, aauth.ErrInvalidResourceToken},
		{"PS-086 an expired resource token gets 400 expired_resource_token", map[string]any{"resource_token": mintRT(func(s *conformance.ResourceTokenSpec) {
			s.IssuedAt = time.Now().Add(-10 * time.Minute)
		}), "presented_token": pt.raw}, 400, aauth.ErrExpiredResourceToken},
		{"PS-089 a resource token without agent_jkt gets 400 invalid_resource_token", map[string]any{"resource_token": mintRT(func(s *conformance.ResourceTokenSpec) { s.Omit = []string{"agent_jkt"} }), "presented_token": pt.raw}, 400, aauth.ErrInvalidResourceToken},
		{"PS-091 a resource token for another key gets 400 invalid_resource_token", map[string]any{"resource_token": mintRT(func(s *conformance.ResourceTokenSpec) { s.AgentJKT = other.Thumbprint() }), "presented_token": pt.raw}, 400, aauth.ErrInvalidResourceToken},
		{"PS-093 a resource token whose sub differs from the presented token's gets 400", map[string]any{"resource_token": mintRT(func(s *conformance.ResourceTokenSpec) { s.Sub = "someone-else" }), "presented_token": pt.raw}, 400, aauth.ErrInvalidResourceToken},
		{"PS-263 presented_jti not the presented token's jti gets 400 invalid_resource_token", map[string]any{"resource_token": mintRT(func(s *conformance.ResourceTokenSpec) { s.PresentedJTI = randomHex(8) }), "presented_token": pt.raw}, 400, aauth.ErrInvalidResourceToken},
		{"PS-264 a resource token naming another PS gets 400 invalid_resource_token", map[string]any{"resource_token": mintRT(func(s *conformance.ResourceTokenSpec) {
			s.Overrides = map[string]any{"ps": "https://other-ps.test"}
		}), "presented_token": pt.raw}, 400, aauth.ErrInvalidResourceToken},
		{"PS-261 a presented_token that is no PS token gets 400 invalid_presented_token", map[string]any{"resource_token": good, "presented_token": a.Token}, 400, aauth.ErrInvalidPresentedToken},
	} {
		if err := refuse(c.key, c.body, c.status, c.code); err != nil {
			return err
		}
	}

	if err := t.moreE4Refusals(ctx, rec, x); err != nil {
		return err
	}
	if err := late(); err != nil {
		return err
	}

	// "teleport" is no capability anyone defined: it is ignored (PS-100).
	r, err := send(map[string]any{"resource_token": good, "presented_token": pt.raw, "justification": "aauth-conformance: read the calendar",
		"capabilities": []string{"interaction", "teleport"}})
	if err != nil {
		return err
	}
	if r, err = t.resolve(ctx, a, r, true, "let "+a.ID+" read the calendar at "+rs.Issuer()); err != nil {
		return err
	}
	atStr, _ := r.Body["auth_token"].(string)
	if r.Status != http.StatusOK || atStr == "" {
		return rec("PS-103 a valid resource token with consent gives 200 {auth_token, expires_in}", Failf(MUST, "%s", r))
	}
	rec("PS-103 a valid resource token with consent gives 200 {auth_token, expires_in}", nil)
	at, err := t.verifyIssued(ctx, atStr, aauth.TypAuthToken, rs.Issuer(), a.Key)
	if err == nil && at.str("ps") != t.Issuer {
		err = Failf(MUST, "ps %q, want the issuer", at.str("ps"))
	}
	rec("PS-104 auth token: typ, alg, kid, iss, dwk, ps, aud, cnf", err)
	rec("PS-009 the auth token verifies with the PS JWKS", err)
	if at.str("sub") != pt.str("sub") {
		rec("PS-105 auth token sub is the resource token's and the person token's", Failf(MUST, "sub %q, the person token's %q", at.str("sub"), pt.str("sub")))
	} else {
		rec("PS-105 auth token sub is the resource token's and the person token's", nil)
	}
	ev := verdict{}
	ev.addErr(MUST, checkExp(at, r.Body["expires_in"], map[string]int64{"agent token": tokenExp(a.Token), "presented token": pt.num("exp")}))
	if !strings.Contains(r.Header.Get("Cache-Control"), "no-store") {
		ev.add(IMPL, "Cache-Control %q, want no-store", r.Header.Get("Cache-Control"))
	}
	rec("PS-106 auth token exp within an hour, the agent token and the presented token", ev.err())
	sv := verdict{}
	if sc := at.str("scope"); sc != "" {
		for s := range strings.FieldsSeq(sc) {
			if !slices.Contains(strings.Fields(spec.Scope), s) {
				sv.add(MUST, "scope %q adds %q", sc, s)
			}
		}
	}
	rec("PS-107 auth token scope is within the resource token's", sv.err())
	mv := verdict{}
	for _, n := range []string{"mission_s256", "account", "tenant"} {
		if _, ok := at.claims[n]; ok {
			mv.add(MUST, "%s present though the resource token has none", n)
		}
	}
	rec("PS-108 auth token copies account, mission_s256 and tenant only from the resource token", mv.err())
	rec("PS-109 auth token carries no agent identifier", noAgentIdentifier(at.claims))
	md, err := t.Metadata(ctx)
	if err != nil {
		return err
	}
	rec("PS-110 identity claims only with their granted scope, each in claims_supported", identityClaims(at, md))
	return t.afterAuthToken(ctx, rec, x, at)
}

var threePartyChecks = func() []Check {
	s := stepsOf("three-party", threePartyFlow)
	return []Check{
		s("PS-081", "E4 without a string resource_token gets 400 invalid_request", MUST),
		s("PS-260", "E4 without presented_token gets 400 invalid_request", MUST),
		s("PS-260", "E4 without presented_token gets 400 even when the PS issued the named token", MUST),
		s("PS-082", "a resource_token that is no JWT gets 400 invalid_resource_token", MUST),
		s("PS-083", "a person token sent as resource_token gets 400 invalid_resource_token", MUST, "PS-272"),
		s("PS-085", "a resource token with a bad signature gets 400 invalid_resource_token", MUST),
		s("PS-086", "an expired resource token gets 400 expired_resource_token", MUST),
		s("PS-089", "a resource token without agent_jkt gets 400 invalid_resource_token", MUST),
		s("PS-091", "a resource token for another key gets 400 invalid_resource_token", MUST),
		s("PS-093", "a resource token whose sub differs from the presented token's gets 400", MUST),
		s("PS-263", "presented_jti not the presented token's jti gets 400 invalid_resource_token", MUST),
		s("PS-264", "a resource token naming another PS gets 400 invalid_resource_token", MUST),
		s("PS-261", "a presented_token that is no PS token gets 400 invalid_presented_token", MUST),
		s("PS-103", "a valid resource token with consent gives 200 {auth_token, expires_in}", MUST),
		s("PS-104", "auth token: typ, alg, kid, iss, dwk, ps, aud, cnf", MUST),
		s("PS-009", "the auth token verifies with the PS JWKS", MUST),
		s("PS-105", "auth token sub is the resource token's and the person token's", MUST),
		s("PS-106", "auth token exp within an hour, the agent token and the presented token", MUST),
		s("PS-107", "auth token scope is within the resource token's", MUST),
		s("PS-108", "auth token copies account, mission_s256 and tenant only from the resource token", MUST),
		s("PS-109", "auth token carries no agent identifier", MUST),
		// confB: E4 request checks, three-party issuance, revocation of
		// resource tokens (flow_authtoken.go).
		s("PS-084", "an RT with alg none, EdDSA or HS256, without kid, or with another dwk gets 400 invalid_resource_token", MUST),
		s("PS-090", "an RT whose aud is no server identifier gets 400 invalid_resource_token", MUST),
		s("PS-098", "an RT whose interaction url is not https gets 400 invalid_resource_token", MUST),
		s("PS-099", "E4 with an unknown platform or a bad device gets 400 invalid_request", MUST),
		s("PS-096", "another agent redeeming an RT that names this agent's person token gets 400 invalid_presented_token", MUST),
		s("PS-265", "an RT naming a person token that has since expired gets 400 expired_presented_token", MUST),
		s("PS-100", "unknown capabilities are ignored; absent capabilities assume none", MUST),
		s("PS-110", "identity claims only with their granted scope, each in claims_supported", MUST),
		s("PS-273", "step-up: an RT naming an auth token, sent with it, gives a token expiring no later", MUST),
		s("PS-262", "a presented token whose aud is not the RT's iss gets 400 invalid_presented_token", MUST),
		s("PS-288", "a resource's revocation of a never-seen RT is answered 200 at once", MUST),
		s("PS-269", "an RT its resource revoked gets 400 revoked_resource_token", MUST),
		s("PS-101", "two deferred requests have their own Location; denying one leaves the other", MUST),
		s("PS-112", "a denied request ends with 403 denied and never gives a token", MUST),
		s("PS-113", "an RT's interaction sends the person to the resource with its code and a PS callback", MUST),
		s("PS-115", "an RT's interaction: no token before the resource's callback and the consent", MUST),
		s("PS-114", "resource callback errors give 403 denied, 403 abandoned, 408 expired, 500 server_error", MUST),
	}
}

// subAgentFlow (IDP-5, PS §3.11): the connected agent asks for a person
// token for a sub-agent (subagent_token), then an auth token for the
// sub-agent's resource token.
func subAgentFlow(ctx context.Context, t *Target, rec recorder) error {
	e3, err := t.need(ctx, "person_token_endpoint")
	if err != nil {
		return err
	}
	e4, err := t.need(ctx, "auth_token_endpoint")
	if err != nil {
		return err
	}
	b, err := t.bound(ctx)
	if err != nil {
		return err
	}
	a, rs := b.agent, t.Resource
	k, err := conformance.NewAgentKey(aauth.AlgEd25519)
	if err != nil {
		return err
	}
	local := strings.TrimPrefix(a.ID[:strings.LastIndex(a.ID, "@")], "aauth:")
	sub, err := t.mintFrom(t.AP, conformance.TokenSpec{Agent: k, Sub: "aauth:" + local + "+s1@" + apHost(t.AP), ParentAgent: a.ID, Lifetime: 20 * time.Minute})
	if err != nil {
		return err
	}
	r, err := t.agentSend(ctx, a, http.MethodPost, e3, jsonBody(map[string]any{"resource": rs.Issuer(), "subagent_token": "x.y.z"}), nil)
	if err != nil {
		return err
	}
	rec("PS-066 E3 with a subagent_token that does not verify gets 400 invalid_subagent_token", ExpectProblem(r, http.StatusBadRequest, aauth.ErrInvalidSubagentToken))
	r, err = t.agentSend(ctx, a, http.MethodPost, e3, jsonBody(map[string]any{"resource": rs.Issuer(), "subagent_token": sub.Token}), nil)
	if err != nil {
		return err
	}
	if r, err = t.resolve(ctx, a, r, true, "let the sub-agent "+sub.ID+" act at "+rs.Issuer()); err != nil {
		return err
	}
	s, _ := r.Body["person_token"].(string)
	if r.Status != http.StatusOK || s == "" {
		return rec("PS-067 a sub-agent's person token: the sub-agent's key, the parent's sub", Failf(MUST, "%s", r))
	}
	spt, err := t.verifyIssued(ctx, s, aauth.TypPersonToken, rs.Issuer(), k)
	if err == nil && spt.str("sub") != b.pt.str("sub") {
		err = Failf(MUST, "sub %q, the parent's is %q", spt.str("sub"), b.pt.str("sub"))
	}
	rec("PS-067 a sub-agent's person token: the sub-agent's key, the parent's sub", err)
	if spt.num("exp") > tokenExp(sub.Token) {
		rec("PS-145 a sub-agent's tokens expire no later than its agent token", Failf(IMPL, "person token exp %d after the sub-agent token's %d", spt.num("exp"), tokenExp(sub.Token)))
	}
	spec, err := conformance.TokenFor(s, k, conformance.ResourceAPIScope)
	if err != nil {
		return err
	}
	parentBound := spec
	parentBound.AgentJKT = a.Key.Thumbprint()
	wrong, err := rs.MintResourceToken(parentBound)
	if err != nil {
		return err
	}
	r, err = t.agentSend(ctx, a, http.MethodPost, e4, jsonBody(map[string]any{"resource_token": wrong, "presented_token": s, "subagent_token": sub.Token}), nil)
	if err != nil {
		return err
	}
	rec("PS-141 with subagent_token, a resource token bound to the parent gets 400", ExpectProblem(r, http.StatusBadRequest, aauth.ErrInvalidResourceToken))
	rt, err := rs.MintResourceToken(spec)
	if err != nil {
		return err
	}
	r, err = t.agentSend(ctx, a, http.MethodPost, e4, jsonBody(map[string]any{"resource_token": rt, "presented_token": s, "subagent_token": "x.y.z"}), nil)
	if err != nil {
		return err
	}
	rec("PS-140 E4 with a subagent_token that does not verify gets 400 invalid_subagent_token", ExpectProblem(r, http.StatusBadRequest, aauth.ErrInvalidSubagentToken))
	r, err = t.agentSend(ctx, a, http.MethodPost, e4, jsonBody(map[string]any{"resource_token": rt, "presented_token": s, "subagent_token": sub.Token, "capabilities": []string{"interaction"}}), nil)
	if err != nil {
		return err
	}
	if r, err = t.resolve(ctx, a, r, true, "let the sub-agent "+sub.ID+" read the calendar"); err != nil {
		return err
	}
	as, _ := r.Body["auth_token"].(string)
	if r.Status != http.StatusOK || as == "" {
		return rec("PS-142 a sub-agent's auth token: the sub-agent's key, no agent named", Failf(MUST, "%s", r))
	}
	at, err := t.verifyIssued(ctx, as, aauth.TypAuthToken, rs.Issuer(), k)
	if err == nil {
		err = noAgentIdentifier(at.claims)
	}
	rec("PS-142 a sub-agent's auth token: the sub-agent's key, no agent named", err)
	if at.num("exp") > tokenExp(sub.Token) {
		rec("PS-145 a sub-agent's tokens expire no later than its agent token", Failf(IMPL, "auth token exp %d after the sub-agent token's %d", at.num("exp"), tokenExp(sub.Token)))
	}
	rec("PS-145 a sub-agent's tokens expire no later than its agent token", nil)
	return nil
}

var subAgentChecks = func() []Check {
	s := stepsOf("sub-agent", subAgentFlow)
	return []Check{
		s("PS-066", "E3 with a subagent_token that does not verify gets 400 invalid_subagent_token", MUST),
		s("PS-067", "a sub-agent's person token: the sub-agent's key, the parent's sub", MUST),
		s("PS-141", "with subagent_token, a resource token bound to the parent gets 400", MUST),
		s("PS-140", "E4 with a subagent_token that does not verify gets 400 invalid_subagent_token", MUST),
		s("PS-142", "a sub-agent's auth token: the sub-agent's key, no agent named", MUST),
		s("PS-145", "a sub-agent's tokens expire no later than its agent token", IMPL),
	}
}
