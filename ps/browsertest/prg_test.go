package browsertest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// reload reloads the tab, as the person pressing F5 would.
func (b *browser) reload() {
	b.t.Helper()
	b.step("reload", chromedp.Reload())
}

// back goes back in the tab's history.
func (b *browser) back() {
	b.t.Helper()
	b.step("go back", chromedp.NavigateBack())
}

// expectAt fails unless the tab is at the PS path.
func (b *browser) expectAt(path string) {
	b.t.Helper()
	if loc := b.location(); loc != b.w.ps.URL(path) {
		b.t.Fatalf("the browser is at %s, want %s (a GET page after the form)", loc, b.w.ps.URL(path))
	}
}

// TestBrowserPostRedirectGet (issue 9 item 8): every form answers with a
// redirect to a GET page, so that after it a reload or Back shows a page,
// never a re-submission or a JSON 405: the decisions on an interaction
// (the Done page is the request's own URL), settings, blocking a provider
// and an administrator's invitation (its link shown once); a refusal
// comes back as an alert, not as the success notice.
func TestBrowserPostRedirectGet(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ps.CreatePerson(t, "alice", true)
	w.ps.CreatePerson(t, "bob", false)
	b := newBrowser(t, w)

	in := w.ask(t, "May I plan your trips?", "I book travel for you.")
	b.open(in.url + "?code=" + in.code)
	b.login("alice", pstest.TestPassword)
	b.expectHeading("An agent wants to act for you")
	path := strings.TrimPrefix(in.url, w.ps.Issuer)
	b.clickButton("Connect the agent")
	b.expectAt(path)
	b.expectHeading("Your agent has a question")
	b.checkPage("")
	b.fill("answer", "Yes, please.")
	b.clickButton("Send answer")
	b.expectAt(path)
	b.expectHeading("Done")
	b.checkPage("")
	b.reload()
	b.expectHeading("Done")
	b.expectText("You answered the agent. The agent has been told.")
	b.checkPage("")
	b.back()
	b.checkPage("")
	if p := w.poll(t, in.loc); p.status != http.StatusOK || p.body["answer"] != "Yes, please." {
		t.Fatalf("agent: the poll after the answer: %d %s", p.status, p.raw)
	}

	// Settings.
	b.open("/settings")
	b.fill("name", "Alice Liddell")
	b.clickButton("Save")
	b.expectAt("/settings")
	b.expectText("Saved.")
	b.checkPage("")
	b.reload()
	b.expectHeading("Settings")
	b.checkPage("")

	// Blocking an agent provider.
	b.open("/agents")
	b.fill("block-issuer", "https://blocked.test")
	b.clickButton("Block")
	b.expectAt("/agents")
	b.expectText("Provider blocked.", "https://blocked.test")
	b.checkPage("")
	b.reload()
	b.expectHeading("Connected agents")
	b.checkPage("")

	// An invitation: its link is shown once, after the redirect.
	b.open("/admin/persons")
	b.clickButton("Create invitation link")
	b.expectAt("/admin/persons")
	b.expectText("Invitation created.", "copy it now", "shown only this once")
	link := b.value("invite-link")
	if !strings.HasPrefix(link, w.ps.Issuer+"/invite/") {
		t.Fatalf("the invitation link field holds %q", link)
	}
	b.checkPage("")
	b.reload()
	b.expectHeading("People")
	if strings.Contains(b.text(), w.ps.Issuer+"/invite/") || strings.Contains(run(b, "read the page", chromedp.Evaluate[string](`document.documentElement.outerHTML`)), "/invite/") {
		t.Fatal("the invitation link is shown again after a reload")
	}
	// Issue 9 item 10: the open invitation is listed with its expiry and
	// can be revoked; its link then no longer works.
	b.expectText("Open invitations", "anyone with the link", "Expires")
	b.click(`form[action="/admin/invites/revoke"] button`)
	b.expectAt("/admin/persons")
	b.expectText("Invitation revoked: its link no longer works.", "No invitation is open.")
	b.checkPage("")
	b.reload()
	b.expectText("No invitation is open.")
	b.checkPage("")
	b.click(`button[aria-label="Disable bob"]`)
	b.expectAt("/admin/persons")
	b.expectText("Saved.")
	b.checkPage("")

	// A refusal is an alert written as a sentence, never the green
	// success notice (issue 9 item 9): alice is the last administrator.
	b.click(`button[aria-label="Disable alice"]`)
	b.expectAt("/admin/persons")
	alert := strings.TrimSpace(run(b, "read the alert", textOf(`[role="alert"]`)))
	if alert != "The last enabled administrator cannot be demoted or disabled." {
		t.Fatalf("the last-administrator refusal reads %q", alert)
	}
	if n := run(b, "count success notices", chromedp.Evaluate[int](`document.querySelectorAll(".flash").length`)); n != 0 {
		t.Fatal("a refusal is shown in the success notice")
	}
	b.checkPage("")
}

