package app_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/agents"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/revocation"
)

// Black-box tests of the revocation endpoint (E11) and the cascades, over
// real HTTPS on loopback: the agent provider and the test resource sign as
// servers (jwks_uri), the test resource receives and verifies the PS's own
// revocations. PS-REQUIREMENTS §3.21, PS-046, PS-266, PS-269.

// apSigner signs as the agent provider ap (jwks_uri, dwk aauth-agent.json).
func apSigner(ap *conformance.AgentProvider) *conformance.Signer {
	kid := ap.SigningKID()
	return &conformance.Signer{Key: ap.Key(kid), Member: conformance.JWKSURIMember(ap.Issuer(), aauth.DWKAgent, kid)}
}

// rsSigner signs as the test resource (jwks_uri, dwk aauth-resource.json).
func rsSigner(rs *conformance.Resource) *conformance.Signer {
	return &conformance.Signer{Key: rs.Key(), Member: conformance.JWKSURIMember(rs.Issuer(), aauth.DWKResource, rs.Key().Thumbprint())}
}

// revoke POSTs body to the revocation endpoint signed by s at the PS's time.
func (w *world) revoke(t *testing.T, s *conformance.Signer, body string, opts ...conformance.SignOption) result {
	t.Helper()
	req := conformance.NewRequest(http.MethodPost, w.ps.Issuer+"/revoke", []byte(body))
	opts = append([]conformance.SignOption{conformance.WithCreatedOffset(w.clock.Offset())}, opts...)
	if _, err := s.Sign(req, []byte(body), opts...); err != nil {
		t.Fatal(err)
	}
	return w.do(t, req)
}

// expectEmpty200 asserts the revocation answer of PS-236/PS-284/PS-287: 200,
// an empty body and no Content-Type.
func expectEmpty200(t *testing.T, r result) {
	t.Helper()
	if r.status != http.StatusOK || len(r.raw) != 0 || r.header.Get("Content-Type") != "" {
		t.Fatalf("want an empty 200 without Content-Type: %d %q %v", r.status, r.raw, r.header)
	}
}

// agentTokenClaims are the jti and exp of an agent's token.
func agentTokenClaims(t *testing.T, a *conformance.Agent) (string, int64) {
	t.Helper()
	_, c, err := conformance.DecodeJWT(a.Token)
	if err != nil {
		t.Fatal(err)
	}
	return c["jti"].(string), num(c, "exp")
}

// authTokenFor obtains an auth token for rs.test with the person's consent.
func authTokenFor(t *testing.T, w *world, b *pstest.Browser, rs *conformance.Resource, pt string) string {
	t.Helper()
	rt := resourceToken(t, w, rs, pt, "calendar.read", nil)
	r := w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt, "capabilities": []string{"interaction"}}))
	if r.status == http.StatusAccepted {
		s := w.expectInteraction(t, r)
		open(t, b, s)
		b.Post(t, s.path()+"/approve", nil)
		r = w.poll(t, w.agent, s.loc)
	}
	at, _ := r.body["auth_token"].(string)
	if r.status != http.StatusOK || at == "" {
		t.Fatalf("auth token: %d %s", r.status, r.raw)
	}
	return at
}

func jtiOf(t *testing.T, token string) string {
	t.Helper()
	_, c, err := conformance.DecodeJWT(token)
	if err != nil {
		t.Fatal(err)
	}
	return c["jti"].(string)
}

