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

// TestReviewMissionUpdateRacingTermination (review rev3; fails now): a
// mission update (POST {mission_endpoint}/{s256}, action update) checks
// the mission is active (missionflow.Flows.MissionURL → Missions.Active)
// and then appends the update in a separate transaction with no check
// under the mission's lock, unlike /audit and /permission. A termination
// committing in between leaves the update accepted (200 + s256) and logged
// after the mission ended. P§mission-management: a terminated mission's
// requests MUST be rejected with mission_terminated; PS-221's reading for
// audit applies equally to updates.
func TestReviewMissionUpdateRacingTermination(t *testing.T) {
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

// TestReviewMissionCompletionRacingTermination (review rev3; fails now):
// the completion's log entry and its pending request commit together, but
// the mission's state is not checked again under the lock the append
// takes; a termination in between leaves a completion logged after the
// end and a person asked to accept completion of an ended mission.
func TestReviewMissionCompletionRacingTermination(t *testing.T) {
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

// TestReviewInteractionUnderMissionRacingTermination (review rev3; fails
// now): POST /interaction naming a mission creates the pending relay, then
// appends the mission-log entry outside that transaction with its error
// discarded (ps/server/interaction.go:50-52) and without checking the
// mission again under the append's lock. A termination committing between
// the check and the relay leaves a live interaction request (202) under an
// ended mission, and its log entry after the end.
func TestReviewInteractionUnderMissionRacingTermination(t *testing.T) {
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
