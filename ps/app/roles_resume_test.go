package app_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// Requests waiting for a role step (issue 10, role approvers): an
// agent's request the mission defers for a step only someone with an
// approver role records is decided again when that step is recorded on
// /roles, and the outcome reaches the agent through its poll. PS-IDs:
// none (an extension: design §2 stages, approver {"role": …}); the polls
// are the draft's deferred responses (PS-146, PS-151).

// TestRoleStepResumesWaitingRequest: agent asks → 202 → the role holder
// sees on /roles that one request waits (what the PS verified apart from
// the agent's words) → records the step → the agent's poll returns the
// token (three-party), without the person. A role removed meanwhile
// records nothing and issues nothing; a step recorded while the mission is
// suspended issues nothing until it resumes; an ended mission refuses the
// step and the request ends mission_terminated. Both databases.
func TestRoleStepResumesWaitingRequest(t *testing.T) {
	for _, be := range storetest.Backends {
		t.Run(be.Name, func(t *testing.T) { roleStepResumes(t, be.NewMigratedURL(t)) })
	}
}

func roleStepResumes(t *testing.T, dbURL string) {
	w, alice, rs, s256 := roleMission(t, dbURL, inlineRolePolicy)
	ctx := context.Background()
	pt := personToken(t, w, alice, rs, missionBody("https://rs.test", s256))
	ask := func() started {
		t.Helper()
		rt := resourceToken(t, w, rs, pt, "calendar.write", nil)
		return w.expectInteraction(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt,
			"capabilities": []string{"interaction"}, "justification": "Book the offsite room"})))
	}
	carol := roleHolder(t, w, "carol", "cfo")
	carolP, _ := w.ps.App.Accounts.PersonByUsername(ctx, "carol")

	// Waiting, then issued once carol records the step.
	s := ask()
	pg := carol.Get(t, "/roles")
	for _, want := range []string{"1 request of the agent waits for this step", "Verified by this server:", "calendar.write",
		"The agent says (its words, not verified):", "Book the offsite room"} {
		if !strings.Contains(pg.HTML, want) {
			t.Fatalf("carol's /roles lacks %q:\n%s", want, pg.HTML)
		}
	}
	if req, _ := requirement(t, w.poll(t, w.agent, s.loc)); req != "interaction" {
		t.Fatalf("before the step: requirement %q", req)
	}
	recordRoleStep(t, carol, s256, "cfo_ok")
	expectAuthToken(t, w, rs, w.poll(t, w.agent, s.loc), pt)
	expectTokens(t, w, s256, 1)
	if pg := carol.Get(t, "/roles"); !strings.Contains(pg.HTML, "No request of the agent waits for it now.") {
		t.Fatalf("after the token, carol's /roles still counts a waiting request:\n%s", pg.HTML)
	}

	// A role removed meanwhile: refused, nothing recorded or issued.
	s = ask()
	if _, err := w.ps.App.Accounts.RemoveApproverRole(ctx, carolP.ID, "cfo"); err != nil {
		t.Fatal(err)
	}
	carol.Get(t, "/roles")
	if pg := carol.Post(t, "/roles/steps/"+s256+"/cfo_ok", nil); pg.Status != http.StatusForbidden {
		t.Fatalf("recording without the role: %d", pg.Status)
	}
	expect202(t, w.poll(t, w.agent, s.loc), w.ps.Issuer)
	expectTokens(t, w, s256, 1)

	// Suspended: the step is recorded, the request is held, nothing is
	// issued; the resumption releases it and it is issued then.
	if _, err := w.ps.App.Accounts.AddApproverRole(ctx, carolP.ID, "cfo"); err != nil {
		t.Fatal(err)
	}
	alice.Get(t, "/missions/"+s256)
	if pg := alice.Post(t, "/missions/"+s256+"/suspend", nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("suspend: %d", pg.Status)
	}
	recordRoleStep(t, carol, s256, "cfo_ok")
	expect202(t, w.poll(t, w.agent, s.loc), w.ps.Issuer)
	expectTokens(t, w, s256, 1)
	alice.Get(t, "/missions/"+s256)
	if pg := alice.Post(t, "/missions/"+s256+"/resume", nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("resume: %d", pg.Status)
	}
	// The suspension revoked the mission's tokens, the presented one
	// too: decided again once released, the request is refused for it.
	expectProblem(t, w.poll(t, w.agent, s.loc), http.StatusBadRequest, "revoked_presented_token")
	expectTokens(t, w, s256, 1)
	pt = personToken(t, w, alice, rs, missionBody("https://rs.test", s256))
	// The step recorded meanwhile is still unused: the next request uses it.
	rt := resourceToken(t, w, rs, pt, "calendar.write", nil)
	expectAuthToken(t, w, rs, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt})), pt)
	expectTokens(t, w, s256, 2)

	// Ended: the step cannot be recorded; the request ends with the mission.
	s = ask()
	alice.Get(t, "/missions/"+s256)
	if pg := alice.Post(t, "/missions/"+s256+"/revoke", nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", pg.Status)
	}
	carol.Get(t, "/roles")
	if pg := carol.Post(t, "/roles/steps/"+s256+"/cfo_ok", nil); pg.Status != http.StatusForbidden {
		t.Fatalf("recording on an ended mission: %d", pg.Status)
	}
	expectProblem(t, w.poll(t, w.agent, s.loc), http.StatusForbidden, "mission_terminated")
	expectTokens(t, w, s256, 2)
}

