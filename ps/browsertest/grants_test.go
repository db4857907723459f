package browsertest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserGrantsRemove (issue 9 item 5, must-show 1): a person-token
// consent (PS-070) given in the browser is listed on "What your agents can
// access", reached from the navigation; at 390 px the page is no wider
// than the phone and its Remove button is on screen; it shows when the
// grant was last used (issue 9 item 5); removing it comes
// back to the page (POST/redirect/GET) without the grant, and the agent's
// next person-token request asks the person again (202).
func TestBrowserGrantsRemove(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ps.CreatePerson(t, "alice", false)
	b := newBrowser(t, w)
	bindInBrowser(t, w, b, "alice")

	const rs2 = "https://rs2.test" // no server: it publishes no metadata
	res, _ := w.postJSON(t, w.ps.URL("/person"), map[string]any{"resource": rs2, "capabilities": []string{"interaction"}})
	in := w.expectInteraction(t, "E3 for a new resource", res)
	b.open(in.url + "?code=" + in.code)
	b.clickButton("Allow")
	b.expectHeading("Done")
	if p := w.poll(t, in.loc); p.status != http.StatusOK {
		t.Fatalf("agent: the poll after consent: %d %s", p.status, p.raw)
	}

	b.open("/")
	b.click(`nav.wide a[href="/access"]`)
	b.expectHeading("What your agents can access")
	b.expectText(agentID, rs2, "Person tokens", "Standing permissions", "For a mission only", "No active mission gives an agent access.")
	// Last use: the token issued on the consent, recorded with it.
	if used := strings.TrimSpace(run(b, "read the last use", textOf(`td[data-label="Last used"]`))); used == "" || used == "never" {
		t.Fatalf("the grant's last use reads %q, want the issuance's time", used)
	}
	b.audit("grants", http.StatusOK)

	b.setViewport(phoneW, phoneH)
	b.open("/access")
	b.checkPage("")
	b.expectNoHorizontalOverflow(phoneW)
	right := run(b, "measure the Remove button", chromedp.Evaluate[float64](
		`document.querySelector('form[action="/access/remove"] button').getBoundingClientRect().right`))
	if right <= 0 || right > float64(phoneW) {
		t.Fatalf("at %d px the Remove button ends at %.0f px: off screen", phoneW, right)
	}
	b.clickButton("Remove")
	b.expectAt("/access")
	b.expectText("Access removed", "No agent holds a standing permission from you.")
	b.checkPage("")
	b.reload()
	b.expectHeading("What your agents can access")
	if text := b.text(); strings.Contains(text, rs2) || !strings.Contains(text, "No agent holds a standing permission") {
		t.Fatalf("after a reload the removed grant is listed again:\n%s", text)
	}

	again, _ := w.postJSON(t, w.ps.URL("/person"), map[string]any{"resource": rs2, "capabilities": []string{"interaction"}})
	w.expectInteraction(t, "E3 after the grant was removed", again)
}
