package browsertest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestBrowserAccessEverySection (issue 9 item 5, must-show 1 and 2;
// PS-070, PS-218): with a standing person-token grant, an active mission
// and a remembered permission answer, "What your agents can access" lists
// all three sections and passes the audit at 1280 and 390 px, with no
// identifier or URL in its tables broken inside a word; removing
// the remembered answer comes back to the page (POST/redirect/GET)
// without it, and the agent's next identical request asks the person again.
func TestBrowserAccessEverySection(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ps.CreatePerson(t, "alice", false)
	b := newBrowser(t, w)
	bindInBrowser(t, w, b, "alice")

	// Standing: a person token for rs2, allowed on its consent page.
	const rs2, flights = "https://rs2.test", "https://flights.test"
	res, _ := w.postJSON(t, w.ps.URL("/person"), map[string]any{"resource": rs2, "capabilities": []string{"interaction"}})
	in := w.expectInteraction(t, "E3 for a new resource", res)
	b.open(in.url + "?code=" + in.code)
	b.clickButton("Allow")
	b.expectHeading("Done")
	if p := w.poll(t, in.loc); p.status != http.StatusOK {
		t.Fatalf("agent: the poll after consent: %d %s", p.status, p.raw)
	}

	// A mission, approved.
	res, _ = w.postJSON(t, w.ps.URL("/mission"), map[string]any{"description": "# Book the *Lisbon* flights\n\nTwo seats in May.",
		"resources": []string{flights}, "capabilities": []string{"interaction"}})
	ms := w.expectInteraction(t, "POST /mission", res)
	b.open(ms.url + "?code=" + ms.code)
	b.clickButton("Approve the mission")
	b.expectHeading("Done")
	if p := w.poll(t, ms.loc); p.status != http.StatusOK {
		t.Fatalf("agent: the poll after approval: %d %s", p.status, p.raw)
	}

	// A permission answer, remembered.
	ask := map[string]any{"action": "SendEmail", "description": "Send the itinerary to Bob", "capabilities": []string{"interaction"}}
	res, _ = w.postJSON(t, w.ps.URL("/permission"), ask)
	pm := w.expectInteraction(t, "permission request", res)
	b.open(pm.url + "?code=" + pm.code)
	b.step("tick remember", chromedp.Click(chromedp.ID("remember"), chromedp.NodeVisible))
	b.clickButton("Refuse")
	b.expectHeading("Done")
	if p := w.poll(t, pm.loc); p.status != http.StatusOK || p.body["permission"] != "denied" {
		t.Fatalf("agent: the poll after the refusal: %d %s", p.status, p.raw)
	}

	b.open("/access")
	b.expectHeading("What your agents can access")
	b.expectText("Standing permissions", rs2, "For a mission only", "Book the Lisbon flights", flights,
		"Actions you answered for good", "SendEmail")
	b.audit("access-every-section", http.StatusOK)
	// Identifiers and URLs in its tables wrap between their parts (issue 9 item 7).
	for _, vw := range widths {
		b.setViewport(vw.w, vw.h)
		b.expectNoWordBrokenInTables(vw.w)
	}
	b.setViewport(viewportW, viewportH)

	b.click(`button[aria-label="Remove the answer for SendEmail by ` + agentID + `"]`)
	b.expectAt("/access")
	b.expectText("You have not remembered an answer for any agent.", rs2, "Book the Lisbon flights")
	b.checkPage("")
	b.reload()
	b.expectHeading("What your agents can access")
	b.expectText("You have not remembered an answer for any agent.")
	b.checkPage("")
	again, _ := w.postJSON(t, w.ps.URL("/permission"), ask)
	w.expectInteraction(t, "the permission request after its answer was removed", again)
}

// TestBrowserPostRedirectGetEveryForm (issue 9 item 8, must-show 1): the
// forms no other browser test submits each answer with a redirect to a
// GET page: refusing an agent's connection, revoking and unbinding an
// agent, unblocking a provider, changing the password, an administrator
// creating an account, adding and marking an agent provider, and sign-up.
// Every browser test fails on a form answered with a page instead of a
// redirect (browser.listen), so each submit here is that check; a reload
// afterwards shows the same page, not a re-submission.
func TestBrowserPostRedirectGetEveryForm(t *testing.T) {
	t.Parallel()
	w := newConfiguredWorld(t, func(c *config.Config) { c.AllowSignup = true })
	w.ps.CreatePerson(t, "alice", true)
	b := newBrowser(t, w)

	// Refusing a connection: the outcome is at the request's own link.
	in := w.ask(t, "May I plan your trips?", "I book travel for you.")
	b.open(in.url + "?code=" + in.code)
	b.login("alice", pstest.TestPassword)
	b.expectHeading("An agent wants to act for you")
	b.clickButton("Refuse")
	b.expectAt(strings.TrimPrefix(in.url, w.ps.Issuer))
	b.checkPage("")
	b.reload()
	b.checkPage("")
	if p := w.poll(t, in.loc); p.status != http.StatusForbidden {
		t.Fatalf("agent: the poll after the refusal: %d %s, want 403", p.status, p.raw)
	}

	// Revoke, then unbind, a connected agent.
	bindInBrowser(t, w, b, "alice")
	b.open("/agents")
	b.click(`button[aria-label="Revoke ` + agentID + `"]`)
	b.expectAt("/agents")
	b.expectText("revoked")
	b.checkPage("")
	b.reload()
	b.expectHeading("Connected agents")
	b.checkPage("")
	b.click(`button[aria-label="Unbind ` + agentID + `"]`)
	b.expectAt("/agents")
	b.expectText("No agent is connected to you.")
	b.checkPage("")

	// Block, then unblock, an agent provider.
	b.fill("block-issuer", "https://blocked.test")
	b.clickButton("Block")
	b.clickButton("Unblock")
	b.expectAt("/agents")
	b.expectText("You have not blocked any agent provider.")
	b.checkPage("")
	b.reload()
	b.expectHeading("Connected agents")
	b.checkPage("")

	// The password.
	b.open("/settings")
	b.fill("current", pstest.TestPassword)
	b.fill("new", "a brand new passphrase")
	b.clickButton("Change password")
	b.expectAt("/settings")
	b.expectText("Password changed.")
	b.checkPage("")
	b.reload()
	b.expectHeading("Settings")
	b.checkPage("")

	// An administrator creates an account.
	b.open("/admin/persons")
	b.fill("new-username", "dave")
	b.fill("new-password", "dave's long password")
	b.clickButton("Create account")
	b.expectAt("/admin/persons")
	b.expectText("dave")
	b.checkPage("")
	b.reload()
	b.expectHeading("People")
	b.checkPage("")

	// An administrator adds an agent provider, then marks it.
	b.open("/admin/providers")
	b.fill("p-issuer", "https://other-agents.test")
	b.clickButton("Save")
	b.expectAt("/admin/providers")
	b.expectText("https://other-agents.test")
	b.checkPage("")
	b.click(`button[aria-label$=": https://other-agents.test"]`)
	b.expectAt("/admin/providers")
	b.checkPage("")
	b.reload()
	b.expectHeading("Agent providers")
	b.checkPage("")

	// Sign-up, logged out.
	b.clickButton("Log out")
	b.open("/signup")
	b.fill("username", "carol")
	b.fill("password", "carol's long password")
	b.clickButton("Create account")
	b.checkPage("")
	if loc := b.location(); strings.HasSuffix(loc, "/signup") {
		t.Fatalf("after sign-up the browser is still at %s", loc)
	}
	b.reload()
	b.checkPage("")
}
