package reliability

import (
	"context"
	"encoding/json"
	"net/http"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// The holds of TestKillDuringEnds (design §5 "Two states on the wire",
// docs/decisions.md "Held requests"; PS-206): in each round the person
// suspends three missions from mission control, and each one's agent
// then asks for a person token under it, which is held (202
// requirement=approval). Two holds are short and run out as the round
// fires: the person resumes one of them just then (resumed if she is in
// time, else her resume records the timeout's termination and is refused
// 409) and its agent polls, the other's agent polls alone (403
// mission_terminated once it ran out; the termination itself is recorded
// by the next lifecycle step or the housekeeping sweep). The third hold
// outlasts the round; the person resumes it as the round fires and its
// held request must then be issued, through the kill.

// shortHold is the short holds' length: about the rest of a round's
// setup, so that they run out as the round fires (it waits for them if
// the setup was quicker).
const shortHold = 700 * time.Millisecond

// holdCase is one suspended mission of a round.
type holdCase struct {
	agent *conformance.Agent
	s256  string
	// held is the held request's pending URL.
	held string
	// since and until are the hold's, in unix ms as stored.
	since, until int64
	// long: the hold outlasts the round; resumed: the person resumes it
	// as the round fires.
	long, resumed bool
}

func (h *holdCase) heldID() string { return path.Base(h.held) }

// suspendHolds suspends the round's three missions (each approved with a
// person token, which the suspension revokes) and has each agent's next
// request held.
func suspendHolds(t *testing.T, w *world, p *proc, b *pstest.Browser, csrf string, agents []*conformance.Agent, name string) []*holdCase {
	t.Helper()
	hs := []*holdCase{{resumed: true}, {}, {long: true, resumed: true}}
	for i, h := range hs {
		h.agent = agents[i%len(agents)]
		h.s256 = approvedMission(t, p, b, h.agent, name+" held "+string(rune('a'+i)))
	}
	for _, h := range hs {
		hold := shortHold.String()
		if h.long {
			hold = "10m"
		}
		if code, body := missionControl(p, b, csrf, h.s256, "suspend", `{"hold":"`+hold+`"}`); code != http.StatusOK {
			t.Fatalf("suspending mission %s: %d %s", h.s256, code, body)
		}
	}
	st := storetest.OpenURL(t, w.db, false)
	defer st.Close()
	for _, h := range hs {
		var row []struct{ HoldSince, HoldUntil int64 }
		storetest.Scan(t, st, &row, `SELECT hold_since, hold_until FROM missions WHERE s256 = ?`, h.s256)
		h.since, h.until = row[0].HoldSince, row[0].HoldUntil
		r := must(t, p.Client, h.agent, http.MethodPost, issuer+"/person",
			`{"resource":"`+rsIssuer+`","mission_s256":"`+h.s256+`","n":`+strconv.FormatInt(seq.Add(1), 10)+`}`)
		if r.status != http.StatusAccepted || !strings.Contains(r.header.Get("AAuth-Requirement"), "approval") {
			t.Fatalf("a request under suspended mission %s: want 202 requirement=approval, got %s %v", h.s256, r, r.header)
		}
		h.held = r.header.Get("Location")
	}
	return hs
}

// untilShort is when the round's short holds run out.
func untilShort(hs []*holdCase) time.Time { return time.UnixMilli(hs[0].until) }

// missionControl posts a lifecycle change to mission control as the
// person of b; code 0: no answer (the kill).
func missionControl(p *proc, b *pstest.Browser, csrf, s256, verb, body string) (int, string) {
	req, _ := http.NewRequest(http.MethodPost, issuer+"/mission-control/missions/"+s256+"/"+verb, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", csrf)
	a, err := do(b.Client, req)
	if err != nil {
		return 0, err.Error()
	}
	return a.status, string(a.raw)
}

// ops are what the round fires at the holds.
func (h *holdCase) ops() []endOp {
	var ops []endOp
	if h.resumed {
		ops = append(ops, endOp{what: "resume mission " + h.s256, do: h.resume})
	}
	if !h.long {
		ops = append(ops, endOp{what: "poll the held request of " + h.s256, do: h.poll})
	}
	return ops
}

// resume is the person's resume: 200 (resumed in time) or, once the hold
// ran out, 409 invalid_transition (its termination recorded); after a
// retry of a resume that did commit, 409 too.
func (h *holdCase) resume(p *proc, b *pstest.Browser, csrf string) opResult {
	code, body := missionControl(p, b, csrf, h.s256, "resume", "")
	switch {
	case code == 0:
		return opResult{cut: true}
	case code == http.StatusOK, code == http.StatusConflict && strings.Contains(body, "invalid_transition"):
		return opResult{}
	}
	return opResult{wrong: "answered " + strconv.Itoa(code) + " " + body}
}

// poll is the agent's poll of its held request: still held (202), issued
// after a resume (200) or ended with the mission (403 mission_terminated).
func (h *holdCase) poll(p *proc, _ *pstest.Browser, _ string) opResult {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := send(ctx, p.Client, h.agent, http.MethodGet, h.held, nil, http.Header{"Prefer": {"wait=1"}})
	switch {
	case err != nil:
		return opResult{cut: true}
	case r.status == http.StatusAccepted, r.status == http.StatusOK && r.body["person_token"] != nil, terminatedAnswer(r):
		return opResult{}
	}
	return opResult{wrong: "answered " + r.String()}
}

func terminatedAnswer(r answer) bool {
	return r.status == http.StatusForbidden && r.body["error"] == "mission_terminated"
}

// finishHolds resumes what is left of the holds, as the person would,
// and polls every held request to its answer: a person token where the
// mission resumed (the long hold's included), 403 mission_terminated
// where the hold ran out, or 410 when a poll of the round was given the
// answer already (checkHolds reads which). A held request still 202
// after its mission resumed is stranded (the defect this found: the
// resumption commits before its release, and a kill in between left the
// request held for good).
func finishHolds(t *testing.T, p *proc, b *pstest.Browser, csrf string, hs []*holdCase) {
	t.Helper()
	for _, h := range hs {
		if r := h.resume(p, b, csrf); r.wrong != "" || r.cut {
			t.Errorf("resuming mission %s after the round: %+v", h.s256, r)
		}
	}
	for _, h := range hs {
		var r answer
		// A release the kill cut after its claim is taken over after
		// interact's 3 s lease: polls for a while longer than that.
		for try := 0; try < 5; try++ {
			var err error
			if r, err = send(t.Context(), p.Client, h.agent, http.MethodGet, h.held, nil, http.Header{"Prefer": {"wait=2"}}); err != nil {
				t.Fatalf("poll %s: %v", h.held, err)
			}
			if r.status != http.StatusAccepted {
				break
			}
		}
		if r.status != http.StatusGone && (r.status == http.StatusAccepted || (r.status != http.StatusOK && !terminatedAnswer(r)) || (h.long && r.status != http.StatusOK)) {
			t.Errorf("the held request of mission %s (long hold: %v) after its hold ended: %s", h.s256, h.long, r)
		}
	}
}

// checkHolds checks that each hold of the round ended at most once and
// whole, or still runs (after the retry, final: every one ended): a
// mission its hold's timeout ended was terminated administratively by
// hold_timeout (once: checkEnds counts its transition and log entry), no
// person token was issued under it since its suspension and its held
// request never got one; a hold that still runs is unchanged and its
// request still held (or, past its end, refused 403 mission_terminated);
// a resumed mission resumed once and its held request, once answered,
// carries a person token. The long hold never ends by its timeout.
func checkHolds(t *testing.T, w *world, hs []*holdCase, final bool) {
	t.Helper()
	st := storetest.OpenURL(t, w.db, false)
	defer st.Close()
	for _, h := range hs {
		var ms []struct {
			State             string
			TerminationReason *string
			HoldUntil         *int64
		}
		storetest.Scan(t, st, &ms, `SELECT state, termination_reason, hold_until FROM missions WHERE s256 = ?`, h.s256)
		var rs []struct {
			State        string
			ResultStatus *int
			ResultBody   *string
		}
		storetest.Scan(t, st, &rs, `SELECT state, result_status, result_body FROM pending_requests WHERE id = ?`, h.heldID())
		if len(ms) != 1 || len(rs) != 1 {
			t.Fatalf("mission %s: %d rows; its held request %s: %d rows", h.s256, len(ms), h.heldID(), len(rs))
		}
		m, r := ms[0], rs[0]
		open := r.ResultStatus == nil
		issued := !open && *r.ResultStatus == http.StatusOK && r.ResultBody != nil && strings.Contains(*r.ResultBody, "person_token")
		refused := !open && *r.ResultStatus == http.StatusForbidden && r.ResultBody != nil && strings.Contains(*r.ResultBody, "mission_terminated")
		during := storetest.CountWhere(t, st, "person_token_records", "mission_s256 = ? AND issued_at > ?", h.s256, h.since/1000)
		switch {
		case m.State == "terminated":
			actor := endActor(t, st, h.s256)
			if h.long || *m.TerminationReason != "administrative" || actor != "hold_timeout" {
				t.Errorf("mission %s (long hold: %v) ended %s by %q, want its short hold's timeout (administrative, hold_timeout)",
					h.s256, h.long, *m.TerminationReason, actor)
			}
			if issued || (!open && !refused) || (final && open) || during != 0 {
				t.Errorf("mission %s ended by its hold's timeout: its held request %s (result %v), %d person tokens issued since its suspension",
					h.s256, r.State, r.ResultStatus, during)
			}
		case m.HoldUntil != nil:
			ranOut := time.Now().UnixMilli() >= h.until
			if final || *m.HoldUntil != h.until || during != 0 || issued || (!open && !(refused && ranOut)) {
				t.Errorf("mission %s still held (until %d, suspended until %d; final: %v): its held request %s (result %v), %d person tokens issued since its suspension",
					h.s256, *m.HoldUntil, h.until, final, r.State, r.ResultStatus, during)
			}
		default:
			if !h.resumed || (final && !issued) || (!open && !issued) {
				t.Errorf("mission %s resumed (the person resumes it: %v; final: %v): its held request %s (result %v)",
					h.s256, h.resumed, final, r.State, r.ResultStatus)
			}
		}
	}
}

// endActor is the actor id of mission s256's transition to terminated.
func endActor(t *testing.T, st *store.Store, s256 string) string {
	t.Helper()
	recs, err := st.Evidence(t.Context(), s256)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		var b transitionBody
		if r.Record.Type == evidence.LifecycleTransition && json.Unmarshal(r.Record.Body, &b) == nil && b.To == "terminated" {
			return b.Actor.ID
		}
	}
	return ""
}
