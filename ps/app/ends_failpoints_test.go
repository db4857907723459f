package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/mission/governance"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/revocation"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// The deterministic complement of internal/reliability's
// TestKillDuringEnds: each decision that ends something is run again and
// again with the database refusing the k-th row it is asked to write
// (k = 1, 2, …: every insert, update and delete the decision makes, on
// any table, in its order), until it succeeds. Each failed run must
// leave the database exactly as it was (every row of every table), and
// the run that succeeds must have written every effect. A decision split
// over two transactions fails this at the first write of the second.

// writeFaults counts down the rows written to every table of a database
// (a trigger on each, so the code under test runs unchanged) and refuses
// the one at which the count reaches zero: a statement that fails
// undoes its own count, so a failed transaction leaves it where it was.
type writeFaults struct {
	st *store.Store
	// unchecked are tables a request writes before its decision, in
	// their own transactions (its signature's replay entry, the agent
	// token's record): the snapshots leave them out.
	unchecked []string
}

// faultFree are the tables the faults and the snapshots leave alone: the
// countdown itself and the housekeeping loop's sweep mark, which it
// advances on its own every minute.
var faultFree = []string{"inject_countdown", "housekeeping_marks"}

// armWriteFaults installs the countdown, disarmed, on every table of st.
func armWriteFaults(t *testing.T, st *store.Store) *writeFaults {
	t.Helper()
	ctx := context.Background()
	stmts := []string{`CREATE TABLE inject_countdown (n INTEGER NOT NULL)`, `INSERT INTO inject_countdown (n) VALUES (-1)`}
	if st.Dialect() == store.DialectPostgres {
		stmts = append(stmts, `CREATE FUNCTION inject_countdown() RETURNS trigger LANGUAGE plpgsql AS $$
			DECLARE left_n INTEGER;
			BEGIN
				UPDATE inject_countdown SET n = n - 1 WHERE n > 0 RETURNING n INTO left_n;
				IF left_n = 0 THEN RAISE EXCEPTION 'injected failure at a row of %', TG_TABLE_NAME; END IF;
				IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
				RETURN NEW;
			END $$`)
	}
	tables, err := st.Tables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if slices.Contains(faultFree, tb) {
			continue
		}
		if st.Dialect() == store.DialectPostgres {
			stmts = append(stmts, `CREATE TRIGGER inject_countdown BEFORE INSERT OR UPDATE OR DELETE ON `+tb+
				` FOR EACH ROW EXECUTE FUNCTION inject_countdown()`)
			continue
		}
		for _, op := range []string{"INSERT", "UPDATE", "DELETE"} {
			stmts = append(stmts, `CREATE TRIGGER inject_countdown_`+tb+`_`+strings.ToLower(op)+` BEFORE `+op+` ON `+tb+` BEGIN
				UPDATE inject_countdown SET n = n - 1 WHERE n > 0;
				SELECT RAISE(ABORT, 'injected failure') WHERE (SELECT n FROM inject_countdown) = 0;
			END`)
		}
	}
	for _, q := range stmts {
		if err := st.ExecSQL(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return &writeFaults{st: st}
}

// failAt makes the k-th row written from now on fail (0: none).
func (f *writeFaults) failAt(t *testing.T, k int) {
	t.Helper()
	if k <= 0 {
		k = -1
	}
	if err := f.st.ExecSQL(context.Background(), `UPDATE inject_countdown SET n = ?`, k); err != nil {
		t.Fatal(err)
	}
}

// snapshot is every row of every table but faultFree's, each table's rows
// as sorted JSON: two equal snapshots hold the same data.
func snapshot(t *testing.T, st *store.Store, unchecked ...string) map[string][]string {
	t.Helper()
	ctx := context.Background()
	tables, err := st.Tables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, tb := range tables {
		if slices.Contains(faultFree, tb) || slices.Contains(unchecked, tb) {
			continue
		}
		var rows []map[string]any
		if err := st.QuerySQL(ctx, &rows, `SELECT * FROM `+tb); err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			raw, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			out[tb] = append(out[tb], string(raw))
		}
		slices.Sort(out[tb])
	}
	return out
}

