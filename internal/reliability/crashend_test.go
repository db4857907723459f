package reliability

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/keys"
	"github.com/aauth-ps/aauth-ps/ps/lifecycle"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestKillDuringEnds: the PS (and the command line) are killed with
// SIGKILL, at random moments, while multi-row decisions that end things
// are in flight, three rounds on each database. Each round fires at once:
// the person revoking missions on the web UI (lifecycle Terminate), the
// person accepting agents' completions (the completion's End), the
// operator revoking an agent with `aauth-ps agents revoke` and unbinding
// another with `aauth-ps agents unbind` (each CLI process killed too, if
// still running), the person unbinding a third on the web UI
// (missionflow.EndBindingIn: the binding, its missions' End, its tokens'
// cascade, its waiting requests and the audit row, in one transaction),
// and holds running out (crashhold_test.go: missions the person
// suspended, each with a request held, two of whose holds end as the
// round fires), under a load of person tokens issued under missions; the
// revocation deliveries of the mission cascades (to rs.test, which has no
// revocation endpoint: revocation_unsupported) settle in the background
// with their revocation_result evidence (SettleDelivery in the
// lifecycle's appender's transaction). After each restart the database
// holds no half of any of them (checkEnds): every terminated mission has
// exactly one lifecycle_transition to terminated, with its reason, one
// termination log entry and the cascades its transitions name, and no
// active mission has one; every suspension and resumption has its log
// entry and the last transition is the mission's state; every token of a
// mission that ended (not expired) is revoked, and none was issued after
// its end; a revoked or unbound agent has no mission left active and no
// request still open, its requests ended as its end ends them
// (agent_revoked, agent_unbound) and its end has one audit row (an active
// one none of these); every terminal delivery of a mission cascade has
// exactly one revocation_result record and a pending one none; each hold
// ended once by its timeout (nothing issued under it since its
// suspension), still runs unchanged, or resumed with its held request
// issued (checkHolds); and the evidence chain of every mission the round
// touched verifies with `aauth-ps evidence verify`.
// PS-212 and PS-286 (a mission's tokens revoked with its end, each
// outcome recorded and evidenced), PS-158 and PS-165 / A-40 (c) (the
// requests of a revoked or unbound agent end with it; a held request ends
// with its mission), PS-203 (an accepted completion ends the mission),
// design §5 (a hold ends in resumption or terminated(administrative)).
func TestKillDuringEnds(t *testing.T) {
	t.Run("postgres", func(t *testing.T) { killDuringEnds(t, storetest.NewPostgresURL(t)) })
	t.Run("sqlite", func(t *testing.T) { killDuringEnds(t, storetest.NewSQLiteURL(t)) })
}

// endsPerRound: missions the person revokes and completions she
// accepts in each round.
const (
	revokesPerRound     = 4
	completionsPerRound = 2
)