// TestBrowserHTMLErrors (issue 9 item 8): a browser gets HTML error pages
// (an unknown address is a 404 page, a GET on a form's address a 405 page,
// both with the site's layout), while API clients keep problem+json: a
// client that does not ask for HTML, and mission control whatever it asks.
func TestBrowserHTMLErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ps.CreatePerson(t, "alice", false)
	b := newBrowser(t, w)

	b.open("/no-such-page")
	b.expectHeading("Page not found")
	b.expectText("There is no page at this address", "Back to your home page")
	b.checkPageStatus("", http.StatusNotFound)

	b.open("/login")
	b.login("alice", pstest.TestPassword)
	b.expectHeading("Hello, Alice")
	b.open("/no-such-page")
	b.expectHeading("Page not found")
	b.expectText("Log out") // the logged-in layout
	b.checkPageStatus("", http.StatusNotFound)
	b.open("/settings/profile") // a form's address, opened directly
	b.expectHeading("This page cannot be opened directly")
	b.checkPageStatus("", http.StatusMethodNotAllowed)

	for _, c := range []struct {
		path, accept string
		status       int
		code         string
	}{
		{"/no-such-page", "", http.StatusNotFound, aauth.ErrNotFound},
		{"/no-such-page", "application/json", http.StatusNotFound, aauth.ErrNotFound},
		{"/settings/profile", "", http.StatusMethodNotAllowed, aauth.ErrMethodNotAllowed},
		{"/mission-control/nothing-here", "text/html", http.StatusNotFound, aauth.ErrNotFound},
	} {
		req, err := http.NewRequest(http.MethodGet, w.ps.URL(c.path), nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.accept != "" {
			req.Header.Set("Accept", c.accept)
		}
		res, err := w.env.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.status || res.Header.Get("Content-Type") != aauth.ProblemContentType {
			t.Errorf("GET %s (Accept %q): %d %s, want %d problem+json", c.path, c.accept, res.StatusCode, res.Header.Get("Content-Type"), c.status)
		}
	}
}

// TestBrowserPostRedirectGetCheckIsLive: the POST/redirect/GET check every
// browser test runs is live: a form (added by the test) whose POST is
// answered with a page, here the 404 page, is reported as a problem.
func TestBrowserPostRedirectGetCheckIsLive(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	b := newBrowser(t, w)
	b.open("/login")
	b.checkPage("")
	run(b, "add a form", chromedp.Evaluate[bool](`(() => {
		const f = document.createElement("form"); f.method = "post"; f.action = "/no-such-page";
		const btn = document.createElement("button"); btn.textContent = "Post it"; f.append(btn);
		document.querySelector("main").append(f);
		return true;
	})()`))
	b.clickButton("Post it")
	b.expectHeading("Page not found")
	found := false
	for _, p := range b.takeProblems(b.location(), http.StatusNotFound) {
		found = found || strings.Contains(p, "not a redirect to one (POST/redirect/GET)")
	}
	if !found {
		t.Fatal("a form answered with a page instead of a redirect was not reported")
	}
}
