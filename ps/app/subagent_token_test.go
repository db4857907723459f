package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// Sub-agents through their parent (subagent_token), end to end over HTTPS
// with the test resource: PS-REQUIREMENTS §2.2.8, §3.11, P§sub-agents.

// newSubAgent mints a sub-agent of w.agent with its own key, at the PS clock.
func newSubAgent(t *testing.T, w *world, sub string, lifetime time.Duration) *conformance.Agent {
	t.Helper()
	key, err := conformance.NewAgentKey(aauth.AlgEd25519)
	if err != nil {
		t.Fatal(err)
	}
	return w.mint(t, conformance.TokenSpec{Sub: sub, ParentAgent: w.agent.ID, Agent: key, IssuedAt: w.clock.Now(), Lifetime: lifetime})
}

// TestSubAgentTokenEndToEnd: the parent obtains a person token for its
// sub-agent (cnf = the sub-agent's key, P§parent-mediated-authorization
// step 1); the sub-agent presents it at the resource, which mints a
// resource token bound to the sub-agent's key; the parent redeems it with
// subagent_token and the person's consent (step 3–4); the auth token is
// bound to the sub-agent's key and names neither agent (PS-142); both
// tokens expire no later than the sub-agent token (PS-145); the record
// keeps the parent as the agent and the sub-agent beside it. The parent's
// grant then answers at once (PS-143), for another sub-agent too. PS-067:
// the sub-agent's person token is bound to the sub-agent's key and has
// the sub the parent's own token for the same resource has.
func TestSubAgentTokenEndToEnd(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	sub := newSubAgent(t, w, "aauth:a1+search@ap.test", 30*time.Minute)
	_, sc, _ := conformance.DecodeJWT(sub.Token)

	r := w.post(t, w.agent, "/person", authBody(t, map[string]any{"resource": "https://rs.test", "subagent_token": sub.Token,
		"capabilities": []string{"interaction"}}))
	s := w.expectInteraction(t, r)
	open(t, b, s)
	b.Post(t, s.path()+"/approve", nil)
	r = w.poll(t, w.agent, s.loc)
	pt, _ := r.body["person_token"].(string)
	if r.status != http.StatusOK || pt == "" {
		t.Fatalf("person token for the sub-agent: %d %s", r.status, r.raw)
	}
	pc, err := rs.VerifyPersonToken(ctxT(), pt, sub.Key)
	if err != nil {
		t.Fatalf("the resource refuses the sub-agent's person token (cnf must be the sub-agent's key): %v", err)
	}
	if num(pc, "exp") > num(sc, "exp") {
		t.Fatalf("person token exp %d outlives the sub-agent token's %d (PS-145)", num(pc, "exp"), num(sc, "exp"))
	}
	// PS-067: the two tokens compared. The parent's own person token for
	// the same resource (its grant now covers it) is bound to the parent's
	// key, the sub-agent's to the sub-agent's, and both carry the same sub.
	r = w.post(t, w.agent, "/person", `{"resource":"https://rs.test"}`)
	ppt, _ := r.body["person_token"].(string)
	if r.status != http.StatusOK || ppt == "" {
		t.Fatalf("the parent's own person token: %d %s", r.status, r.raw)
	}
	ppc, err := rs.VerifyPersonToken(ctxT(), ppt, w.agent.Key)
	if err != nil {
		t.Fatalf("the resource refuses the parent's person token: %v", err)
	}
	if pc["sub"] == nil || pc["sub"] != ppc["sub"] || pc["aud"] != ppc["aud"] {
		t.Fatalf("the sub-agent's person token has sub %v aud %v, the parent's sub %v aud %v: want the same (PS-067)", pc["sub"], pc["aud"], ppc["sub"], ppc["aud"])
	}
	if _, err := rs.VerifyPersonToken(ctxT(), pt, w.agent.Key); err == nil {
		t.Fatal("the sub-agent's person token is bound to the parent's key (PS-067: cnf.jwk is the sub-agent's)")
	}

	rt := mintFor(t, w, rs, pt, sub.Key, "calendar.read")
	s = w.expectInteraction(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt,
		"subagent_token": sub.Token, "capabilities": []string{"interaction"}})))
	open(t, b, s)
	b.Post(t, s.path()+"/approve", nil)
	r = w.poll(t, w.agent, s.loc)
	at, _ := r.body["auth_token"].(string)
	if r.status != http.StatusOK || at == "" {
		t.Fatalf("auth token for the sub-agent: %d %s", r.status, r.raw)
	}
	ac, err := rs.VerifyAuthToken(ctxT(), at, sub.Key)
	if err != nil {
		t.Fatalf("the resource refuses the sub-agent's auth token (PS-142): %v", err)
	}
	if ac["sub"] != pc["sub"] || num(ac, "exp") > num(sc, "exp") {
		t.Fatalf("auth token %v (sub, PS-145)", ac)
	}
	for k, v := range ac {
		if s, ok := v.(string); (ok && strings.HasPrefix(s, "aauth:")) || k == "parent_agent" || k == "act" {
			t.Fatalf("the auth token names an agent in %s (PS-142)", k)
		}
	}
	rec, err := w.ps.App.Tokens.AuthTokenRecord(ctxT(), ac["jti"].(string))
	if err != nil || rec.AgentSub != w.agent.ID || rec.SubAgentSub != sub.ID || rec.CnfThumbprint != sub.Key.Thumbprint() ||
		rec.SubAgentTokenJTI != sc["jti"] {
		t.Fatalf("auth token record %+v %v: the parent is the agent, the sub-agent is recorded beside it", rec, err)
	}
	ptRec, err := w.ps.App.Tokens.PersonTokenRecord(ctxT(), pc["jti"].(string))
	if err != nil || ptRec.AgentSub != w.agent.ID || ptRec.SubAgentSub != sub.ID {
		t.Fatalf("person token record %+v %v", ptRec, err)
	}

	// PS-143: the parent's grant covers another sub-agent, at once.
	sub2 := newSubAgent(t, w, "aauth:a1+fetch@ap.test", time.Hour)
	r = w.post(t, w.agent, "/person", authBody(t, map[string]any{"resource": "https://rs.test", "subagent_token": sub2.Token}))
	pt2, _ := r.body["person_token"].(string)
	if r.status != http.StatusOK || pt2 == "" {
		t.Fatalf("second sub-agent's person token under the parent's consent: %d %s", r.status, r.raw)
	}
	rt2 := mintFor(t, w, rs, pt2, sub2.Key, "calendar.read")
	expectAuthTokenFor(t, w, rs, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt2, "presented_token": pt2,
		"subagent_token": sub2.Token})), sub2.Key)
}

