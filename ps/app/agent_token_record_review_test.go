package app_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
)

// TestNoTokenDeliveredWithoutAgentTokenRecord (PS-293, PS-239; security
// review 2026-12-07, rev3 #2): when the (iss, jti) → sub record of the
// accepted agent token cannot be written (here a trigger refuses it), the
// request answers 500 and delivers no person token, so no token reaches an
// agent that the provider's revocation could not find. Before the fix the
// record was written after the answer, best effort.
func TestNoTokenDeliveredWithoutAgentTokenRecord(t *testing.T) {
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