// TestRoleStepResumesPermissionCallback: the agent's call-back
// `mission.checkpoint` for a role's step waits (202); the person's yes
// keeps it waiting (not refused); once a role holder records the step the
// agent's poll returns {"permission": "granted"}. On a suspended mission
// the recorded step grants nothing until the mission resumes. Both
// databases.
func TestRoleStepResumesPermissionCallback(t *testing.T) {
	for _, be := range storetest.Backends {
		t.Run(be.Name, func(t *testing.T) { roleStepCallback(t, be.NewMigratedURL(t)) })
	}
}

func roleStepCallback(t *testing.T, dbURL string) {
	w, alice, _, s256 := roleMission(t, dbURL,
		strings.Replace(rolePolicy, `"satisfy_via":["control"]`, `"satisfy_via":["permission","control"]`, 1))
	carol := roleHolder(t, w, "carol", "cfo")
	s := w.expectInteraction(t, w.post(t, w.agent, "/permission",
		`{"action":"mission.checkpoint","description":"The CFO must agree first","parameters":{"checkpoint":"cfo_ok"},"mission_s256":"`+s256+`"}`))
	if pg := carol.Get(t, "/roles"); !strings.Contains(pg.HTML, "1 request of the agent waits for this step") ||
		!strings.Contains(pg.HTML, "The CFO must agree first") {
		t.Fatalf("carol's /roles does not show the waiting call-back:\n%s", pg.HTML)
	}
	open(t, alice, s)
	alice.Post(t, s.path()+"/approve", nil)
	got := w.poll(t, w.agent, s.loc)
	expect202(t, got, w.ps.Issuer)
	if req, _ := requirement(t, got); req != "approval" {
		t.Fatalf("after the person's yes: requirement %q, want approval", req)
	}
	recordRoleStep(t, carol, s256, "cfo_ok")
	got = w.poll(t, w.agent, s.loc)
	if got.status != http.StatusOK || got.body["permission"] != "granted" {
		t.Fatalf("after the role holder recorded the step: %d %s", got.status, got.raw)
	}

	// On a suspended mission (a second one), the step recorded grants
	// nothing: the call-back is held, and after the resumption it is the
	// person's again, whose yes now finds the step recorded.
	r := w.post(t, w.agent, "/mission", `{"description":"# Plan the retreat","resources":["https://rs.test"],"capabilities":["interaction"]}`)
	if r.status != http.StatusOK {
		t.Fatalf("second mission: %d %s", r.status, r.raw)
	}
	s256 = decodeApproval(t, r).s256
	s = w.expectInteraction(t, w.post(t, w.agent, "/permission",
		`{"action":"mission.checkpoint","parameters":{"checkpoint":"cfo_ok"},"mission_s256":"`+s256+`"}`))
	alice.Get(t, "/missions/"+s256)
	if pg := alice.Post(t, "/missions/"+s256+"/suspend", nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("suspend: %d", pg.Status)
	}
	recordRoleStep(t, carol, s256, "cfo_ok")
	expect202(t, w.poll(t, w.agent, s.loc), w.ps.Issuer)
	if pr, err := w.ps.App.Engine.Get(context.Background(), s.id); err != nil || pr.Stage != "held" {
		t.Fatalf("the call-back on the suspended mission is not held: %v", err)
	}
	alice.Get(t, "/missions/"+s256)
	if pg := alice.Post(t, "/missions/"+s256+"/resume", nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("resume: %d", pg.Status)
	}
	expect202(t, w.poll(t, w.agent, s.loc), w.ps.Issuer)
	open(t, alice, s)
	alice.Post(t, s.path()+"/approve", nil)
	if got := w.poll(t, w.agent, s.loc); got.status != http.StatusOK || got.body["permission"] != "granted" {
		t.Fatalf("after the resumption and the person's yes: %d %s", got.status, got.raw)
	}
}

