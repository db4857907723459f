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

// TestReviewRevocationRepeatResendsInFlight: a repeated revocation of the
// same (iss, jti) (PS-291) re-attempts every delivery that is not
// `revoked`, including the ones still pending and in flight
// (ps/revocation/revocation.go deliver: a pending delivery is appended to
// todo and sent again). Each repeat, up to the per-issuer rate limit,
// starts a new goroutine and a new signed POST per delivery of the cascade,
// while the earlier ones still wait on a slow recipient: an agent provider
// with a slow (or hanging) resource multiplies the PS's outgoing
// revocations and goroutines without bound. Only one attempt of a delivery
// should be in flight at a time.
func TestReviewRevocationRepeatResendsInFlight(t *testing.T) {
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

// TestReviewUnknownProviderBoundEscapedBySeen: the shared bound on the
// live revocations of agent providers the operator does not know
// (revocation.boundUnknown, DefaultMaxUnknownEntries, PS-290 / docs
// "each new domain cannot add another 10 000 rows") exempts every provider
// in agent_providers, and a provider lands there as `seen` after any agent
// request answered < 400 (server.AfterVerify) — here one question from an
// agent nobody connected, answered 202, nothing approved. Each fresh
// (sub)domain of an attacker thus gets its own 10 000 live entries for the
// cost of one request.
func TestReviewUnknownProviderBoundEscapedBySeen(t *testing.T) {
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
