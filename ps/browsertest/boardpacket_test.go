package browsertest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// expectMissionDecision checks a 403 denied whose mission_decision names
// reason and the entry or exclusion that refused.
func expectMissionDecision(t *testing.T, what string, r result, reason, entry, exclusion string) {
	t.Helper()
	md, ok := r.body["mission_decision"].(map[string]any)
	if r.status != http.StatusForbidden || r.body["error"] != "denied" || !ok || md["reason"] != reason || md["id"] == "" {
		t.Fatalf("agent: %s: want 403 denied with mission_decision reason %s: %d %s", what, reason, r.status, r.raw)
	}
	if (entry != "" && md["entry"] != entry) || (exclusion != "" && md["exclusion"] != exclusion) {
		t.Fatalf("agent: %s: mission_decision names %v / %v, want entry %q exclusion %q", what, md["entry"], md["exclusion"], entry, exclusion)
	}
}

// TestBrowserBoardPacket is the board-packet scenario end to end over
// HTTPS with the person in headless Chromium (issue 10 Must-show 2): the
// consent page shows the template's rules (HR never, treasury asked each
// time, the release after the CFO's call-back); the person approves. HR is
// refused (mission_decision names the exclusion no-hr); each treasury read
// asks the person, who allows it in the browser; the release is refused
// before the reconciliation is reported (stage_gate, entry
// release-board), asked and allowed after it, three times; a fourth is
// refused (constraint_violation). The mission page then shows every
// decision in words and the steps, and passes the audit.
func TestBrowserBoardPacket(t *testing.T) {
	t.Parallel()
	var rs map[string]*conformance.Resource
	policy := pstest.BoardPacketPolicy(t)
	w := newConfiguredWorld(t, func(c *config.Config) { c.MissionPolicy = policy }, func(env *pstest.Env) {
		rs = env.StartBoardPacketResources(t)
	})
	w.ps.CreatePerson(t, "alice", false)
	b := newBrowser(t, w)
	bindInBrowser(t, w, b, "alice")

	// The proposal, and its consent page.
	res, _ := w.postJSON(t, w.ps.URL("/mission"), map[string]any{
		"description": "# Q3 Board Packet\n\nAssemble the board packet, reconcile the final numbers, and call back for approval before releasing the presentation.",
		"resources":   []string{"https://treasury.test", "https://ir.test", "https://hr.test"},
		"tools":       []map[string]string{{"name": "ReconcileNumbers"}}, "capabilities": []string{"interaction"},
	})
	in := w.expectInteraction(t, "POST /mission", res)
	b.open(in.url + "?code=" + in.code)
	b.expectHeading("Your agent proposes a mission")
	b.expectRules("built these rules from a template", "board-packet@1", "Treasury", "you are asked every time",
		"Never: HR or payroll data", "Call back to the CFO before release", "at most 3 times", "Anything else: refused")
	b.audit("board-packet-consent", http.StatusOK)
	b.clickButton("Approve the mission")
	b.expectHeading("Done")
	p := w.poll(t, in.loc)
	if p.status != http.StatusOK {
		t.Fatalf("agent: the approval: %d %s", p.status, p.raw)
	}
	s256, _ := p.body["s256"].(string)
	pts, _ := p.body["person_tokens"].(map[string]any)

	// auth asks host's resource for an auth token with scope under the mission.
	auth := func(host, presented, scope string) result {
		t.Helper()
		rt, err := rs[host].MintFor(presented, w.agent.Key, scope, w.clock.Now(), func(s *conformance.ResourceTokenSpec) { s.MissionS256 = s256 })
		if err != nil {
			t.Fatal(err)
		}
		r, _ := w.postJSON(t, w.ps.URL("/token"), map[string]any{"resource_token": rt, "presented_token": presented,
			"capabilities": []string{"interaction"}})
		return r
	}
	// allowInBrowser: the request asks the person, who allows it in the
	// browser; the agent's poll gets the auth token, which host accepts.
	allowInBrowser := func(what, host, presented string, r result, shot string) {
		t.Helper()
		in := w.expectInteraction(t, what, r)
		b.open(in.url + "?code=" + in.code)
		b.expectHeading("Your agent asks for access")
		if shot != "" {
			b.audit(shot, http.StatusOK)
		}
		b.clickButton("Allow")
		b.expectHeading("Done")
		p := w.poll(t, in.loc)
		at, _ := p.body["auth_token"].(string)
		if p.status != http.StatusOK || at == "" {
			t.Fatalf("agent: %s: the poll after the person allowed it: %d %s", what, p.status, p.raw)
		}
		if _, err := rs[host].VerifyAuthToken(context.Background(), at, w.agent.Key); err != nil {
			t.Fatalf("%s: the resource refuses the auth token: %v", what, err)
		}
	}

	// HR: refused by the exclusion, at the person token or at the auth token.
	hr, _ := w.postJSON(t, w.ps.URL("/person"), map[string]any{"resource": "https://hr.test", "mission_s256": s256, "capabilities": []string{"interaction"}})
	if hr.status == http.StatusAccepted {
		in := w.expectInteraction(t, "person token for HR", hr)
		b.open(in.url + "?code=" + in.code)
		b.clickButton("Allow")
		hr = w.poll(t, in.loc)
		hrPT, _ := hr.body["person_token"].(string)
		if hr.status == http.StatusOK && hrPT != "" {
			hr = auth("hr.test", hrPT, "records.read")
		}
	}
	expectMissionDecision(t, "HR", hr, "excluded", "", "no-hr")

	// Treasury: asked each time.
	treasuryPT, _ := pts["https://treasury.test"].(string)
	allowInBrowser("treasury read 1", "treasury.test", treasuryPT, auth("treasury.test", treasuryPT, "cash_position.read"), "board-packet-treasury")
	allowInBrowser("treasury read 2", "treasury.test", treasuryPT, auth("treasury.test", treasuryPT, "cash_position.read"), "")

	// The release before the reconciliation is reported.
	irPT, _ := pts["https://ir.test"].(string)
	expectMissionDecision(t, "release before reconciliation", auth("ir.test", irPT, "release.publish"), "stage_gate", "release-board", "")

	// The agent reports the reconciliation; each release then asks the CFO (the person).
	if r, _ := w.postJSON(t, w.ps.URL("/audit"), map[string]any{"mission_s256": s256, "action": "ReconcileNumbers"}); r.status >= 300 {
		t.Fatalf("agent: audit: %d %s", r.status, r.raw)
	}
	for i := range 3 {
		allowInBrowser("release", "ir.test", irPT, auth("ir.test", irPT, "release.publish"), map[bool]string{true: "board-packet-release"}[i == 0])
	}
	expectMissionDecision(t, "a fourth release", auth("ir.test", irPT, "release.publish"), "constraint_violation", "release-board", "")

	// The mission page: every decision, in words; the steps.
	b.open("/missions/" + s256)
	b.expectHeading("Mission")
	decisions := run(b, "read the decisions", textOf("section[aria-labelledby=decisions-h]"))
	for _, want := range []string{"Refused: https://hr.test", "reason excluded · decided by the exclusion no-hr", "Asked you first: https://treasury.test",
		"Allowed: https://treasury.test", "reason stage_gate · decided by the entry release-board", "reason constraint_violation"} {
		if !strings.Contains(decisions, want) {
			t.Fatalf("the mission page's decisions lack %q:\n%s", want, decisions)
		}
	}
	b.expectText("Steps", "Agent reports reconciliation complete", "reported by the agent")
	b.audit("board-packet-mission", http.StatusOK)
}
