package app_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// Security review (branch rev): confirming tests for findings in the
// revocation endpoint. They are expected to FAIL until the findings are
// fixed.

// TestRevocationRepeatDoesNotResendInFlight (PS-291; security review
// 2026-12-07, finding 1): repeats of the same (iss, jti) while a slow
// resource holds the first attempt send it nothing again: one attempt of
// a delivery is in flight at a time (Store.ClaimDelivery's lease). Before
// the fix every repeat started another signed POST per pending delivery,
// without bound.
func TestRevocationRepeatDoesNotResendInFlight(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	jti, exp := agentTokenClaims(t, w.agent)
	release := rs.HoldRevocations()
	defer release()
	wait1 := conformance.WithTamper(func(req *http.Request) { req.Header.Set("Prefer", "wait=1") })
	const repeats = 4
	for i := range repeats {
		// exp varies so that each request's signature differs (replay cache);
		// the (iss, jti) pair is the same.
		r := w.revoke(t, apSigner(w.ap), authBody(t, map[string]any{"jti": jti, "exp": exp - int64(i)}), wait1)
		if r.status != http.StatusAccepted {
			t.Fatalf("revocation %d: %d %s", i, r.status, r.raw)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if n := rs.RevocationRequests(); n != 1 {
		t.Errorf("the slow resource received %d concurrent revocations of the one person token after %d repeats; want 1 in flight", n, repeats)
	}
	release()
	w.ps.App.Revocation.WaitIdle(ctxT())
}

// TestSeenProviderStaysUnderTheUnknownBound (PS-290; security review
// 2026-12-07, finding 3): a provider that was merely seen (one agent
// request answered 202, nothing approved) still counts as unknown for the
// shared bound on unknown providers' live revocations. Before the fix any
// row in agent_providers exempted it, so each fresh (sub)domain got its
// own 10 000 entries for one request.
func TestSeenProviderStaysUnderTheUnknownBound(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	ctx := ctxT()
	exp := w.clock.Now().Add(time.Hour).Unix()
	if r := w.revoke(t, apSigner(w.ap), authBody(t, map[string]any{"jti": "unknown-1", "exp": exp})); r.status != http.StatusOK {
		t.Fatalf("revocation: %d %s", r.status, r.raw)
	}
	before, err := w.ps.App.Store.LiveRevocationsFromUnknown(ctx, w.ps.Issuer, w.clock.Now())
	if err != nil || before != 1 {
		t.Fatalf("LiveRevocationsFromUnknown before = %d, %v; want 1", before, err)
	}
	// One request from an agent no person connected: 202, nothing decided.
	w.ask(t, w.agent, "Hello?", "interaction")
	after, err := w.ps.App.Store.LiveRevocationsFromUnknown(ctx, w.ps.Issuer, w.clock.Now())
	if err != nil || after != before {
		t.Fatalf("after one unapproved agent request the provider's revocations left the unknown-provider bound: %d → %d (%v)", before, after, err)
	}
}

// TestSubAgentTokenRevocationCascades (PS-239, PS-293; security review
// 2026-12-07, finding 6): the agent provider revokes a sub-agent's agent
// token; the person token the PS issued to that sub-agent is revoked at
// the PS and at its resource (P§revocation-cascade: "for each agent token
// it accepts, that token's (iss, jti) and the sub"). Before the fix the
// accepted subagent_token was never recorded and nothing cascaded.
func TestSubAgentTokenRevocationCascades(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	sub := newSubAgent(t, w, "aauth:a1+search@ap.test", 30*time.Minute)
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
	jti, exp := agentTokenClaims(t, sub)
	expectEmpty200(t, w.revoke(t, apSigner(w.ap), authBody(t, map[string]any{"jti": jti, "exp": exp})))
	if ok, err := w.ps.App.Store.IsRevoked(ctxT(), w.ps.Issuer, jtiOf(t, pt)); err != nil || !ok {
		t.Fatalf("revoking the sub-agent's agent token left the person token issued to it live at the PS (revoked=%v, %v); resource told: %v",
			ok, err, rs.Revoked(w.ps.Issuer, jtiOf(t, pt)))
	}
}
