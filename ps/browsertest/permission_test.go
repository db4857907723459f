package browsertest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserPermission: the permission endpoint with the person in a real
// browser (PS-214, PS-218). The bound agent asks to send an email; the
// page shows its words (action, description, parameters) in the agent's
// region, attributed to the agent; the person ticks "Remember my answer"
// and clicks Refuse (a second submit button of the same form); the agent's
// poll answers 200 denied with a reason, and the next identical request is
// denied at once from the remembered answer, without asking.
func TestBrowserPermission(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ps.CreatePerson(t, "alice", false)
	b := newBrowser(t, w)
	bindInBrowser(t, w, b, "alice")

	ask := map[string]any{"action": "SendEmail", "description": "Send the **itinerary** to Bob",
		"parameters": map[string]any{"to": "bob@example.com"}, "capabilities": []string{"interaction"}}
	res, _ := w.postJSON(t, w.ps.URL("/permission"), ask)
	in := w.expectInteraction(t, "permission request", res)
	b.open(in.url + "?code=" + in.code)
	b.expectHeading("Your agent asks for permission")
	agent := run(b, "read the agent's region", textOf("section.assert-agent"))
	for _, want := range []string{"What it wants to do, from " + agentID, "SendEmail", "Send the itinerary to Bob", "bob@example.com"} {
		if !strings.Contains(agent, want) {
			t.Fatalf("the agent's region lacks %q:\n%s", want, agent)
		}
	}
	if ps := run(b, "read the PS's region", textOf("section.assert-ps")); strings.Contains(ps, "itinerary") {
		t.Fatal("the agent's words appear in the PS's region")
	}
	b.audit("permission-consent", http.StatusOK)
	b.step("tick remember", chromedp.Click(chromedp.ID("remember"), chromedp.NodeVisible))
	b.clickButton("Refuse")
	b.expectHeading("Done")
	b.audit("done-permission", http.StatusOK)

	p := w.poll(t, in.loc)
	if p.status != http.StatusOK || p.body["permission"] != "denied" || p.body["reason"] == nil {
		t.Fatalf("agent: the poll after the refusal: %d %s, want 200 denied with a reason", p.status, p.raw)
	}
	res, _ = w.postJSON(t, w.ps.URL("/permission"), ask)
	if res.status != http.StatusOK || res.body["permission"] != "denied" {
		t.Fatalf("the remembered refusal: %d %s, want 200 denied at once", res.status, res.raw)
	}
}
