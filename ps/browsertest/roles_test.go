package browsertest_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// rolePolicy: a standing template whose write entry waits for a step
// someone with the approver role cfo records (issue 10); a request for it
// waits (inline) until then.
var rolePolicy = strings.Replace(pstest.RolePolicy("https://rs2.test", "calendar.write"),
	`"satisfy_via":["control"]`, `"satisfy_via":["inline","control"]`, 1)

// TestBrowserRoleSteps (issue 10, role approvers): an administrator gives
// a person the approver role cfo on the People page (its roles section
// axe-core clean at 1280 and 390 px); the home page points the role
// holder to "Steps for your roles", which lists the mission's cfo step
// (axe-core clean at 1280 and 390 px) with the agent's request waiting
// for it (the person allowed it: their page says it waits for the role,
// axe-core clean too) — what the PS verified apart from the agent's words; recording it
// comes back to the page (POST/redirect/GET), the agent's poll returns
// the token, and the step, used by it, is offered again with nothing
// waiting.
func TestBrowserRoleSteps(t *testing.T) {
	t.Parallel()
	policy := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(policy, []byte(rolePolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	var rs *conformance.Resource
	w := newConfiguredWorld(t, func(c *config.Config) { c.MissionPolicy = policy }, func(env *pstest.Env) {
		var err error
		if rs, err = conformance.StartResource(env.CA, env.Resolver, "rs2.test"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rs.Close() })
	})
	w.ps.CreatePerson(t, "alice", false)
	w.ps.CreatePerson(t, "root", true)
	alice := newBrowser(t, w)
	bindInBrowser(t, w, alice, "alice")
	res, _ := w.postJSON(t, w.ps.URL("/mission"), map[string]any{"description": "# Plan the offsite",
		"resources": []string{"https://rs2.test"}, "capabilities": []string{"interaction"}})
	s256, _ := res.body["s256"].(string)
	if res.status != http.StatusOK || s256 == "" {
		t.Fatalf("agent: standing proposal: %d %s", res.status, res.raw)
	}
	// The agent asks for what the step gates: the request waits for it.
	p, _ := w.postJSON(t, w.ps.URL("/person"), map[string]any{"resource": rs.Issuer(), "mission_s256": s256})
	pt, _ := p.body["person_token"].(string)
	if p.status != http.StatusOK || pt == "" {
		t.Fatalf("agent: person token under the mission: %d %s", p.status, p.raw)
	}
	waiting, _ := w.postJSON(t, w.ps.URL("/token"), map[string]any{"resource_token": w.resourceToken(t, rs, pt, "calendar.write", nil), "presented_token": pt,
		"capabilities": []string{"interaction"}, "justification": "Book the **venue** for the offsite."})
	in := w.expectInteraction(t, "auth token gated by the role step", waiting)
	// The person allows it: that does not record the role's step, so
	// the request waits for it, and the person's page says so.
	alice.open(in.url + "?code=" + in.code)
	alice.clickButton("Allow")
	alice.expectHeading("Waiting for a step someone else records")
	alice.expectText("only someone with an approver role records", "Stop and refuse")
	alice.audit("role-step-wait", http.StatusOK)
	if req, _ := requirement(t, w.poll(t, in.loc)); req != "approval" {
		t.Fatalf("agent: after the person's yes: requirement %q, want approval", req)
	}

	b := newBrowser(t, w)
	b.open("/login")
	b.login("root", pstest.TestPassword)
	b.expectHeading("Hello, Root")
	b.click(`a[href="/admin/persons"]`)
	b.expectHeading("People")
	b.expectText("Approver roles", "Nobody holds an approver role.")
	b.fill("role-name", "cfo")
	b.clickButton("Give the role") // the first person listed is alice
	b.expectAt("/admin/persons")
	b.expectText("alice now holds the role cfo.")
	b.audit("admin-roles", http.StatusOK)

	// alice holds cfo now: her home page points to the step.
	alice.open("/")
	alice.expectText("1 mission step waits for your roles")
	alice.click(`a[href="/roles"]`)
	alice.expectHeading("Steps for your roles")
	alice.expectText("Plan the offsite", "The CFO agrees", "1 request of the agent waits for this step",
		"Verified by this server:", "scope calendar.write", "The agent says (its words, not verified):", "Book the venue for the offsite.")
	alice.audit("role-steps", http.StatusOK)
	alice.click(`form[action^="/roles/steps/"] button`)
	alice.expectAt("/roles")
	// The request used the single-use step at once: it is offered again,
	// with nothing waiting for it.
	alice.expectText("Step recorded.", "used before", "No request of the agent waits for it now.")
	alice.checkPage("")
	// The waiting request was decided again: the agent's poll has the token.
	if got := w.poll(t, in.loc); got.status != http.StatusOK || got.body["auth_token"] == nil {
		t.Fatalf("agent: the poll after the step was recorded: %d %s", got.status, got.raw)
	}
}