// TestRoleStepConcurrentRecords: the waiting request decided again by
// several resumptions at once once its step is recorded, and two role
// holders recording the step at once, issue exactly one token for the
// request: its answer commits in the decision's transaction, so a second
// decision that would issue again (the step is not single-use) rolls back.
// Both databases.
func TestRoleStepConcurrentRecords(t *testing.T) {
	for _, be := range storetest.Backends {
		t.Run(be.Name, func(t *testing.T) { roleStepConcurrent(t, be.NewMigratedURL(t)) })
	}
}

func roleStepConcurrent(t *testing.T, dbURL string) {
	w, alice, rs, s256 := roleMission(t, dbURL, strings.Replace(inlineRolePolicy, `"single_use":true`, `"single_use":false`, 1))
	ctx := context.Background()
	ask := func(pt string) started {
		rt := resourceToken(t, w, rs, pt, "calendar.write", nil)
		return w.expectInteraction(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt,
			"capabilities": []string{"interaction"}})))
	}
	at := func(n int, f func(i int)) {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				f(i)
			}()
		}
		close(start)
		wg.Wait()
	}

	// The step recorded behind the decision point's back, then the
	// waiting request decided again by three resumptions at once.
	pt := personToken(t, w, alice, rs, missionBody("https://rs.test", s256))
	s := ask(pt)
	m, err := w.ps.App.Store.Mission(ctx, s256)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.ps.App.Store.RecordCheckpoint(ctx, s256, "cfo_ok", false, time.Now()); err != nil {
		t.Fatal(err)
	}
	at(3, func(int) { _, _ = w.ps.App.Interact.ResumeSteps(ctx, m.PersonID, s256, []string{"cfo_ok"}) })
	expectAuthToken(t, w, rs, w.poll(t, w.agent, s.loc), pt)
	expectTokens(t, w, s256, 1)

	// Two role holders at once, on a second mission: one records (the
	// other is refused: the step is recorded and unused), one token.
	r := w.post(t, w.agent, "/mission", `{"description":"# Plan the retreat","resources":["https://rs.test"],"capabilities":["interaction"]}`)
	if r.status != http.StatusOK {
		t.Fatalf("second mission: %d %s", r.status, r.raw)
	}
	s256 = decodeApproval(t, r).s256
	pt = personToken(t, w, alice, rs, missionBody("https://rs.test", s256))
	s = ask(pt)
	holders := []*pstest.Browser{roleHolder(t, w, "carol", "cfo"), roleHolder(t, w, "erin", "cfo")}
	for _, b := range holders {
		b.Get(t, "/roles")
	}
	statuses := make([]int, len(holders))
	at(len(holders), func(i int) { statuses[i] = holders[i].Post(t, "/roles/steps/"+s256+"/cfo_ok", nil).Status })
	if (statuses[0] == http.StatusSeeOther) == (statuses[1] == http.StatusSeeOther) {
		t.Fatalf("two role holders at once: %v, want one recorded and one refused", statuses)
	}
	expectAuthToken(t, w, rs, w.poll(t, w.agent, s.loc), pt)
	expectTokens(t, w, s256, 1)
}