// TestRevocationAgentTokenCascade: the agent provider revokes the agent's
// token; the PS records it (PS-236), answers an empty 200 once its cascade
// is terminal (PS-286, PS-287), sends the resource verified revocations of
// the person token and the auth token issued to that agent (PS-239,
// PS-292, PS-293), refuses the revoked token with revoked_jwt (PS-046), a
// new token of the same agent works without re-enrollment (PS-285), the
// revoked person token presented at the token endpoint gets
// revoked_presented_token (PS-266), and a repeat is idempotent (PS-291).
func TestRevocationAgentTokenCascade(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	at := authTokenFor(t, w, b, rs, pt)
	jti, exp := agentTokenClaims(t, w.agent)

	// PS-251: advertised, because it works.
	md := w.do(t, conformance.NewRequest(http.MethodGet, w.ps.Issuer+"/.well-known/aauth-person.json", nil))
	if md.body["revocation_endpoint"] != w.ps.Issuer+"/revoke" {
		t.Fatalf("metadata revocation_endpoint = %v", md.body["revocation_endpoint"])
	}

	expectEmpty200(t, w.revoke(t, apSigner(w.ap), authBody(t, map[string]any{"jti": jti, "exp": exp})))
	for name, tok := range map[string]string{"person token": pt, "auth token": at} {
		if !rs.Revoked(w.ps.Issuer, jtiOf(t, tok)) {
			t.Fatalf("the resource did not receive the revocation of the %s (PS-239): %+v", name, rs.Revocations())
		}
	}
	for _, rv := range rs.Revocations() {
		if !strings.Contains(strings.Join(rv.Components, " "), "content-type content-digest") {
			t.Fatalf("the PS's revocation covers %v (PS-292)", rv.Components)
		}
	}

	// PS-046: the revoked agent token is refused everywhere with revoked_jwt.
	expect401(t, w.post(t, w.agent, "/person", `{"resource":"https://rs.test"}`), aauth.SigRevokedJWT)

	// PS-285: a new agent token of the same agent works, binding intact.
	fresh := w.mint(t, conformance.TokenSpec{IssuedAt: w.clock.Now(), Lifetime: time.Hour})
	r := w.post(t, fresh, "/person", `{"resource":"https://rs.test"}`)
	pt2, _ := r.body["person_token"].(string)
	if r.status != http.StatusOK || pt2 == "" {
		t.Fatalf("a new agent token after revocation: %d %s (PS-285)", r.status, r.raw)
	}

	// PS-266: the revoked person token cannot be redeemed.
	rt := resourceToken(t, w, rs, pt, "calendar.read", nil)
	before := w.ps.TableCounts(t)
	expectProblem(t, w.post(t, fresh, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt})),
		http.StatusBadRequest, aauth.ErrRevokedPresentedToken)
	// Without presented_token: PS-260's answer (the PS's own record is
	// read only with --legacy-person-token-jti, TestAuthTokenLegacyPersonTokenJTI).
	expectProblem(t, w.post(t, fresh, "/token", authBody(t, map[string]any{"resource_token": rt})),
		http.StatusBadRequest, aauth.ErrInvalidRequest)
	writesNothing(t, w.ps, before)

	// PS-291, PS-236: a repeat answers the same and sends nothing new.
	n := len(rs.Revocations())
	w.clock.Advance(2 * time.Second) // a new signature, not a replay
	expectEmpty200(t, w.revoke(t, apSigner(w.ap), authBody(t, map[string]any{"jti": jti, "exp": exp})))
	if len(rs.Revocations()) != n {
		t.Fatalf("a repeated revocation re-sent succeeded deliveries: %d → %d", n, len(rs.Revocations()))
	}
}

