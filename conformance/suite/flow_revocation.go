package suite

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// revocationFlow (PS §3.21): the suite's agent provider revokes at the
// PS's revocation_endpoint, signed as a server; the connected agent's
// binding outlives the revocation of one of its tokens.
func revocationFlow(ctx context.Context, t *Target, rec recorder) error {
	ep, err := t.need(ctx, "revocation_endpoint")
	if err != nil {
		return err
	}
	e3, err := t.need(ctx, "person_token_endpoint")
	if err != nil {
		return err
	}
	asServer := func(body string) (*Response, error) {
		req, err := newRequest(http.MethodPost, ep, []byte(body))
		if err != nil {
			return nil, err
		}
		if _, err := t.AP.ServerSigner().Sign(req, []byte(body)); err != nil {
			return nil, err
		}
		return t.Do(ctx, req)
	}
	exp := time.Now().Add(time.Hour).Unix()
	good := `{"jti":"` + randomHex(16) + `","exp":` + itoa(exp) + `}`
	r, err := t.unsigned(ctx, ep, []byte(good))
	if err != nil {
		return err
	}
	rec("PS-233 an unsigned revocation gets 401", onlyCode(r, aauth.SigInvalidSignature))
	a, err := t.fresh()
	if err != nil {
		return err
	}
	if r, err = t.agentSend(ctx, a, http.MethodPost, ep, []byte(good), nil); err != nil {
		return err
	}
	sv := verdict{}
	sv.addErr(MUST, onlyCode(r, aauth.SigUnsupportedScheme))
	if !strings.Contains(r.Header.Get(aauth.HeaderAcceptSignatureScheme), "jwks_uri") {
		sv.add(MUST, "Accept-Signature-Scheme %q does not name jwks_uri", r.Header.Get(aauth.HeaderAcceptSignatureScheme))
	}
	rec("PS-234 an agent-signed revocation gets 401 unsupported_scheme, jwks_uri accepted", sv.err())
	bv := verdict{}
	for _, b := range []string{`{}`, `{"jti":"x"}`, `{"exp":` + itoa(exp) + `}`, `{"jti":5,"exp":` + itoa(exp) + `}`, `{"jti":"x","exp":"x"}`, `[]`} {
		r, err := asServer(b)
		if err != nil {
			return err
		}
		bv.addErr(MUST, prefixed(b, ExpectProblem(r, http.StatusBadRequest, aauth.ErrInvalidRequest)))
	}
	rec("PS-232 a revocation without a string jti and an integer exp gets 400", bv.err())

	// A token the PS has seen, and one it never saw: the same answer.
	seen, err := t.fresh()
	if err != nil {
		return err
	}
	if _, err := t.agentSend(ctx, seen, http.MethodPost, e3, jsonBody(map[string]any{"resource": "https://rs.test"}), nil); err != nil {
		return err
	}
	_, claims, err := conformance.DecodeJWT(seen.Token)
	if err != nil {
		return err
	}
	jti, _ := claims["jti"].(string)
	known, err := asServer(`{"jti":"` + jti + `","exp":` + itoa(tokenExp(seen.Token)) + `}`)
	if err != nil {
		return err
	}
	unknown, err := asServer(`{"jti":"` + randomHex(16) + `","exp":` + itoa(tokenExp(seen.Token)) + `}`)
	if err != nil {
		return err
	}
	ev := verdict{}
	if known.Status != http.StatusOK || len(known.Raw) != 0 || known.Header.Get("Content-Type") != "" {
		ev.add(MUST, "revoking a known token: %s (Content-Type %q), want 200 with an empty body", known, known.Header.Get("Content-Type"))
	}
	rec("PS-287 the answer to a provider is 200 with an empty body and no Content-Type", ev.err())
	ov := verdict{}
	ov.addErr(MUST, sameAnswer(known, unknown))
	rec("PS-284 a never-seen jti is answered exactly like a known one", ov.err())
	r, err = t.agentSend(ctx, seen, http.MethodPost, e3, jsonBody(map[string]any{"resource": "https://rs.test", "n": 2}), nil)
	if err != nil {
		return err
	}
	rec("PS-236 a revoked agent token gets 401 revoked_jwt", onlyCode(r, aauth.SigRevokedJWT))
	// A byte-identical request in the same second would be a replay.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	again, err := asServer(`{"jti":"` + jti + `","exp":` + itoa(tokenExp(seen.Token)) + `}`)
	if err != nil {
		return err
	}
	if again.Status != http.StatusOK {
		rec("PS-291 revoking the same token again gets 200", Failf(MUST, "%s", again))
	} else {
		rec("PS-291 revoking the same token again gets 200", nil)
	}

	// The binding survives: a connected agent's revoked token, then a new one.
	b, err := t.bound(ctx)
	if err != nil {
		return err
	}
	rs := t.Resource.Issuer()
	old, err := t.mintFrom(t.AP, conformance.TokenSpec{Agent: b.agent.Key, Sub: b.agent.ID})
	if err != nil {
		return err
	}
	_, oc, err := conformance.DecodeJWT(old.Token)
	if err != nil {
		return err
	}
	ojti, _ := oc["jti"].(string)
	// Presented once, so the PS has seen it.
	if _, err = t.agentSend(ctx, old, http.MethodPost, e3, jsonBody(map[string]any{"resource": rs}), nil); err != nil {
		return err
	}
	// The first cascade for this agent: the test resource holds its
	// revocation endpoint, so the PS answers 202 within Prefer: wait
	// (PS-286) and 200 once the resource answered.
	if r, err = t.slowCascade(ctx, rec, ep, []byte(`{"jti":"`+ojti+`","exp":`+itoa(tokenExp(old.Token))+`}`)); err != nil {
		return err
	}
	if r.Status != http.StatusOK {
		return rec("PS-285 after a revocation, a new token of the same agent works without re-enrollment", Failf(MUST, "revoking: %s", r))
	}
	rec("PS-292 the revocations the PS sends are signed as the PS over content-type and content-digest, with {jti, exp}", t.sentRevocations(b))
	fresh, err := t.mintFrom(t.AP, conformance.TokenSpec{Agent: b.agent.Key, Sub: b.agent.ID})
	if err != nil {
		return err
	}
	if r, err = t.agentSend(ctx, fresh, http.MethodPost, e3, jsonBody(map[string]any{"resource": rs}), nil); err != nil {
		return err
	}
	if s, _ := r.Body["person_token"].(string); r.Status != http.StatusOK || s == "" {
		rec("PS-285 after a revocation, a new token of the same agent works without re-enrollment", Failf(MUST, "%s", r))
	} else {
		rec("PS-285 after a revocation, a new token of the same agent works without re-enrollment", nil)
	}
	return t.revokedPresented(ctx, rec, b, fresh)
}

