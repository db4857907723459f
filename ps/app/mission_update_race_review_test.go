package app_test

import (
	"testing"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// endOnLogKind installs a trigger that terminates the mission the moment a
// mission-log entry of kind is inserted: a termination committing between
// the endpoint's ownership/state check and its append (the technique of
// TestAuditRacingTermination).
func endOnLogKind(t *testing.T, w *world, kind string) {
	t.Helper()
	end := `UPDATE missions SET state = 'terminated', termination_reason = 'revoked', terminated_at = 1, terminated_by = 'person'
		WHERE s256 = NEW.mission_s256 AND NEW.kind = '` + kind + `'`
	create := []string{`CREATE TRIGGER end_on_` + kind + ` BEFORE INSERT ON mission_log BEGIN ` + end + `; END`}
	if w.ps.App.Store.Dialect() == "postgres" {
		create = []string{`CREATE FUNCTION end_on_` + kind + `() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN ` + end + `; RETURN NEW; END $$`,
			`CREATE TRIGGER end_on_` + kind + ` BEFORE INSERT ON mission_log FOR EACH ROW EXECUTE FUNCTION end_on_` + kind + `()`}
	}
	for _, q := range create {
		if err := w.ps.App.Store.ExecSQL(ctxT(), q); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMissionUpdateRacingTerminationRefused (PS-221; security review
// 2026-12-07, rev3 #3): a mission update whose mission is terminated
// between its check and its append is refused mission_terminated and
// logged nowhere: the append re-checks the state under the mission's lock
// (P§mission-management), as /audit and /permission do.
func TestMissionUpdateRacingTerminationRefused(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		t.Parallel()
		w, alice, _ := missionWorld(t, opt)
		m := w.approveMission(t, w.agent, alice, `{"description":"Raced update","capabilities":["interaction"]}`, nil)
		endOnLogKind(t, w, "update")
		beforeLog := auditLog(t, w, m.s256)
		r := w.post(t, w.agent, "/mission/"+m.s256, `{"action":"update","description":"changed course"}`)
		expectTerminated(t, r, string(mission.ReasonRevoked))
		sameLog(t, beforeLog, auditLog(t, w, m.s256))
	})
}

// TestMissionCompletionRacingTerminationRefused (PS-221; security review
// 2026-12-07, rev3 #3): a completion racing the mission's termination is
// refused, and no person is asked to accept the completion of an ended
// mission.
func TestMissionCompletionRacingTerminationRefused(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		t.Parallel()
		w, alice, _ := missionWorld(t, opt)
		m := w.approveMission(t, w.agent, alice, `{"description":"Raced completion","capabilities":["interaction"]}`, nil)
		endOnLogKind(t, w, "completion")
		beforeLog := auditLog(t, w, m.s256)
		r := w.post(t, w.agent, "/mission/"+m.s256, `{"action":"completion","summary":"all done"}`)
		expectTerminated(t, r, string(mission.ReasonRevoked))
		sameLog(t, beforeLog, auditLog(t, w, m.s256))
	})
}

// TestInteractionUnderMissionRacingTerminationRefused (security review
// 2026-12-07, rev3 #4): POST /interaction naming a mission that is
// terminated meanwhile creates no relay: the relay and its mission-log
// entry commit together, the state re-checked under the mission's lock.
func TestInteractionUnderMissionRacingTerminationRefused(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		t.Parallel()
		w, alice, _ := missionWorld(t, opt)
		m := w.approveMission(t, w.agent, alice, `{"description":"Raced relay","capabilities":["interaction"]}`, nil)
		endOnLogKind(t, w, "interaction")
		beforeLog := auditLog(t, w, m.s256)
		r := w.post(t, w.agent, "/interaction", `{"type":"question","question":"Which hotel?","mission_s256":"`+m.s256+`","capabilities":["interaction"]}`)
		expectTerminated(t, r, string(mission.ReasonRevoked))
		sameLog(t, beforeLog, auditLog(t, w, m.s256))
	})
}