// TestRevocationRefusals: every refusal at E11 answers its status and code
// and records nothing. PS-232, PS-233, PS-234, PS-235, PS-290.
func TestRevocationRefusals(t *testing.T) {
	t.Parallel()
	var stranger *conformance.Resource
	var other *conformance.AgentProvider
	w := newWorldWith(t, pstest.Options{}, func(env *pstest.Env) {
		var err error
		if stranger, err = conformance.StartResource(env.CA, env.Resolver, "stranger.test"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = stranger.Close() })
		other = env.StartAP(t, "ap2.test")
	})
	exp := w.clock.Now().Add(time.Hour).Unix()
	good := authBody(t, map[string]any{"jti": "some-token", "exp": exp})
	ap := apSigner(w.ap)

	for _, tc := range []struct {
		name   string
		signer *conformance.Signer
		body   string
		opts   []conformance.SignOption
		status int
		code   string
		sigErr aauth.SigCode
	}{
		{name: "PS-232 not JSON", signer: ap, body: "jti=x", status: 400, code: aauth.ErrInvalidRequest},
		{name: "PS-232 no jti", signer: ap, body: authBody(t, map[string]any{"exp": exp}), status: 400, code: aauth.ErrInvalidRequest},
		{name: "PS-232 no exp", signer: ap, body: `{"jti":"x"}`, status: 400, code: aauth.ErrInvalidRequest},
		{name: "PS-232 exp a string", signer: ap, body: `{"jti":"x","exp":"x"}`, status: 400, code: aauth.ErrInvalidRequest},
		{name: "PS-232 exp not an integer", signer: ap, body: `{"jti":"x","exp":1.5}`, status: 400, code: aauth.ErrInvalidRequest},
		{name: "PS-232 jti a number", signer: ap, body: authBody(t, map[string]any{"jti": 5, "exp": exp}), status: 400, code: aauth.ErrInvalidRequest},
		{name: "PS-232 duplicate member", signer: ap, body: `{"jti":"a","jti":"b","exp":1}`, status: 400, code: aauth.ErrInvalidRequest},
		{name: "PS-290 exp 30 days ahead", signer: ap, body: authBody(t, map[string]any{"jti": "x", "exp": w.clock.Now().Add(30 * 24 * time.Hour).Unix()}), status: 400, code: aauth.ErrInvalidRequest},
		{name: "PS-233 unsigned", signer: ap, body: good, opts: []conformance.SignOption{conformance.WithoutHeader(aauth.HeaderSignature, aauth.HeaderSignatureInput, aauth.HeaderSignatureKey)},
			status: 401, sigErr: aauth.SigInvalidSignature},
		{name: "PS-234 an agent's jwt signature", signer: w.agent.Signer(), body: good, status: 401, sigErr: aauth.SigUnsupportedScheme},
		{name: "PS-234 hwk", signer: ap, body: good, opts: []conformance.SignOption{conformance.WithScheme(aauth.SchemeHWK)}, status: 401, sigErr: aauth.SigUnsupportedScheme},
		{name: "PS-233 bad signature", signer: ap, body: good, opts: []conformance.SignOption{conformance.WithCorruptSignature()}, status: 401, sigErr: aauth.SigInvalidSignature},
		{name: "PS-233 content-digest not covered", signer: ap, body: good, opts: []conformance.SignOption{conformance.WithoutComponent("content-digest")}, status: 401, sigErr: aauth.SigInvalidInput},
		{name: "PS-234 dwk of an access server", signer: &conformance.Signer{Key: ap.Key,
			Member: conformance.JWKSURIMember(w.ap.Issuer(), aauth.DWKAccess, w.ap.SigningKID())}, body: good, status: 401, sigErr: aauth.SigInvalidKey},
		{name: "PS-234 a kid the provider does not publish", signer: &conformance.Signer{Key: ap.Key,
			Member: conformance.JWKSURIMember(w.ap.Issuer(), aauth.DWKAgent, "no-such-kid")}, body: good, status: 401, sigErr: aauth.SigUnknownKey},
		{name: "PS-235 another key under the provider's kid", signer: &conformance.Signer{Key: w.agent.Key, Member: ap.Member},
			body: good, status: 401, sigErr: aauth.SigInvalidSignature},
		{name: "PS-235 a resource this PS never issued for", signer: rsSigner(stranger), body: good, status: 403, code: aauth.ErrUnsupportedIss},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := w.ps.TableCounts(t)
			r := w.revoke(t, tc.signer, tc.body, tc.opts...)
			switch {
			case tc.sigErr == aauth.SigUnsupportedScheme:
				// PS-234: the scheme E11 accepts is jwks_uri, not the agents' jwt.
				if r.status != http.StatusUnauthorized || !strings.Contains(r.header.Get(aauth.HeaderSignatureError), string(tc.sigErr)) ||
					r.header.Get(aauth.HeaderAcceptSignatureScheme) != aauth.SchemeJWKSURI {
					t.Fatalf("want 401 unsupported_scheme with Accept-Signature-Scheme: jwks_uri: %d %v", r.status, r.header)
				}
			case tc.sigErr != "":
				expect401(t, r, tc.sigErr)
			default:
				expectProblem(t, r, tc.status, tc.code)
			}
			writesNothing(t, w.ps, before)
		})
	}

	// PS-232, PS-238: an iss member is ignored; the revocation is keyed by
	// the verified signer.
	expectEmpty200(t, w.revoke(t, ap, authBody(t, map[string]any{"jti": "shared-jti", "exp": exp, "iss": other.Issuer()})))
	for iss, want := range map[string]bool{w.ap.Issuer(): true, other.Issuer(): false} {
		if got, err := w.ps.App.Store.IsRevoked(ctxT(), iss, "shared-jti"); err != nil || got != want {
			t.Fatalf("IsRevoked(%s) = %v, %v; want %v (PS-238)", iss, got, err, want)
		}
	}
	// PS-235: an agent provider the operator blocked may not revoke.
	if err := w.ps.App.Agents.SetProviderStatus(ctxT(), other.Issuer(), agents.ProviderBlocked, "admin"); err != nil {
		t.Fatal(err)
	}
	before := w.ps.TableCounts(t)
	expectProblem(t, w.revoke(t, apSigner(other), good), http.StatusForbidden, aauth.ErrUnsupportedIss)
	writesNothing(t, w.ps, before)

	// PS-284: an unknown jti is answered like any other, and again.
	expectEmpty200(t, w.revoke(t, ap, authBody(t, map[string]any{"jti": "never-seen", "exp": exp})))
	w.clock.Advance(2 * time.Second)
	expectEmpty200(t, w.revoke(t, ap, authBody(t, map[string]any{"jti": "never-seen", "exp": exp})))
}

