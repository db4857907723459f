package browsertest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// post is the agent's signed POST of a JSON body. A second passes first
// (on the PS clock and in the signature's created), so that two equal
// requests are two signatures, not a replay of one.
func (w *world) post(t *testing.T, url string, body []byte) result {
	t.Helper()
	w.clock.Advance(time.Second)
	return w.do(t, http.MethodPost, url, body)
}

// postJSON is post with v marshalled; it returns the exact bytes sent too.
func (w *world) postJSON(t *testing.T, url string, v any) (result, []byte) {
	t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return w.post(t, url, body), body
}

// expectInteraction checks a 202 that sends the agent's person to the PS
// (AAuth-Requirement interaction with url and code, Location to poll).
func (w *world) expectInteraction(t *testing.T, what string, res result) interaction {
	t.Helper()
	if res.status != http.StatusAccepted {
		t.Fatalf("agent: %s: status %d, want 202; body %s", what, res.status, res.raw)
	}
	req, params := requirement(t, res)
	if req != "interaction" || !strings.HasPrefix(params["url"], w.ps.Issuer+"/interact/") || params["code"] == "" {
		t.Fatalf("agent: %s: AAuth-Requirement %s %v", what, req, params)
	}
	loc := res.header.Get("Location")
	if !strings.HasPrefix(loc, w.ps.Issuer+"/pending/") {
		t.Fatalf("agent: %s: Location %q", what, loc)
	}
	return interaction{loc: loc, url: params["url"], code: params["code"]}
}

// expectTerminated checks a 403 mission_terminated problem with reason.
func expectTerminated(t *testing.T, what string, r result, reason string) {
	t.Helper()
	if r.status != http.StatusForbidden || r.body["error"] != aauth.ErrMissionTerminated ||
		r.body["mission_status"] != "terminated" || r.body["termination_reason"] != reason {
		t.Fatalf("agent: %s after the mission ended: %d %s; want 403 mission_terminated (%s)", what, r.status, r.raw, reason)
	}
	if ct := r.header.Get("Content-Type"); ct != aauth.ProblemContentType {
		t.Fatalf("agent: %s: Content-Type %q, want problem+json", what, ct)
	}
}

// claims decodes a JWT without verifying it.
func claims(t *testing.T, tok string) (header, payload map[string]any) {
	t.Helper()
	h, c, err := conformance.DecodeJWT(tok)
	if err != nil {
		t.Fatalf("decode %q: %v", tok, err)
	}
	return h, c
}

// bindInBrowser connects the agent to username through the browser: the
// agent asks a question, the person opens the link (logging in when the
// browser has no session), connects the agent and answers.
func bindInBrowser(t *testing.T, w *world, b *browser, username string) {
	t.Helper()
	in := w.ask(t, "May I plan your trips?", "I book travel for you.")
	b.open(in.url + "?code=" + in.code)
	if strings.HasPrefix(b.location(), w.ps.URL("/login?")) {
		b.expectHeading("Log in")
		b.checkPage("")
		b.login(username, pstest.TestPassword)
	}
	b.expectHeading("An agent wants to act for you")
	b.checkPage("")
	b.clickButton("Connect the agent")
	b.expectHeading("Your agent has a question")
	b.checkPage("")
	b.fill("answer", "Yes, please.")
	b.clickButton("Send answer")
	b.expectHeading("Done")
	b.checkPage("")
	if p := w.poll(t, in.loc); p.status != http.StatusOK || p.body["answer"] != "Yes, please." {
		t.Fatalf("agent: binding poll: %d %s", p.status, p.raw)
	}
}

// checked reports whether the checkbox matching css is ticked.
func (b *browser) checked(css string) bool {
	b.t.Helper()
	return run(b, "read "+css, chromedp.Evaluate[bool](`document.querySelector(`+jsString(css)+`).checked`))
}

// value reads the value of the form field with id.
func (b *browser) value(id string) string {
	b.t.Helper()
	return run(b, "read #"+id, chromedp.Value(chromedp.ID(id)))
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// expectAgentReport checks that text, a mission update from the agent, is
// shown as the agent's (in an agent region, labelled "Reported by the
// agent" with a time) and nowhere inside "What you approved" (issue 9
// item 1).
func expectAgentReport(t *testing.T, b *browser, text string) {
	t.Helper()
	type placement struct {
		InApproved bool   `json:"inApproved"`
		Caption    string `json:"caption"`
		Time       string `json:"time"`
	}
	where := run(b, "find the agent's report", chromedp.Evaluate[placement](`(() => {
		const text = `+jsString(text)+`;
		const approved = [...document.querySelectorAll(".assert-mission")].some(s => s.innerText.includes(text));
		const fig = [...document.querySelectorAll(".assert-agent figure.said")].find(f => f.querySelector("blockquote").innerText.includes(text));
		return {inApproved: approved, caption: fig ? fig.querySelector("figcaption").innerText.trim() : "",
			time: fig ? (fig.querySelector("figcaption time")?.getAttribute("datetime") || "") : ""};
	})()`))
	if where.InApproved {
		t.Fatalf("the agent's update %q is shown inside What you approved", text)
	}
	if !strings.HasPrefix(where.Caption, "Reported by the agent") || where.Time == "" {
		t.Fatalf("the agent's update %q is not labelled as reported by the agent with its time (caption %q, time %q)", text, where.Caption, where.Time)
	}
}

// resourceToken mints rs's resource token for presented with scope, issued
// at the PS clock; edit, when given, changes the spec first.
func (w *world) resourceToken(t *testing.T, rs *conformance.Resource, presented, scope string, edit func(*conformance.ResourceTokenSpec)) string {
	t.Helper()
	rt, err := rs.MintFor(presented, w.agent.Key, scope, w.clock.Now(), edit)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}