// changed describes how after differs from before ("" when it does not).
func changed(before, after map[string][]string) string {
	var diffs []string
	for tb := range after {
		if slices.Equal(before[tb], after[tb]) {
			continue
		}
		var gone, added int
		for _, r := range before[tb] {
			if !slices.Contains(after[tb], r) {
				gone++
			}
		}
		for _, r := range after[tb] {
			if !slices.Contains(before[tb], r) {
				added++
			}
		}
		diffs = append(diffs, fmt.Sprintf("%s (%d rows gone or changed, %d new or changed)", tb, gone, added))
	}
	slices.Sort(diffs)
	return strings.Join(diffs, ", ")
}

// failEachWrite runs decide with the k-th row write failing, for k = 1,
// 2, … until it succeeds, and checks that each failure changed nothing;
// A committed decision leaves its deliveries to the background, where the
// countdown may still fail one of their writes (before failAt(0)): that
// delivery's outcome and its evidence are then both missing
// (expectEnded). It returns how many rows the successful run wrote at most (the last
// k that failed).
func failEachWrite(t *testing.T, w *world, f *writeFaults, what string, decide func() error) int {
	t.Helper()
	for k := 1; k <= 400; k++ {
		settleRevocations(t, w) // the background work of what came before
		before := snapshot(t, w.ps.App.Store, f.unchecked...)
		f.failAt(t, k)
		err := decide()
		f.failAt(t, 0)
		if err == nil {
			if k == 1 {
				t.Fatalf("%s wrote nothing", what)
			}
			t.Logf("%s: failed at each of its %d row writes without a trace, then committed", what, k-1)
			return k - 1
		}
		if !strings.Contains(err.Error(), "injected failure") && !strings.Contains(storeCause(err), "injected failure") {
			t.Fatalf("%s with write %d failing: %v (%s), want the injected failure", what, k, err, storeCause(err))
		}
		settleRevocations(t, w)
		if d := changed(before, snapshot(t, w.ps.App.Store, f.unchecked...)); d != "" {
			t.Fatalf("%s failed at row write %d (%v) but changed %s", what, k, err, d)
		}
	}
	t.Fatalf("%s still fails after 400 row writes", what)
	return 0
}

// storeCause is the database's own message behind err, if any.
func storeCause(err error) string {
	var se *store.Error
	if errors.As(err, &se) {
		return se.Cause()
	}
	return ""
}

// endsWorld is a mission world whose agent holds an active mission with
// two person tokens for rs.test (the approval's and one issued under it).
func endsWorld(t *testing.T, opt pstest.Options) (*world, *pstest.Browser, string) {
	t.Helper()
	w, b, _ := missionWorld(t, opt)
	return w, b, doomedMission(t, w, w.agent, b)
}

// doomedMission approves a mission for a and gives it a second person
// token, its deliveries settled.
func doomedMission(t *testing.T, w *world, a *conformance.Agent, b *pstest.Browser) string {
	t.Helper()
	m := w.approveMission(t, a, b, `{"description":"# Doomed","resources":["https://rs.test"],"capabilities":["interaction"]}`, nil)
	if r := w.post(t, a, "/person", missionBody("https://rs.test", m.s256)); r.status != 200 {
		t.Fatalf("a person token under the mission: %d %s", r.status, r.raw)
	}
	settleRevocations(t, w)
	return m.s256
}

// expectEnded checks a committed end of s256 for reason: the state, one
// lifecycle_transition to terminated naming its cascade, every token of
// the mission revoked with a delivery queued at rs.test, and, once the
// deliveries settled, as many revocation_result records for each as
// terminal outcomes were stored (its attempts). A delivery the countdown
// left pending (its settling failed: no outcome and no evidence) is sent
// again first.
func expectEnded(t *testing.T, w *world, s256, reason string) {
	t.Helper()
	settleRevocations(t, w)
	st := w.ps.App.Store
	m, err := st.Mission(ctxT(), s256)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Terminated || string(m.Reason) != reason {
		t.Fatalf("mission %s after its end: terminated %v (%q), want terminated (%s)", s256, m.Terminated, m.Reason, reason)
	}
	recs, err := st.Evidence(ctxT(), s256)
	if err != nil {
		t.Fatal(err)
	}
	ends := 0
	cascade := ""
	for _, r := range recs {
		if r.Record.Type == evidence.LifecycleTransition {
			var b struct{ To, Revocations string }
			_ = json.Unmarshal(r.Record.Body, &b)
			if b.To == "terminated" {
				ends++
				cascade = b.Revocations
			}
		}
	}
	tokens := storetest.CountWhere(t, st, "person_token_records", "mission_s256 = ?", s256)
	revoked := storetest.CountWhere(t, st, "revoked_tokens", "iss = ? AND jti IN (SELECT jti FROM person_token_records WHERE mission_s256 = ?)", w.ps.Issuer, s256)
	ds := deliveriesSettled(t, w, s256, cascade)
	if ends != 1 || cascade == "" || tokens < 2 || revoked != tokens || len(ds) != int(tokens) {
		t.Fatalf("mission %s ended with %d transitions to terminated (cascade %q), %d of its %d tokens revoked, %d deliveries",
			s256, ends, cascade, revoked, tokens, len(ds))
	}
}