// TestRevocationResourceToken: a resource revokes one of its resource
// tokens before the agent submits it; the PS answers 200 at once (PS-288)
// and the submission gets revoked_resource_token (PS-269), issuing nothing.
func TestRevocationResourceToken(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	rt := resourceToken(t, w, rs, pt, "calendar.read", nil)
	_, c, _ := conformance.DecodeJWT(rt)
	expectEmpty200(t, w.revoke(t, rsSigner(rs), authBody(t, map[string]any{"jti": c["jti"], "exp": num(c, "exp")})))
	before := w.ps.TableCounts(t)
	expectProblem(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt})),
		http.StatusBadRequest, aauth.ErrRevokedResourceToken)
	writesNothing(t, w.ps, before)
	// Another resource token of the same resource is unaffected.
	authTokenFor(t, w, b, rs, pt)
}

// TestRevocationDownstreamUnavailable: the resource answers 503; the
// revocation is still terminal (revocation_unavailable) and answered 200;
// an agent provider's revocation is not retried on a timer (its failed
// delivery has no schedule, and the recovered resource hears nothing
// while the PS's retry loop runs: docs/decisions.md); a repeat after the
// resource recovers re-attempts the delivery, which now arrives (PS-286,
// PS-291, PS-292).
func TestRevocationDownstreamUnavailable(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	jti, exp := agentTokenClaims(t, w.agent)
	rs.SetRevocationStatus(http.StatusServiceUnavailable)
	body := authBody(t, map[string]any{"jti": jti, "exp": exp})
	expectEmpty200(t, w.revoke(t, apSigner(w.ap), body))
	if rs.Revoked(w.ps.Issuer, jtiOf(t, pt)) {
		t.Fatal("the resource recorded a revocation while failing")
	}
	c, err := w.ps.App.Store.CascadeByToken(ctxT(), "https://ap.test", jti)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range cascadeDeliveries(t, w, c.ID) {
		if d.Outcome != revocation.OutcomeUnavailable || !d.NextAttempt.IsZero() {
			t.Fatalf("an agent provider's failed delivery: %+v; want revocation_unavailable, no retry", d)
		}
	}
	rs.SetRevocationStatus(0)
	n := rs.RevocationRequests()
	w.clock.Advance(10 * time.Second)
	time.Sleep(2 * revocation.RetryTick)
	if rs.RevocationRequests() != n {
		t.Fatal("the PS retried an agent provider's revocation on its own")
	}
	expectEmpty200(t, w.revoke(t, apSigner(w.ap), body))
	if !rs.Revoked(w.ps.Issuer, jtiOf(t, pt)) {
		t.Fatalf("the repeat did not re-attempt the failed delivery (PS-291): %+v", rs.Revocations())
	}
}

