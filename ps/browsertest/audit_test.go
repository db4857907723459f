package browsertest_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/audit"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestBrowserAuditTrail (issue 14): changes recorded by the operator CLI's
// recorder and an administrator's UI action (disabling a person, PRG)
// appear on "Audit trail", reached from the admin navigation, newest
// first, attributed to who made them; the page is paged (older events
// behind a link) and passes axe-core at 1280 and 390 px.
func TestBrowserAuditTrail(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ps.CreatePerson(t, "alice", false)
	w.ps.CreatePerson(t, "root", true)
	// More than a page of older changes made with the CLI.
	for i := range 55 {
		c := audit.Change{By: audit.Actor{Kind: audit.ActorCLI}, Action: "provider.allowed",
			Target: fmt.Sprintf("provider:https://agents%02d.example", i), Message: "administrator decided on an agent provider"}
		if err := w.ps.App.Audit.Write(t.Context(), w.ps.App.Store, c); err != nil {
			t.Fatal(err)
		}
	}
	b := newBrowser(t, w)
	b.open("/login")
	b.login("root", pstest.TestPassword)
	b.expectHeading("Hello, Root")
	b.click(`a[href="/admin/persons"]`)
	b.expectHeading("People")
	b.click(`button[aria-label="Disable alice"]`)
	b.expectAt("/admin/persons")

	b.click(`a[href="/admin/audit"]`)
	b.expectHeading("Audit trail")
	b.expectText("person.disable", "person:alice", "admin", "root", "provider:https://agents54.example", "Older events")
	text := b.text()
	if strings.Index(text, "person.disable") > strings.Index(text, "provider.allowed") {
		t.Fatal("the newest change is not listed first")
	}
	if strings.Contains(text, "agents00.example") {
		t.Fatal("the first page shows more than a page of events")
	}
	b.audit("admin-audit", http.StatusOK)

	b.click(`a[href^="/admin/audit?before="]`)
	b.expectHeading("Audit trail")
	b.expectText("provider:https://agents00.example", "cli", "Newest")
	if strings.Contains(b.text(), "person.disable") {
		t.Fatal("the older page repeats the newest event")
	}
	b.audit("admin-audit-older", http.StatusOK)
}
