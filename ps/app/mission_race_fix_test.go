package app_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// P§mission-management, PS-221: when the mission log cannot be written, a
// mission update, a completion and a mission-bound /interaction answer an
// error and leave nothing (no pending request, no log entry): the log
// entry commits with the request or not at all, on both databases.
func TestMissionLogFailureLeavesNothing(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		t.Parallel()
		w, alice, _ := missionWorld(t, opt)
		m := w.approveMission(t, w.agent, alice, `{"description":"Failing log","capabilities":["interaction"]}`, nil)
		before := w.ps.TableCounts(t)
		undo := injectInsertFailure(t, w.ps, "mission_log")
		for _, c := range []struct{ path, body string }{
			{"/mission/" + m.s256, `{"action":"update","description":"changed course"}`},
			{"/mission/" + m.s256, `{"action":"completion","summary":"all done"}`},
			{"/interaction", `{"type":"question","question":"Which hotel?","mission_s256":"` + m.s256 + `","capabilities":["interaction"]}`},
		} {
			if r := w.post(t, w.agent, c.path, c.body); r.status != http.StatusInternalServerError {
				t.Errorf("%s %s with a failing mission log: %d %s, want 500", c.path, c.body, r.status, r.raw)
			}
		}
		undo()
		after := w.ps.TableCounts(t)
		for _, tb := range []string{"mission_log", "pending_requests"} {
			if after[tb] != before[tb] {
				t.Errorf("%s: %d rows before, %d after the failed requests", tb, before[tb], after[tb])
			}
		}
		// And with the log back, each is accepted and logged once.
		w.clock.Advance(time.Second) // new signatures, not replays
		if r := w.post(t, w.agent, "/mission/"+m.s256, `{"action":"update","description":"changed course"}`); r.status != http.StatusOK {
			t.Fatalf("update: %d %s", r.status, r.raw)
		}
		if r := w.post(t, w.agent, "/interaction", `{"type":"question","question":"Which hotel?","mission_s256":"`+m.s256+`","capabilities":["interaction"]}`); r.status != http.StatusAccepted {
			t.Fatalf("interaction: %d %s", r.status, r.raw)
		}
		kinds := map[string]int{}
		for _, e := range auditLog(t, w, m.s256) {
			kinds[e.Kind]++
		}
		if kinds["update"] != 1 || kinds["interaction"] != 1 {
			t.Errorf("log kinds %v, want one update and one interaction", kinds)
		}
	})
}