func killDuringEnds(t *testing.T, db string) {
	start := time.Now()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>7))
	w := newWorld(t, db)
	p := w.start(t)
	alice := w.person(t, p, "alice")
	workers := workers(t, w, p, alice, 2)
	own := map[*conformance.Agent]string{}
	for i, a := range workers {
		s := propose(t, p, a, "worker "+strconv.Itoa(i)+" keeps issuing")
		decide(t, alice, s, "approve")
		own[a] = approval(t, pollDone(t, p.Client, a, s.loc)).s256
	}
	// A paced load: it keeps the PS's writers busy (on SQLite, commits
	// shared by several decisions) without growing the workers' own chains
	// (a runtime decision per token) past what a check reads quickly.
	l := startPacedMissionLoad(p, workers, own, 1, false, 10*time.Millisecond)
	defer l.cancel()

	var cut, done int
	for round := range 3 {
		name := "round " + strconv.Itoa(round)
		var touched []string
		var ops []endOp
		// Missions held for the person, two of whose holds run out as the
		// round fires (crashhold_test.go): suspended first, so that the
		// rest of the round's setup runs while they are held.
		csrf := csrfOf(t, alice)
		holds := suspendHolds(t, w, p, alice, csrf, workers, name)
		for _, h := range holds {
			touched = append(touched, h.s256)
			ops = append(ops, h.ops()...)
		}

		// Missions the person revokes, each holding a second person token.
		for i := range revokesPerRound {
			a := workers[i%len(workers)]
			m := approvedMission(t, p, alice, a, name+" revoke "+strconv.Itoa(i))
			personToken(t, p, a, m)
			touched = append(touched, m)
			ops = append(ops, endOp{what: "revoke mission " + m, form: "/missions/" + m + "/revoke", mission: m})
		}
		// Completions the agent proposed and the person is looking at.
		for i := range completionsPerRound {
			a := workers[i%len(workers)]
			m := approvedMission(t, p, alice, a, name+" complete "+strconv.Itoa(i))
			touched = append(touched, m)
			cs := interaction(t, must(t, p.Client, a, http.MethodPost, issuer+"/mission/"+m, `{"action":"completion","summary":"Done.","capabilities":["interaction"]}`))
			pg := alice.Get(t, cs.url+"?code="+cs.code)
			shown := shownRE.FindStringSubmatch(pg.HTML)
			if pg.Status != http.StatusOK || shown == nil {
				t.Fatalf("opening the completion: %d (a decision form with the request as shown: %v)\n%s", pg.Status, shown != nil, pg.HTML)
			}
			ops = append(ops, endOp{what: "accept completion of " + m, form: cs.path() + "/approve", shown: shown[1], mission: m})
		}
		// Three agents, each with a mission and two proposals waiting for
		// the person: one the operator revokes (CLI), one she unbinds
		// (web UI), one the operator unbinds (CLI).
		for i, how := range []string{"cli", "unbind", "cli-unbind"} {
			a, err := w.ap.NewAgent(conformance.TokenSpec{Sub: fmt.Sprintf("aauth:doomed%d-%d@ap.test", round, i)})
			if err != nil {
				t.Fatal(err)
			}
			bind(t, p, alice, a)
			m := approvedMission(t, p, alice, a, name+" doomed "+how)
			personToken(t, p, a, m)
			touched = append(touched, m)
			for j := range 2 {
				propose(t, p, a, name+" doomed "+how+" waiting "+strconv.Itoa(j))
			}
			id := bindingID(t, w, a.ID)
			switch how {
			case "cli":
				ops = append(ops, endOp{what: "agents revoke " + a.ID, cli: []string{"agents", "revoke", "alice", id}, said: "agent revoked",
					binding: id, agent: a.ID, ends: "revoked"})
			case "cli-unbind":
				ops = append(ops, endOp{what: "agents unbind " + a.ID, cli: []string{"agents", "unbind", "alice", id}, said: "agent unbound",
					binding: id, agent: a.ID, ends: "unbound"})
			default:
				ops = append(ops, endOp{what: "unbind " + a.ID, form: "/agents/" + id + "/unbind", binding: id, agent: a.ID, ends: "unbound"})
			}
		}
		l.waitOK(t, 5, time.Minute)

		// Fire everything at once, a moment before or after the short
		// holds run out; kill within a moment.
		time.Sleep(time.Until(untilShort(holds)) - 100*time.Millisecond + time.Duration(rng.IntN(200))*time.Millisecond)
		rng.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })
		// The kill comes once a random number of them answered (none to
		// all but one), so that it lands while the others are in flight.
		var wg sync.WaitGroup
		results := make([]opResult, len(ops))
		clis := make(chan *exec.Cmd, len(ops))
		answered := make(chan struct{}, len(ops))
		for i, op := range ops {
			wg.Go(func() {
				results[i] = op.run(p, alice, csrf, w, clis)
				answered <- struct{}{}
			})
		}
		for range rng.IntN(len(ops)) {
			<-answered
		}
		time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
		p.kill(t)
		killCLIs(clis, len(ops)) // a CLI still in its transaction dies with the PS
		wg.Wait()
		for i, r := range results {
			switch {
			case r.wrong != "":
				t.Errorf("%s: %s", ops[i].what, r.wrong)
			case r.cut:
				cut++
			default:
				done++
			}
		}
		time.Sleep(100 * time.Millisecond)
		p.restart(t)
		l.waitOK(t, 5, time.Minute)
		// The deliveries in flight at the restart are left pending (nothing
		// retries a mission cascade's yet); those that started afterwards,
		// from a request that committed, are given time to settle.
		time.Sleep(300 * time.Millisecond)
		checkEnds(t, w, touched)
		checkHolds(t, w, holds, false)

		// The person (and the operator) try again what the kill cut, and
		// everything of the round ends; then the checks again.
		for i, r := range results {
			if r.cut {
				ops[i].run(p, alice, csrf, w, clis)
			}
		}
		finishHolds(t, p, alice, csrf, holds)
		for _, op := range ops {
			op.expectEnded(t, w)
		}
		time.Sleep(300 * time.Millisecond)
		checkEnds(t, w, nil)
		checkHolds(t, w, holds, true)
		t.Logf("%s: %d ends answered, %d cut by the kill so far", name, done, cut)
	}
	l.stop(t)
	checkEnds(t, w, nil)
	t.Logf("%d ends answered, %d cut by the kills, in %v", done, cut, time.Since(start).Round(time.Millisecond))
}

