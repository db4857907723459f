package browsertest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestBrowserBindClarifyAnswer is the core flow in a real browser: an
// unbound agent asks its person a question; the person opens the link with
// the code, logs in, reads who the agent is, asks it a clarification
// question, sees its answer appear (the waiting page refreshes by itself),
// connects it with the keyboard only, answers, and sees "Done"; the
// agent's poll returns the answer. Then the home, agents and settings
// pages, and the administrator's pages, are checked and photographed.
func TestBrowserBindClarifyAnswer(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ps.CreatePerson(t, "alice", false)
	w.ps.CreatePerson(t, "root", true)
	b := newBrowser(t, w)
	bindClarifyAnswer(t, w, b, true)

	// The agent is connected: home and agents list it.
	b.open("/")
	b.expectHeading("Hello, Alice")
	b.expectText(agentID, "Example Agents")
	b.audit("home-with-agent", http.StatusOK)
	b.open("/agents")
	b.expectHeading("Connected agents")
	b.expectText(agentID, "Revoke", "Unbind")
	b.audit("agents", http.StatusOK)

	// An administrator's pages.
	b.clickButton("Log out")
	b.expectHeading("Log in")
	b.checkPage("")
	b.login("root", pstest.TestPassword)
	b.expectHeading("Hello, Root")
	b.checkPage("")
	b.open("/admin/persons")
	b.expectHeading("People")
	b.expectText("alice", "root", "administrator", "Invite someone")
	b.audit("admin-persons", http.StatusOK)
	b.open("/admin/providers")
	b.expectHeading("Agent providers")
	b.expectText("https://ap.test", "Example Agents")
	b.audit("admin-providers", http.StatusOK)
}

// TestBrowserBindClarifyAnswerNoJS is the same core flow with JavaScript
// disabled in the browser: nothing in it may need a script.
func TestBrowserBindClarifyAnswerNoJS(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ps.CreatePerson(t, "alice", false)
	b := newBrowser(t, w, withoutJavaScript)
	bindClarifyAnswer(t, w, b, false)
	b.open("/")
	b.expectText(agentID)
	b.checkPage("")

	// Scripts really are off: the passkey button (the one feature that
	// needs JavaScript) does nothing.
	b.clickButton("Log out")
	b.expectHeading("Log in")
	b.checkPage("")
	b.step("click the passkey button", chromedp.Click(chromedp.ID("passkey-login"), chromedp.NodeVisible), chromedp.Sleep(300*time.Millisecond))
	if st := run(b, "read the passkey status", chromedp.Text(chromedp.ID("passkey-status"))); st != "" {
		t.Fatalf("JavaScript ran although it is disabled: passkey status %q", st)
	}
}

// bindClarifyAnswer runs the flow; main takes the screenshots and
// connects the agent with the keyboard only.
func bindClarifyAnswer(t *testing.T, w *world, b *browser, main bool) {
	t.Helper()
	// page checks the current page; in main also the full audit at 1280
	// and 390 px with its screenshots.
	page := func(name string) {
		t.Helper()
		if main && name != "" {
			b.audit(name, http.StatusOK)
		} else {
			b.checkPage("")
		}
	}
	in := w.ask(t, "Which **flight** should I book for the Berlin trip?", "You asked me to book the *cheapest* direct flight.")
	if p := w.poll(t, in.loc); p.status != http.StatusAccepted || p.body["status"] != "pending" {
		t.Fatalf("agent: first poll: %d %s", p.status, p.raw)
	}

	// The link with the code sends a logged-out person to log in first.
	b.open(in.url + "?code=" + in.code)
	if loc := b.location(); !strings.HasPrefix(loc, w.ps.URL("/login?next=")) {
		t.Fatalf("the interaction link led to %s, want the login page", loc)
	}
	b.expectHeading("Log in")
	page("") // audited in TestBrowserEveryDecisionPage
	b.login("alice", pstest.TestPassword)

	// Back on the consent page: who the agent is, what it says.
	b.expectHeading("An agent wants to act for you")
	shown := strings.TrimSpace(run(b, "read the agent identifier",
		textOf("#facts-h ~ dl dd code")))
	if shown != agentID {
		t.Fatalf("the consent page names the agent %q, want %q", shown, agentID)
	}
	b.expectText("What this Person Server knows", "What the agent says (not verified)", "New agent",
		"Example Agents", "Travel Assistant 2.1", "Question for you", "Which flight should I book", "cheapest")
	page("consent-new-agent")
	if p := w.poll(t, in.loc); p.body["status"] != "interacting" {
		t.Fatalf("agent: after the person arrived, status = %v (%s)", p.body["status"], p.raw)
	}

	// The request now waits on the person's home page, which leads back.
	b.open("/")
	b.expectText("Waiting for you", "Connect a new agent", "from "+agentID)
	b.checkPage("")
	b.click(`a[href^="/interact/"]`)
	b.expectHeading("An agent wants to act for you")
	b.checkPage("")

	// Ask the agent a question first.
	b.openDetails("Ask the agent a question first")
	b.fill("question", "Who made you, and who pays for the ticket?")
	b.clickButton("Send question")
	b.expectHeading("Waiting for the agent's answer")
	b.expectText("Who made you, and who pays for the ticket?", "Waiting for the agent to answer")
	page("clarification-waiting")

	cl := w.poll(t, in.loc)
	if req, _ := requirement(t, cl); req != "clarification" || cl.body["clarification"] != "Who made you, and who pays for the ticket?" {
		t.Fatalf("agent: the poll after the question: requirement %q, body %s", req, cl.raw)
	}
	w.clarify(t, in.loc, "I am the *Example Agents* travel assistant. Your **company card** pays.")

	// The waiting page refreshes itself every 3 s (a meta refresh, no script).
	b.waitText("The agent answered", stepTimeout)
	b.expectHeading("An agent wants to act for you")
	b.expectText("The agent answered (not verified):", "I am the Example Agents travel assistant. Your company card pays.")
	if em := strings.TrimSpace(run(b, "read the answer's emphasis", textOf(".assert-chat blockquote em"))); em != "Example Agents" {
		t.Fatalf("the agent's Markdown is not rendered: <em> = %q", em)
	}
	page("clarification-answered")

	// Connect the agent.
	if main {
		// Keyboard only: focus starts at the top of the freshly loaded
		// page; Tab to the button and press Enter.
		b.tabTo("Connect the agent", 40)
		b.pressEnter()
	} else {
		b.clickButton("Connect the agent")
	}
	b.expectHeading("Your agent has a question")
	b.expectText("Which flight should I book for the Berlin trip?", "Your answer to the agent")
	if strong := strings.TrimSpace(run(b, "read the question's emphasis", textOf("figure.said blockquote strong"))); strong != "flight" {
		t.Fatalf("the question's Markdown is not rendered: <strong> = %q", strong)
	}
	page("") // audited in TestBrowserEveryDecisionPage
	b.fill("answer", "The 9:05 direct flight, window seat.")
	b.clickButton("Send answer")
	b.expectHeading("Done")
	b.expectText("You answered the agent. The agent has been told.")
	page("") // audited in TestBrowserEveryDecisionPage

	final := w.poll(t, in.loc)
	if final.status != http.StatusOK || final.body["answer"] != "The 9:05 direct flight, window seat." {
		t.Fatalf("agent: final poll: %d %s", final.status, final.raw)
	}
}