// deliveriesSettled checks that each delivery of the cascade has as many
// revocation_result records on the mission's chain as terminal outcomes
// were stored for it (its attempts), sends those left pending again, and
// returns the deliveries once all are terminal.
func deliveriesSettled(t *testing.T, w *world, s256, cascade string) []revocation.Delivery {
	t.Helper()
	st := w.ps.App.Store
	for range 2 {
		ds, err := st.Deliveries(ctxT(), cascade)
		if err != nil {
			t.Fatal(err)
		}
		results := resultsOf(t, st, s256)
		pending := false
		for _, d := range ds {
			if results[d.TokenJTI] != d.Attempts {
				t.Fatalf("delivery of %s (%s): %d terminal outcomes stored, %d revocation_result records", d.TokenJTI, d.Outcome, d.Attempts, results[d.TokenJTI])
			}
			pending = pending || d.Outcome == revocation.OutcomePending
		}
		if !pending {
			return ds
		}
		w.ps.App.Revocation.Deliver(ctxT(), cascade)
		settleRevocations(t, w)
	}
	t.Fatalf("the deliveries of cascade %s do not settle", cascade)
	return nil
}

// TestMissionEndsAllOrNothing: a mission the person revokes, and one
// she suspends (which revokes its tokens) and then revokes, each fail at
// every row the transition writes without leaving a trace — no state
// without its lifecycle_transition evidence and signed head, no
// evidence without the state, no revoked token, cascade or delivery
// without both — then commit whole. On both databases. Design §5, §7;
// PS-212, PS-286.
func TestMissionEndsAllOrNothing(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		t.Parallel()
		w, b, s256 := endsWorld(t, opt)
		m, err := w.ps.App.Missions.Get(ctxT(), s256)
		if err != nil {
			t.Fatal(err)
		}
		by := governance.Actor{Kind: governance.ByPerson, ID: m.PersonID}
		f := armWriteFaults(t, w.ps.App.Store)
		failEachWrite(t, w, f, "revoke", func() error {
			_, err := w.ps.App.Lifecycle.Terminate(ctxT(), s256, mission.ReasonRevoked, by)
			return err
		})
		expectEnded(t, w, s256, string(mission.ReasonRevoked))

		held := doomedMission(t, w, w.agent, b)
		failEachWrite(t, w, f, "suspend", func() error {
			_, err := w.ps.App.Lifecycle.Suspend(ctxT(), held, by, time.Hour)
			return err
		})
		failEachWrite(t, w, f, "revoke while suspended", func() error {
			_, err := w.ps.App.Lifecycle.Terminate(ctxT(), held, mission.ReasonRevoked, by)
			return err
		})
		if m, err := w.ps.App.Store.Mission(ctxT(), held); err != nil || !m.Terminated || m.Hold != nil {
			t.Fatalf("the suspended mission after its revocation: %+v %v", m, err)
		}
	})
}

