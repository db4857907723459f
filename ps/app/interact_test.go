package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// requirement parses AAuth-Requirement into its token and parameters,
// which must all be Strings (PS-159).
func requirement(t *testing.T, r result) (string, map[string]string) {
	t.Helper()
	req, err := conformance.ParseRequirement(r.header.Values(aauth.HeaderAAuthRequirement))
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Params) != len(req.Names) {
		t.Fatalf("AAuth-Requirement has parameters that are not Strings: %v", req.Names)
	}
	return req.Token, req.Params
}

// expect202 checks the pending-response header set (PS-146).
func expect202(t *testing.T, r result, issuer string) string {
	t.Helper()
	if r.status != http.StatusAccepted {
		t.Fatalf("status = %d, want 202; body %s", r.status, r.raw)
	}
	loc := r.header.Get("Location")
	if !strings.HasPrefix(loc, issuer+"/pending/") || len(loc) < len(issuer)+len("/pending/")+22 {
		t.Fatalf("Location = %q", loc)
	}
	if r.header.Get("Retry-After") == "" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("202 headers: %v", r.header)
	}
	if st := r.body["status"]; st != "pending" && st != "interacting" {
		t.Fatalf("202 body status = %v", st)
	}
	return loc
}

func relayQuestion(q string, caps ...string) []byte {
	b, _ := json.Marshal(map[string]any{"type": "question", "question": q, "capabilities": caps})
	return b
}

// TestBindAnswerQuestion is the core flow without a browser: an unbound
// agent asks its person a question; the person logs in, opens the link with
// the code, asks the agent a clarification question, connects the agent and
// answers; the agent's poll returns the answer (PS-146, PS-150, PS-151,
// PS-152, PS-159, PS-161, PS-166, PS-174, PS-175, PS-228).
func TestBindAnswerQuestion(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	w.ps.CreatePerson(t, "alice", false)

	res := w.do(t, signed(t, w.agent, http.MethodPost, w.ps.URL("/interaction"),
		relayQuestion("Which **flight** should I book?", "interaction", "clarification")))
	loc := expect202(t, res, w.ps.Issuer)
	req, params := requirement(t, res)
	if req != "interaction" || !strings.HasPrefix(params["url"], w.ps.Issuer+"/interact/") || len(params["code"]) != 11 {
		t.Fatalf("requirement %s %v", req, params)
	}
	poll := func() result { return w.poll(t, w.agent, loc) }
	expect202(t, poll(), w.ps.Issuer)

	b := w.ps.NewBrowser(t)
	// Not logged in: the link sends the person to log in and back.
	pg := b.Get(t, params["url"]+"?code="+params["code"])
	if pg.Status != http.StatusSeeOther || !strings.HasPrefix(pg.Location, "/login?next=") {
		t.Fatalf("anonymous visit: %d %s", pg.Status, pg.Location)
	}
	b.Login(t, "alice")
	// The code is accepted in lower case without the hyphen (PS-161).
	code := strings.ToLower(strings.ReplaceAll(params["code"], "-", ""))
	pg = b.Get(t, params["url"]+"?code="+code)
	if pg.Status != http.StatusOK || !strings.Contains(pg.HTML, "An agent wants to act for you") ||
		!strings.Contains(pg.HTML, "aauth:a1@ap.test") || !strings.Contains(pg.HTML, "New agent") {
		t.Fatalf("consent page: %d\n%s", pg.Status, pg.HTML)
	}
	if st := poll(); st.body["status"] != "interacting" {
		t.Fatalf("after the person arrived, status = %v", st.body["status"])
	}

	// Clarification: the person asks, the agent's poll carries the question.
	pg = b.Post(t, "/interact/"+pathID(params["url"])+"/ask", map[string]string{"question": "Who made you?"})
	if pg.Status != http.StatusSeeOther {
		t.Fatalf("ask: %d %s", pg.Status, pg.HTML)
	}
	cl := poll()
	if req, _ := requirement(t, cl); req != "clarification" || cl.body["clarification"] != "Who made you?" {
		t.Fatalf("clarification poll: %s %s", req, cl.raw)
	}
	ans := w.do(t, signed(t, w.agent, http.MethodPost, loc,
		[]byte(`{"action":"clarification_response","clarification_response":"I am the *test* agent."}`),
		conformance.WithCreatedOffset(w.clock.Offset())))
	expect202(t, ans, w.ps.Issuer)
	pg = b.Get(t, "/interact/"+pathID(params["url"]))
	if !strings.Contains(pg.HTML, "<em>test</em>") || !strings.Contains(pg.HTML, "The agent answered") {
		t.Fatalf("answer not shown as the agent's:\n%s", pg.HTML)
	}

	// Connect, then answer the question.
	pg = b.Post(t, "/interact/"+pathID(params["url"])+"/approve", nil)
	pg = b.Follow(t, pg)
	if !strings.Contains(pg.HTML, "Your agent has a question") || !strings.Contains(pg.HTML, "<strong>flight</strong>") {
		t.Fatalf("question page:\n%s", pg.HTML)
	}
	pg = afterDecision(t, b, b.Post(t, "/interact/"+pathID(params["url"])+"/answer", map[string]string{"answer": "The 9:00 one"}))
	if pg.Status != http.StatusOK || !strings.Contains(pg.HTML, "Done") {
		t.Fatalf("answer: %d\n%s", pg.Status, pg.HTML)
	}
	final := poll()
	if final.status != http.StatusOK || final.body["answer"] != "The 9:00 one" {
		t.Fatalf("final poll: %d %s", final.status, final.raw)
	}
	expectProblem(t, poll(), http.StatusGone, aauth.ErrInvalidRequest)

	// The agent is now connected: the home page lists it.
	home := b.Get(t, "/")
	// The identifier may wrap between its parts (templates.Identifier).
	if !strings.Contains(strings.ReplaceAll(home.HTML, "<wbr>", ""), "aauth:a1@ap.test") {
		t.Fatalf("home page lacks the connected agent:\n%s", home.HTML)
	}
}

// pathID is the last path segment of an interaction URL.
func pathID(u string) string { return u[strings.LastIndex(u, "/")+1:] }
