package app_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// Issue 7: a decision commits with its effects. A mission approval (the
// mission, its log, a person token per approved resource, the agent's
// answer) and a person-token consent (the consent, the token,
// the answer) are each committed all or nothing, on both databases.

// onBothDatabases runs fn against a PS on SQLite and one on PostgreSQL.
func onBothDatabases(t *testing.T, fn func(t *testing.T, opt pstest.Options)) {
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) { fn(t, pstest.Options{DatabaseURL: b.NewMigratedURL(t)}) })
	}
}

// injectInsertFailure makes ps's database refuse every insert into table
// (storetest.InjectInsertFailure). It returns the undo.
func injectInsertFailure(t *testing.T, ps *pstest.PS, table string) func() {
	t.Helper()
	return storetest.InjectInsertFailure(t, ps.App.Store, table)
}

// approveFailing approves s while the database fails and checks the
// decision left no row behind (the counts are those of before) and the
// agent still waits.
func approveFailing(t *testing.T, w *world, b *pstest.Browser, s started, before map[string]int64) {
	t.Helper()
	pg := b.Post(t, s.path()+"/approve", nil)
	after := w.ps.TableCounts(t)
	for _, tb := range decisionTables {
		if after[tb] != before[tb] {
			t.Errorf("%s: %d rows before the failed decision, %d after", tb, before[tb], after[tb])
		}
	}
	if pg.Status != http.StatusInternalServerError {
		t.Fatalf("approve with a failing database: %d, want 500\n%s", pg.Status, pg.HTML)
	}
	if r := w.poll(t, w.agent, s.loc); r.status != http.StatusAccepted {
		t.Fatalf("after the failed decision the agent polls %d %s, want 202", r.status, r.raw)
	}
}

// decisionTables are the rows a mission approval or a consent writes.
var decisionTables = []string{"missions", "mission_log", "person_token_records", "pairwise_subjects", "resource_consents"}

// An approval that fails half-way (the token record insert fails after the
// mission and its log were written) leaves no mission, no token, and the
// proposal still waiting: the agent's poll
// is still 202 and the person can approve it again once the fault is gone.
// PS-180, PS-182.
func TestMissionApprovalFailingHalfWayLeavesNothing(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		w, b, _ := missionWorld(t, opt)
		s := w.propose(t, w.agent, `{"description":"# Trip","resources":["https://rs.test"],"capabilities":["interaction"]}`)
		open(t, b, s)
		before := w.ps.TableCounts(t)
		// The person token record is written after the mission row and
		// its log (an approval records no standing consent).
		undo := injectInsertFailure(t, w.ps, "person_token_records")
		approveFailing(t, w, b, s, before)
		undo()
		b.Get(t, s.path())
		if pg := b.Post(t, s.path()+"/approve", nil); pg.Status != http.StatusSeeOther && pg.Status != http.StatusOK {
			t.Fatalf("approve again: %d\n%s", pg.Status, pg.HTML)
		}
		ap := decodeApproval(t, w.poll(t, w.agent, s.loc))
		pts, _ := ap.res.body["person_tokens"].(map[string]any)
		if _, ok := pts["https://rs.test"]; !ok {
			t.Fatalf("the second approval carries no person token: %s", ap.res.raw)
		}
		done := w.ps.TableCounts(t)
		for _, tb := range []string{"missions", "person_token_records"} {
			if done[tb] != before[tb]+1 {
				t.Errorf("%s: %d rows after the approval, want %d", tb, done[tb], before[tb]+1)
			}
		}
		if done["resource_consents"] != before["resource_consents"] {
			t.Errorf("the approval recorded a standing consent: %d rows, want %d", done["resource_consents"], before["resource_consents"])
		}
	})
}

