package browsertest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestBrowserCodeLockout (issue 9 item 9, PS-163): each wrong code says
// how many more end the request; the fifth ends it and the page says so
// and why, in the red alert or a page of its own, never a form that
// still accepts codes; the right code afterwards gets the same page, and
// the agent's poll is 410 invalid_code.
func TestBrowserCodeLockout(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ps.CreatePerson(t, "alice", false)
	b := newBrowser(t, w)
	b.open("/login")
	b.login("alice", pstest.TestPassword)

	in := w.ask(t, "May I plan your trips?", "I book travel for you.")
	wrong := func(i int) string {
		const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
		c := []byte(in.code)
		c[0] = alphabet[(strings.IndexByte(alphabet, c[0])+1+i)%len(alphabet)]
		return string(c)
	}
	for i, left := range []string{"4 more wrong codes end this request.", "3 more wrong codes", "2 more wrong codes", "1 more wrong code ends this request."} {
		b.open(in.url + "?code=" + wrong(i))
		b.expectHeading("Enter the code from your agent")
		if alert := strings.TrimSpace(run(b, "read the alert", textOf(`[role="alert"]`))); !strings.Contains(alert, "That code is not valid.") || !strings.Contains(alert, left) {
			t.Fatalf("wrong code %d: the alert says %q, want %q", i+1, alert, left)
		}
		b.checkPageStatus("", http.StatusBadRequest)
	}
	b.open(in.url + "?code=" + wrong(4))
	b.expectHeading("Request ended")
	b.expectText("a wrong code was entered too many times", "Ask the agent to start again")
	if strings.Contains(b.text(), "Code shown by the agent") {
		t.Fatal("the ended request still offers the code field")
	}
	b.audit("code-lockout", http.StatusGone)
	b.open(in.url + "?code=" + in.code)
	b.expectHeading("Request ended")
	b.checkPageStatus("", http.StatusGone)
	if p := w.poll(t, in.loc); p.status != http.StatusGone || p.body["error"] != aauth.ErrInvalidCode {
		t.Fatalf("agent: the poll after the lockout: %d %s", p.status, p.raw)
	}
}

// TestBrowserInboxTitles (issue 9 item 9): the home page says what each
// waiting item is — a token request with its resource, a mission with its
// title — and a used link tells its holder when it was used and, once
// decided, what they decided; the Done page restates the decision.
func TestBrowserInboxTitles(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ps.CreatePerson(t, "alice", false)
	b := newBrowser(t, w)
	bindInBrowser(t, w, b, "alice")

	tok, _ := w.postJSON(t, w.ps.URL("/person"), map[string]any{"resource": "https://rs2.test", "capabilities": []string{"interaction"}})
	w.expectInteraction(t, "a person token for a new resource", tok)
	ms, _ := w.postJSON(t, w.ps.URL("/mission"), map[string]any{"description": "# Plan the *Lisbon* trip\n\nFlights and a hotel.",
		"capabilities": []string{"interaction"}})
	mission := w.expectInteraction(t, "a mission proposal", ms)

	b.open("/")
	b.expectText("Waiting for you", "Token: act as you at https://rs2.test", "Mission proposed: Plan the Lisbon trip")
	b.audit("home-inbox", http.StatusOK)

	// The proposal, opened with its code, then opened with it again.
	b.open(mission.url + "?code=" + mission.code)
	b.expectHeading("Your agent proposes a mission")
	b.expectText("What you grant", "This mission only")
	b.checkPage("")
	b.open(mission.url + "?code=" + mission.code)
	b.expectHeading("Link already used")
	b.expectText("it was used at", "by you", "Continue to the request")
	b.audit("used-link", http.StatusBadRequest)

	// Decided, the Done page restates the decision, and so does the used
	// link afterwards.
	b.click(`a.button[href^="/interact/"]`)
	b.expectHeading("Your agent proposes a mission")
	b.clickButton("Approve the mission")
	b.expectHeading("Done")
	b.expectText("You approved the mission.")
	b.audit("done-mission", http.StatusOK)
	b.open(mission.url + "?code=" + mission.code)
	b.expectHeading("Link already used")
	b.expectText("The request has ended. You approved the mission.", "See what you decided")
	b.audit("used-link-decided", http.StatusBadRequest)
}

// TestBrowserRefusedInvitationFormPRG (issue 9 item 8): a refused
// invitation form (a taken username) comes back as the invitation's GET
// page with the reason in the alert and the username kept, never the
// password; a reload shows the plain form and Back a page, never a
// re-submission or a JSON 405.
func TestBrowserRefusedInvitationFormPRG(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ps.CreatePerson(t, "alice", false)
	token, _, err := w.ps.App.Accounts.CreateInvite(t.Context(), "", "", false)
	if err != nil {
		t.Fatal(err)
	}
	path := "/invite/" + token
	b := newBrowser(t, w)
	b.open(path)
	b.expectHeading("Accept your invitation")
	b.fill("username", "alice")
	b.fill("password", "a long enough password")
	b.clickButton("Create account")
	b.expectAt(path)
	b.expectHeading("Accept your invitation")
	if alert := strings.TrimSpace(run(b, "read the alert", textOf(`[role="alert"]`))); alert == "" || alert[0] < 'A' || alert[0] > 'Z' || !strings.HasSuffix(alert, ".") {
		t.Fatalf("the refusal reads %q, want a sentence", alert)
	}
	if v := b.value("username"); v != "alice" {
		t.Fatalf("the username field holds %q, want the one typed", v)
	}
	if v := b.value("password"); v != "" {
		t.Fatal("the password came back")
	}
	b.checkPage("")
	b.reload()
	b.expectHeading("Accept your invitation")
	if n := strings.TrimSpace(run(b, "count alerts", textOf(`body`))); strings.Contains(n, "taken") {
		t.Fatal("a reload shows the refusal again")
	}
	b.checkPage("")
	b.back()
	b.expectHeading("Accept your invitation")
	b.checkPage("")
}
