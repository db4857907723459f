package app_test

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// boardPolicy is the operator's Mission composition policy of the
// board-packet scenario (design Example A, on the test resources; the
// release is a scope here rather than an R3 operation): HR excluded by
// class, treasury approved each time, the release gated by the CFO's
// single-use approval that comes after the reconciliation is reported,
// at most three releases.
const boardPolicy = `{"policy_version":"test-1",
 "catalog":{"version":"cat-1","resources":{
  "https://hr.test":{"name":"HR","class":"hr.records"},
  "https://treasury.test":{"name":"Treasury"},
  "https://ir.test":{"name":"Investor relations","class":"release.board"}}},
 "templates":[{"name":"board-packet@1","resources":["https://treasury.test","https://ir.test"],"tools":["ReconcileNumbers"],
  "authority_set":{"object":"aauth-mm/authority-set/v1","default_outside":"deny",
   "entries":[
    {"id":"treasury-cash","target":"resource","resource":{"id":"https://treasury.test"},"scopes":["cash_position.read"],"grant":"approve_each"},
    {"id":"release-board","target":"resource","resource":{"id":"https://ir.test"},"scopes":["release.publish"],"grant":"auto",
     "constraints":{"max_grants":3,"on_violation":"deny"},"requires":["cfo_release_approval"]},
    {"id":"local-tools","target":"tool","tools":["ReconcileNumbers"]}],
   "exclusions":[{"id":"no-hr","label":"No HR or payroll data","resource_class":"hr.*"}],
   "checkpoints":[
    {"id":"numbers_reconciled","label":"Agent reports reconciliation complete","kind":"attestation","satisfy_via":["audit"],"audit_action":"ReconcileNumbers"},
    {"id":"cfo_release_approval","label":"Call back to the CFO before release","kind":"approval","approver":"person",
     "satisfy_via":["inline","permission"],"after":["numbers_reconciled"],"single_use":true}]}}]}`

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
	policy := filepath.Join(t.TempDir(), "mission-policy.json")
	if err := os.WriteFile(policy, []byte(boardPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	rs := map[string]*conformance.Resource{}
	w := newWorldWith(t, pstest.Options{Configure: func(c *config.Config) { c.MissionPolicy = policy }}, func(env *pstest.Env) {
		for _, host := range []string{"hr.test", "treasury.test", "ir.test"} {
			r, err := conformance.StartResource(env.CA, env.Resolver, host, conformance.WithResourceScopes(map[string]any{
				"records.read": "Read personnel records", "cash_position.read": "Read the cash position",
				"release.publish": "Publish the board presentation"}))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = r.Close() })
			rs[host] = r
		}
	})
	b := w.person(t, "alice", false)
	w.bind(t, w.agent, b)

	ap := w.approveMission(t, w.agent, b, `{"description":"# Q3 Board Packet\n\nAssemble the board packet, reconcile the final numbers, and call back for approval before releasing the presentation.",`+
		`"resources":["https://treasury.test","https://ir.test","https://hr.test"],"tools":[{"name":"ReconcileNumbers"}],"capabilities":["interaction"]}`, nil)
	if res, _ := ap.bl["approved_resources"].([]any); slices.Contains(res, any("https://hr.test")) {
		t.Fatalf("the template's excluded resource was approved: %v", res)
	}
	pts, _ := ap.res.body["person_tokens"].(map[string]any)

	// auth asks rs for an auth token with scope under the mission.
	auth := func(host, presented, scope string) result {
		rt := resourceToken(t, w, rs[host], presented, scope, func(s *conformance.ResourceTokenSpec) { s.MissionS256 = ap.s256 })
		return w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": presented,
			"capabilities": []string{"interaction"}}))
	}
	approve := func(r result) result {
		t.Helper()
		s := w.expectInteraction(t, r)
		open(t, b, s)
		b.Post(t, s.path()+"/approve", nil)
		return w.poll(t, w.agent, s.loc)
	}

	// HR: refused at the person-token endpoint (design §10.3), so the
	// agent never holds a mission person token to present there.
	missionDecision(t, w.post(t, w.agent, "/person", `{"resource":"https://hr.test","mission_s256":"`+ap.s256+`","capabilities":["interaction"]}`),
		http.StatusForbidden, "excluded", "", "no-hr")

	// Treasury: asked each time, issued once approved.
	treasuryPT, _ := pts["https://treasury.test"].(string)
	for range 2 {
		expectAuthToken(t, w, rs["treasury.test"], approve(auth("treasury.test", treasuryPT, "cash_position.read")), treasuryPT)
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
