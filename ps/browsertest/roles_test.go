package browsertest_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// rolePolicy: a standing template whose write entry waits for a step
// someone with the approver role cfo records (issue 10).
var rolePolicy = pstest.RolePolicy("https://rs2.test", "book")

// TestBrowserRoleSteps (issue 10, role approvers): an administrator gives
// a person the approver role cfo on the People page (its roles section
// axe-core clean at 1280 and 390 px); the home page points the role
// holder to "Steps for your roles", which lists the mission's cfo step
// (axe-core clean at 1280 and 390 px); recording it comes back to the
// page (POST/redirect/GET) with the step gone.
func TestBrowserRoleSteps(t *testing.T) {
	t.Parallel()
	policy := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(policy, []byte(rolePolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	w := newConfiguredWorld(t, func(c *config.Config) { c.MissionPolicy = policy })
	w.ps.CreatePerson(t, "alice", false)
	w.ps.CreatePerson(t, "root", true)
	alice := newBrowser(t, w)
	bindInBrowser(t, w, alice, "alice")
	res, _ := w.postJSON(t, w.ps.URL("/mission"), map[string]any{"description": "# Plan the offsite",
		"resources": []string{"https://rs2.test"}, "capabilities": []string{"interaction"}})
	if res.status != http.StatusOK {
		t.Fatalf("agent: standing proposal: %d %s", res.status, res.raw)
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
	alice.expectText("Plan the offsite", "The CFO agrees")
	alice.audit("role-steps", http.StatusOK)
	alice.click(`form[action^="/roles/steps/"] button`)
	alice.expectAt("/roles")
	alice.expectText("Step recorded.", "No step waits for your roles.")
	alice.checkPage("")
}
