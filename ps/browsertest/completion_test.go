package browsertest_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestBrowserCompletionFollowUp (issue 9 item 6, PS-204): on a completion
// review "Not done yet" is a follow-up question to the agent, not a
// refusal: the agent's poll returns the person's words as a clarification,
// the mission stays active meanwhile (a person token within it is still
// issued), the agent's answer appears on the review, the exchange is in the
// mission log, and the person can then accept.
func TestBrowserCompletionFollowUp(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ps.CreatePerson(t, "alice", false)
	b := newBrowser(t, w)
	bindInBrowser(t, w, b, "alice")

	const rs = "https://rs2.test"
	res, _ := w.postJSON(t, w.ps.URL("/mission"), map[string]any{"description": "# Tidy my calendar\n\nClear next week.",
		"resources": []string{rs}, "capabilities": []string{"interaction", "clarification"}})
	in := w.expectInteraction(t, "POST /mission", res)
	b.open(in.url + "?code=" + in.code)
	b.clickButton("Approve the mission")
	b.expectHeading("Done")
	final := w.poll(t, in.loc)
	id, _ := final.body["s256"].(string)
	if final.status != http.StatusOK || id == "" {
		t.Fatalf("agent: the poll after approval: %d %s", final.status, final.raw)
	}

	res, _ = w.postJSON(t, w.ps.URL("/mission/"+id), map[string]any{"action": "completion", "summary": "Next week is clear."})
	done := w.expectInteraction(t, "completion", res)
	b.open(done.url + "?code=" + done.code)
	b.expectHeading("Your agent says the mission is done")
	b.expectText("Accept: the mission is done", "Not done yet? Tell the agent what is missing", "Not done yet: send to the agent")
	if strings.Contains(b.text(), "Ask the agent a question first") {
		t.Fatal("the completion review offers a second question form besides Not done yet")
	}
	b.audit("completion-review-follow-up", http.StatusOK)

	const followUp = "The Friday meeting is still there."
	b.fill("question", followUp)
	b.clickButton("Not done yet: send to the agent")
	b.expectHeading("Waiting for the agent's answer")
	b.expectText(followUp)
	b.checkPage("")
	cl := w.poll(t, done.loc)
	if req, _ := requirement(t, cl); cl.status != http.StatusAccepted || req != "clarification" || cl.body["clarification"] != followUp {
		t.Fatalf("agent: the poll after Not done yet: %d requirement %q, body %s; want 202 clarification", cl.status, req, cl.raw)
	}
	if r, _ := w.postJSON(t, w.ps.URL("/person"), map[string]any{"resource": rs, "mission_s256": id}); r.status != http.StatusOK {
		t.Fatalf("agent: E3 within the mission while the follow-up is open: %d %s (the mission must stay active)", r.status, r.raw)
	}
	w.clarify(t, done.loc, "Moved the Friday meeting to the week after.")
	b.waitText("The agent answered", stepTimeout)
	b.expectHeading("Your agent says the mission is done")
	b.expectText("You asked: "+followUp, "Moved the Friday meeting to the week after.")
	b.audit("completion-review-answered", http.StatusOK)

	b.open("/missions/" + id)
	b.expectHeading("Mission")
	b.expectText("active")
	b.checkPage("")

	b.open(done.url)
	b.clickButton("Accept: the mission is done")
	b.expectHeading("Done")
	b.audit("done-completion", http.StatusOK)
	if end := w.poll(t, done.loc); end.status != http.StatusOK || end.body["termination_reason"] != "completed" {
		t.Fatalf("agent: the poll after accepting: %d %s", end.status, end.raw)
	}
	// The exchange joined the mission log with the decision.
	b.open("/missions/" + id)
	b.expectText("ended: completed", "Question to the agent, from you", followUp, "The agent's answer", "Moved the Friday meeting")
	b.checkPage("")
}