// endOp is one decision that ends something: a form the person submits,
// or a command the operator runs.
// shownRE reads a decision form's digest of the request it shows.
var shownRE = regexp.MustCompile(`name="shown" value="([^"]*)"`)

type endOp struct {
	what string
	form string
	// shown is the digest of the request as its page showed it, which a
	// decision form carries (the PS refuses a decision on a request that
	// changed since).
	shown string
	cli   []string
	// said is what the command prints once its change committed.
	said string
	// mission is the mission it ends; binding, the agent binding (of
	// agent), which it ends as ends (revoked, unbound).
	mission, binding, agent, ends string
	// do, when set, is the whole decision (the holds' ops).
	do func(p *proc, b *pstest.Browser, csrf string) opResult
}

type opResult struct {
	cut   bool   // the kill came first (the answer never came)
	wrong string // an answer no decision should give
}

func (op endOp) run(p *proc, b *pstest.Browser, csrf string, w *world, clis chan<- *exec.Cmd) opResult {
	if op.do != nil {
		return op.do(p, b, csrf)
	}
	if op.cli != nil {
		cmd := exec.Command(binary, append(op.cli, w.config()...)...)
		cmd.Env = cleanEnv()
		var out syncBuf
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			return opResult{wrong: err.Error()}
		}
		clis <- cmd
		err := cmd.Wait()
		if err == nil && strings.Contains(out.String(), op.said) {
			return opResult{}
		}
		if ee, ok := err.(*exec.ExitError); ok && !ee.Exited() {
			return opResult{cut: true} // killed
		}
		return opResult{wrong: fmt.Sprintf("%v\n%s", err, out.String())}
	}
	form := url.Values{"csrf": {csrf}}
	if op.shown != "" {
		form.Set("shown", op.shown)
	}
	req, _ := http.NewRequest(http.MethodPost, issuer+op.form, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := b.Client.Do(req)
	if err != nil {
		// The PS is up until the kill: every failure to get an answer is
		// the kill's (a refused or reset connection, an EOF, a pooled
		// connection closed by the dying server).
		return opResult{cut: true}
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		return opResult{wrong: "answered " + res.Status}
	}
	return opResult{}
}

