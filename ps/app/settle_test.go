package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/revocation"
)

// TestSettleRevocationsBeforeExit (issue 14, the command line's agents
// revoke): the agent is revoked through the same flow as the CLI
// (Flows.EndBinding), and SettleRevocations returns only once the
// resource has the revocation of the token the PS issued — no polling —
// with its outcome per recipient. A second call has nothing left to report.
func TestSettleRevocationsBeforeExit(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	personID, bindingID := aliceBinding(t, w)
	if _, err := w.ps.App.Flows.EndBinding(ctxT(), personID, bindingID, false); err != nil {
		t.Fatal(err)
	}
	outcomes, settled, err := w.ps.App.SettleRevocations(ctxT(), 20*time.Second)
	if err != nil || !settled {
		t.Fatalf("settle: %v %v", settled, err)
	}
	if !rs.Revoked(w.ps.Issuer, jtiOf(t, pt)) {
		t.Fatalf("settled, but the resource has not received the revocation: %+v", rs.Revocations())
	}
	if len(outcomes) != 1 {
		t.Fatalf("outcomes %v, want the one resource", outcomes)
	}
	for recipient, outcome := range outcomes {
		if !strings.Contains(recipient, "rs.test") || outcome != revocation.OutcomeRevoked {
			t.Fatalf("outcome %s: %s", recipient, outcome)
		}
	}
	if again, settled, err := w.ps.App.SettleRevocations(ctxT(), time.Second); err != nil || !settled || len(again) != 0 {
		t.Fatalf("second settle: %v %v %v", again, settled, err)
	}
}

// aliceBinding is alice's id and her one agent binding's.
func aliceBinding(t *testing.T, w *world) (personID, bindingID string) {
	t.Helper()
	person, err := w.ps.App.Accounts.PersonByUsername(ctxT(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	bindings, err := w.ps.App.Agents.Bindings(ctxT(), person.ID)
	if err != nil || len(bindings) != 1 {
		t.Fatalf("bindings: %v %v", bindings, err)
	}
	return person.ID, bindings[0].ID
}