// TestAgentRevocationAllOrNothing: revoking an agent (as the web UI and
// `aauth-ps agents revoke` do, missionflow.EndBinding) fails at every row
// it writes — the binding, its mission's end through the lifecycle (state,
// evidence, head, token revocations), the revocation of its tokens, its
// two requests waiting for the person — without leaving a trace, then
// commits whole: the binding revoked, the mission ended, both requests
// ended (403 to the agent's poll). On both databases. A-40 (c), PS-158,
// PS-165, PS-212.
func TestAgentRevocationAllOrNothing(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		t.Parallel()
		w, b, s256 := endsWorld(t, opt)
		var waiting []started
		for i := range 2 {
			waiting = append(waiting, w.propose(t, w.agent, `{"description":"# Waiting `+fmt.Sprint(i)+`","capabilities":["interaction"]}`))
		}
		m, err := w.ps.App.Missions.Get(ctxT(), s256)
		if err != nil {
			t.Fatal(err)
		}
		id := agentBindingID(t, b, w.agent.ID)
		f := armWriteFaults(t, w.ps.App.Store)
		failEachWrite(t, w, f, "agent revocation", func() error {
			_, err := w.ps.App.Flows.EndBinding(ctxT(), m.PersonID, id, false)
			return err
		})
		expectEnded(t, w, s256, string(mission.ReasonRevoked))
		if n := storetest.CountWhere(t, w.ps.App.Store, "agent_bindings", "id = ? AND state = 'revoked'", id); n != 1 {
			t.Fatal("the binding is not revoked")
		}
		for _, s := range waiting {
			if r := w.poll(t, w.agent, s.loc); r.status != 403 {
				t.Fatalf("a request waiting through the revocation: %d %s, want 403", r.status, r.raw)
			}
		}
	})
}

// TestRevocationResultAllOrNothing: re-sending a mission cascade's
// deliveries (PS-291: a repeat re-attempts what did not succeed; rs.test
// has no revocation endpoint, so each is revocation_unsupported again)
// with the k-th row write failing, for every k until one run writes all:
// a delivery's terminal outcome and its revocation_result record commit
// together (SettleDelivery with the lifecycle's appender), so after every
// run each delivery's attempts — one per terminal outcome stored — equal
// its revocation_result records. Design §5 "outcomes are evidenced", §7;
// PS-286, PS-292.
func TestRevocationResultAllOrNothing(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		t.Parallel()
		w, _, s256 := endsWorld(t, opt)
		m, err := w.ps.App.Missions.Get(ctxT(), s256)
		if err != nil {
			t.Fatal(err)
		}
		res, err := w.ps.App.Lifecycle.Terminate(ctxT(), s256, mission.ReasonRevoked, governance.Actor{Kind: governance.ByPerson, ID: m.PersonID})
		if err != nil || res.CascadeID == "" {
			t.Fatalf("revoke: %+v %v", res, err)
		}
		expectEnded(t, w, s256, string(mission.ReasonRevoked))
		f := armWriteFaults(t, w.ps.App.Store)
		st := w.ps.App.Store
		for k := 1; k <= 12; k++ {
			f.failAt(t, k)
			w.ps.App.Revocation.Deliver(ctxT(), res.CascadeID)
			settleRevocations(t, w)
			f.failAt(t, 0)
			ds, err := st.Deliveries(ctxT(), res.CascadeID)
			if err != nil {
				t.Fatal(err)
			}
			results := resultsOf(t, st, s256)
			for _, d := range ds {
				if got := results[d.TokenJTI]; got != d.Attempts {
					t.Fatalf("write %d failing: delivery of %s (%s) has %d attempts stored and %d revocation_result records",
						k, d.TokenJTI, d.Outcome, d.Attempts, got)
				}
			}
		}
		// Unhindered, one more run settles every delivery once more.
		before := resultsOf(t, st, s256)
		w.ps.App.Revocation.Deliver(ctxT(), res.CascadeID)
		settleRevocations(t, w)
		ds, _ := st.Deliveries(ctxT(), res.CascadeID)
		after := resultsOf(t, st, s256)
		for _, d := range ds {
			if d.Outcome != revocation.OutcomeUnsupported || after[d.TokenJTI] != before[d.TokenJTI]+1 || d.Attempts != after[d.TokenJTI] {
				t.Fatalf("an unhindered repeat: delivery %+v, %d → %d revocation results", d, before[d.TokenJTI], after[d.TokenJTI])
			}
		}
	})
}

// resultsOf counts the mission's revocation_result records per token.
func resultsOf(t *testing.T, st *store.Store, s256 string) map[string]int {
	t.Helper()
	recs, err := st.Evidence(ctxT(), s256)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, r := range recs {
		if r.Record.Type != evidence.RevocationResult {
			continue
		}
		var b struct {
			JTI string `json:"jti"`
		}
		_ = json.Unmarshal(r.Record.Body, &b)
		out[b.JTI]++
	}
	return out
}

