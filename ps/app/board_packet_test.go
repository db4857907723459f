package app_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// missionDecision is the refusal's mission_decision member, asserted.
func missionDecision(t *testing.T, r result, status int, reason, entry, exclusion string) {
	t.Helper()
	md, ok := r.body["mission_decision"].(map[string]any)
	if r.status != status || r.body["error"] != "denied" || !ok || md["reason"] != reason || md["id"] == "" {
		t.Fatalf("want %d denied with mission_decision reason %s: %d %s", status, reason, r.status, r.raw)
	}
	if (entry != "" && md["entry"] != entry) || (exclusion != "" && md["exclusion"] != exclusion) {
		t.Fatalf("mission_decision names %v / %v, want entry %q exclusion %q: %s", md["entry"], md["exclusion"], entry, exclusion, r.raw)
	}
}

// TestBoardPacketScenario is the board-packet scenario end to end over
// HTTPS with the conformance kit's resources (issue 10 Must-show 2; the
// person approves through the UI harness): HR refused by the exclusion,
// treasury asked each time, the release refused before the
// reconciliation is reported, allowed after (the CFO's approval recorded
// by the permission call-back or inline, consumed by each release), and a
// fourth release refused by max_grants —
// each refusal's mission_decision asserted.
func TestBoardPacketScenario(t *testing.T) {
	t.Parallel()
	bw := newBoardWorld(t, pstest.Options{})
	w, b, rs, ap, pts, auth, approve := bw.w, bw.b, bw.rs, bw.ap, bw.pts, bw.auth, bw.approve

	// HR: refused at the person-token endpoint (design §10.3), so the
	// agent never holds a mission person token to present there.
	missionDecision(t, w.post(t, w.agent, "/person", `{"resource":"https://hr.test","mission_s256":"`+ap.s256+`","capabilities":["interaction"]}`),
		http.StatusForbidden, "excluded", "", "no-hr")

	// Treasury: asked each time, issued once approved.
	treasuryPT, _ := pts["https://treasury.test"].(string)
	for range 2 {
		expectAuthToken(t, w, rs["treasury.test"], approve(auth("treasury.test", treasuryPT, "cash_position.read")), treasuryPT)
	}

	// The person refuses a third: a deny (user_denied) by the person,
	// resolving the deferred request, and the agent gets 403 denied.
	refused := w.expectInteraction(t, auth("treasury.test", treasuryPT, "cash_position.read"))
	open(t, b, refused)
	afterDecision(t, b, b.Post(t, refused.path()+"/deny", nil))
	expectProblem(t, w.poll(t, w.agent, refused.loc), http.StatusForbidden, "denied")
	if actor, rec := lastDecision(t, w, ap.s256); actor.Kind != "person" || rec.Resolves != refused.id || rec.Outcome.Reason != "user_denied" {
		t.Fatalf("the refused treasury read's evidence: actor %+v, resolves %q, outcome %+v", actor, rec.Resolves, rec.Outcome)
	}

	// The release before the reconciliation is reported: refused at the stage.
	irPT, _ := pts["https://ir.test"].(string)
	missionDecision(t, auth("ir.test", irPT, "release.publish"), http.StatusForbidden, "stage_gate", "release-board", "")

	// The agent reports the reconciliation (its audit record attests it).
	if r := w.post(t, w.agent, "/audit", `{"mission_s256":"`+ap.s256+`","action":"ReconcileNumbers"}`); r.status >= 300 {
		t.Fatalf("audit: %d %s", r.status, r.raw)
	}
	// The agent calls back for the CFO's approval through the permission
	// endpoint (the design's checkpoint call-back); once the person agrees
	// the release is issued without asking again, consuming it.
	cb := approve(w.post(t, w.agent, "/permission", `{"action":"mission.checkpoint","parameters":{"checkpoint":"cfo_release_approval"},"mission_s256":"`+ap.s256+`"}`))
	if cb.status != http.StatusOK || cb.body["permission"] != "granted" {
		t.Fatalf("checkpoint call-back: %d %s", cb.status, cb.raw)
	}
	expectAuthToken(t, w, rs["ir.test"], auth("ir.test", irPT, "release.publish"), irPT)
	// Then each release asks the CFO (the person) inline: two more allowed.
	for range 2 {
		expectAuthToken(t, w, rs["ir.test"], approve(auth("ir.test", irPT, "release.publish")), irPT)
	}
	// A fourth release is refused by max_grants, even though it would be asked.
	missionDecision(t, auth("ir.test", irPT, "release.publish"), http.StatusForbidden, "constraint_violation", "release-board", "")
	// Refusals issue nothing: two treasury tokens and three releases.
	if recs, err := w.ps.App.Tokens.AuthRecords(ctxT(), ""); err != nil || len(recs) != 5 {
		t.Fatalf("%d auth tokens issued, %v; want 5", len(recs), err)
	}

	// The person's mission page lists every decision and why.
	pg := b.Get(t, "/missions/"+ap.s256)
	decisions := section(pg.HTML, "decisions")
	for _, want := range []string{"Refused: https://hr.test", "decided by the exclusion no-hr", "reason stage_gate",
		"reason constraint_violation", "Asked you first: https://treasury.test", "Allowed: https://ir.test"} {
		if !strings.Contains(decisions, want) {
			t.Fatalf("the mission page's decisions lack %q:\n%s", want, decisions)
		}
	}
}

// boardWorld is the board-packet scenario's world: the policy, its
// resources, alice bound to w.agent, and the mission approved.
type boardWorld struct {
	w   *world
	b   *pstest.Browser
	rs  map[string]*conformance.Resource
	ap  approved
	pts map[string]any
	// auth asks the resource at host for an auth token with scope under
	// the mission, presenting the person token presented.
	auth func(host, presented, scope string) result
	// approve has alice approve the interaction r asks for; the poll after.
	approve func(r result) result
}

func newBoardWorld(t *testing.T, opt pstest.Options) *boardWorld {
	t.Helper()
	bw := &boardWorld{}
	policy := pstest.BoardPacketPolicy(t)
	configure := opt.Configure
	opt.Configure = func(c *config.Config) {
		if configure != nil {
			configure(c)
		}
		c.MissionPolicy = policy
	}
	w := newWorldWith(t, opt, func(env *pstest.Env) { bw.rs = env.StartBoardPacketResources(t) })
	b := w.person(t, "alice", false)
	w.bind(t, w.agent, b)
	bw.w, bw.b = w, b
	bw.ap = w.approveMission(t, w.agent, b, `{"description":"# Q3 Board Packet\n\nAssemble the board packet, reconcile the final numbers, and call back for approval before releasing the presentation.",`+
		`"resources":["https://treasury.test","https://ir.test","https://hr.test"],"tools":[{"name":"ReconcileNumbers"}],"capabilities":["interaction"]}`, nil)
	if res, _ := bw.ap.bl["approved_resources"].([]any); slices.Contains(res, any("https://hr.test")) {
		t.Fatalf("the template's excluded resource was approved: %v", res)
	}
	bw.pts, _ = bw.ap.res.body["person_tokens"].(map[string]any)
	bw.auth = func(host, presented, scope string) result {
		rt := resourceToken(t, w, bw.rs[host], presented, scope, func(s *conformance.ResourceTokenSpec) { s.MissionS256 = bw.ap.s256 })
		return w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": presented,
			"capabilities": []string{"interaction"}}))
	}
	bw.approve = func(r result) result {
		t.Helper()
		s := w.expectInteraction(t, r)
		open(t, b, s)
		b.Post(t, s.path()+"/approve", nil)
		return w.poll(t, w.agent, s.loc)
	}
	return bw
}
