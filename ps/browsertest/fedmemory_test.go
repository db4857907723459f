package browsertest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/aauth-ps/aauth-ps/conformance"
)

// TestBrowserFederationStandingAnswer (issue 11): on a mission-bound
// request, the AS's question page offers "Give the same answer if <AS>
// asks this again during this mission" (off by default); the person ticks
// it and answers; the same question on the mission's next request is
// answered by the PS without the person. The mission page lists the
// standing answer — which AS (verified), its question (the AS's words),
// the person's answer — with Forget; after Forget the person is asked
// again. Both pages audited with axe-core at every width, 390 px
// included; the box and Forget are used by keyboard only. PS-126, PS-282.
func TestBrowserFederationStandingAnswer(t *testing.T) {
	t.Parallel()
	m := approvedFedMission(t, "# Plan the offsite\n\nRead the team calendar.")
	w, as, b, s256, pt := m.w, m.as, m.b, m.s256, m.pt
	const question = "Which calendar: **work** or home?"
	ask := func() result {
		t.Helper()
		rt := m.rt(t, "calendar.read")
		as.Script(conformance.ASStep{Kind: conformance.ASClarification, Question: question})
		res, _ := w.postJSON(t, w.ps.URL("/token"), map[string]any{"resource_token": rt, "presented_token": pt,
			"capabilities": []string{"interaction"}})
		return res
	}
	await := func(r result, after string) {
		t.Helper()
		for i := 0; r.status == http.StatusAccepted && i < 30; i++ {
			time.Sleep(200 * time.Millisecond)
			r = w.poll(t, r.header.Get("Location"))
		}
		if at, _ := r.body["auth_token"].(string); r.status != http.StatusOK || at == "" {
			t.Fatalf("agent: the poll after %s: %d %s", after, r.status, r.raw)
		}
		if reqs := as.Requests(); reqs[len(reqs)-1].Clarification["clarification_response"] != "The work one." {
			t.Fatalf("after %s the AS received %v", after, reqs[len(reqs)-1].Clarification)
		}
	}

	in := w.expectInteraction(t, "a mission-bound request with the AS's question", ask())
	b.open(in.url + "?code=" + in.code)
	b.expectHeading("The resource's access server has a question")
	b.expectText("Give the same answer if " + as.Issuer() + " asks this again during this mission")
	if b.checked("#remember") {
		t.Fatal("the standing answer box is ticked by default")
	}
	b.audit("federation-question-keep", http.StatusOK)
	// By keyboard only (Tab, Space, Enter), each control with its focus
	// ring: the answer, the box, Send answer.
	b.tabUntil("TEXTAREA#answer", 80, false)
	b.typeText("The work one.")
	b.tabUntil("INPUT#remember", 5, false)
	b.step("press Space on the box", chromedp.KeyEvent(" "))
	if !b.checked("#remember") {
		t.Fatal("the standing answer box did not tick")
	}
	b.tabTo("Send answer", 5)
	b.pressEnter()
	await(w.poll(t, in.loc), "the person's answer")

	// The same question again: the PS answers, the person is not asked.
	r := ask()
	if req, _ := requirement(t, r); r.status == http.StatusAccepted && req != "approval" {
		t.Fatalf("agent: want the PS to answer from the standing answer, got %s: %s", req, r.raw)
	}
	await(r, "the standing answer")

	b.open("/missions/" + s256)
	b.expectText("Answers this server gives for you", as.Issuer(), "the access server's words, not verified", "Which calendar: work or home?",
		"The work one.")
	b.audit("mission-standing-answers", http.StatusOK)
	b.tabTo("Forget", 200)
	b.pressEnter()
	b.expectAt("/missions/" + s256)
	b.expectText("Forgotten: if the access server asks that again, you or the agent are asked.")
	b.checkPage("")
	b.reload()
	if strings.Contains(b.text(), "Answers this server gives for you") {
		t.Fatalf("after Forget and a reload the standing answer is listed again:\n%s", b.text())
	}
	w.expectInteraction(t, "the question after Forget", ask())
}
