package suite

import (
	"context"
	"net/http"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// chainingFlow (PS §3.10, call chaining): the bound agent A obtains a
// person token for the intermediary MID (a resource that is also an
// agent, its agent token issued by itself); MID then asks, signing as
// itself, for the person's tokens at the test resource with A's token as
// upstream_token, at both endpoints. Refusals first, then the chain, an
// auth token as upstream, four-party with an upstream token, and a
// revoked upstream agent.
func chainingFlow(ctx context.Context, t *Target, rec recorder) error {
	e3, err := t.need(ctx, "person_token_endpoint")
	if err != nil {
		return err
	}
	e4, err := t.need(ctx, "auth_token_endpoint")
	if err != nil {
		return err
	}
	in := t.Intermediary
	if in == nil || t.Resource == nil {
		return Skip("no intermediary and test resource the PS can reach")
	}
	b, err := t.bound(ctx)
	if err != nil {
		return err
	}
	a, rs, down := b.agent, t.Resource, t.Resource.Issuer()
	// upstreamPT is an agent's person token for the intermediary.
	upstreamPT := func(ag *conformance.Agent) (string, error) {
		r, err := t.agentSend(ctx, ag, http.MethodPost, e3, jsonBody(map[string]any{"resource": in.Issuer(), "capabilities": []string{"interaction"}}), nil)
		if err != nil {
			return "", err
		}
		if r, err = t.resolve(ctx, ag, r, true, "let "+ag.ID+" act at "+in.Issuer()); err != nil {
			return "", err
		}
		s, _ := r.Body["person_token"].(string)
		if r.Status != http.StatusOK || s == "" {
			return "", Failf(MUST, "a person token for the intermediary: %s", r)
		}
		return s, nil
	}
	up, err := upstreamPT(a)
	if err != nil {
		return err
	}
	m, err := in.Agent("")
	if err != nil {
		return err
	}
	chain := func(signer *conformance.Agent, u string, body map[string]any) (*Response, error) {
		return t.agentSend(ctx, signer, http.MethodPost, u, jsonBody(body), nil)
	}
	e3With := func(upstream any) map[string]any { return map[string]any{"resource": down, "upstream_token": upstream} }
	refused := func(v *verdict, what string, signer *conformance.Agent, body map[string]any, code string) error {
		r, err := chain(signer, e3, body)
		if err != nil {
			return err
		}
		v.addErr(MUST, prefixed(what, ExpectProblem(r, http.StatusBadRequest, code)))
		return nil
	}

	// PS-132: tokens of other kinds, a bad signature.
	rtSpec, err := conformance.TokenFor(up, a.Key, conformance.ResourceAPIScope)
	if err != nil {
		return err
	}
	rtUp, err := in.MintResourceToken(rtSpec)
	if err != nil {
		return err
	}
	v := verdict{}
	for _, c := range []struct{ what, tok string }{
		{"an agent token", a.Token}, {"a resource token", rtUp}, {"a person token with a bad signature", up[:len(up)-6] + "AAAAAA"},
	} {
		if err := refused(&v, c.what, m, e3With(c.tok), aauth.ErrInvalidUpstreamToken); err != nil {
			return err
		}
	}
	rec("PS-132 an agent token, a resource token or a badly signed token as upstream_token gets 400 invalid_upstream_token", v.err())

	// PS-135: a person token of another PS (signed with the intermediary's
	// resource key), an auth token whose ps is another PS.
	forged := rtSpec
	forged.Typ = aauth.TypPersonToken
	forged.Overrides = map[string]any{"iss": "https://other-ps.invalid", "aud": in.Issuer(), "dwk": aauth.DWKPerson, "cnf": map[string]any{"jwk": a.Key.PublicJWK()}}
	otherPT, err := in.MintResourceToken(forged)
	if err != nil {
		return err
	}
	v = verdict{}
	if err := refused(&v, "a person token of another PS", m, e3With(otherPT), aauth.ErrInvalidUpstreamToken); err != nil {
		return err
	}
	_, upc, err := conformance.DecodeJWT(up)
	if err != nil {
		return err
	}
	var ps133 error
	if as := t.AccessServer; as != nil {
		tok, err := as.MintAuthToken(map[string]any{"aud": in.Issuer(), "sub": upc["sub"], "ps": "https://other-ps.invalid",
			"cnf": map[string]any{"jwk": a.Key.PublicJWK()}, "scope": conformance.ResourceAPIScope})
		if err != nil {
			return err
		}
		if err := refused(&v, "an auth token whose ps is another PS", m, e3With(tok), aauth.ErrInvalidUpstreamToken); err != nil {
			return err
		}
		// PS-133: the AS's token for a sub this PS never presented there.
		tok, err = as.MintAuthToken(map[string]any{"aud": in.Issuer(), "sub": "never-presented-" + randomHex(6), "ps": t.Issuer,
			"cnf": map[string]any{"jwk": a.Key.PublicJWK()}, "scope": conformance.ResourceAPIScope})
		if err != nil {
			return err
		}
		v133 := verdict{}
		if err := refused(&v133, "an AS auth token for a sub this PS never presented there", m, e3With(tok), aauth.ErrInvalidUpstreamToken); err != nil {
			return err
		}
		// Recorded by chainLongLived, once the same AS's token for a sub
		// the PS did present there is accepted: a PS refusing every AS
		// token passes nothing here.
		ps133 = v133.err()
	}
	rec("PS-135 an upstream person token of another PS, or an auth token naming another PS, gets 400 invalid_upstream_token", v.err())

	// PS-134 (a): the signer's agent token is not issued by the upstream aud.
	v = verdict{}
	if err := refused(&v, "A itself (iss "+a.Issuer+") presenting its token for "+in.Issuer(), a, e3With(up), aauth.ErrInvalidUpstreamToken); err != nil {
		return err
	}
	rec("PS-134 an intermediary whose agent token iss is not the upstream aud gets 400 invalid_upstream_token", v.err())

	// PS-139: the upstream token in Signature-Key.
	r, err := chain(&conformance.Agent{Key: m.Key, Token: up, ID: m.ID, Issuer: m.Issuer}, e3, map[string]any{"resource": down})
	if err != nil {
		return err
	}
	rec("PS-139 an upstream token in Signature-Key gets 401 invalid_jwt", ExpectRefusal(r, aauth.SigInvalidJWT))

	// The chain at E3.
	if r, err = chain(m, e3, map[string]any{"resource": down, "upstream_token": up, "capabilities": []string{"interaction"}}); err != nil {
		return err
	}
	if r, err = t.resolve(ctx, m, r, true, "let "+in.Issuer()+" act at "+down+" for the request it received"); err != nil {
		return err
	}
	pt2s, _ := r.Body["person_token"].(string)
	if r.Status != http.StatusOK || pt2s == "" {
		return rec("PS-134 the upstream cnf is not compared with the intermediary's key: the chained person token is bound to the intermediary", Failf(MUST, "%s", r))
	}
	pt2, err := t.verifyIssued(ctx, pt2s, aauth.TypPersonToken, down, m.Key)
	rec("PS-134 the upstream cnf is not compared with the intermediary's key: the chained person token is bound to the intermediary", err)
	subs := verdict{}
	if pt2.str("sub") != b.pt.str("sub") {
		subs.add(MUST, "the chained person token's sub %q is not the person's sub at %s (%q); the upstream sub is %v", pt2.str("sub"), down, b.pt.str("sub"), upc["sub"])
	}
	// PS-068: the same comparison at E3 alone; b.pt is the person's own
	// token for down, so its sub is their directed id there.
	rec("PS-068 the chained person token's sub is the person's directed sub at the requested resource, not the upstream sub", subs.err())

	// PS-277: MID is bound to no one.
	if r, err = chain(m, e3, map[string]any{"resource": down}); err != nil {
		return err
	}
	if r.Status == http.StatusOK {
		rec("PS-277 chaining binds nothing: the intermediary alone gets no person token", Failf(MUST, "the intermediary without upstream_token got %s", r))
	}
	rec("PS-277 chaining binds nothing: the intermediary alone gets no person token", nil)

	// The chain at E4.
	rt, err := rs.MintFor(pt2s, m.Key, conformance.ResourceAPIScope, time.Time{}, nil)
	if err != nil {
		return err
	}
	if r, err = chain(m, e4, map[string]any{"resource_token": rt, "presented_token": pt2s, "upstream_token": up, "capabilities": []string{"interaction"}}); err != nil {
		return err
	}
	if r, err = t.resolve(ctx, m, r, true, "let "+in.Issuer()+" read the calendar at "+down+" for the request it received"); err != nil {
		return err
	}
	if at, _ := r.Body["auth_token"].(string); r.Status != http.StatusOK || at == "" {
		subs.add(MUST, "the chained auth token: %s", r)
	} else if atc, err := t.verifyIssued(ctx, at, aauth.TypAuthToken, down, m.Key); err != nil {
		subs.addErr(MUST, prefixed("the chained auth token", err))
	} else if atc.str("sub") != b.pt.str("sub") {
		subs.add(MUST, "the chained auth token's sub %q is not the person's sub at %s", atc.str("sub"), down)
	}
	rec("PS-136 the downstream person and auth tokens carry the person's directed sub at the downstream resource", subs.err())

	if err := chainAuthUpstream(ctx, t, rec, a, m, up); err != nil {
		return err
	}
	if err := chainFederated(ctx, t, rec, m, pt2s, up); err != nil {
		return err
	}
	if err := chainLongLived(ctx, t, rec, a, m, up, ps133); err != nil {
		return err
	}
	if err := chainMission(ctx, t, rec, a, m); err != nil {
		return err
	}
	if err := chainExpiring(ctx, t, rec, a, m); err != nil {
		return err
	}
	return chainRevoked(ctx, t, rec, upstreamPT, m)
}

// chainAuthUpstream: A's auth token at the intermediary as upstream
// (PS-132), and a downstream scope unrelated to the upstream one
// (PS-138).
func chainAuthUpstream(ctx context.Context, t *Target, rec recorder, a, m *conformance.Agent, up string) error {
	const valid = "PS-132 a valid upstream person token and a valid upstream auth token are accepted"
	const unrelated = "PS-138 a downstream scope unrelated to the upstream scope is granted"
	e3, _ := t.need(ctx, "person_token_endpoint")
	e4, _ := t.need(ctx, "auth_token_endpoint")
	in, down := t.Intermediary, t.Resource.Issuer()
	rt, err := in.MintFor(up, a.Key, conformance.ResourceAPIScope, time.Time{}, nil)
	if err != nil {
		return err
	}
	r, err := t.agentSend(ctx, a, http.MethodPost, e4, jsonBody(map[string]any{"resource_token": rt, "presented_token": up, "capabilities": []string{"interaction"}}), nil)
	if err != nil {
		return err
	}
	if r, err = t.resolve(ctx, a, r, true, "let "+a.ID+" read the calendar at "+in.Issuer()); err != nil {
		return err
	}
	at1, _ := r.Body["auth_token"].(string)
	if r.Status != http.StatusOK || at1 == "" {
		return Failf(MUST, "an auth token at the intermediary: %s", r)
	}
	if r, err = t.agentSend(ctx, m, http.MethodPost, e3, jsonBody(map[string]any{"resource": down, "upstream_token": at1, "capabilities": []string{"interaction"}}), nil); err != nil {
		return err
	}
	if r, err = t.resolve(ctx, m, r, true, "let "+in.Issuer()+" act at "+down+" for the request it received"); err != nil {
		return err
	}
	pt3, _ := r.Body["person_token"].(string)
	if r.Status != http.StatusOK || pt3 == "" {
		return rec(valid, Failf(MUST, "an upstream auth token: %s", r))
	}
	rec(valid, nil)
	// calendar.write is not within the upstream calendar.read.
	rt, err = t.Resource.MintFor(pt3, m.Key, "calendar.write", time.Time{}, nil)
	if err != nil {
		return err
	}
	if r, err = t.agentSend(ctx, m, http.MethodPost, e4, jsonBody(map[string]any{"resource_token": rt, "presented_token": pt3, "upstream_token": at1,
		"capabilities": []string{"interaction"}}), nil); err != nil {
		return err
	}
	if r, err = t.resolve(ctx, m, r, true, "let "+in.Issuer()+" change the calendar at "+down+" for the request it received"); err != nil {
		return err
	}
	if at, _ := r.Body["auth_token"].(string); r.Status != http.StatusOK || at == "" {
		return rec(unrelated, Failf(MUST, "downstream calendar.write under an upstream calendar.read: %s", r))
	}
	return rec(unrelated, nil)
}

// chainFederated (PS-279, PS-121): a chained four-party request; the AS
// receives the intermediary's agent token and the upstream token
// unchanged.
func chainFederated(ctx context.Context, t *Target, rec recorder, m *conformance.Agent, pt2, up string) error {
	const key = "PS-279 in four-party the upstream_token and the intermediary's agent token reach the AS unchanged"
	f, err := t.fedFor(ctx)
	if err != nil {
		return nil
	}
	rt, err := f.rt(pt2, m.Key, conformance.ResourceAPIScope, "")
	if err != nil {
		return err
	}
	n := len(f.as.Requests())
	f.as.Script()
	r, err := f.send(ctx, m, map[string]any{"resource_token": rt, "presented_token": pt2, "upstream_token": up}, "a chained four-party request")
	if err != nil {
		return err
	}
	last, err := f.lastRequest(n, r)
	if err != nil {
		return rec(key, err)
	}
	v := verdict{}
	if last.Body["upstream_token"] != up || last.Body["agent_token"] != m.Token || last.Body["presented_token"] != pt2 {
		v.add(MUST, "upstream_token, agent_token or presented_token is not the exact string the intermediary sent")
	}
	if r.Status != http.StatusOK || r.Body["auth_token"] != last.Granted {
		v.add(MUST, "the AS granted; the intermediary got %s", r)
	}
	return rec(key, v.err())
}

// chainMission (PS-137): A's person token for the intermediary under a
// mission; the chained person token carries that mission_s256. Once the
// mission is completed, the chain gets 403 mission_terminated.
func chainMission(ctx context.Context, t *Target, rec recorder, a, m *conformance.Agent) error {
	const key = "PS-137 a chained person token carries the upstream mission; once it is terminated the chain gets 403 mission_terminated"
	e5, err := t.need(ctx, "mission_endpoint")
	if err != nil {
		rec(key, err) // missions not offered
		return nil
	}
	e3, _ := t.need(ctx, "person_token_endpoint")
	in, down := t.Intermediary, t.Resource.Issuer()
	r, err := t.agentSend(ctx, a, http.MethodPost, e5, jsonBody(map[string]any{"description": "aauth-conformance chain " + randomHex(4) + ": use the intermediary.",
		"resources": []string{in.Issuer(), down}, "capabilities": []string{"interaction"}}), nil)
	if err != nil {
		return err
	}
	if r, err = t.resolve(ctx, a, r, true, "approve the mission proposal of "+a.ID+" (call chaining)"); err != nil {
		return err
	}
	s256, _ := r.Body["s256"].(string)
	if r.Status != http.StatusOK || s256 == "" {
		return rec(key, Failf(MUST, "a mission for the chain: %s", r))
	}
	if r, err = t.agentSend(ctx, a, http.MethodPost, e3, jsonBody(map[string]any{"resource": in.Issuer(), "mission_s256": s256, "capabilities": []string{"interaction"}}), nil); err != nil {
		return err
	}
	if r, err = t.resolve(ctx, a, r, true, "let "+a.ID+" act at "+in.Issuer()+" under its mission"); err != nil {
		return err
	}
	up, _ := r.Body["person_token"].(string)
	if r.Status != http.StatusOK || up == "" {
		return rec(key, Failf(MUST, "a person token for the intermediary under the mission: %s", r))
	}
	chain := func() (*Response, error) {
		return t.agentSend(ctx, m, http.MethodPost, e3, jsonBody(map[string]any{"resource": down, "upstream_token": up, "capabilities": []string{"interaction"}}), nil)
	}
	if r, err = chain(); err != nil {
		return err
	}
	if r, err = t.resolve(ctx, m, r, true, "let "+in.Issuer()+" act at "+down+" under the mission"); err != nil {
		return err
	}
	v := verdict{}
	if pt, _ := r.Body["person_token"].(string); r.Status != http.StatusOK || pt == "" {
		v.add(MUST, "the chain under a mission: %s", r)
	} else if _, c, err := conformance.DecodeJWT(pt); err != nil || c["mission_s256"] != s256 {
		v.add(MUST, "the chained person token's mission_s256 is %v, want the upstream mission's %s", c["mission_s256"], s256)
	}
	// Completion, accepted by the person, terminates the mission.
	if r, err = t.agentSend(ctx, a, http.MethodPost, e5+"/"+s256, []byte(`{"action":"completion","summary":"aauth-conformance: chain done."}`), nil); err != nil {
		return err
	}
	if r, err = t.resolve(ctx, a, r, true, "accept the completion of the chain's mission"); err != nil {
		return err
	}
	if r.Status != http.StatusOK {
		return rec(key, Failf(MUST, "completing the mission: %s", r))
	}
	if r, err = chain(); err != nil {
		return err
	}
	v.addErr(MUST, prefixed("after the mission ended", ExpectProblem(r, http.StatusForbidden, aauth.ErrMissionTerminated)))
	return rec(key, v.err())
}

// chainExpiring (PS-278): a chained request waiting for the person ends
// with 408 expired once its upstream token has expired. The upstream token
// is a sub-agent's person token for the intermediary, which expires with
// its 15 s sub-agent token (PS-145); the chain asks for the second test
// resource, which the person was never asked about. A PS whose person
// token outlives the sub-agent token, or which does not wait for the
// person, leaves the check skipped.
func chainExpiring(ctx context.Context, t *Target, rec recorder, a, m *conformance.Agent) error {
	const key = "PS-278 a chained request still waiting when its upstream token expires ends with 408 expired"
	if t.Resource2 == nil {
		rec(key, Skip("no second test resource the PS can reach"))
		return nil
	}
	e3, _ := t.need(ctx, "person_token_endpoint")
	_, up, err := t.subAgentTokenFor(ctx, a, 15*time.Second, t.Intermediary.Issuer())
	if err != nil {
		rec(key, err)
		return nil
	}
	exp := time.Unix(tokenExp(up), 0)
	if time.Until(exp) > 20*time.Second {
		rec(key, Skip("the sub-agent's person token outlives its 15 s sub-agent token (exp in %s)", time.Until(exp).Round(time.Second)))
		return nil
	}
	r, err := t.agentSend(ctx, m, http.MethodPost, e3, jsonBody(map[string]any{"resource": t.Resource2.Issuer(), "upstream_token": up,
		"capabilities": []string{"interaction"}}), nil)
	if err != nil {
		return err
	}
	if r.Status != http.StatusAccepted {
		rec(key, Skip("the chained request for a new resource did not wait for the person: %s", r))
		return nil
	}
	loc, err := t.location(r)
	if err != nil {
		return rec(key, err)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(exp) + 1500*time.Millisecond):
	}
	if r, err = t.agentSend(ctx, m, http.MethodGet, loc, nil, nil); err != nil {
		return err
	}
	return rec(key, ExpectProblem(r, http.StatusRequestTimeout, aauth.ErrExpired))
}