// A concurrent approve and deny of one proposal (two sessions of the
// person): exactly one wins, and the database agrees with the answer the
// agent gets, round after round. PS-180, PS-182, PS-101.
func TestMissionApproveAndDenyConcurrently(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		w, b, _ := missionWorld(t, opt)
		other := w.ps.NewBrowser(t)
		other.Login(t, "alice")
		const rounds = 6
		approvals := int64(0)
		for range rounds {
			before := w.ps.TableCounts(t)
			s := w.propose(t, w.agent, `{"description":"# Race","resources":["https://rs.test"],"capabilities":["interaction"]}`)
			open(t, b, s)
			other.Get(t, s.path()) // the holder's second session: CSRF token, no code needed
			start := make(chan struct{})
			var wg sync.WaitGroup
			for _, d := range []struct {
				br     *pstest.Browser
				action string
			}{{b, "approve"}, {other, "deny"}} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					if pg := d.br.Post(t, s.path()+"/"+d.action, nil); pg.Status >= 500 {
						t.Errorf("%s: %d\n%s", d.action, pg.Status, pg.HTML)
					}
				}()
			}
			close(start)
			wg.Wait()
			r := w.poll(t, w.agent, s.loc)
			after := w.ps.TableCounts(t)
			switch r.status {
			case http.StatusOK:
				approvals++
				decodeApproval(t, r)
				if after["missions"] != before["missions"]+1 || after["person_token_records"] != before["person_token_records"]+1 {
					t.Fatalf("approved, but the database holds %v (before %v)", after, before)
				}
			case http.StatusForbidden:
				if r.body["error"] != "denied" {
					t.Fatalf("refused with %s", r.raw)
				}
				for _, tb := range decisionTables {
					if after[tb] != before[tb] {
						t.Fatalf("denied, but %s went from %d to %d rows", tb, before[tb], after[tb])
					}
				}
			default:
				t.Fatalf("after approve and deny the agent polls %d %s", r.status, r.raw)
			}
		}
		t.Logf("%d of %d rounds approved", approvals, rounds)
	})
}

// The person's consent to a person token and the token it lets the PS
// issue are one decision: when recording the token fails, the consent is
// not kept either, and the request still waits for the person. PS-070,
// PS-259.
func TestPersonTokenConsentFailingHalfWayLeavesNothing(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		w, b, _ := missionWorld(t, opt)
		s := w.expectInteraction(t, w.post(t, w.agent, "/person", `{"resource":"https://rs.test","capabilities":["interaction"]}`))
		open(t, b, s)
		before := w.ps.TableCounts(t)
		undo := injectInsertFailure(t, w.ps, "person_token_records") // after the consent row
		approveFailing(t, w, b, s, before)
		undo()
		b.Get(t, s.path())
		b.Post(t, s.path()+"/approve", nil)
		if r := w.poll(t, w.agent, s.loc); r.status != http.StatusOK || r.body["person_token"] == nil {
			t.Fatalf("consent again: %d %s", r.status, r.raw)
		}
		if done := w.ps.TableCounts(t); done["resource_consents"] != before["resource_consents"]+1 ||
			done["person_token_records"] != before["person_token_records"]+1 {
			t.Fatalf("after the consent: %v (before %v)", done, before)
		}
	})
}

// A completion the PS cannot put to the person (the agent declares no
// interaction, the person has no inbox) is refused 403 user_unreachable
// and leaves no completion entry in the mission log: the entry and the
// pending request commit together. P§mission-completion, PS-171, PS-172.
func TestUnreachableCompletionWritesNothing(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		w, b, _ := missionWorld(t, opt)
		m := w.approveMission(t, w.agent, b, `{"description":"# Tidy","capabilities":["interaction"]}`, nil)
		before := w.ps.TableCounts(t)
		r := w.post(t, w.agent, "/mission/"+m.s256, `{"action":"completion","summary":"Done.","capabilities":[]}`)
		expectProblem(t, r, http.StatusForbidden, "user_unreachable")
		writesNothing(t, w.ps, before)
	})
}
