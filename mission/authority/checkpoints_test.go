package authority

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/mission/anchor"
)

// TestBoardPacketStages walks Example A's stages with the pure rules: the
// CFO call-back cannot be recorded before reconciliation is reported; the
// audit record ReconcileNumbers attests it (agent-asserted); then the
// call-back records, one release is permitted and consumes it, the next
// is asked again; the fourth release is refused by max_grants.
func TestBoardPacketStages(t *testing.T) {
	in := boardInput(t)
	set := in.Mission.Set
	if _, err := RecordCheckpoint(set, in.Mission.Checkpoints, "cfo_release_approval", ViaPermission, now); !errors.Is(err, ErrCheckpoint) {
		t.Fatalf("CFO approval before reconciliation: %v", err)
	}
	if _, err := RecordCheckpoint(set, in.Mission.Checkpoints, "numbers_reconciled", ViaPermission, now); !errors.Is(err, ErrCheckpoint) {
		t.Fatal("an attestation was recorded by call-back")
	}
	ids := Attestations(set, "ReconcileNumbers")
	if !slices.Equal(ids, []string{"numbers_reconciled"}) || len(Attestations(set, "RenderDeck")) != 0 {
		t.Fatalf("attestations %v", ids)
	}
	rec, err := RecordCheckpoint(set, in.Mission.Checkpoints, "numbers_reconciled", ViaAudit, now)
	if err != nil || !rec.AgentAsserted {
		t.Fatalf("attestation: %+v %v", rec, err)
	}
	in.Mission.Checkpoints["numbers_reconciled"] = rec
	releaseCall("board-of-directors")(&in)
	for release := 1; release <= 4; release++ {
		cfo, err := RecordCheckpoint(set, in.Mission.Checkpoints, "cfo_release_approval", ViaPermission, now)
		if err != nil {
			t.Fatal(err)
		}
		in.Mission.Checkpoints["cfo_release_approval"] = cfo
		d := Evaluate(in)
		if release == 4 {
			if d.Reason != "constraint_violation" || d.Entry != "release-board" {
				t.Fatalf("4th release: %s %s", d.Outcome, d.Reason)
			}
			break
		}
		if d.Outcome != Issue || !slices.Equal(d.Effects.ConsumeCheckpoints, []string{"cfo_release_approval"}) {
			t.Fatalf("release %d: %+v", release, d)
		}
		// Commit the effects as the store would.
		c := in.Mission.Checkpoints["cfo_release_approval"]
		c.Consumed = true
		in.Mission.Checkpoints["cfo_release_approval"] = c
		in.Mission.Grants["release-board"]++
		if again := Evaluate(in); release < 3 && (again.Outcome != Defer || again.Reason != "stage_gate") {
			t.Fatalf("after release %d the consumed checkpoint still permits: %+v", release, again)
		}
	}
	// valid_for bounds the approval's age.
	in.Mission.Grants["release-board"] = 0
	in.Mission.Checkpoints["cfo_release_approval"] = CheckpointRecord{RecordedAt: now.Add(-25 * time.Hour)}
	if d := Evaluate(in); d.Outcome != Defer {
		t.Fatalf("a stale approval permitted: %+v", d)
	}
}

// TestDecisionRecordShape: the evidence body of a decision has the
// design's members and hashes deterministically; the mission_decision
// member names the stage that refused.
func TestDecisionRecordShape(t *testing.T) {
	in := boardInput(t)
	releaseCall("board-of-directors")(&in)
	d := Evaluate(in)
	rec := d.Record("dec_01J7Q2", "rt-55c1", "", in)
	raw, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, member := range []string{`"point":"token"`, `"mode":"three-party"`, `"mission_version":9`, `"catalog_version":"cat-17"`,
		`"resource_token_jti":"rt-55c1"`, `"parent":null`, `"status":"stage_blocked"`, `"reason":"stage_gate"`} {
		if !strings.Contains(string(raw), member) {
			t.Errorf("record lacks %s: %s", member, raw)
		}
	}
	h1, err1 := anchor.Of(rec)
	h2, err2 := anchor.Of(d.Record("dec_01J7Q2", "rt-55c1", "", in))
	if err1 != nil || err2 != nil || h1 != h2 {
		t.Fatal("the record does not hash deterministically")
	}
	md, _ := json.Marshal(d.Problem("dec_01J7Q2"))
	if !strings.Contains(string(md), `"entry":"release-board"`) || !strings.Contains(string(md), `"missing_checkpoints":["cfo_release_approval"]`) {
		t.Errorf("mission_decision %s", md)
	}
}

// BenchmarkEvaluate measures one decision on the board-packet set (the
// integrity recomputation included).
func BenchmarkEvaluate(b *testing.B) {
	in := boardInput(b)
	releaseCall("board-of-directors")(&in)
	reconciled(&in)
	cfoApproved(&in)
	for b.Loop() {
		if d := Evaluate(in); d.Outcome != Issue {
			b.Fatal(d.Reason)
		}
	}
}
