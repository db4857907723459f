package browsertest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserStandingApproval (issue 10, the person-approved template) at
// 390 px: the mission consent page offers "Let missions like this start
// without asking me" (axe-core clean); ticking it and approving makes the
// agent's next proposal like it start at once (200); /access lists the
// standing approval (axe-core clean, no horizontal overflow) and removing
// it comes back to /access (POST/redirect/GET) without it, after which
// the same proposal asks the person again (202).
func TestBrowserStandingApproval(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ps.CreatePerson(t, "alice", false)
	b := newBrowser(t, w)
	bindInBrowser(t, w, b, "alice")
	b.setViewport(phoneW, phoneH)

	const rs2 = "https://rs2.test"
	proposal := map[string]any{"description": "# Weekly groceries", "resources": []string{rs2}, "capabilities": []string{"interaction"}}
	res, _ := w.postJSON(t, w.ps.URL("/mission"), proposal)
	in := w.expectInteraction(t, "POST /mission", res)
	b.open(in.url + "?code=" + in.code)
	b.expectHeading("Your agent proposes a mission")
	b.expectText("Let missions like this start without asking me")
	b.checkPage("")
	b.expectAccessible(phoneW)
	b.expectNoHorizontalOverflow(phoneW)
	b.step("tick the standing approval", chromedp.Click(chromedp.ID("remember"), chromedp.NodeVisible))
	if !b.checked("#remember") {
		t.Fatal("the standing approval box did not tick")
	}
	b.clickButton("Approve the mission")
	b.expectHeading("Done")
	if final := w.poll(t, in.loc); final.status != http.StatusOK {
		t.Fatalf("agent: the poll after approval: %d %s", final.status, final.raw)
	}

	if again, _ := w.postJSON(t, w.ps.URL("/mission"), proposal); again.status != http.StatusOK || again.body["s256"] == nil {
		t.Fatalf("agent: a proposal like the approved one: %d %s, want 200 at once", again.status, again.raw)
	}

	b.open("/access")
	b.expectHeading("What your agents can access")
	b.expectText("Missions that start without asking you", agentID, rs2)
	b.checkPage("")
	b.expectAccessible(phoneW)
	b.expectNoHorizontalOverflow(phoneW)
	b.click(`form[action="/access/standing/remove"] button`)
	b.expectAt("/access")
	b.expectText("Removed: the agent's next missions like that one ask you first.", "None: every mission asks you first.")
	b.checkPage("")
	b.reload()
	if text := b.text(); !strings.Contains(text, "None: every mission asks you first.") {
		t.Fatalf("after a reload the removed standing approval is listed again:\n%s", text)
	}

	again, _ := w.postJSON(t, w.ps.URL("/mission"), proposal)
	w.expectInteraction(t, "a proposal after the standing approval was removed", again)
}
