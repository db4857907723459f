package app_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// expectNoDelivery: an answer of 500 server_error (problem+json) that
// carries neither a token nor a pending URL.
func expectNoDelivery(t *testing.T, r result) {
	t.Helper()
	if r.status != http.StatusInternalServerError || r.body["error"] != "server_error" {
		t.Fatalf("want 500 server_error, got %d %s", r.status, r.raw)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	if _, ok := r.body["person_token"]; ok || r.header.Get("Location") != "" {
		t.Errorf("a failed answer delivered a token or a pending URL: %v %s", r.header, r.raw)
	}
}

// PS-293, PS-239: an accepted agent token whose record cannot be written
// gets no person token (500, nothing delivered), on both databases; the
// same token is accepted, and recorded, once the database takes the
// record again (a failed write is not remembered as done).
func TestAgentTokenRecordFailureDeliversNoToken(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		t.Parallel()
		w, b, rs := authWorldWith(t, opt)
		personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
		undo := injectInsertFailure(t, w.ps, "agent_token_subs")
		fresh := w.mint(t, conformance.TokenSpec{IssuedAt: w.clock.Now(), Lifetime: time.Hour})
		expectNoDelivery(t, w.post(t, fresh, "/person", `{"resource":"https://rs.test"}`))
		undo()
		w.clock.Advance(time.Second) // a new signature, not a replay
		r := w.post(t, fresh, "/person", `{"resource":"https://rs.test"}`)
		if pt, _ := r.body["person_token"].(string); r.status != http.StatusOK || pt == "" {
			t.Fatalf("after the fault: %d %s", r.status, r.raw)
		}
		jti, _ := agentTokenClaims(t, fresh)
		if sub, err := w.ps.App.Store.AgentTokenSub(ctxT(), w.ap.Issuer(), jti); err != nil || sub == "" {
			t.Fatalf("answered 200 without the agent token's record: %q %v", sub, err)
		}
	})
}

// PS-293: a request that would start a pending request (no consent yet:
// 202) answers 500 without a pending URL when the record cannot be
// written.
func TestAgentTokenRecordFailureDeliversNoPendingURL(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		t.Parallel()
		w, _, _ := authWorldWith(t, opt)
		undo := injectInsertFailure(t, w.ps, "agent_token_subs")
		defer undo()
		fresh := w.mint(t, conformance.TokenSpec{IssuedAt: w.clock.Now(), Lifetime: time.Hour})
		expectNoDelivery(t, w.post(t, fresh, "/person", `{"resource":"https://rs.test","capabilities":["interaction"]}`))
	})
}

// The bounded-table rule (PS-293 records accepted tokens only): a refused
// request records nothing, and its answer is the refusal, not a 500 of
// the record.
func TestRefusedRequestRecordsNoAgentToken(t *testing.T) {
	t.Parallel()
	w, _, _ := authWorld(t)
	fresh := w.mint(t, conformance.TokenSpec{IssuedAt: w.clock.Now(), Lifetime: time.Hour})
	if r := w.post(t, fresh, "/person", `{"resource":5}`); r.status != http.StatusBadRequest {
		t.Fatalf("want 400, got %d %s", r.status, r.raw)
	}
	jti, _ := agentTokenClaims(t, fresh)
	if sub, err := w.ps.App.Store.AgentTokenSub(ctxT(), w.ap.Issuer(), jti); err != nil || sub != "" {
		t.Fatalf("a refused request left a record: %q %v", sub, err)
	}
}
