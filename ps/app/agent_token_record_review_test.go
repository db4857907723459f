package app_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
)

// TestReviewTokenIssuedWithoutAgentTokenRecord (review rev3; fails now):
// the (iss, jti) → sub record of an accepted agent token (PS-293,
// P§token-revocation "Records") is written by server.agentRoute's
// AgentAccepted hook after the handler has committed and answered
// (ps/server/server.go:261, ps/app/app.go:553), best effort: a failed write
// is only logged, and it runs under the request's context (a client that
// drops the connection cancels it). A person token is then issued with no
// record of the agent token it was issued under, and the agent provider's
// revocation of that agent token finds no sub (revocation.go:526) and
// cascades to nothing: the person token stays live at the resource.
// Here a trigger makes the record's insert fail.
func TestReviewTokenIssuedWithoutAgentTokenRecord(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`) // consent given

	if err := w.ps.App.Store.ExecSQL(ctxT(),
		`CREATE TRIGGER no_agent_token_record BEFORE INSERT ON agent_token_subs BEGIN SELECT RAISE(ABORT, 'injected'); END`); err != nil {
		t.Fatal(err)
	}
	fresh := w.mint(t, conformance.TokenSpec{IssuedAt: w.clock.Now(), Lifetime: time.Hour})
	r := w.post(t, fresh, "/person", `{"resource":"https://rs.test"}`)
	pt, _ := r.body["person_token"].(string)
	if r.status != http.StatusOK || pt == "" {
		return // refused: nothing issued without its record (the fixed behaviour)
	}
	if err := w.ps.App.Store.ExecSQL(ctxT(), `DROP TRIGGER no_agent_token_record`); err != nil {
		t.Fatal(err)
	}
	jti, exp := agentTokenClaims(t, fresh)
	if sub, err := w.ps.App.Store.AgentTokenSub(ctxT(), w.ap.Issuer(), jti); err != nil || sub == "" {
		t.Errorf("a person token was issued under agent token %s with no record of it (PS-293): sub %q, %v", jti, sub, err)
	}
	expectEmpty200(t, w.revoke(t, apSigner(w.ap), authBody(t, map[string]any{"jti": jti, "exp": exp})))
	if !rs.Revoked(w.ps.Issuer, jtiOf(t, pt)) {
		t.Fatalf("the agent provider revoked the agent token the person token was issued under; the person token was not revoked (PS-239)")
	}
}
