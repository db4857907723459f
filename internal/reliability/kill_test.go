package reliability

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestKillDuringLoad (issue 12): the PS is killed with SIGKILL three times while agents ask for person tokens, and restarted on
// the same address. Each round a mission proposal is approved by the person
// before the kill and polled after it, and another is proposed before the
// kill and approved after it: both complete exactly once (the second poll
// is 410), and each approval issued exactly one person token. Every answer
// under load is a new person token; every mission approved before a kill
// is stored intact (its bytes hash to its s256) and active. The load's
// requests name each agent's own mission, so the kills land between
// mission decisions: afterwards every mission's evidence chains verify
// with the verifier of `aauth-ps evidence verify` (exported by `aauth-ps
// evidence export`), and no decision is half-written: the person tokens
// issued under a mission are the approval's one plus one per issue
// decision in its chain (a decision and its token commit together).
// It runs on PostgreSQL and on the embedded SQLite database, the default:
// there a kill can land inside a grouped commit (several decisions in one
// SQLite transaction, ps/store/txgroup.go) or a checkpoint that starts the
// WAL over, and no decision may come back half-written or lost after its
// answer was given.
// PS-155/PS-156 (deferred responses survive), PS-183 (s256), PS-074 (jti).
func TestKillDuringLoad(t *testing.T) {
	t.Run("postgres", func(t *testing.T) { killDuringLoad(t, storetest.NewPostgresURL(t)) })
	t.Run("sqlite", func(t *testing.T) { killDuringLoad(t, storetest.NewSQLiteURL(t)) })
}

func killDuringLoad(t *testing.T, db string) {
	w := newWorld(t, db)
	p := w.start(t)
	alice := w.person(t, p, "alice")
	agents := workers(t, w, p, alice, 2)
	planner := agents[0]
	var approved []mission
	own := map[*conformance.Agent]string{}
	for i, a := range agents {
		s := propose(t, p, a, "worker "+strconv.Itoa(i)+" under load")
		decide(t, alice, s, "approve")
		m := approval(t, pollDone(t, p.Client, a, s.loc))
		own[a] = m.s256
	}

	l := startMissionLoad(p, agents, own, 2, false)
	defer l.cancel()
	l.waitOK(t, 20, time.Minute)
	for round := range 3 {
		name := "round " + strconv.Itoa(round)
		decided := propose(t, p, planner, name+" decided before the kill")
		decide(t, alice, decided, "approve")
		waiting := propose(t, p, planner, name+" waiting through the kill")

		l.waitOK(t, 10, time.Minute)
		p.kill(t)
		time.Sleep(200 * time.Millisecond) // the load meets a dead port
		p.restart(t)
		l.waitOK(t, 10, time.Minute)

		// The decision taken before the kill is delivered after it, once.
		approved = append(approved, approval(t, pollDone(t, p.Client, planner, decided.loc)))
		if r := pollDone(t, p.Client, planner, decided.loc); r.status != http.StatusGone {
			t.Fatalf("a second poll of a delivered approval: %s, want 410", r)
		}
		// The request pending through the kill continues.
		if r, err := send(t.Context(), p.Client, planner, http.MethodGet, waiting.loc, nil, http.Header{"Prefer": {"wait=1"}}); err != nil || r.status != http.StatusAccepted {
			t.Fatalf("the request pending through the kill: %v %v, want 202", r, err)
		}
		decide(t, alice, waiting, "approve")
		approved = append(approved, approval(t, pollDone(t, p.Client, planner, waiting.loc)))
		if r := pollDone(t, p.Client, planner, waiting.loc); r.status != http.StatusGone {
			t.Fatalf("a second poll of a delivered approval: %s, want 410", r)
		}
	}
	l.stop(t)

	st := storetest.OpenURL(t, db, false)
	// An answer is sent only after its decision committed, so no kill
	// loses a token an agent was given: each has its issuance record,
	// under the mission its request named (PS-074, PS-259).
	for _, jti := range l.issuedJTIs(t) {
		if n := storetest.CountWhere(t, st, "person_token_records", "jti = ? AND mission_s256 IS NOT NULL", jti); n != 1 {
			t.Fatalf("person token %s was answered before a kill but has %d mission-bound records after it, want 1", jti, n)
		}
	}
	for _, m := range approved {
		var row struct {
			Blob  []byte
			State string
		}
		storetest.Scan(t, st, &row, "SELECT blob, state FROM missions WHERE s256 = ?", m.s256)
		if !bytes.Equal(row.Blob, m.blob) || row.State != "active" {
			t.Fatalf("mission %s after the kills: state %q, blob intact %v", m.s256, row.State, bytes.Equal(row.Blob, m.blob))
		}
		if n := storetest.CountWhere(t, st, "person_token_records", "mission_s256 = ?", m.s256); n != 1 {
			t.Fatalf("mission %s: %d person tokens issued for its one resource, want exactly 1", m.s256, n)
		}
		verifyEvidence(t, w, m.s256)
	}
	for a, s256 := range own {
		verifyEvidence(t, w, s256)
		issued, activated := issueDecisions(t, st, s256)
		tokens := storetest.CountWhere(t, st, "person_token_records", "mission_s256 = ?", s256)
		// The approval issued one person token (its one resource) with the
		// mission_activated record; each later one has its issue decision.
		if activated != 1 || tokens < 10 || int64(issued)+1 != tokens {
			t.Fatalf("mission of %s: %d person tokens; %d issue decisions and %d activations in its evidence chain: want tokens = decisions + 1 (the approval's)",
				a.ID, tokens, issued, activated)
		}
	}
}

// verifyEvidence exports the mission's evidence bundle with the CLI and
// verifies it with `aauth-ps evidence verify` (exit 0, "OK: …").
func verifyEvidence(t *testing.T, w *world, s256 string) {
	t.Helper()
	bundle := filepath.Join(w.dir, "evidence-"+s256+".json")
	w.cli(t, "evidence", "export", "--mission", s256, "--out", bundle)
	cmd := exec.Command(binary, "evidence", "verify", bundle)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "OK: ") {
		t.Fatalf("evidence of mission %s after the kills: %v\n%s", s256, err, out)
	}
}

// issueDecisions counts the person-token decisions that issued in the
// mission's chain, and its mission_activated records.
func issueDecisions(t *testing.T, st *store.Store, s256 string) (issued, activated int) {
	t.Helper()
	recs, err := st.Evidence(t.Context(), s256)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Record.Type == evidence.MissionActivated {
			activated++
		}
		if r.Record.Type != evidence.RuntimeDecision {
			continue
		}
		var body struct {
			Point   string `json:"point"`
			Outcome struct {
				Kind string `json:"kind"`
			} `json:"outcome"`
		}
		if err := json.Unmarshal(r.Record.Body, &body); err != nil {
			t.Fatalf("decision record %d of %s: %v", r.Record.Seq, s256, err)
		}
		if body.Point == string(authority.PointPersonToken) && body.Outcome.Kind == string(authority.Issue) {
			issued++
		}
	}
	return issued, activated
}
