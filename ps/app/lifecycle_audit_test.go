package app_test

import (
	"net/http"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/audit"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// auditTrail is the newest n events of ps's audit trail.
func auditTrail(t *testing.T, ps *pstest.PS, n int) []audit.Event {
	t.Helper()
	evs, err := ps.App.Store.AuditEvents(ctxT(), 0, n)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestLifecycleAuditCommitsWithTransition (issues 10/11 review; issue 14's
// audit trail): a mission-control suspension and its audit_events row
// commit in one transaction. While the audit row cannot be written the
// suspension fails (500 server_error) and nothing of it stays: no hold,
// no revocation, no evidence, no row anywhere. Once it can, the
// suspension commits with exactly one audit event; a refused change
// (suspending again, 409) writes none. On SQLite and PostgreSQL.
func TestLifecycleAuditCommitsWithTransition(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		w, alice, _ := missionWorld(t, opt)
		m := w.approveMission(t, w.agent, alice, `{"description":"Audited","capabilities":["interaction"]}`, nil)
		csrf := csrfOf(t, alice)
		suspend := func() result {
			return mc(t, w, alice, http.MethodPost, "/missions/"+m.s256+"/suspend", "", csrf)
		}
		trail := func() []audit.Event { return auditTrail(t, w.ps, 10) }
		before, events := w.ps.TableCounts(t), len(trail())

		undo := storetest.InjectInsertFailure(t, w.ps.App.Store, "audit_events")
		if r := suspend(); r.status != http.StatusInternalServerError || r.body["error"] != aauth.ErrServerError {
			t.Fatalf("suspend while the audit row cannot be written: %d %s, want 500 server_error", r.status, r.raw)
		}
		undo()
		writesNothing(t, w.ps, before)
		if st := missionStatus(t, w, alice, m.s256); st.body["hold"] != nil {
			t.Fatalf("the suspension stayed without its audit row: %s", st.raw)
		}

		if r := suspend(); r.status != http.StatusOK || r.body["hold"] == nil {
			t.Fatalf("suspend: %d %s", r.status, r.raw)
		}
		evs := trail()
		if len(evs) != events+1 || evs[0].Action != "mission.suspended" || evs[0].Target != "mission:"+m.s256 ||
			evs[0].Actor.Kind != audit.ActorPerson || evs[0].Detail["to"] != "suspended" {
			t.Fatalf("after the suspension the audit trail is %+v, want one mission.suspended event more", evs)
		}
		if r := suspend(); r.status != http.StatusConflict {
			t.Fatalf("suspend twice: %d %s", r.status, r.raw)
		}
		if n := len(trail()); n != events+1 {
			t.Fatalf("a refused suspension was audited: %d events, want %d", n, events+1)
		}
	})
}