// TestRevocationPersonRevokesAgent: the person revokes the agent in the web
// UI; the PS revokes what it issued to that agent for her and sends the
// resource the revocations (P§revocation-cascade); the revoked person
// token is refused at the token endpoint (PS-266).
func TestRevocationPersonRevokesAgent(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	_, bindingID := aliceBinding(t, w)
	b.Post(t, "/agents/"+bindingID+"/revoke", nil)
	if ok, err := w.ps.App.Store.IsRevoked(ctxT(), w.ps.Issuer, jtiOf(t, pt)); err != nil || !ok {
		t.Fatalf("the person token is not revoked at the PS: %v %v", ok, err)
	}
	waitRevoked(t, w, rs, pt)
}

// waitRevoked waits until the resource has received the PS's revocation of
// token (a delivery that runs after the person's decision committed).
func waitRevoked(t *testing.T, w *world, rs *conformance.Resource, token string) {
	t.Helper()
	jti := jtiOf(t, token)
	deadline := time.Now().Add(10 * time.Second)
	for !rs.Revoked(w.ps.Issuer, jti) {
		if time.Now().After(deadline) {
			t.Fatalf("the resource never received the revocation of %s: %+v", jti, rs.Revocations())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRevocationMissionRevoked: the person revokes a mission; the PS
// revokes the person and auth tokens carrying its mission_s256 and tells
// the resource (P§revocation-cascade "PS revokes a mission"); the revoked
// person token is refused at the token endpoint (PS-266) — a mission
// check refuses it first as mission_terminated, so the record is asserted.
func TestRevocationMissionRevoked(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	m := w.approveMission(t, w.agent, b, `{"description":"# Plan the week","resources":["https://rs.test"],"capabilities":["interaction"]}`, nil)
	pt := personToken(t, w, b, rs, missionBody("https://rs.test", m.s256))
	at := authTokenFor(t, w, b, rs, pt)
	if r := mc(t, w, b, http.MethodPost, "/missions/"+m.s256+"/revoke", "", csrfOf(t, b)); r.status >= 300 {
		t.Fatalf("revoke mission: %d %s", r.status, r.raw)
	}
	for _, tok := range []string{pt, at} {
		if ok, err := w.ps.App.Store.IsRevoked(ctxT(), w.ps.Issuer, jtiOf(t, tok)); err != nil || !ok {
			t.Fatalf("a token of the revoked mission is not revoked: %v %v", ok, err)
		}
		waitRevoked(t, w, rs, tok)
	}
}

// TestRevocationDeferred: the resource is slow; the agent provider said it
// holds the connection one second (Prefer: wait=1), so the PS answers 202
// with Location, Retry-After and no-store and no AAuth-Requirement; a poll
// signed by another server gets 404; the provider's polls get 202 until the
// resource answers, then the empty 200 (PS-286, PS-287).
func TestRevocationDeferred(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	jti, exp := agentTokenClaims(t, w.agent)
	release := rs.HoldRevocations()
	defer release()

	r := w.revoke(t, apSigner(w.ap), authBody(t, map[string]any{"jti": jti, "exp": exp}),
		conformance.WithTamper(func(req *http.Request) { req.Header.Set("Prefer", "wait=1") }))
	loc := r.header.Get("Location")
	if r.status != http.StatusAccepted || !strings.HasPrefix(loc, w.ps.Issuer+"/revoke/pending/") || r.header.Get("Retry-After") == "" ||
		r.header.Get("Cache-Control") != "no-store" || r.header.Get(aauth.HeaderAAuthRequirement) != "" {
		t.Fatalf("want 202 with Location, Retry-After, no-store and no AAuth-Requirement: %d %v %s", r.status, r.header, r.raw)
	}
	pollAs := func(s *conformance.Signer) result {
		t.Helper()
		req := conformance.NewRequest(http.MethodGet, loc, nil)
		if _, err := s.Sign(req, nil, conformance.WithCreatedOffset(w.clock.Offset())); err != nil {
			t.Fatal(err)
		}
		return w.do(t, req)
	}
	expectProblem(t, pollAs(rsSigner(rs)), http.StatusNotFound, aauth.ErrNotFound)
	if p := pollAs(apSigner(w.ap)); p.status != http.StatusAccepted {
		t.Fatalf("poll while the resource is slow: %d %s", p.status, p.raw)
	}
	release()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p := pollAs(apSigner(w.ap))
		if p.status == http.StatusOK {
			expectEmpty200(t, p)
			break
		}
		if p.status != http.StatusAccepted || time.Now().After(deadline) {
			t.Fatalf("poll: %d %s", p.status, p.raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !rs.Revoked(w.ps.Issuer, jtiOf(t, pt)) {
		t.Fatalf("the resource has no revocation: %+v", rs.Revocations())
	}
}

// TestRevocationRateLimited: one issuer sending more than 100 revocations
// in a minute gets 429 rate_limited with Retry-After, recording nothing
// (PS-289).
func TestRevocationRateLimited(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	exp := w.clock.Now().Add(time.Hour).Unix()
	for i := range 100 {
		r := w.revoke(t, apSigner(w.ap), authBody(t, map[string]any{"jti": "token-" + strconv.Itoa(i), "exp": exp}))
		if r.status != http.StatusOK {
			t.Fatalf("revocation %d: %d %s", i, r.status, r.raw)
		}
	}
	before := w.ps.TableCounts(t)
	r := w.revoke(t, apSigner(w.ap), authBody(t, map[string]any{"jti": "one-too-many", "exp": exp}))
	expectProblem(t, r, http.StatusTooManyRequests, aauth.ErrRateLimited)
	if r.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After (PS-289)")
	}
	writesNothing(t, w.ps, before)
}

// TestRevocationEndsPendingRequests: a request the agent started with the
// agent token its provider then revokes ends 403 revoked, read with a new
// agent token of the same agent; no Signature-Error (PS-280, A-59).
func TestRevocationEndsPendingRequests(t *testing.T) {
	t.Parallel()
	w, _, _ := authWorld(t)
	s := w.expectInteraction(t, w.post(t, w.agent, "/person", `{"resource":"https://rs.test","capabilities":["interaction"]}`))
	jti, exp := agentTokenClaims(t, w.agent)
	expectEmpty200(t, w.revoke(t, apSigner(w.ap), authBody(t, map[string]any{"jti": jti, "exp": exp})))
	fresh := w.mint(t, conformance.TokenSpec{IssuedAt: w.clock.Now(), Lifetime: time.Hour})
	r := w.poll(t, fresh, s.loc)
	expectProblem(t, r, http.StatusForbidden, aauth.ErrRevoked)
	if d, _ := r.body["detail"].(string); !strings.Contains(d, "agent token") {
		t.Fatalf("detail %q does not say which token (PS-280)", d)
	}
}

// TestRevocationGrantRemoved: the person removes the agent's scope grant at
// rs.test; the auth token it let the agent have is revoked and the resource
// told, while the person token stays (its consent was not removed); then
// removing the consent revokes the person token (issue 8, issue 9 item 5).
func TestRevocationGrantRemoved(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	at := authTokenFor(t, w, b, rs, pt)
	key := map[string]string{"kind": "scopes", "agent_iss": w.agent.Issuer, "agent_sub": w.agent.ID, "resource": "https://rs.test"}
	if pg := b.Post(t, "/access/remove", key); pg.Status != http.StatusSeeOther {
		t.Fatalf("remove the scope grant: %d", pg.Status)
	}
	waitRevoked(t, w, rs, at)
	if ok, _ := w.ps.App.Store.IsRevoked(ctxT(), w.ps.Issuer, jtiOf(t, pt)); ok {
		t.Fatal("removing a scope grant revoked the person token")
	}
	key["kind"] = "consent"
	if pg := b.Post(t, "/access/remove", key); pg.Status != http.StatusSeeOther {
		t.Fatalf("remove the consent: %d", pg.Status)
	}
	waitRevoked(t, w, rs, pt)
}