// chainRevoked (PS-276): a third agent's person token for the
// intermediary stops carrying a chain once its agent token is revoked.
func chainRevoked(ctx context.Context, t *Target, rec recorder, upstreamPT func(*conformance.Agent) (string, error), m *conformance.Agent) error {
	const key = "PS-276 once the upstream agent's token is revoked, chaining gets 400 revoked_upstream_token"
	e3, _ := t.need(ctx, "person_token_endpoint")
	c, err := t.newFlowAgent("c")
	if err != nil {
		return err
	}
	up, err := upstreamPT(c)
	if err != nil {
		return err
	}
	_, cc, err := conformance.DecodeJWT(c.Token)
	if err != nil {
		return err
	}
	jti, _ := cc["jti"].(string)
	if err := t.revoke(ctx, c.Issuer, jti, time.Unix(tokenExp(c.Token), 0)); err != nil {
		return err
	}
	r, err := t.agentSend(ctx, m, http.MethodPost, e3, jsonBody(map[string]any{"resource": t.Resource.Issuer(), "upstream_token": up}), nil)
	if err != nil {
		return err
	}
	return rec(key, ExpectProblem(r, http.StatusBadRequest, aauth.ErrRevokedUpstreamToken))
}

var chainingChecks = func() []Check {
	s := stepsOf("chaining", chainingFlow)
	return []Check{
		s("PS-132", "an agent token, a resource token or a badly signed token as upstream_token gets 400 invalid_upstream_token", MUST),
		s("PS-135", "an upstream person token of another PS, or an auth token naming another PS, gets 400 invalid_upstream_token", MUST),
		s("PS-133", "an upstream auth token from an AS this PS never presented that person to gets 400 invalid_upstream_token", MUST),
		s("PS-134", "an intermediary whose agent token iss is not the upstream aud gets 400 invalid_upstream_token", MUST),
		s("PS-139", "an upstream token in Signature-Key gets 401 invalid_jwt", MUST),
		s("PS-134", "the upstream cnf is not compared with the intermediary's key: the chained person token is bound to the intermediary", MUST),
		s("PS-277", "chaining binds nothing: the intermediary alone gets no person token", MUST),
		s("PS-136", "the downstream person and auth tokens carry the person's directed sub at the downstream resource", MUST),
		s("PS-132", "a valid upstream person token and a valid upstream auth token are accepted", MUST),
		s("PS-138", "a downstream scope unrelated to the upstream scope is granted", MUST),
		s("PS-137", "a chained person token carries the upstream mission; once it is terminated the chain gets 403 mission_terminated", MUST),
		s("PS-278", "a chained request still waiting when its upstream token expires ends with 408 expired", MUST),
		s("PS-279", "in four-party the upstream_token and the intermediary's agent token reach the AS unchanged", IMPL, "PS-121"),
		s("PS-276", "once the upstream agent's token is revoked, chaining gets 400 revoked_upstream_token", MUST),
		// confD: PS-068, PS-267.
		s("PS-068", "the chained person token's sub is the person's directed sub at the requested resource, not the upstream sub", MUST),
		s("PS-267", "an AS auth token whose exp − iat is 2 h, as upstream_token, gets 400 invalid_upstream_token", MUST),
		s("PS-267", "an AS auth token whose exp − iat is 2 h, as presented_token (step-up), gets 400 invalid_presented_token", MUST),
		s("PS-268", "a step-up auth token of an AS this PS never presented that person to gets 400 invalid_presented_token", IMPL),
	}
}