// expectEnded checks that what op ends has ended.
func (op endOp) expectEnded(t *testing.T, w *world) {
	t.Helper()
	st := storetest.OpenURL(t, w.db, false)
	defer st.Close()
	if op.mission != "" && storetest.CountWhere(t, st, "missions", "s256 = ? AND state = 'terminated'", op.mission) != 1 {
		t.Errorf("%s: the mission is not terminated after a retry", op.what)
	}
	if op.binding != "" {
		if storetest.CountWhere(t, st, "agent_bindings", "id = ? AND state = ?", op.binding, op.ends) != 1 {
			t.Errorf("%s: the binding is not %s after a retry", op.what, op.ends)
		}
		// Its two waiting proposals ended as this end ends them (A-40 (c)).
		if n := storetest.CountWhere(t, st, "pending_requests", "requester_sub = ? AND result_reason = ?", op.agent, "agent_"+op.ends); n != 2 {
			t.Errorf("%s: %d of its requests ended agent_%s, want its 2 waiting proposals", op.what, n, op.ends)
		}
	}
}

// killCLIs kills the command-line processes of this round still running.
func killCLIs(clis chan *exec.Cmd, max int) {
	for range max {
		select {
		case cmd := <-clis:
			_ = cmd.Process.Kill() // an exited one: nothing to kill
		default:
			return
		}
	}
}

// approvedMission has agent a propose a mission for rs.test and the
// person of b approve it (one person token issued with the approval).
func approvedMission(t *testing.T, p *proc, b *pstest.Browser, a *conformance.Agent, name string) string {
	t.Helper()
	s := propose(t, p, a, name)
	decide(t, b, s, "approve")
	return approval(t, pollDone(t, p.Client, a, s.loc)).s256
}

// personToken has agent a issued a person token for rs.test under its
// mission s256.
func personToken(t *testing.T, p *proc, a *conformance.Agent, s256 string) {
	t.Helper()
	r := must(t, p.Client, a, http.MethodPost, issuer+"/person",
		`{"resource":"`+rsIssuer+`","mission_s256":"`+s256+`","n":`+strconv.FormatInt(seq.Add(1), 10)+`}`)
	if r.status != http.StatusOK || r.body["person_token"] == nil {
		t.Fatalf("a person token under mission %s: %s", s256, r)
	}
}

