package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestAuthTokenRefusals: every refusal of the auth token endpoint answers
// its draft code and status in problem+json without Signature-Error (not a
// 401), and writes nothing (no auth_token_records row, no grant, no pending
// request). PS-081..PS-091, PS-093, PS-094, PS-096, PS-260..PS-265, PS-272.
func TestAuthTokenRefusals(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	// A second agent of alice's, with its own person token for rs.test.
	a2 := w.newAgent(t, "aauth:a2@ap.test")
	w.bind(t, a2, b)
	r2 := w.post(t, a2, "/person", `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	s2 := w.expectInteraction(t, r2)
	open(t, b, s2)
	b.Post(t, s2.path()+"/approve", nil)
	pt2, _ := w.poll(t, a2, s2.loc).body["person_token"].(string)
	other, err := conformance.NewAgentKey(aauth.AlgEd25519)
	if err != nil {
		t.Fatal(err)
	}
	rt := func(edit func(*conformance.ResourceTokenSpec)) string {
		return resourceToken(t, w, rs, pt, "calendar.read", edit)
	}
	good := rt(nil)
	body := func(resourceToken any, presented any) map[string]any {
		m := map[string]any{"resource_token": resourceToken}
		if presented != nil {
			m["presented_token"] = presented
		}
		return m
	}
	missing := func(claim string) func(*conformance.ResourceTokenSpec) {
		return func(s *conformance.ResourceTokenSpec) { s.Omit = []string{claim} }
	}
	_, pc, _ := conformance.DecodeJWT(pt)

	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
		code   string
	}{
		{"PS-081 no resource_token", map[string]any{}, 400, aauth.ErrInvalidRequest},
		{"PS-081 resource_token not a string", body(5, pt), 400, aauth.ErrInvalidRequest},
		// PS-134: the signer's agent token iss (ap.test) is not the upstream token's aud (rs.test).
		{"PS-134 upstream_token aud is not the signer's iss", map[string]any{"resource_token": good, "presented_token": pt, "upstream_token": pt}, 400, aauth.ErrInvalidUpstreamToken},
		{"PS-082 not a JWT", body("abc", pt), 400, aauth.ErrInvalidResourceToken},
		{"PS-083 a person token as resource_token", body(pt, pt), 400, aauth.ErrInvalidResourceToken},
		{"PS-083 typ JWT", body(rt(func(s *conformance.ResourceTokenSpec) { s.Typ = "JWT" }), pt), 400, aauth.ErrInvalidResourceToken},
		{"PS-084 dwk", body(rt(func(s *conformance.ResourceTokenSpec) { s.Overrides = map[string]any{"dwk": aauth.DWKAgent} }), pt), 400, aauth.ErrInvalidResourceToken},
		{"PS-085 bad signature", body(rt(func(s *conformance.ResourceTokenSpec) { s.SignWith = other }), pt), 400, aauth.ErrInvalidResourceToken},
		{"PS-086 expired", body(rt(func(s *conformance.ResourceTokenSpec) { s.IssuedAt = w.clock.Now().Add(-301 * time.Second) }), pt), 400, aauth.ErrExpiredResourceToken},
		{"PS-087 iat ahead", body(rt(func(s *conformance.ResourceTokenSpec) { s.IssuedAt = w.clock.Now().Add(5 * time.Minute) }), pt), 400, aauth.ErrClockSkew},
		{"PS-088 lives too long", body(rt(func(s *conformance.ResourceTokenSpec) { s.Lifetime = time.Hour }), pt), 400, aauth.ErrInvalidResourceToken},
		{"PS-089 no iss", body(rt(missing("iss")), pt), 400, aauth.ErrInvalidResourceToken},
		{"PS-089 no dwk", body(rt(missing("dwk")), pt), 400, aauth.ErrInvalidResourceToken},
		{"PS-089 no aud", body(rt(missing("aud")), pt), 400, aauth.ErrInvalidResourceToken},
		{"PS-089 no jti", body(rt(missing("jti")), pt), 400, aauth.ErrInvalidResourceToken},
		{"PS-089 no ps", body(rt(missing("ps")), pt), 400, aauth.ErrInvalidResourceToken},
		{"PS-089 no sub", body(rt(missing("sub")), pt), 400, aauth.ErrInvalidResourceToken},
		{"PS-089 no presented_jti", body(rt(missing("presented_jti")), pt), 400, aauth.ErrInvalidResourceToken},
		{"PS-089 no agent_jkt", body(rt(missing("agent_jkt")), pt), 400, aauth.ErrInvalidResourceToken},
		{"PS-089 no iat", body(rt(missing("iat")), pt), 400, aauth.ErrInvalidResourceToken},
		{"PS-089 no exp", body(rt(missing("exp")), pt), 400, aauth.ErrInvalidResourceToken},
		{"PS-089 no scope", body(rt(missing("scope")), pt), 400, aauth.ErrInvalidResourceToken},
		{"PS-090 aud not a server identifier", body(rt(func(s *conformance.ResourceTokenSpec) { s.Aud = "http://other.test" }), pt), 400, aauth.ErrInvalidResourceToken},
		// Another server is an access server (four-party, issue 11): one
		// without usable metadata is as_unreachable before anyone is asked.
		{"PS-118 aud a server without AS metadata", body(rt(func(s *conformance.ResourceTokenSpec) { s.Aud = "https://other.test" }), pt), 502, aauth.ErrASUnreachable},
		{"PS-091 agent_jkt of another key", body(rt(func(s *conformance.ResourceTokenSpec) { s.AgentJKT = other.Thumbprint() }), pt), 400, aauth.ErrInvalidResourceToken},
		{"PS-264 ps another PS", body(rt(func(s *conformance.ResourceTokenSpec) { s.PS = "https://other-ps.test"; s.Aud = w.ps.Issuer }), pt), 400, aauth.ErrInvalidResourceToken},
		{"PS-093 sub differs", body(rt(func(s *conformance.ResourceTokenSpec) { s.Sub = "someone-else" }), pt), 400, aauth.ErrInvalidResourceToken},
		{"PS-093 tenant added", body(rt(func(s *conformance.ResourceTokenSpec) { s.Tenant = "acme" }), pt), 400, aauth.ErrInvalidResourceToken},
		{"PS-093 mission_s256 added", body(rt(func(s *conformance.ResourceTokenSpec) { s.MissionS256 = randomS256() }), pt), 400, aauth.ErrInvalidResourceToken},
		{"PS-263 presented_jti names another token", body(rt(func(s *conformance.ResourceTokenSpec) { s.PresentedJTI = "not-" + pc["jti"].(string) }), pt), 400, aauth.ErrInvalidResourceToken},
		{"PS-261 presented_token not a JWT", body(good, "abc"), 400, aauth.ErrInvalidPresentedToken},
		{"PS-261 presented_token not a string", body(good, 7), 400, aauth.ErrInvalidRequest},
		{"PS-261 an agent token as presented_token", body(good, w.agent.Token), 400, aauth.ErrInvalidPresentedToken},
		{"PS-261 a resource token as presented_token", body(good, good), 400, aauth.ErrInvalidPresentedToken},
		{"PS-261 presented_token tampered", body(good, pt[:len(pt)-4]+"AAAA"), 400, aauth.ErrInvalidPresentedToken},
		// PS-096: an RT naming a2's person token, redeemed by w.agent.
		{"PS-096 presented cnf is not agent_jkt", body(resourceToken(t, w, rs, pt2, "calendar.read", nil), pt2), 400, aauth.ErrInvalidPresentedToken},
		{"PS-099 platform outside the registry", map[string]any{"resource_token": good, "presented_token": pt, "platform": "toaster"}, 400, aauth.ErrInvalidRequest},
		{"PS-099 device with a control character", map[string]any{"resource_token": good, "presented_token": pt, "device": "a\u0007b"}, 400, aauth.ErrInvalidRequest},
		{"PS-260 no presented_token and no record", body(rt(func(s *conformance.ResourceTokenSpec) { s.PresentedJTI = "unknown-jti" }), nil), 400, aauth.ErrInvalidRequest},
		// Strict by default: the PS's record of the token is not read
		// (--legacy-person-token-jti, TestAuthTokenLegacyPersonTokenJTI).
		{"PS-260 no presented_token, the PS issued the named token", body(good, nil), 400, aauth.ErrInvalidRequest},
		{"PS-260 no presented_token, named as person_token_jti", body(rt(func(s *conformance.ResourceTokenSpec) { s.LegacyPresentedJTI = true }), nil), 400, aauth.ErrInvalidRequest},
		{"PS-260 presented_token empty", body(good, ""), 400, aauth.ErrInvalidRequest},
		{"PS-260 presented_token null", map[string]any{"resource_token": good, "presented_token": nil}, 400, aauth.ErrInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := w.ps.TableCounts(t)
			expectProblem(t, w.post(t, w.agent, "/token", authBody(t, tc.body)), tc.status, tc.code)
			writesNothing(t, w.ps, before)
		})
	}

	// PS-265: the presented token has expired (the PS clock passes its
	// exp; a fresh agent token and resource token keep the rest valid).
	w.clock.Advance(time.Unix(num(pc, "exp"), 0).Sub(w.clock.Now()) + time.Second)
	fresh := w.mint(t, conformance.TokenSpec{IssuedAt: w.clock.Now(), Lifetime: time.Hour})
	before := w.ps.TableCounts(t)
	expectProblem(t, w.post(t, fresh, "/token", authBody(t, body(rt(nil), pt))), http.StatusBadRequest, aauth.ErrExpiredPresentedToken)
	// Without presented_token it is still PS-260's answer (the record's
	// expiry is checked only with the opt-in fallback).
	expectProblem(t, w.post(t, fresh, "/token", authBody(t, body(rt(nil), nil))), http.StatusBadRequest, aauth.ErrInvalidRequest)
	writesNothing(t, w.ps, before)
}

// TestAuthTokenPresentedForAnotherResource: PS-262. A person token the
// agent holds for rs2.test, named by a resource token rs.test minted, is
// refused: the presented token's aud must be the resource token's iss.
// Nothing is written.
func TestAuthTokenPresentedForAnotherResource(t *testing.T) {
	t.Parallel()
	var rs, rs2 *conformance.Resource
	w := newWorldWith(t, pstest.Options{}, func(env *pstest.Env) {
		var err error
		if rs, err = conformance.StartResource(env.CA, env.Resolver, "rs.test"); err != nil {
			t.Fatal(err)
		}
		if rs2, err = conformance.StartResource(env.CA, env.Resolver, "rs2.test"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rs.Close(); _ = rs2.Close() })
	})
	b := w.person(t, "alice", false)
	w.bind(t, w.agent, b)
	pt2 := personToken(t, w, b, rs2, `{"resource":"https://rs2.test","capabilities":["interaction"]}`)
	rt := resourceToken(t, w, rs, pt2, "calendar.read", nil)
	before := w.ps.TableCounts(t)
	expectProblem(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt2})),
		http.StatusBadRequest, aauth.ErrInvalidPresentedToken)
	writesNothing(t, w.ps, before)
}

// TestAuthTokenMismatchIsASecurityEvent: PS-095. A resource token whose
// sub differs from the presented token's, which itself verified, is
// refused like any mismatch and raised to operators as a security event;
// an ordinary refusal (an expired resource token) is not. PS-270: a
// login_hint naming someone else changes nothing: the token is the bound
// person's.
func TestAuthTokenMismatchIsASecurityEvent(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	var rs *conformance.Resource
	w := newWorldWith(t, pstest.Options{Logs: &logs}, func(env *pstest.Env) {
		var err error
		if rs, err = conformance.StartResource(env.CA, env.Resolver, "rs.test"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rs.Close() })
	})
	b := w.person(t, "alice", false)
	w.bind(t, w.agent, b)
	pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)

	expired := resourceToken(t, w, rs, pt, "calendar.read", func(s *conformance.ResourceTokenSpec) { s.IssuedAt = w.clock.Now().Add(-301 * time.Second) })
	expectProblem(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": expired, "presented_token": pt})),
		http.StatusBadRequest, aauth.ErrExpiredResourceToken)
	if strings.Contains(logs.String(), `security: resource token does not match`) {
		t.Fatal("an ordinary refusal was raised as a security event")
	}
	mismatch := resourceToken(t, w, rs, pt, "calendar.read", func(s *conformance.ResourceTokenSpec) { s.Sub = "someone-else" })
	expectProblem(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": mismatch, "presented_token": pt})),
		http.StatusBadRequest, aauth.ErrInvalidResourceToken)
	if !strings.Contains(logs.String(), `security: resource token does not match the presented token`) {
		t.Fatalf("no security event for a mismatch (PS-095):\n%s", logs.String())
	}

	r := w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": resourceToken(t, w, rs, pt, "calendar.read", nil),
		"presented_token": pt, "login_hint": "bob@example.com", "capabilities": []string{"interaction"}}))
	s := w.expectInteraction(t, r)
	open(t, b, s)
	b.Post(t, s.path()+"/approve", nil)
	expectAuthToken(t, w, rs, w.poll(t, w.agent, s.loc), pt) // alice's sub, whatever the hint (PS-270)
}