// expectAuthTokenFor asserts a 200 whose auth token the resource accepts
// from the holder of key.
func expectAuthTokenFor(t *testing.T, w *world, rs *conformance.Resource, r result, key *conformance.AgentKey) map[string]any {
	t.Helper()
	at, _ := r.body["auth_token"].(string)
	if r.status != http.StatusOK || at == "" {
		t.Fatalf("want 200 with an auth token: %d %s", r.status, r.raw)
	}
	c, err := rs.VerifyAuthToken(ctxT(), at, key)
	if err != nil {
		t.Fatalf("the resource refuses the auth token: %v", err)
	}
	return c
}

// TestSubAgentTokenRefusals: PS-140 (every malformed, expired or
// mismatched subagent_token) and PS-141 (a resource token naming the
// parent's key), at both endpoints, each with its code and status and
// nothing written.
func TestSubAgentTokenRefusals(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	sub := newSubAgent(t, w, "aauth:a1+s1@ap.test", time.Hour)
	r := w.post(t, w.agent, "/person", authBody(t, map[string]any{"resource": "https://rs.test", "subagent_token": sub.Token,
		"capabilities": []string{"interaction"}}))
	s := w.expectInteraction(t, r)
	open(t, b, s)
	b.Post(t, s.path()+"/approve", nil)
	pt, _ := w.poll(t, w.agent, s.loc).body["person_token"].(string)
	if pt == "" {
		t.Fatal("no person token for the sub-agent")
	}
	rt := mintFor(t, w, rs, pt, sub.Key, "calendar.read")

	ap2 := w.env.StartAP(t, "ap2.test")
	foreign, err := ap2.NewAgent(conformance.TokenSpec{Sub: "aauth:a1+s2@ap2.test", ParentAgent: w.agent.ID})
	if err != nil {
		t.Fatal(err)
	}
	other, err := conformance.NewAgentKey(aauth.AlgEd25519)
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{
		"PS-140 bad signature": w.mint(t, conformance.TokenSpec{Sub: sub.ID, ParentAgent: w.agent.ID, Agent: sub.Key,
			SignWith: other.Signer(), IssuedAt: w.clock.Now()}).Token,
		"PS-140 no parent_agent":                  w.mint(t, conformance.TokenSpec{Sub: "aauth:a1+s3@ap.test", Agent: sub.Key, IssuedAt: w.clock.Now()}).Token,
		"PS-140 parent_agent another agent":       w.mint(t, conformance.TokenSpec{Sub: "aauth:a3+s1@ap.test", ParentAgent: "aauth:a3@ap.test", Agent: sub.Key, IssuedAt: w.clock.Now()}).Token,
		"PS-140 parent_agent differs in case":     w.mint(t, conformance.TokenSpec{Sub: "aauth:a1+s4@ap.test", ParentAgent: "aauth:A1@ap.test", Agent: sub.Key, IssuedAt: w.clock.Now()}).Token,
		"PS-140 issued by another agent provider": foreign.Token,
		"PS-140 not a JWT":                        "abc",
		"PS-140 a person token":                   pt,
	}
	expired := w.mint(t, conformance.TokenSpec{Sub: sub.ID, ParentAgent: w.agent.ID, Agent: sub.Key, IssuedAt: w.clock.Now().Add(-2 * time.Hour)})
	revoked := newSubAgent(t, w, "aauth:a1+s5@ap.test", time.Hour)
	_, rc, _ := conformance.DecodeJWT(revoked.Token)
	if err := w.ps.App.Store.RecordRevocation(ctxT(), w.ap.Issuer(), rc["jti"].(string), time.Unix(num(rc, "exp"), 0), time.Now()); err != nil {
		t.Fatal(err)
	}
	type row struct {
		name, path string
		body       map[string]any
		status     int
		code       string
	}
	var rows []row
	for name, tok := range bad {
		rows = append(rows,
			row{name + " (E3)", "/person", map[string]any{"resource": "https://rs.test", "subagent_token": tok}, 400, aauth.ErrInvalidSubagentToken},
			row{name + " (E4)", "/token", map[string]any{"resource_token": rt, "presented_token": pt, "subagent_token": tok}, 400, aauth.ErrInvalidSubagentToken})
	}
	rows = append(rows,
		row{"PS-140 expired (E3)", "/person", map[string]any{"resource": "https://rs.test", "subagent_token": expired.Token}, 400, aauth.ErrExpiredSubagentToken},
		row{"PS-140 expired (E4)", "/token", map[string]any{"resource_token": rt, "presented_token": pt, "subagent_token": expired.Token}, 400, aauth.ErrExpiredSubagentToken},
		row{"PS-140 revoked by its agent provider (E3)", "/person", map[string]any{"resource": "https://rs.test", "subagent_token": revoked.Token}, 400, aauth.ErrRevokedSubagentToken},
		row{"PS-140 revoked by its agent provider (E4)", "/token", map[string]any{"resource_token": rt, "presented_token": pt, "subagent_token": revoked.Token}, 400, aauth.ErrRevokedSubagentToken},
		row{"subagent_token not a string", "/person", map[string]any{"resource": "https://rs.test", "subagent_token": 1}, 400, aauth.ErrInvalidRequest},
		// PS-141: the resource token names the parent's key, not the sub-agent's.
		row{"PS-141 agent_jkt of the parent", "/token", map[string]any{"resource_token": mintFor(t, w, rs, pt, w.agent.Key, "calendar.read"),
			"presented_token": pt, "subagent_token": sub.Token}, 400, aauth.ErrInvalidResourceToken},
		// Without subagent_token the sub-agent's resource token is not the signer's.
		row{"PS-141 sub-agent's resource token without subagent_token", "/token", map[string]any{"resource_token": rt, "presented_token": pt}, 400, aauth.ErrInvalidResourceToken},
	)
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			before := w.ps.TableCounts(t)
			expectProblem(t, w.post(t, w.agent, tc.path, authBody(t, tc.body)), tc.status, tc.code)
			writesNothing(t, w.ps, before)
		})
	}
}