// TestRoleStepResumesFourParty: four-party (the resource token's aud is
// an access server), a calendar.write request gated by the role step
// waits — the person's yes too — and nothing goes to the AS; once a role
// holder records the step, the request is decided again and federated,
// and the agent's poll returns the AS's token. Both databases.
func TestRoleStepResumesFourParty(t *testing.T) {
	for _, be := range storetest.Backends {
		t.Run(be.Name, func(t *testing.T) {
			opt := reservationOptions(t, be.NewMigratedURL(t))
			path := filepath.Join(t.TempDir(), "role-policy.json")
			policy := strings.Replace(reservationPolicy, `"approver":"person",
     "satisfy_via":["inline","permission"]`, `"approver":{"role":"cfo"},
     "satisfy_via":["inline","control"]`, 1)
			if policy == reservationPolicy {
				t.Fatal("the role policy is the person's")
			}
			if err := os.WriteFile(path, []byte(policy), 0o600); err != nil {
				t.Fatal(err)
			}
			opt.Configure = func(c *config.Config) { c.MissionPolicy = path }
			f := newFedWorldOn(t, opt)
			m := f.mission(t)
			carol := roleHolder(t, f.world, "carol", "cfo")
			before := len(f.as.Requests())
			s := f.expectInteraction(t, m.auth("calendar.write"))
			open(t, f.b, s)
			f.b.Post(t, s.path()+"/approve", nil)
			if req, _ := requirement(t, f.poll(t, f.agent, s.loc)); req != "approval" {
				t.Fatalf("after the person's yes: requirement %q, want approval", req)
			}
			if len(f.as.Requests()) != before {
				t.Fatal("the AS was asked before the role's step was recorded")
			}
			recordRoleStep(t, carol, m.s256, "write_ok")
			got := f.poll(t, f.agent, s.loc)
			at, _ := got.body["auth_token"].(string)
			if c, err := f.rs.VerifyAccessToken(ctxT(), at, f.agent.Key); got.status != http.StatusOK || err != nil || c["scope"] != "calendar.write" {
				t.Fatalf("want the AS's calendar.write token after the step: %d %v %s", got.status, err, got.raw)
			}
		})
	}
}

// TestRoleStepAfterThePersonsApproval: an entry the person approves each
// time, gated by a role step too: their yes settles their part and the
// request waits for the role (202 approval, not refused); once the step
// is recorded it is issued with their yes. Both databases.
func TestRoleStepAfterThePersonsApproval(t *testing.T) {
	for _, be := range storetest.Backends {
		t.Run(be.Name, func(t *testing.T) {
			policy := strings.Replace(inlineRolePolicy, `"requires":["cfo_ok"]`, `"grant":"approve_each","requires":["cfo_ok"]`, 1)
			if policy == inlineRolePolicy {
				t.Fatal("the entry is not approved each time")
			}
			w, alice, rs, s256 := roleMission(t, be.NewMigratedURL(t), policy)
			pt := personToken(t, w, alice, rs, missionBody("https://rs.test", s256))
			rt := resourceToken(t, w, rs, pt, "calendar.write", nil)
			s := w.expectInteraction(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt,
				"capabilities": []string{"interaction"}})))
			open(t, alice, s)
			alice.Post(t, s.path()+"/approve", nil)
			if req, _ := requirement(t, w.poll(t, w.agent, s.loc)); req != "approval" {
				t.Fatalf("after the person's yes: requirement %q, want approval", req)
			}
			expectTokens(t, w, s256, 0)
			recordRoleStep(t, roleHolder(t, w, "carol", "cfo"), s256, "cfo_ok")
			expectAuthToken(t, w, rs, w.poll(t, w.agent, s.loc), pt)
			expectTokens(t, w, s256, 1)
		})
	}
}

// TestPersonStepFromMissionPageResumes: the same one place serves the
// person's own steps: a request waiting (inline) for a step the person
// records, recorded instead from the mission page, is decided again and
// the agent's poll returns the token. Both databases.
func TestPersonStepFromMissionPageResumes(t *testing.T) {
	for _, be := range storetest.Backends {
		t.Run(be.Name, func(t *testing.T) {
			policy := strings.Replace(inlineRolePolicy, `"approver":{"role":"cfo"}`, `"approver":"person"`, 1)
			if policy == inlineRolePolicy {
				t.Fatal("the step is not the person's")
			}
			w, alice, rs, s256 := roleMission(t, be.NewMigratedURL(t), policy)
			pt := personToken(t, w, alice, rs, missionBody("https://rs.test", s256))
			rt := resourceToken(t, w, rs, pt, "calendar.write", nil)
			s := w.expectInteraction(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt,
				"capabilities": []string{"interaction"}})))
			alice.Get(t, "/missions/"+s256)
			if pg := alice.Post(t, "/missions/"+s256+"/checkpoints/cfo_ok", nil); pg.Status != http.StatusSeeOther {
				t.Fatalf("the person records the step on the mission page: %d", pg.Status)
			}
			expectAuthToken(t, w, rs, w.poll(t, w.agent, s.loc), pt)
			expectTokens(t, w, s256, 1)
		})
	}
}
