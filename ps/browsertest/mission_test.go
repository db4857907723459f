package browsertest_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/dunglas/httpsfv"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// The Japan trip: what the agent proposes, and what the person makes of it.
const (
	proposedDescription = "# Plan the Japan trip\n\nBook **flights** to Tokyo and a *hotel* in Kyoto for April."
	editedDescription   = "# Plan the Japan trip\n\nBook flights to Tokyo only. I will choose the hotel myself."
	updateDescription   = "# Plan the Japan trip\n\nThe direct flight is sold out: I will book the one via Seoul."
	completionSummary   = "Flights booked: **TK 52** on April 3, returning April 10."
)

// s256 is the base64url SHA-256 of b, as the mission layer names things.
func s256(b []byte) string {
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// TestBrowserMissionLifecycle is the mission flow of TestMissionLifecycle
// (ps/app) with the person in a real browser: the bound agent proposes a
// mission; the person opens the link, asks a clarification question, reads
// the answer, edits the description, drops a tool and a resource, picks an
// expiry and approves; the agent checks s256 over the returned bytes, gets
// a person token naming the mission, updates the mission and proposes its
// completion, which the person accepts after reviewing what they approved;
// afterwards every mission-bound request is refused, and the home page and
// the mission page show the ended mission and its log in order.
func TestBrowserMissionLifecycle(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ps.CreatePerson(t, "alice", false)
	b := newBrowser(t, w)
	bindInBrowser(t, w, b, "alice")

	// The agent proposes.
	res, _ := w.postJSON(t, w.ps.URL("/mission"), map[string]any{
		"description": proposedDescription,
		"tools": []map[string]string{
			{"name": "WebSearch", "description": "Search the web for options"},
			{"name": "BookHotel", "description": "Book a hotel room"},
		},
		"resources":    []string{"https://flights.test", "https://hotels.test"},
		"capabilities": []string{"interaction", "clarification"},
	})
	in := w.expectInteraction(t, "POST /mission", res)

	// The person reviews the proposal.
	b.open(in.url + "?code=" + in.code)
	b.expectHeading("Your agent proposes a mission")
	b.expectText("Proposed mission, from "+agentID, "Plan the Japan trip", "WebSearch", "Search the web for options",
		"BookHotel", "https://flights.test", "https://hotels.test", "Approve the mission", "Ask the agent a question first")
	if got := b.value("mission-description"); got != proposedDescription {
		t.Fatalf("the description field holds %q, want the proposal %q", got, proposedDescription)
	}
	for _, css := range []string{`input[name="tools"][value="WebSearch"]`, `input[name="tools"][value="BookHotel"]`,
		`input[name="resources"][value="https://flights.test"]`, `input[name="resources"][value="https://hotels.test"]`} {
		if !b.checked(css) {
			t.Fatalf("%s is not ticked at first", css)
		}
	}
	b.audit("mission-review", http.StatusOK)

	// A clarification question, answered by the agent.
	const question = "Which dates, and what is the hotel budget?"
	b.openDetails("Ask the agent a question first")
	b.fill("question", question)
	b.clickButton("Send question")
	b.expectHeading("Waiting for the agent's answer")
	b.expectText(question, "Waiting for the agent to answer")
	b.checkPage("")
	cl := w.poll(t, in.loc)
	if req, _ := requirement(t, cl); req != "clarification" || cl.body["clarification"] != question {
		t.Fatalf("agent: the poll after the question: requirement %q, body %s", req, cl.raw)
	}
	w.clarify(t, in.loc, "April 3 to 10; at most **20,000 yen** a night.")
	b.waitText("The agent answered", stepTimeout)
	b.expectHeading("Your agent proposes a mission")
	b.expectText("You asked: "+question, "The agent answered (not verified):", "April 3 to 10; at most 20,000 yen a night.")
	b.audit("mission-clarification", http.StatusOK)

	// The person edits: a new description, one tool and one resource
	// fewer, an expiry in 7 days.
	b.fill("mission-description", editedDescription)
	b.step("untick BookHotel", chromedp.Click(chromedp.CSS(`input[name="tools"][value="BookHotel"]`), chromedp.NodeVisible))
	b.step("untick https://hotels.test", chromedp.Click(chromedp.CSS(`input[name="resources"][value="https://hotels.test"]`), chromedp.NodeVisible))
	// The review starts bounded: 7 days is the default end (issue 9 item
	// 3); the person moves away from it and back with the keyboard.
	if got := b.value("expires"); got != "7d" {
		t.Fatalf("the review's default end is %q, want 7d", got)
	}
	b.step("choose in 1 day", chromedp.Focus(chromedp.ID("expires")), chromedp.KeyEvent(kb.ArrowUp))
	if got := b.value("expires"); got != "1d" {
		t.Fatalf("the expiry is %q after choosing in 1 day", got)
	}
	b.step("choose in 7 days", chromedp.Focus(chromedp.ID("expires")), chromedp.KeyEvent(kb.ArrowDown))
	if got := b.value("expires"); got != "7d" {
		t.Fatalf("the expiry is %q after choosing in 7 days", got)
	}
	if got := strings.TrimSpace(run(b, "read the expiry", chromedp.Evaluate[string](
		`document.getElementById("expires").selectedOptions[0].textContent`))); got != "in 7 days" {
		t.Fatalf("the chosen expiry reads %q", got)
	}
	if got := b.value("mission-description"); got != editedDescription {
		t.Fatalf("the description field holds %q after editing, want %q", got, editedDescription)
	}
	if b.checked(`input[name="tools"][value="BookHotel"]`) || !b.checked(`input[name="tools"][value="WebSearch"]`) ||
		b.checked(`input[name="resources"][value="https://hotels.test"]`) || !b.checked(`input[name="resources"][value="https://flights.test"]`) {
		t.Fatal("the tool and resource checkboxes are not as the person left them")
	}
	approvedAt := w.clock.Now()
	b.clickButton("Approve the mission")
	b.expectHeading("Done")
	b.checkPage("")

	// The agent receives the mission and checks it.
	final := w.poll(t, in.loc)
	if final.status != http.StatusOK {
		t.Fatalf("agent: the poll after approval: %d %s", final.status, final.raw)
	}
	id, _ := final.body["s256"].(string)
	enc, _ := final.body["mission"].(string)
	blob, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || id == "" {
		t.Fatalf("agent: approval body %s: %v", final.raw, err)
	}
	if s256(blob) != id {
		t.Fatalf("s256 %s is not the SHA-256 of the returned mission bytes (%s)", id, s256(blob))
	}
	var bl struct {
		Approver    string `json:"approver"`
		Agent       string `json:"agent"`
		Description string `json:"description"`
		Tools       []struct {
			Name string `json:"name"`
		} `json:"approved_tools"`
		Resources []string `json:"approved_resources"`
		ExpiresAt string   `json:"expires_at"`
	}
	if err := json.Unmarshal(blob, &bl); err != nil {
		t.Fatalf("mission blob %s: %v", blob, err)
	}
	if bl.Approver != w.ps.Issuer || bl.Agent != agentID || bl.Description != editedDescription {
		t.Fatalf("the mission blob does not reflect the approval: %s", blob)
	}
	if len(bl.Tools) != 1 || bl.Tools[0].Name != "WebSearch" || !slices.Equal(bl.Resources, []string{"https://flights.test"}) {
		t.Fatalf("the mission blob keeps other tools or resources than the person did: %s", blob)
	}
	exp, err := time.Parse(time.RFC3339, bl.ExpiresAt)
	if want := approvedAt.Add(7 * 24 * time.Hour); err != nil || exp.Before(want.Add(-time.Minute)) || exp.After(want.Add(time.Minute)) {
		t.Fatalf("expires_at %q, want about %s (in 7 days): %v", bl.ExpiresAt, want.UTC().Format(time.RFC3339), err)
	}
	d, err := httpsfv.UnmarshalDictionary(final.header.Values("AAuth-Mission"))
	if err != nil {
		t.Fatalf("AAuth-Mission %q: %v", final.header.Values("AAuth-Mission"), err)
	}
	if m, ok := d.Get("approver"); !ok || m.(httpsfv.Item).Value != w.ps.Issuer {
		t.Fatalf("AAuth-Mission %q: approver is not %s", final.header.Values("AAuth-Mission"), w.ps.Issuer)
	} else if v, _ := m.(httpsfv.Item).Params.Get("s256"); v != id {
		t.Fatalf("AAuth-Mission %q: s256 is not %s", final.header.Values("AAuth-Mission"), id)
	}
	if pts, _ := final.body["person_tokens"].(map[string]any); len(pts) != 1 || pts["https://flights.test"] == nil {
		t.Fatalf("person_tokens in the approval = %v, want one for the kept resource", final.body["person_tokens"])
	}

	// The home page lists the mission as active.
	b.open("/")
	b.expectHeading("Hello, Alice")
	b.expectText("Missions", "Plan the Japan trip", "active", "by "+agentID)
	b.audit("mission-approved-home", http.StatusOK)

	// A person token naming the mission, at once for the approved resource.
	pt, _ := w.postJSON(t, w.ps.URL("/person"), map[string]any{"resource": "https://flights.test", "mission_s256": id,
		"justification": "Booking the flight."})
	if pt.status != http.StatusOK || pt.body["person_token"] == nil || pt.body["expires_in"] == nil {
		t.Fatalf("agent: E3 for the approved resource: %d %s", pt.status, pt.raw)
	}
	h, c := claims(t, pt.body["person_token"].(string))
	if h["typ"] != aauth.TypPersonToken || c["aud"] != "https://flights.test" || c["mission_s256"] != id || c["iss"] != w.ps.Issuer {
		t.Fatalf("the person token does not name the mission: %v %v", h, c)
	}

	// An update: the returned digest is over the exact request bytes.
	up, upBody := w.postJSON(t, w.ps.URL("/mission/"+id), map[string]any{"action": "update", "description": updateDescription})
	if up.status != http.StatusOK || up.body["s256"] != s256(upBody) {
		t.Fatalf("agent: update: %d %s; want s256 %s", up.status, up.raw, s256(upBody))
	}

	// The mission page while it is active.
	b.open("/missions/" + id)
	b.expectHeading("Mission")
	b.expectText("active", "What you approved", "Book flights to Tokyo only.", "WebSearch", "https://flights.test",
		"What the agent reported since", "The direct flight is sold out", "Revoke the mission")
	expectAgentReport(t, b, "The direct flight is sold out: I will book the one via Seoul.")
	b.audit("mission-page", http.StatusOK)

	// Completion: the person reviews what they approved and accepts.
	res, _ = w.postJSON(t, w.ps.URL("/mission/"+id), map[string]any{"action": "completion", "summary": completionSummary})
	done := w.expectInteraction(t, "completion", res)
	b.open(done.url + "?code=" + done.code)
	b.expectHeading("Your agent says the mission is done")
	b.expectText("What you approved", "Book flights to Tokyo only. I will choose the hotel myself.",
		"The direct flight is sold out: I will book the one via Seoul.", "Summary of the work", "Flights booked: TK 52 on April 3")
	if strings.Contains(b.text(), "BookHotel") {
		t.Fatal("the completion review shows a tool the person removed")
	}
	expectAgentReport(t, b, "The direct flight is sold out: I will book the one via Seoul.")
	b.audit("completion-review", http.StatusOK)
	b.clickButton("Accept: the mission is done")
	b.expectHeading("Done")
	b.checkPage("")
	end := w.poll(t, done.loc)
	var endBody map[string]any
	_ = json.Unmarshal(end.raw, &endBody)
	if end.status != http.StatusOK || len(endBody) != 2 || endBody["mission_status"] != "terminated" || endBody["termination_reason"] != "completed" {
		t.Fatalf("agent: the poll after completion: %d %s", end.status, end.raw)
	}

	// The mission is over for every mission-bound request.
	r, _ := w.postJSON(t, w.ps.URL("/person"), map[string]any{"resource": "https://flights.test", "mission_s256": id})
	expectTerminated(t, "E3 with mission_s256", r, "completed")
	r, _ = w.postJSON(t, w.ps.URL("/mission/"+id), map[string]any{"action": "update", "description": "One more thing."})
	expectTerminated(t, "an update", r, "completed")
	r, _ = w.postJSON(t, w.ps.URL("/interaction"), map[string]any{"type": "question", "question": "Anything else?",
		"mission_s256": id, "capabilities": []string{"interaction"}})
	expectTerminated(t, "an interaction", r, "completed")

	// The home page lists it as ended; its page shows the log in order.
	b.open("/")
	b.expectText("Plan the Japan trip", "ended: completed")
	// A completed mission ended as planned: a neutral badge, not the red
	// of a stopped one (issue 9 item 11).
	if cls := run(b, "read the ended badge", chromedp.Evaluate[string](
		`[...document.querySelectorAll(".badge")].find(e => e.textContent.includes("ended: completed"))?.className || ""`)); cls != "badge ended" {
		t.Fatalf("the completed mission's badge has class %q, want the neutral badge ended", cls)
	}
	b.checkPage("")
	b.open("/missions/" + id)
	b.expectHeading("Mission")
	b.expectText("ended: completed", "Mission log", "Flights booked: TK 52")
	if strings.Contains(b.text(), "Revoke the mission") {
		t.Fatal("an ended mission still offers to revoke it")
	}
	// Each entry starts with its time and says in plain words what it is
	// and who it is from (issue 9 item 11: no "person_token, by ps").
	log := run(b, "read the mission log", chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("ol.log > li")].map(li => (li.querySelector(".meta > time[datetime]:first-child") ? "" : "(no time) ") +
			li.querySelector(".meta").innerText.replace(/\s+/g, " ").trim())`))
	var kinds []string
	for _, e := range log {
		at, k, _ := strings.Cut(e, " · ")
		if strings.HasPrefix(at, "(no time)") {
			t.Fatalf("the mission log entry %q does not start with its time", e)
		}
		kinds = append(kinds, k)
	}
	want := []string{"Proposed by the agent", "Question to the agent, from you", "The agent's answer", "Approved by you",
		"The agent was allowed to act as you", "The agent's reason for acting as you", "The agent was allowed to act as you",
		"Update reported by the agent", "The agent says the mission is done", "Ended by you"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("the mission log reads\n  %s\nwant the kinds\n  %s", strings.Join(log, "\n  "), strings.Join(want, "\n  "))
	}
	// The lines this PS wrote read as plain words, not the stored form.
	logText := run(b, "read the mission log's text", textOf("ol.log"))
	for _, internal := range []string{"Person token issued", "Mission ended:", "person_token"} {
		if strings.Contains(logText, internal) {
			t.Fatalf("the mission log shows the internal line %q:\n%s", internal, logText)
		}
	}
	if !strings.Contains(logText, "It may act as you at https://flights.test.") || !strings.Contains(logText, "The mission is done") {
		t.Fatalf("the mission log does not say in plain words what the PS did:\n%s", logText)
	}
	b.audit("mission-ended", http.StatusOK)
}

// TestBrowserPersonTokenConsentAndRevoke: the first time the bound agent
// wants to act at a resource as the person (E3, no mission), the person is
// asked; the resource publishes no metadata, and the page says so. The
// person approves with the keyboard only and the agent's poll returns the
// person token. Then a mission approved in the browser is revoked on its
// page, and the agent's E3 naming it is refused.
func TestBrowserPersonTokenConsentAndRevoke(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ps.CreatePerson(t, "alice", false)
	b := newBrowser(t, w)
	bindInBrowser(t, w, b, "alice")

	const rs2 = "https://rs2.test" // no server: it publishes no metadata
	res, _ := w.postJSON(t, w.ps.URL("/person"), map[string]any{"resource": rs2,
		"justification": "I need your **calendar** to find free days.", "capabilities": []string{"interaction"}})
	in := w.expectInteraction(t, "E3 for a new resource", res)
	b.open(in.url + "?code=" + in.code)
	b.expectHeading("Your agent wants to act as you")
	b.expectText("What the resource says about itself", rs2, "This resource publishes no metadata",
		"Justification, from "+agentID, "I need your calendar to find free days.", "Let this agent act at "+rs2+" as you?")
	if strong := strings.TrimSpace(run(b, "read the justification's emphasis", textOf("figure.said blockquote strong"))); strong != "calendar" {
		t.Fatalf("the justification's Markdown is not rendered: <strong> = %q", strong)
	}
	b.audit("person-token-consent", http.StatusOK)
	// Keyboard only: from the top of the page, Tab to Approve, press Enter.
	b.tabTo("Allow", 40)
	b.pressEnter()
	b.expectHeading("Done")
	b.audit("done-person-token", http.StatusOK)

	p := w.poll(t, in.loc)
	var body map[string]any
	_ = json.Unmarshal(p.raw, &body)
	tok, _ := body["person_token"].(string)
	if exp, _ := body["expires_in"].(float64); p.status != http.StatusOK || len(body) != 2 || tok == "" || exp <= 0 {
		t.Fatalf("agent: the poll after consent: %d %s; want 200 {person_token, expires_in}", p.status, p.raw)
	}
	h, c := claims(t, tok)
	if h["typ"] != aauth.TypPersonToken || c["aud"] != rs2 || c["iss"] != w.ps.Issuer || c["mission_s256"] != nil {
		t.Fatalf("the person token: %v %v", h, c)
	}
	// The consent is remembered: the next E3 is answered at once.
	if again, _ := w.postJSON(t, w.ps.URL("/person"), map[string]any{"resource": rs2}); again.status != http.StatusOK || again.body["person_token"] == nil {
		t.Fatalf("agent: E3 after consent: %d %s", again.status, again.raw)
	}

	// A mission, approved as proposed, then revoked on its page.
	res, _ = w.postJSON(t, w.ps.URL("/mission"), map[string]any{
		"description": "# Weekly groceries\n\nOrder the usual basket every Friday.",
		"tools":       []map[string]string{{"name": "Order"}, {"name": "Pay", "description": "Pay with the saved card"}},
		"resources":   []string{rs2}, "capabilities": []string{"interaction"}})
	in = w.expectInteraction(t, "POST /mission", res)
	b.open(in.url + "?code=" + in.code)
	b.expectHeading("Your agent proposes a mission")
	b.expectText(rs2+" (publishes no metadata)", "Pay — Pay with the saved card")
	b.checkPage("")
	b.clickButton("Approve the mission")
	b.expectHeading("Done")
	b.checkPage("")
	final := w.poll(t, in.loc)
	id, _ := final.body["s256"].(string)
	if final.status != http.StatusOK || id == "" {
		t.Fatalf("agent: the poll after approval: %d %s", final.status, final.raw)
	}
	if r, _ := w.postJSON(t, w.ps.URL("/person"), map[string]any{"resource": rs2, "mission_s256": id}); r.status != http.StatusOK {
		t.Fatalf("agent: E3 within the mission: %d %s", r.status, r.raw)
	}

	b.open("/missions/" + id)
	b.expectHeading("Mission")
	// Approved as proposed, the mission has the default bounded end (7
	// days; before issue 9 it read "when completed or revoked").
	b.expectText("active", "Weekly groceries", "Order, Pay")
	ends := run(b, "read the mission's end", chromedp.Evaluate[string](
		`(() => { for (const dt of document.querySelectorAll(".assert-mission dt")) { if (dt.textContent.trim() === "Ends") { const t = dt.nextElementSibling.querySelector("time"); return t ? t.getAttribute("datetime") : dt.nextElementSibling.textContent.trim(); } } return ""; })()`))
	if end, err := time.Parse(time.RFC3339, ends); err != nil || end.Sub(w.clock.Now()) < 6*24*time.Hour || end.Sub(w.clock.Now()) > 8*24*time.Hour {
		t.Fatalf("a mission approved as proposed ends %q, want about 7 days from now", ends)
	}
	b.checkPage("")
	b.clickButton("Revoke the mission")
	b.expectHeading("Mission")
	b.expectText("Mission revoked.", "ended: revoked", "Ended by you")
	if strings.Contains(b.text(), "Revoke the mission") {
		t.Fatal("a revoked mission still offers to revoke it")
	}
	b.audit("mission-revoked", http.StatusOK)

	r, _ := w.postJSON(t, w.ps.URL("/person"), map[string]any{"resource": rs2, "mission_s256": id})
	expectTerminated(t, "E3 with the revoked mission", r, "revoked")
}