// bindingID is the id of the active binding of agentID (read from the
// database: a command-line process per agent cost each round a moment).
func bindingID(t *testing.T, w *world, agentID string) string {
	t.Helper()
	st := storetest.OpenURL(t, w.db, false)
	defer st.Close()
	var bs []struct{ ID string }
	storetest.Scan(t, st, &bs, `SELECT id FROM agent_bindings WHERE agent_id = ? AND state = 'active'`, agentID)
	if len(bs) != 1 {
		t.Fatalf("%d active bindings of %s, want one", len(bs), agentID)
	}
	return bs[0].ID
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOf is the CSRF token of b's session.
func csrfOf(t *testing.T, b *pstest.Browser) string {
	t.Helper()
	pg := b.Get(t, "/agents")
	m := csrfField.FindStringSubmatch(pg.HTML)
	if m == nil {
		t.Fatalf("no CSRF token on /agents: %d\n%s", pg.Status, pg.HTML)
	}
	return m[1]
}

// checkEnds checks that no ending is half-written in the world's
// database (see TestKillDuringEnds), and verifies the evidence chain of
// every mission that ended or is in verify (the first of these through
// the CLI too).
func checkEnds(t *testing.T, w *world, verify []string) {
	t.Helper()
	st := storetest.OpenURL(t, w.db, false)
	defer st.Close()
	ctx := t.Context()
	var ms []struct {
		S256              string
		State             string
		TerminationReason *string
		TerminatedAt      *int64
		HoldUntil         *int64
	}
	storetest.Scan(t, st, &ms, `SELECT s256, state, termination_reason, terminated_at, hold_until FROM missions ORDER BY s256`)
	var cascades []struct {
		ID          string
		MissionS256 string
	}
	storetest.Scan(t, st, &cascades, `SELECT id, mission_s256 FROM revocation_cascades WHERE mission_s256 <> ''`)
	cascadesOf := map[string][]string{}
	for _, c := range cascades {
		cascadesOf[c.MissionS256] = append(cascadesOf[c.MissionS256], c.ID)
	}
	ended, results := 0, 0
	for _, m := range ms {
		recs, err := st.Evidence(ctx, m.S256)
		if err != nil {
			t.Fatal(err)
		}
		var ends []transitionBody
		got := map[delivery]int{}
		// Suspensions and resumptions (the holds): each transition has its
		// log entry, and the last one is the mission's state.
		moves := map[string]int64{}
		last := ""
		// named: the cascades its transitions name (a suspension's too).
		var named []string
		for _, r := range recs {
			switch r.Record.Type {
			case evidence.LifecycleTransition:
				var b transitionBody
				if err := json.Unmarshal(r.Record.Body, &b); err != nil {
					t.Fatal(err)
				}
				moves[b.To]++
				last = b.To
				if b.Revocations != "" {
					named = append(named, b.Revocations)
				}
				if b.To == "terminated" {
					ends = append(ends, b)
				}
			case evidence.RevocationResult:
				got[resultOf(t, r.Record.Body)]++
				results++
			}
		}
		terminations := storetest.CountWhere(t, st, "mission_log", "mission_s256 = ? AND kind = 'termination'", m.S256)
		for to, kind := range map[string]string{"suspended": "suspension", "active": "resumption"} {
			if n := storetest.CountWhere(t, st, "mission_log", "mission_s256 = ? AND kind = ?", m.S256, kind); n != moves[to] {
				t.Errorf("mission %s: %d lifecycle_transition records to %s and %d %s log entries", m.S256, moves[to], to, n, kind)
			}
		}
		if held := m.State == "active" && m.HoldUntil != nil; held != (last == "suspended") {
			t.Errorf("mission %s is %s (held: %v) but its last lifecycle_transition is to %q", m.S256, m.State, held, last)
		}
		// Its cascades are the ones its transitions name, and nothing else.
		cs := cascadesOf[m.S256]
		slices.Sort(cs)
		slices.Sort(named)
		if !slices.Equal(cs, named) {
			t.Errorf("mission %s: its transitions name cascades %v, the database holds %v", m.S256, named, cs)
		}
		if m.State != "terminated" {
			if len(ends) != 0 || terminations != 0 {
				t.Errorf("active mission %s: %d terminations in its evidence, %d in its log: an end without its state",
					m.S256, len(ends), terminations)
			}
			// A suspension's revocations settle as an end's do.
			if len(cs) != 0 {
				checkDeliveries(t, st, m.S256, got)
			}
			continue
		}
		ended++
		reason := *m.TerminationReason
		if len(ends) != 1 || ends[0].Reason != reason || terminations != 1 {
			t.Errorf("mission %s terminated (%s) with %d lifecycle_transition records to terminated %+v and %d termination log entries, want one of each",
				m.S256, reason, len(ends), ends, terminations)
			continue
		}
		if reason != "expired" {
			// Every token issued under it and live at its end is revoked,
			// and none was issued after it.
			var live []struct{ JTI string }
			storetest.Scan(t, st, &live, `SELECT jti FROM person_token_records WHERE mission_s256 = ? AND exp >= ?
				UNION ALL SELECT jti FROM auth_token_records WHERE mission_s256 = ? AND exp >= ?`, m.S256, *m.TerminatedAt, m.S256, *m.TerminatedAt)
			for _, tok := range live {
				if n := storetest.CountWhere(t, st, "revoked_tokens", "iss = ? AND jti = ?", issuer, tok.JTI); n != 1 {
					t.Errorf("mission %s ended (%s) but its token %s is not revoked", m.S256, reason, tok.JTI)
				}
			}
			if len(live) > 0 && len(named) == 0 {
				t.Errorf("mission %s ended (%s) with %d live tokens and no cascade", m.S256, reason, len(live))
			}
			if n := storetest.CountWhere(t, st, "person_token_records", "mission_s256 = ? AND issued_at > ?", m.S256, *m.TerminatedAt); n != 0 {
				t.Errorf("mission %s: %d person tokens issued after its end", m.S256, n)
			}
		}
		// Every terminal delivery of its cascades has its
		// revocation_result, once (one per terminal outcome stored); a
		// pending one has none.
		checkDeliveries(t, st, m.S256, got)
	}
	// A revoked or unbound agent has no mission left and no request open;
	// its end has its one audit row, and its requests ended as it ends
	// them (an active one has neither: no half of an end that did not
	// commit).
	var bindings []struct {
		ID       string
		Provider string
		AgentID  string
		PersonID string
		State    string
	}
	storetest.Scan(t, st, &bindings, `SELECT id, provider, agent_id, person_id, state FROM agent_bindings`)
	var ended2 []string
	for _, b := range bindings {
		audits := map[string]int64{}
		for _, action := range []string{"agent.revoke", "agent.unbind"} {
			audits[action] = storetest.CountWhere(t, st, "audit_events", "target = ? AND action = ?", "binding:"+b.ID, action)
		}
		endedAs := map[string]int64{}
		for _, reason := range []string{"agent_revoked", "agent_unbound"} {
			endedAs[reason] = storetest.CountWhere(t, st, "pending_requests", "requester_iss = ? AND requester_sub = ? AND person_id IN (?, '') AND result_reason = ?",
				b.Provider, b.AgentID, b.PersonID, reason)
		}
		want := map[string]string{"revoked": "agent.revoke", "unbound": "agent.unbind"}[b.State]
		for action, n := range audits {
			if (action == want && n != 1) || (action != want && n != 0) {
				t.Errorf("agent %s is %s with %d %s audit rows (its binding's end has one)", b.AgentID, b.State, n, action)
			}
		}
		for reason, n := range endedAs {
			if n != 0 && reason != "agent_"+b.State {
				t.Errorf("agent %s is %s but %d of its requests ended %s", b.AgentID, b.State, n, reason)
			}
		}
		if b.State == "active" {
			continue
		}
		ended2 = append(ended2, b.AgentID)
		if n := storetest.CountWhere(t, st, "missions", "agent_iss = ? AND agent_sub = ? AND person_id = ? AND state = 'active'",
			b.Provider, b.AgentID, b.PersonID); n != 0 {
			t.Errorf("agent %s is %s but %d of its missions are active", b.AgentID, b.State, n)
		}
		if n := storetest.CountWhere(t, st, "pending_requests", "requester_iss = ? AND requester_sub = ? AND person_id IN (?, '') AND state IN ('pending', 'interacting')",
			b.Provider, b.AgentID, b.PersonID); n != 0 {
			t.Errorf("agent %s is %s but %d of its requests are still open", b.AgentID, b.State, n)
		}
	}
	t.Logf("%d missions, %d ended, %d revocation results, %d agents ended; %d of %d deliveries settled",
		len(ms), ended, results, len(ended2), storetest.CountWhere(t, st, "revocation_deliveries", "outcome <> 'pending'"),
		storetest.CountWhere(t, st, "revocation_deliveries", "1 = 1"))
	// Every chain of a mission that ended, or the round touched, verifies, with the verifier of `aauth-ps evidence
	// verify` (the bundle `aauth-ps evidence export` writes, read here
	// without signing its head); those of verify through the CLI too.
	exporter := lifecycle.Exporter{Issuer: issuer, DB: st, Keys: keys.NewManager(st, nil, nil, keys.Options{})}
	for _, m := range ms {
		if m.State != "terminated" && !slices.Contains(verify, m.S256) {
			continue // the load's own missions (TestKillDuringLoad verifies such chains)
		}
		b, err := exporter.Bundle(ctx, m.S256)
		if err != nil {
			t.Fatal(err)
		}
		ks, err := evidence.ParseKeySet(b.JWKS)
		if err != nil {
			t.Fatal(err)
		}
		if rep := evidence.Verify(*b, ks); !rep.OK {
			t.Errorf("the evidence chain of mission %s (%s) does not verify: %+v", m.S256, m.State, rep)
		}
	}
	if len(verify) > 0 {
		verifyEvidence(t, w, verify[0])
	}
}

// checkDeliveries reports deliveryProblems that stay: a delivery of this
// process may be settling while this reads (its outcome and record commit
// together, but are read apart), so a mismatch is read again before it
// counts; a half-written settlement stays.
func checkDeliveries(t *testing.T, st *store.Store, s256 string, got map[delivery]int) {
	t.Helper()
	problems := deliveryProblems(t, st, s256, got)
	for try := 0; len(problems) > 0 && try < 5; try++ {
		time.Sleep(200 * time.Millisecond)
		problems = deliveryProblems(t, st, s256, nil)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// deliveryProblems compares the deliveries of the mission's cascades with
// the revocation_result records on its chain (results, or read afresh
// when nil), record by record.
func deliveryProblems(t *testing.T, st *store.Store, s256 string, results map[delivery]int) []string {
	t.Helper()
	if results == nil {
		recs, err := st.Evidence(t.Context(), s256)
		if err != nil {
			t.Fatal(err)
		}
		results = map[delivery]int{}
		for _, r := range recs {
			if r.Record.Type == evidence.RevocationResult {
				results[resultOf(t, r.Record.Body)]++
			}
		}
	}
	var ds []struct {
		Cascade, Recipient, JTI, Outcome string
		Attempts                         int
	}
	storetest.Scan(t, st, &ds, `SELECT d.cascade_id AS cascade, d.recipient, d.token_jti AS jti, d.outcome, d.attempts
		FROM revocation_deliveries d JOIN revocation_cascades c ON c.id = d.cascade_id WHERE c.mission_s256 = ?`, s256)
	var problems []string
	for _, d := range ds {
		// One record per terminal outcome stored (each counts an attempt:
		// here, where every recipient answers and a round ends before the
		// retry loop's fallback would send a pending delivery, one for a
		// settled delivery and none for a pending one). A failing retry
		// adds an attempt and no record; this load has none.
		n := 0
		for _, o := range terminalOutcomes {
			k := delivery{d.Cascade, d.Recipient, d.JTI, o}
			n += results[k]
			delete(results, k)
		}
		if n != d.Attempts || (d.Outcome != "pending" && n == 0) {
			problems = append(problems, fmt.Sprintf("mission %s: delivery %+v has %d revocation_result records for %d terminal outcomes stored",
				s256, delivery{d.Cascade, d.Recipient, d.JTI, d.Outcome}, n, d.Attempts))
		}
	}
	for d, n := range results {
		problems = append(problems, fmt.Sprintf("mission %s: %d revocation_result records of %+v, which has no such delivery", s256, n, d))
	}
	return problems
}

// terminalOutcomes are a delivery's terminal outcomes.
var terminalOutcomes = []string{"revoked", "revocation_unsupported", "revocation_unavailable"}

// resultOf is the delivery a revocation_result record's body names.
func resultOf(t *testing.T, body []byte) delivery {
	t.Helper()
	var b struct {
		JTI         string `json:"jti"`
		Recipient   string `json:"recipient"`
		Outcome     string `json:"outcome"`
		Revocations string `json:"revocations"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatal(err)
	}
	return delivery{b.Revocations, b.Recipient, b.JTI, b.Outcome}
}

// transitionBody is what a lifecycle_transition record says.
type transitionBody struct {
	From        string `json:"from"`
	To          string `json:"to"`
	Reason      string `json:"reason"`
	Revocations string `json:"revocations"`
	Actor       struct {
		Kind string `json:"kind"`
		ID   string `json:"id"`
	} `json:"actor"`
}

// delivery is a revocation delivery of a mission cascade (or what a
// revocation_result record says of one).
type delivery struct {
	Cascade   string
	Recipient string
	JTI       string
	Outcome   string
}