// TestCompletionAcceptedAllOrNothing: the person accepting the agent's
// completion (her decision on the interaction page, which ends the
// mission through the lifecycle's End in a savepoint of the decision's
// transaction) fails at every row it writes without a trace — the
// completion still waits for her, the mission is active, no evidence,
// no revoked token — then commits whole: the agent's poll is 200
// completed and the mission ended with its evidence and revocations. On
// both databases. PS-203, PS-212; design §5, §7.
func TestCompletionAcceptedAllOrNothing(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		t.Parallel()
		w, b, s256 := endsWorld(t, opt)
		cs := w.expectInteraction(t, w.post(t, w.agent, "/mission/"+s256, `{"action":"completion","summary":"Done.","capabilities":["interaction"]}`))
		open(t, b, cs)
		f := armWriteFaults(t, w.ps.App.Store)
		failEachWrite(t, w, f, "accepting the completion", func() error {
			pg := b.Post(t, cs.path()+"/approve", nil)
			switch pg.Status {
			case 303:
				return nil
			case 500:
				b.Get(t, cs.path()) // the page again, as the person would
				return errors.New("injected failure (answered 500)")
			}
			return fmt.Errorf("accepting the completion: %d\n%s", pg.Status, pg.HTML)
		})
		if r := w.poll(t, w.agent, cs.loc); r.status != 200 || string(r.raw) != `{"mission_status":"terminated","termination_reason":"completed"}` {
			t.Fatalf("the completion's poll: %d %s", r.status, r.raw)
		}
		expectEnded(t, w, s256, string(mission.ReasonCompleted))
	})
}

// TestMissionExpiryObservedAllOrNothing: the first request that observes
// a mission past its expires_at ends it (lifecycle.Observed: End in the
// deciding transaction, reason expired, by the system). With the k-th row
// the request writes failing, for every k, it is refused (403
// mission_terminated, expired: the clock's verdict, recorded best effort)
// and the mission stays as it was — no terminated state without its
// lifecycle_transition and signed head, nor those without the state —
// until a request commits the end whole. On both databases. PS-211, A-39;
// design §5, §7.
func TestMissionExpiryObservedAllOrNothing(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		t.Parallel()
		w, b, _ := missionWorld(t, opt)
		m := w.approveMission(t, w.agent, b, `{"description":"Short","resources":["https://rs.test"],"capabilities":["interaction"]}`, map[string]string{"expires": "1h"})
		w.clock.Advance(time.Hour)
		fresh := w.mint(t, conformance.TokenSpec{IssuedAt: w.clock.Now()})
		f := armWriteFaults(t, w.ps.App.Store)
		f.unchecked = []string{"replay_cache", "agent_token_subs"}
		n := 0
		failEachWrite(t, w, f, "a request observing the expiry", func() error {
			n++ // a new body each time: the same signed request twice is a replay
			r := w.post(t, fresh, "/person", `{"resource":"https://rs.test","mission_s256":"`+m.s256+`","n":`+fmt.Sprint(n)+`}`)
			switch {
			case r.status == 403:
				// Expiry is the clock's: the refusal stands whether or not
				// this request managed to record it (A-39, best effort).
				expectTerminated(t, r, "expired")
				if rec, err := w.ps.App.Store.Mission(ctxT(), m.s256); err != nil || !rec.Terminated {
					return fmt.Errorf("injected failure: refused as expired, the end not recorded (%v)", err)
				}
				return nil
			case r.status >= 500:
				return fmt.Errorf("injected failure (answered %d %s)", r.status, r.raw)
			}
			return fmt.Errorf("a request under the expired mission: %d %s", r.status, r.raw)
		})
		st := w.ps.App.Store
		rec, err := st.Mission(ctxT(), m.s256)
		if err != nil || !rec.Terminated || rec.Reason != mission.ReasonExpired {
			t.Fatalf("the expired mission: %v %v", rec.Terminated, err)
		}
		recs, err := st.MissionEvidence(ctxT(), m.s256, evidence.LifecycleTransition, 10)
		if err != nil || len(recs) != 1 {
			t.Fatalf("%d lifecycle_transition records (%v), want 1", len(recs), err)
		}
	})
}
