package browsertest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserMissionSuspendResumeRevoke (issue 10, design §5): on the
// person's mission page in Chromium — at every width, axe-clean — the
// person suspends the mission (the agent's next request is held: 202,
// requirement=approval), sees it suspended with the time it would end,
// resumes it (the held request gets its person token), then revokes it
// (the agent is refused). Each button posts and is answered with a
// redirect back to the page, which says what happened.
func TestBrowserMissionSuspendResumeRevoke(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ps.CreatePerson(t, "alice", false)
	b := newBrowser(t, w)
	bindInBrowser(t, w, b, "alice")

	res, _ := w.postJSON(t, w.ps.URL("/mission"), map[string]any{"description": "# Plan the Japan trip",
		"resources": []string{"https://flights.test"}, "capabilities": []string{"interaction"}})
	in := w.expectInteraction(t, "POST /mission", res)
	b.open(in.url + "?code=" + in.code)
	b.clickButton("Approve the mission")
	b.expectHeading("Done")
	final := w.poll(t, in.loc)
	id, _ := final.body["s256"].(string)
	if final.status != http.StatusOK || id == "" {
		t.Fatalf("approval: %d %s", final.status, final.raw)
	}

	b.open("/missions/" + id)
	b.expectText("active", "Suspend the mission", "Revoke the mission")
	b.audit("mission-page-active", http.StatusOK)
	b.clickButton("Suspend the mission")
	b.expectHeading("Mission")
	b.expectText("Mission suspended.", "suspended", "the agent's new requests wait", "Resume the mission", "Suspended by you")
	if strings.Contains(b.text(), "Suspend the mission") {
		t.Fatal("a suspended mission still offers to suspend it")
	}
	b.audit("mission-page-suspended", http.StatusOK)

	held, _ := w.postJSON(t, w.ps.URL("/person"), map[string]any{"resource": "https://flights.test", "mission_s256": id})
	if req, _ := requirement(t, held); held.status != http.StatusAccepted || req != "approval" || held.header.Get("Location") == "" {
		t.Fatalf("agent: E3 under the suspended mission: %d %q %s", held.status, req, held.raw)
	}

	// Home: the mission reads suspended, and the held request is not
	// something the person is asked to decide.
	heldID := held.header.Get("Location")[strings.LastIndex(held.header.Get("Location"), "/")+1:]
	b.open("/")
	b.expectText("Plan the Japan trip", "suspended")
	if listed := run(b, "look for the held request", chromedp.Evaluate[bool](
		`document.querySelector('a[href*="`+heldID+`"]') !== null`)); listed {
		t.Fatal("the held request is listed as waiting for the person")
	}
	b.checkPage("")
	b.open("/missions/" + id)
	b.clickButton("Resume the mission")
	b.expectText("Mission resumed.", "active", "Suspend the mission", "Resumed by you")
	b.checkPage("")
	got := w.poll(t, held.header.Get("Location"))
	if got.status != http.StatusOK || got.body["person_token"] == nil {
		t.Fatalf("agent: the held request after the resumption: %d %s", got.status, got.raw)
	}

	b.clickButton("Revoke the mission")
	b.expectText("Mission revoked.", "ended: revoked", "Ended by you")
	if txt := b.text(); strings.Contains(txt, "Suspend the mission") || strings.Contains(txt, "Revoke the mission") {
		t.Fatal("an ended mission still offers lifecycle buttons")
	}
	b.audit("mission-page-revoked", http.StatusOK)
	r, _ := w.postJSON(t, w.ps.URL("/person"), map[string]any{"resource": "https://flights.test", "mission_s256": id})
	expectTerminated(t, "E3 after revoking", r, "revoked")
}