// revokedPresented: when the cascade revoked the connected agent's person
// token (the test resource received its revocation from the PS), a
// resource token naming it, sent with it, gets 400 revoked_presented_token
// (PS-266).
func (t *Target) revokedPresented(ctx context.Context, rec recorder, b *boundAgent, a *conformance.Agent) error {
	const key = "PS-266 a person token the PS revoked gets 400 revoked_presented_token"
	e4, err := t.need(ctx, "auth_token_endpoint")
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(t.Resource.Revocations(), func(r conformance.Revocation) bool { return r.Iss == t.Issuer && r.JTI == b.pt.str("jti") }) {
		rec(key, Skip("the PS did not revoke the connected agent's person token with its agent token (the cascade is a SHOULD, PS-239)"))
		return nil
	}
	rt, err := t.Resource.MintFor(b.pt.raw, a.Key, conformance.ResourceAPIScope, time.Time{}, nil)
	if err != nil {
		return err
	}
	r, err := t.agentSend(ctx, a, http.MethodPost, e4, jsonBody(map[string]any{"resource_token": rt, "presented_token": b.pt.raw, "capabilities": []string{"interaction"}}), nil)
	if err != nil {
		return err
	}
	rec(key, ExpectProblem(r, http.StatusBadRequest, aauth.ErrRevokedPresentedToken))
	return nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

var revocationChecks = func() []Check {
	s := stepsOf("revocation", revocationFlow)
	return []Check{
		s("PS-233", "an unsigned revocation gets 401", MUST),
		s("PS-234", "an agent-signed revocation gets 401 unsupported_scheme, jwks_uri accepted", MUST),
		s("PS-232", "a revocation without a string jti and an integer exp gets 400", MUST),
		s("PS-287", "the answer to a provider is 200 with an empty body and no Content-Type", MUST),
		s("PS-284", "a never-seen jti is answered exactly like a known one", MUST),
		s("PS-236", "a revoked agent token gets 401 revoked_jwt", MUST),
		s("PS-291", "revoking the same token again gets 200", MUST),
		s("PS-285", "after a revocation, a new token of the same agent works without re-enrollment", MUST),
		// confB.
		s("PS-286", "a revocation waiting on a slow resource: 202 within Prefer: wait, 404 to another server, then 200", MUST),
		s("PS-266", "a person token the PS revoked gets 400 revoked_presented_token", MUST),
		s("PS-292", "the revocations the PS sends are signed as the PS over content-type and content-digest, with {jti, exp}", MUST),
	}
}

// sentRevocations checks what the test resource received from the PS
// after the connected agent's agent token was revoked: the cascade itself
// is a SHOULD (PS-239), but what is sent must be signed as the PS (the
// resource verifies jwks_uri, dwk aauth-person.json, the key from the PS
// JWKS), cover content-type and content-digest, and carry the token's
// {jti, exp}; the agent's person token for the resource goes to it
// (PS-292).
func (t *Target) sentRevocations(b *boundAgent) error {
	var got []conformance.Revocation
	for _, r := range t.Resource.Revocations() {
		if r.Iss == t.Issuer {
			got = append(got, r)
		}
	}
	if len(got) == 0 {
		return Skip("the PS sent the test resource no verified revocation after the agent token's (the cascade is a SHOULD, PS-239)")
	}
	var v verdict
	for _, r := range got {
		for _, c := range []string{"content-type", "content-digest"} {
			if !slices.Contains(r.Components, c) {
				v.add(MUST, "the revocation of %s does not cover %s", r.JTI, c)
			}
		}
		if r.JTI == "" || r.Exp <= 0 {
			v.add(MUST, "a revocation body {jti %q, exp %d}", r.JTI, r.Exp)
		}
	}
	if i := slices.IndexFunc(got, func(r conformance.Revocation) bool { return r.JTI == b.pt.str("jti") }); i >= 0 && got[i].Exp != b.pt.num("exp") {
		v.add(MUST, "the person token's revocation carries exp %d, the token's is %d", got[i].Exp, b.pt.num("exp"))
	}
	return v.err()
}

// slowCascade sends the AP's revocation body to ep with Prefer: wait=1
// while the test resource holds its revocation endpoint. A PS that sends
// the resource something must not answer 200 before the resource did: it
// answers 202 (Location, Retry-After, no-store, no AAuth-Requirement); a
// poll signed by another server (the resource) gets 404; after the
// resource answers, the AP's poll gets the synchronous answer, an empty
// 200 (PS-286). It returns the final answer to the AP.
func (t *Target) slowCascade(ctx context.Context, rec recorder, ep string, body []byte) (*Response, error) {
	const key = "PS-286 a revocation waiting on a slow resource: 202 within Prefer: wait, 404 to another server, then 200"
	send := func(s *conformance.Signer, method, u string, body []byte, prefer string) (*Response, error) {
		req, err := newRequest(method, u, body)
		if err != nil {
			return nil, err
		}
		if _, err := s.Sign(req, body); err != nil {
			return nil, err
		}
		req.Header.Set("Prefer", prefer)
		return t.Do(ctx, req)
	}
	release := t.Resource.HoldRevocations()
	defer release()
	ap := t.AP.ServerSigner()
	r, err := send(ap, http.MethodPost, ep, body, "wait=1")
	if err != nil {
		return nil, err
	}
	if r.Status != http.StatusAccepted {
		rec(key, Skip("answered %d while the test resource held its revocation endpoint: the PS sent it nothing to wait for (the cascade is a SHOULD, PS-239)", r.Status))
		return r, nil
	}
	var v verdict
	loc, err := t.location(r)
	if err != nil {
		rec(key, err)
		release()
		return r, nil
	}
	if ra := r.Header.Get("Retry-After"); ra == "" || strings.Trim(ra, "0123456789") != "" {
		v.add(MUST, "Retry-After %q is not an integer", ra)
	}
	if !strings.Contains(r.Header.Get("Cache-Control"), "no-store") {
		v.add(MUST, "Cache-Control %q, want no-store", r.Header.Get("Cache-Control"))
	}
	if r.Header.Get("AAuth-Requirement") != "" {
		v.add(MUST, "the 202 carries AAuth-Requirement %q", r.Header.Get("AAuth-Requirement"))
	}
	rsSigner := &conformance.Signer{Key: t.Resource.Key(), Member: conformance.JWKSURIMember(t.Resource.Issuer(), aauth.DWKResource, t.Resource.Key().Thumbprint())}
	other, err := send(rsSigner, http.MethodGet, loc, nil, "wait=0")
	if err != nil {
		return nil, err
	}
	if other.Status != http.StatusNotFound {
		v.add(MUST, "a poll signed by %s: %s, want 404", t.Resource.Issuer(), other)
	}
	release()
	deadline := time.Now().Add(time.Minute)
	for r.Status == http.StatusAccepted && time.Now().Before(deadline) {
		if r, err = send(ap, http.MethodGet, loc, nil, "wait=5"); err != nil {
			return nil, err
		}
		if r.Status == http.StatusAccepted {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(retryAfter(r)):
			}
		}
	}
	if r.Status != http.StatusOK || len(r.Raw) != 0 {
		v.add(MUST, "the AP's poll after the resource answered: %s, want an empty 200", r)
	}
	rec(key, v.err())
	return r, nil
}
