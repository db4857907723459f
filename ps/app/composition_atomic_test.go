package app_test

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestCompositionDecisionFailingHalfWayLeavesNothing (issue 10, design
// §3 step 8: effects atomic with issuance): the board-packet release
// with the CFO's single-use checkpoint recorded is decided (checkpoint
// consumed, max_grants counted, evidence appended) and then the token
// record's insert fails. The agent gets 500 and nothing of the decision
// stays: the checkpoint is not consumed, the counter unchanged, no token,
// no evidence record. Once the fault is gone the same request succeeds,
// once: the next release asks the person again. On SQLite and
// PostgreSQL.
func TestCompositionDecisionFailingHalfWayLeavesNothing(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		bw := newBoardWorld(t, opt)
		w, s256 := bw.w, bw.ap.s256
		if r := w.post(t, w.agent, "/audit", `{"mission_s256":"`+s256+`","action":"ReconcileNumbers"}`); r.status >= 300 {
			t.Fatalf("audit: %d %s", r.status, r.raw)
		}
		cb := bw.approve(w.post(t, w.agent, "/permission", `{"action":"mission.checkpoint","parameters":{"checkpoint":"cfo_release_approval"},"mission_s256":"`+s256+`"}`))
		if cb.status != http.StatusOK || cb.body["permission"] != "granted" {
			t.Fatalf("checkpoint call-back: %d %s", cb.status, cb.raw)
		}
		m, err := w.ps.App.Store.Mission(ctxT(), s256)
		if err != nil {
			t.Fatal(err)
		}
		counters := func() authority.Snapshot {
			t.Helper()
			snap, err := w.ps.App.Store.MissionCounters(ctxT(), s256, m.Lineage())
			if err != nil {
				t.Fatal(err)
			}
			return snap
		}
		before, rows := counters(), w.ps.TableCounts(t)
		if cp, ok := before.Checkpoints["cfo_release_approval"]; !ok || cp.Consumed {
			t.Fatalf("the call-back's checkpoint: %+v", before.Checkpoints)
		}
		irPT, _ := bw.pts["https://ir.test"].(string)

		undo := injectInsertFailure(t, w.ps, "auth_token_records")
		expectProblem(t, bw.auth("ir.test", irPT, "release.publish"), http.StatusInternalServerError, aauth.ErrServerError)
		undo()
		after, rowsAfter := counters(), w.ps.TableCounts(t)
		if !reflect.DeepEqual(after.Checkpoints, before.Checkpoints) || !reflect.DeepEqual(after.Grants, before.Grants) {
			t.Fatalf("a failed decision left effects: checkpoints %+v grants %+v, before %+v %+v",
				after.Checkpoints, after.Grants, before.Checkpoints, before.Grants)
		}
		for _, tb := range []string{"auth_token_records", "mission_evidence", "mission_checkpoints", "mission_grant_counts"} {
			if rowsAfter[tb] != rows[tb] {
				t.Errorf("%s: %d rows before the failed decision, %d after", tb, rows[tb], rowsAfter[tb])
			}
		}

		expectAuthToken(t, w, bw.rs["ir.test"], bw.auth("ir.test", irPT, "release.publish"), irPT)
		done := counters()
		if !done.Checkpoints["cfo_release_approval"].Consumed || done.Grants["release-board"] != before.Grants["release-board"]+1 {
			t.Fatalf("the retried decision: checkpoints %+v grants %+v; want the checkpoint consumed and one grant counted", done.Checkpoints, done.Grants)
		}
		// Once: the checkpoint is spent, so the next release asks the person.
		w.expectInteraction(t, bw.auth("ir.test", irPT, "release.publish"))
	})
}

// TestRiskPolicySuspendsOnExclusionHits (issue 10, design §5 risk
// policy; --mission-risk-exclusions 3 in --mission-risk-window 10m by
// default): the third request of a mission refused by an exclusion within
// the window suspends it, by the risk policy, with its evidence; the
// next request under it is held (202, requirement=approval). Hits spread
// wider than the window do not trip it.
func TestRiskPolicySuspendsOnExclusionHits(t *testing.T) {
	t.Parallel()
	bw := newBoardWorld(t, pstest.Options{})
	w, s256 := bw.w, bw.ap.s256
	hr := `{"resource":"https://hr.test","mission_s256":"` + s256 + `","capabilities":["interaction"]}`
	refused := func() {
		t.Helper()
		missionDecision(t, w.post(t, w.agent, "/person", hr), http.StatusForbidden, "excluded", "", "no-hr")
		w.clock.Advance(time.Second) // the next request is a fresh signature
	}
	refused()
	w.clock.Advance(10 * time.Minute) // out of the window by the fourth
	refused()
	refused()
	if st := missionStatus(t, w, bw.b, s256); st.body["hold"] != nil {
		t.Fatalf("two hits in the window suspended the mission: %s", st.raw)
	}
	refused()
	st := missionStatus(t, w, bw.b, s256)
	hold, _ := st.body["hold"].(map[string]any)
	if st.body["mission_status"] != "active" || hold == nil || hold["by"] != "risk_policy" {
		t.Fatalf("three hits in the window: %s, want suspended by the risk policy", st.raw)
	}
	w.expectHeld(t, w.post(t, w.agent, "/person", hr))
}
