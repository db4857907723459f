package app_test

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestRelayValidation: every malformed E9 body is 400 invalid_request and
// writes nothing (PS-224, PS-225, PS-052, PS-048, PS-051, A-27). Each body
// declares `interaction`, so a body that passed would create a pending
// request.
func TestRelayValidation(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	caps := `"capabilities":["interaction"]`
	for name, body := range map[string]string{
		"PS-224 missing type":              `{"question":"q",` + caps + `}`,
		"PS-224 empty type":                `{"type":"","question":"q",` + caps + `}`,
		"PS-224 unknown type":              `{"type":"chat","question":"q",` + caps + `}`,
		"PS-224 type not a string":         `{"type":1,"question":"q",` + caps + `}`,
		"PS-225 interaction without url":   `{"type":"interaction",` + caps + `}`,
		"PS-225 payment without url":       `{"type":"payment",` + caps + `}`,
		"PS-225 interaction with http url": `{"type":"interaction","url":"http://rs.test/x",` + caps + `}`,
		"PS-225 payment with http url":     `{"type":"payment","url":"http://rs.test/pay",` + caps + `}`,
		"PS-225 url with a fragment":       `{"type":"interaction","url":"https://rs.test/x#frag",` + caps + `}`,
		"PS-225 url without a host":        `{"type":"interaction","url":"https:///x",` + caps + `}`,
		"PS-225 url with userinfo":         `{"type":"interaction","url":"https://u:p@rs.test/x",` + caps + `}`,
		"PS-225 javascript url":            `{"type":"interaction","url":"javascript:alert(1)",` + caps + `}`,
		"PS-225 url not a string":          `{"type":"interaction","url":["https://rs.test/x"],` + caps + `}`,
		"PS-225 question without question": `{"type":"question",` + caps + `}`,
		"PS-225 blank question":            `{"type":"question","question":"  \n",` + caps + `}`,
		"PS-225 question not a string":     `{"type":"question","question":{"q":1},` + caps + `}`,
		"PS-052 capabilities not an array": `{"type":"question","question":"q","capabilities":"interaction"}`,
		"PS-052 capabilities of numbers":   `{"type":"question","question":"q","capabilities":["interaction",1]}`,
		"max_wait negative":                `{"type":"question","question":"q","max_wait":-1,` + caps + `}`,
		"max_wait not an integer":          `{"type":"question","question":"q","max_wait":1.5,` + caps + `}`,
		"max_wait a string":                `{"type":"question","question":"q","max_wait":"3",` + caps + `}`,
		"description not a string":         `{"type":"question","question":"q","description":true,` + caps + `}`,
		"PS-048 array body":                `[]`,
		"PS-048 truncated body":            `{`,
		"PS-048 null body":                 `null`,
		"PS-048 trailing data":             `{"type":"question","question":"q",` + caps + `} {}`,
		"PS-051 duplicate members":         `{"type":"question","type":"question","question":"q",` + caps + `}`,
		"PS-051 invalid UTF-8":             "{\"type\":\"question\",\"question\":\"\xff\"," + caps + "}",
	} {
		t.Run(name, func(t *testing.T) {
			before := w.ps.TableCounts(t)
			expectProblem(t, w.relay(t, w.agent, body), http.StatusBadRequest, aauth.ErrInvalidRequest)
			writesNothing(t, w.ps, before)
		})
	}
	// The same agent with a valid body is accepted: the refusals above were
	// about the bodies.
	w.ask(t, w.agent, "Question 1?", "interaction")
}

// TestRelayUnreachable: PS-171 and PS-227.
func TestRelayUnreachable(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})

	// An unbound agent that cannot bring its person: 403 user_unreachable,
	// never a 202, and nothing is written.
	for _, body := range []string{
		`{"type":"question","question":"Which flight?"}`,
		`{"type":"question","question":"Which flight?","capabilities":[]}`,
		`{"type":"question","question":"Which flight?","capabilities":["clarification","payment"]}`,
		`{"type":"interaction","url":"https://rs.test/confirm"}`,
	} {
		before := w.ps.TableCounts(t)
		expectProblem(t, w.relay(t, w.agent, body), http.StatusForbidden, aauth.ErrUserUnreachable)
		writesNothing(t, w.ps, before)
	}

	// Bound, but the person has no inbox channel and the agent does not
	// declare interaction: 403 user_unreachable for a question.
	alice := w.person(t, "alice", false)
	w.bind(t, w.agent, alice)
	before := w.ps.TableCounts(t)
	expectProblem(t, w.relay(t, w.agent, `{"type":"question","question":"Aisle or window?"}`), http.StatusForbidden, aauth.ErrUserUnreachable)
	writesNothing(t, w.ps, before)

	// A link to relay, no inbox, and the agent could bring the person
	// itself: 424 interaction_unavailable (PS-227); without the capability
	// the person is simply unreachable.
	before = w.ps.TableCounts(t)
	expectProblem(t, w.relay(t, w.agent, `{"type":"interaction","url":"https://rs.test/confirm","capabilities":["interaction"]}`),
		http.StatusFailedDependency, "interaction_unavailable")
	expectProblem(t, w.relay(t, w.agent, `{"type":"payment","url":"https://rs.test/pay","capabilities":["interaction"]}`),
		http.StatusFailedDependency, "interaction_unavailable")
	expectProblem(t, w.relay(t, w.agent, `{"type":"interaction","url":"https://rs.test/confirm"}`),
		http.StatusForbidden, aauth.ErrUserUnreachable)
	writesNothing(t, w.ps, before)
}

// TestPendingURLAccess: PS-147, PS-148, PS-149 (A-08, PS-255), PS-167.
func TestPendingURLAccess(t *testing.T) {
	t.Parallel()
	// One agent keeps 100+ requests open below: above the default bound.
	w := newWorld(t, pstest.Options{Configure: func(c *config.Config) { c.PendingMaxPerAgent = 150 }})
	s := w.ask(t, w.agent, "Which flight?", "interaction")

	// PS-148: unsigned requests to the pending URL.
	for _, m := range []string{http.MethodGet, http.MethodDelete, http.MethodPost} {
		req, _ := http.NewRequest(m, s.loc, nil)
		expect401(t, w.do(t, req), aauth.SigInvalidSignature)
	}

	// PS-149: another agent, and an agent whose identifier differs only in
	// case (PS-255), get exactly the answer for an unknown id.
	a3, err := w.ap.NewAgent(conformance.TokenSpec{Sub: "aauth:a3@ap.test"})
	if err != nil {
		t.Fatal(err)
	}
	upper := w.mint(t, conformance.TokenSpec{Sub: "aauth:A1@ap.test"})
	unknown := w.poll(t, a3, w.ps.URL("/pending/"+base64.RawURLEncoding.EncodeToString(make([]byte, 16))))
	expectProblem(t, unknown, http.StatusNotFound, aauth.ErrNotFound)
	same := func(label string, r result) {
		t.Helper()
		if r.status != unknown.status || string(r.raw) != string(unknown.raw) || !sameHeaders(r.header, unknown.header) {
			t.Fatalf("%s: %d %v %s\nunknown id: %d %v %s", label, r.status, r.header, r.raw, unknown.status, unknown.header, unknown.raw)
		}
	}
	for label, other := range map[string]*conformance.Agent{"another agent": a3, "the same identifier in upper case": upper} {
		same(label+" GET", w.poll(t, other, s.loc))
		same(label+" POST", w.send(t, other, http.MethodPost, s.loc, []byte(`{"action":"cancel"}`)))
		same(label+" DELETE", w.send(t, other, http.MethodDelete, s.loc, nil))
	}
	// None of that touched A1's request.
	if st := w.pollState(t, w.agent, s.loc); st != "pending" {
		t.Fatalf("status after other agents' requests: %s", st)
	}

	// PS-167, A-08: the same agent after a key rotation (same iss and sub,
	// new cnf) may poll its request.
	k, err := conformance.NewAgentKey(aauth.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	rotated := w.mint(t, conformance.TokenSpec{Agent: k})
	if st := w.pollState(t, rotated, s.loc); st != "pending" {
		t.Fatalf("rotated key poll status %s", st)
	}

	// PS-147 and PS-160: 100 requests get 100 distinct pending URLs with
	// at least 128 random bits, and distinct well-formed codes.
	codeRE := regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$`)
	locs, codes := map[string]bool{}, map[string]bool{}
	for i := range 100 {
		s := w.ask(t, w.agent, fmt.Sprintf("again %d?", i), "interaction")
		id := strings.TrimPrefix(s.loc, w.ps.Issuer+"/pending/")
		raw, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(raw) < 16 {
			t.Fatalf("pending id %q is not ≥128 bits of base64url", id)
		}
		if s.id != id {
			t.Fatalf("interaction url %s and pending url %s name different requests", s.url, s.loc)
		}
		if !codeRE.MatchString(s.code) {
			t.Fatalf("code %q is not Crockford base32 XXXXX-XXXXX", s.code)
		}
		locs[s.loc], codes[s.code] = true, true
	}
	if len(locs) != 100 || len(codes) != 100 {
		t.Fatalf("%d distinct Locations and %d distinct codes in 100 requests", len(locs), len(codes))
	}
}

// sameHeaders compares two header sets, ignoring Date.
func sameHeaders(a, b http.Header) bool {
	a, b = a.Clone(), b.Clone()
	a.Del("Date")
	b.Del("Date")
	return maps.EqualFunc(a, b, func(x, y []string) bool { return strings.Join(x, "\n") == strings.Join(y, "\n") })
}

// TestInteractionCodes: PS-160, PS-161, PS-162, PS-163, PS-155.
func TestInteractionCodes(t *testing.T) {
	t.Parallel()
	t.Run("PS-161 folding O to 0 and I/L to 1", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, pstest.Options{})
		alice := w.person(t, "alice", false)
		var zero, one bool
		for i := 0; i < 60 && !(zero && one); i++ {
			s := w.ask(t, w.agent, fmt.Sprintf("q%d", i), "interaction")
			typed := strings.ReplaceAll(s.code, "-", "")
			switch {
			case !zero && strings.Contains(typed, "0"):
				zero = true
				typed = strings.ReplaceAll(typed, "0", "o")
			case !one && strings.Contains(typed, "1"):
				one = true
				typed = strings.ReplaceAll(typed, "1", "I")
				typed = strings.Replace(strings.ToLower(typed), "i", "L", 1)
			default:
				continue
			}
			open(t, alice, started{url: s.url, code: typed})
			if st := w.pollState(t, w.agent, s.loc); st != "interacting" {
				t.Fatalf("after the folded code %q for %s the status is %s", typed, s.code, st)
			}
		}
		if !zero || !one {
			t.Fatal("no code with a 0 and a 1 in 60 requests")
		}
	})

	// PS-162 (P§interaction-code-format, "Single use"): the first
	// presentation of a valid code consumes it; every later presentation of
	// that code, by the holder or anyone else, gets the invalid-code page
	// (400, "Code not valid") and changes nothing. The holder comes back to
	// the request through its URL without the code.
	t.Run("PS-162 the code works once", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, pstest.Options{})
		alice := w.person(t, "alice", false)
		bob := w.person(t, "bob", false)
		s := w.ask(t, w.agent, "Question 2?", "interaction")
		// A visitor without a session is sent to log in; that is not a
		// presentation and uses nothing up.
		anon := w.ps.NewBrowser(t)
		if pg := anon.Get(t, s.link()); pg.Status != http.StatusSeeOther || !strings.HasPrefix(pg.Location, "/login?next=") {
			t.Fatalf("anonymous visit: %d %s", pg.Status, pg.Location)
		}
		if st := w.pollState(t, w.agent, s.loc); st != "pending" {
			t.Fatalf("an anonymous visit changed the status to %s", st)
		}
		// The first presentation consumes the code: alice holds the request.
		open(t, alice, s)
		if st := w.pollState(t, w.agent, s.loc); st != "interacting" {
			t.Fatalf("after the first presentation the status is %s, want interacting", st)
		}
		invalidCode := func(who string, pg pstest.Page) {
			t.Helper()
			if pg.Status != http.StatusBadRequest || !strings.Contains(pg.HTML, "<h1>Code not valid</h1>") {
				t.Fatalf("%s presenting the used code: %d, want 400 Code not valid\n%s", who, pg.Status, pg.HTML)
			}
			if strings.Contains(pg.HTML, w.agent.ID) || strings.Contains(pg.HTML, `class="consent"`) || strings.Contains(pg.HTML, "Question 2?") {
				t.Fatalf("%s presenting the used code sees the request:\n%s", who, pg.HTML)
			}
		}
		invalidCode("bob", bob.Get(t, s.link()))
		// Issue 9 item 9: the holder is told what became of the link
		// (when she used it, a way back to the request), still without
		// the request shown through the code.
		used := alice.Get(t, s.link())
		if used.Status != http.StatusBadRequest || !strings.Contains(used.HTML, "<h1>Link already used</h1>") ||
			!strings.Contains(used.HTML, "it was used at") || !strings.Contains(used.HTML, `href="`+s.path()+`"`) ||
			strings.Contains(used.HTML, w.agent.ID) || strings.Contains(used.HTML, "Question 2?") {
			t.Fatalf("alice, the holder, presenting the used code: %d\n%s", used.Status, used.HTML)
		}
		// Neither presentation touched the request, and the holder's session
		// still reaches it.
		if st := w.pollState(t, w.agent, s.loc); st != "interacting" {
			t.Fatalf("later presentations changed the status to %s", st)
		}
		if pg := alice.Get(t, s.path()); pg.Status != http.StatusOK || !strings.Contains(pg.HTML, `class="consent"`) {
			t.Fatalf("the holder coming back without the code: %d\n%s", pg.Status, pg.HTML)
		}
	})

	t.Run("PS-163 five wrong codes fail the request", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, pstest.Options{})
		alice := w.person(t, "alice", false)
		s := w.ask(t, w.agent, "Question 3?", "interaction")
		// Issue 9 item 9: each wrong code says how many more end the
		// request; the fifth says it ended and why, and so does every
		// later code, the right one included.
		for i := range 4 {
			pg := alice.Get(t, s.url+"?code="+wrongCode(s.code, i))
			left := []string{"4 more wrong codes", "3 more wrong codes", "2 more wrong codes", "1 more wrong code ends"}[i]
			if pg.Status != http.StatusBadRequest || !strings.Contains(pg.HTML, "not valid") || !strings.Contains(pg.HTML, left) {
				t.Fatalf("wrong code %d: %d, want %q\n%s", i, pg.Status, left, pg.HTML)
			}
		}
		ended := func(what string, pg pstest.Page) {
			t.Helper()
			if pg.Status != http.StatusGone || !strings.Contains(pg.HTML, "<h1>Request ended</h1>") ||
				!strings.Contains(pg.HTML, "a wrong code was entered too many times") || strings.Contains(pg.HTML, `class="consent"`) {
				t.Fatalf("%s: %d, want 410 Request ended\n%s", what, pg.Status, pg.HTML)
			}
		}
		ended("the fifth wrong code", alice.Get(t, s.url+"?code="+wrongCode(s.code, 4)))
		ended("the right code after five wrong ones", alice.Get(t, s.link()))
		w.terminal(t, w.agent, s.loc, http.StatusGone, aauth.ErrInvalidCode)
	})

	t.Run("PS-162 PS-155 a code after expiry", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, pstest.Options{})
		alice := w.person(t, "alice", false)
		s := w.ask(t, w.agent, "Question 4?", "interaction")
		w.clock.Advance(10*time.Minute + time.Second)
		pg := alice.Get(t, s.link())
		if pg.Status != http.StatusGone || !strings.Contains(pg.HTML, "Request expired") {
			t.Fatalf("code after expiry: %d\n%s", pg.Status, pg.HTML)
		}
		w.terminal(t, w.agent, s.loc, http.StatusRequestTimeout, aauth.ErrExpired)
		// Later visits still fail.
		if pg := alice.Get(t, s.link()); pg.Status == http.StatusOK {
			t.Fatalf("code after the expiry was delivered: %d\n%s", pg.Status, pg.HTML)
		}
	})
}

// wrongCode is a well-formed code that differs from code.
func wrongCode(code string, i int) string {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	b := []byte(code)
	pos := i % 5
	b[pos] = alphabet[(strings.IndexByte(alphabet, b[pos])+1+i)%len(alphabet)]
	return string(b)
}

// TestDecisionsNeedAuthentication: PS-164, PS-165.
func TestDecisionsNeedAuthentication(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	alice := w.person(t, "alice", false)
	bob := w.person(t, "bob", false)
	s := w.ask(t, w.agent, "Which flight?", "interaction")
	open(t, alice, s)

	// No session: the decision sends the browser to log in; nothing changes.
	anon := w.ps.NewBrowser(t)
	before := w.ps.TableCounts(t)
	for _, action := range []string{"approve", "deny", "answer"} {
		pg := anon.Post(t, s.path()+"/"+action, map[string]string{"answer": "x"})
		if pg.Status != http.StatusSeeOther || !strings.HasPrefix(pg.Location, "/login") {
			t.Fatalf("%s without a session: %d %s", action, pg.Status, pg.Location)
		}
	}
	// A session, but a wrong or missing CSRF token: 403, nothing changes.
	for _, tok := range []string{"wrong", ""} {
		for _, action := range []string{"approve", "deny"} {
			if pg := alice.Post(t, s.path()+"/"+action, map[string]string{"csrf": tok}); pg.Status != http.StatusForbidden {
				t.Fatalf("%s with CSRF %q: %d", action, tok, pg.Status)
			}
		}
	}
	unchanged(t, w.ps, before)
	if st := w.pollState(t, w.agent, s.loc); st != "interacting" {
		t.Fatalf("status %s", st)
	}

	// Bob, with his own session and the code, cannot see or decide
	// Alice's request (PS-165). Alice already used the code, so to Bob it
	// is the invalid-code answer every later presentation gets (PS-162).
	if pg := bob.Get(t, s.link()); pg.Status != http.StatusBadRequest || !strings.Contains(pg.HTML, "<h1>Code not valid</h1>") ||
		strings.Contains(pg.HTML, `class="consent"`) {
		t.Fatalf("bob opens alice's request: %d\n%s", pg.Status, pg.HTML)
	}
	bob.Get(t, "/") // a page with bob's CSRF token
	for _, action := range []string{"approve", "deny", "answer"} {
		if pg := bob.Post(t, s.path()+"/"+action, map[string]string{"answer": "x"}); pg.Status != http.StatusForbidden {
			t.Fatalf("bob %s alice's request: %d\n%s", action, pg.Status, pg.HTML)
		}
	}
	if st := w.pollState(t, w.agent, s.loc); st != "interacting" {
		t.Fatalf("status after bob: %s", st)
	}

	// Once the agent is Alice's, a request addressed to her and opened by
	// Bob with its code is refused without using the code up.
	alice.Post(t, s.path()+"/approve", nil)
	alice.Post(t, s.path()+"/answer", map[string]string{"answer": "9:00"})
	w.terminal(t, w.agent, s.loc, http.StatusOK, "")
	s2 := w.ask(t, w.agent, "Aisle or window?", "interaction")
	if pg := bob.Get(t, s2.link()); pg.Status != http.StatusForbidden || strings.Contains(pg.HTML, "Aisle or window") {
		t.Fatalf("bob opens a request addressed to alice: %d\n%s", pg.Status, pg.HTML)
	}
	if st := w.pollState(t, w.agent, s2.loc); st != "pending" {
		t.Fatalf("bob's visit used the code up: status %s", st)
	}
	pg := open(t, alice, s2)
	if !strings.Contains(pg.HTML, "Aisle or window") {
		t.Fatalf("alice's page:\n%s", pg.HTML)
	}
}

// agentBindingID finds the binding id of agent on the /agents page.
func agentBindingID(t *testing.T, b *pstest.Browser, agentID string) string {
	t.Helper()
	pg := b.Get(t, "/agents")
	re := regexp.MustCompile(`(?s)` + regexp.QuoteMeta(agentID) + `.*?/agents/([A-Za-z0-9_-]+)/unbind`)
	m := re.FindStringSubmatch(pg.HTML)
	if m == nil {
		t.Fatalf("/agents does not list %s with an unbind form:\n%s", agentID, pg.HTML)
	}
	return m[1]
}

// TestBindingLifecycle: PS-165, PS-166, PS-167, A-40 (c).
func TestBindingLifecycle(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	alice := w.person(t, "alice", false)
	w.bind(t, w.agent, alice)

	// PS-167: the same agent with a new key is recognised; its question is
	// shown at once, with no enrollment.
	k, err := conformance.NewAgentKey(aauth.AlgEd25519)
	if err != nil {
		t.Fatal(err)
	}
	rotated := w.mint(t, conformance.TokenSpec{Agent: k})
	s := w.ask(t, rotated, "Aisle or window?", "interaction")
	pg := open(t, alice, s)
	if !strings.Contains(pg.HTML, "Your agent has a question") || strings.Contains(pg.HTML, "New agent") ||
		strings.Contains(pg.HTML, "/approve") || !strings.Contains(pg.HTML, s.path()+"/answer") {
		t.Fatalf("a returning agent with a rotated key is enrolled again:\n%s", pg.HTML)
	}
	alice.Post(t, s.path()+"/answer", map[string]string{"answer": "window"})
	if r := w.terminal(t, rotated, s.loc, http.StatusOK, ""); r.body["answer"] != "window" {
		t.Fatalf("answer %s", r.raw)
	}

	// Revoked on /agents: every later request is 403 denied, for any key.
	id := agentBindingID(t, alice, w.agent.ID)
	if pg := alice.Post(t, "/agents/"+id+"/revoke", nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("revoke: %d\n%s", pg.Status, pg.HTML)
	}
	for _, a := range []*conformance.Agent{w.agent, rotated} {
		before := w.ps.TableCounts(t)
		expectProblem(t, w.relay(t, a, map[string]any{"type": "question", "question": "still there?", "capabilities": []string{"interaction"}}),
			http.StatusForbidden, aauth.ErrDenied)
		writesNothing(t, w.ps, before)
	}

	// Unbound: the agent is unknown again and must be connected anew.
	if pg := alice.Post(t, "/agents/"+id+"/unbind", nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("unbind: %d\n%s", pg.Status, pg.HTML)
	}
	expectProblem(t, w.relay(t, w.agent, `{"type":"question","question":"q"}`), http.StatusForbidden, aauth.ErrUserUnreachable)
	s = w.ask(t, w.agent, "Connect me again?", "interaction")
	pg = open(t, alice, s)
	if !strings.Contains(pg.HTML, "An agent wants to act for you") || !strings.Contains(pg.HTML, "New agent") {
		t.Fatalf("after unbind the agent is not enrolled anew:\n%s", pg.HTML)
	}
}

// TestBoundAgentCannotBeClaimed: PS-165. Two binding requests of one
// unbound agent reach two people; the second approval ends denied.
func TestBoundAgentCannotBeClaimed(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	alice := w.person(t, "alice", false)
	bob := w.person(t, "bob", false)
	s1 := w.ask(t, w.agent, "one", "interaction")
	s2 := w.ask(t, w.agent, "two", "interaction")
	open(t, alice, s1)
	open(t, bob, s2)
	if pg := alice.Post(t, s1.path()+"/approve", nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("alice approves: %d", pg.Status)
	}
	pg := afterDecision(t, bob, bob.Post(t, s2.path()+"/approve", nil))
	if pg.Status != http.StatusOK || !strings.Contains(pg.HTML, "refused") {
		t.Fatalf("bob approves an agent alice holds: %d\n%s", pg.Status, pg.HTML)
	}
	w.terminal(t, w.agent, s2.loc, http.StatusForbidden, aauth.ErrDenied)
	// The agent is still Alice's: its next request is addressed to her.
	s3 := w.ask(t, w.agent, "three", "interaction")
	if pg := bob.Get(t, s3.link()); pg.Status != http.StatusForbidden {
		t.Fatalf("bob opens the agent's next request: %d", pg.Status)
	}
	if pg := open(t, alice, s3); strings.Contains(pg.HTML, "New agent") {
		t.Fatal("alice's agent shown as new")
	}
}

// TestRequestEndings: PS-152, PS-156, PS-157, PS-175, PS-176.
func TestRequestEndings(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	alice := w.person(t, "alice", false)

	// Deny: 403 denied, then 410.
	s := w.ask(t, w.agent, "Question 5?", "interaction")
	open(t, alice, s)
	pg := afterDecision(t, alice, alice.Post(t, s.path()+"/deny", nil))
	if pg.Status != http.StatusOK || !strings.Contains(pg.HTML, "Request ended") {
		t.Fatalf("deny: %d\n%s", pg.Status, pg.HTML)
	}
	w.terminal(t, w.agent, s.loc, http.StatusForbidden, aauth.ErrDenied)
	for _, m := range []string{http.MethodPost, http.MethodDelete} {
		expectProblem(t, w.send(t, w.agent, m, s.loc, []byte(`{"action":"cancel"}`)), http.StatusGone, aauth.ErrInvalidRequest)
	}

	// Malformed POSTs on an open request: 400, and the request goes on.
	s = w.ask(t, w.agent, "Question 6?", "interaction", "clarification")
	open(t, alice, s)
	for name, body := range map[string]string{
		"PS-157 no action":                          `{}`,
		"PS-157 unknown action":                     `{"action":"foo"}`,
		"PS-157 action a number":                    `{"action":1}`,
		"PS-157 not an object":                      `[]`,
		"PS-176 unsolicited clarification_response": `{"action":"clarification_response","clarification_response":"hi"}`,
		"PS-176 updated_request on a relay":         `{"action":"updated_request","resource_token":"a.b.c","presented_token":"d.e.f"}`,
	} {
		t.Run(name, func(t *testing.T) {
			before := w.ps.TableCounts(t)
			expectProblem(t, w.send(t, w.agent, http.MethodPost, s.loc, []byte(body)), http.StatusBadRequest, aauth.ErrInvalidRequest)
			writesNothing(t, w.ps, before)
		})
	}
	// PS-175: a malformed clarification_response while a question is out.
	alice.Post(t, s.path()+"/ask", map[string]string{"question": "Who are you?"})
	for _, body := range []string{
		`{"action":"clarification_response"}`,
		`{"action":"clarification_response","clarification_response":5}`,
		`{"action":"clarification_response","clarification_response":""}`,
	} {
		expectProblem(t, w.send(t, w.agent, http.MethodPost, s.loc, []byte(body)), http.StatusBadRequest, aauth.ErrInvalidRequest)
	}
	if r := w.poll(t, w.agent, s.loc); r.body["clarification"] != "Who are you?" {
		t.Fatalf("the question is no longer outstanding: %s", r.raw)
	}

	// PS-156: the agent withdraws; 204, then 410 for every method, and the
	// person is told.
	r := w.send(t, w.agent, http.MethodDelete, s.loc, nil)
	if r.status != http.StatusNoContent || len(r.raw) != 0 {
		t.Fatalf("DELETE: %d %s", r.status, r.raw)
	}
	expectProblem(t, w.poll(t, w.agent, s.loc), http.StatusGone, aauth.ErrInvalidRequest)
	expectProblem(t, w.send(t, w.agent, http.MethodPost, s.loc, []byte(`{"action":"clarification_response","clarification_response":"x"}`)),
		http.StatusGone, aauth.ErrInvalidRequest)
	expectProblem(t, w.send(t, w.agent, http.MethodDelete, s.loc, nil), http.StatusGone, aauth.ErrInvalidRequest)
	pg = alice.Get(t, s.path())
	if !strings.Contains(pg.HTML, "The agent withdrew this request") {
		t.Fatalf("the person is not told the agent withdrew:\n%s", pg.HTML)
	}
	if strings.Contains(pg.HTML, "/approve") || strings.Contains(pg.HTML, "/ask") {
		t.Fatalf("a withdrawn request still offers decisions:\n%s", pg.HTML)
	}
	// The cancel action POSTed does the same.
	s = w.ask(t, w.agent, "Question 7?", "interaction")
	if r := w.send(t, w.agent, http.MethodPost, s.loc, []byte(`{"action":"cancel"}`)); r.status != http.StatusNoContent {
		t.Fatalf("POST cancel: %d %s", r.status, r.raw)
	}
	expectProblem(t, w.poll(t, w.agent, s.loc), http.StatusGone, aauth.ErrInvalidRequest)
}

// TestClarificationRules: PS-173, PS-174, PS-178, PS-179.
func TestClarificationRules(t *testing.T) {
	t.Parallel()
	t.Run("PS-173 an agent without the capability is not asked", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, pstest.Options{})
		alice := w.person(t, "alice", false)
		s := w.ask(t, w.agent, "Question 8?", "interaction")
		pg := open(t, alice, s)
		if strings.Contains(pg.HTML, s.path()+"/ask") || !strings.Contains(pg.HTML, "did not say it can answer questions") {
			t.Fatalf("the page offers asking an agent without clarification:\n%s", pg.HTML)
		}
		// Forcing the form: the person is told, nothing reaches the agent.
		pg = alice.Post(t, s.path()+"/ask", map[string]string{"question": "Who are you?"})
		if pg.Status != http.StatusSeeOther {
			t.Fatalf("ask: %d\n%s", pg.Status, pg.HTML)
		}
		// As a sentence in the red alert, never the raw lowercase Go
		// error string (issue 9 item 9).
		if pg = alice.Follow(t, pg); !strings.Contains(pg.HTML, `<p class="error" role="alert">This agent cannot answer questions.</p>`) ||
			strings.Contains(pg.HTML, "interact:") {
			t.Fatalf("the person is not told in a sentence:\n%s", pg.HTML)
		}
		r := w.poll(t, w.agent, s.loc)
		if req, _ := requirement(t, r); req == "clarification" || r.body["clarification"] != nil {
			t.Fatalf("a question reached an agent without clarification: %s", r.raw)
		}
	})

	t.Run("PS-174 PS-178 five rounds, the sixth question ends the request", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, pstest.Options{})
		alice := w.person(t, "alice", false)
		s := w.ask(t, w.agent, "Question 9?", "interaction", "clarification")
		open(t, alice, s)
		for i := range 5 {
			q := "Question " + string(rune('A'+i))
			if pg := alice.Post(t, s.path()+"/ask", map[string]string{"question": q}); pg.Status != http.StatusSeeOther {
				t.Fatalf("ask %d: %d\n%s", i, pg.Status, pg.HTML)
			}
			r := w.poll(t, w.agent, s.loc)
			expect202(t, r, w.ps.Issuer)
			req, params := requirement(t, r)
			if req != "clarification" || len(params) != 0 || r.body["clarification"] != q {
				t.Fatalf("clarification 202: %s %v %s", req, params, r.raw)
			}
			if to, ok := r.body["timeout"].(float64); !ok || to != float64(int(to)) || to <= 0 || to > 300 {
				t.Fatalf("timeout %v is not a positive integer ≤ 300", r.body["timeout"])
			}
			if r.header.Get("Retry-After") != "2" {
				t.Fatalf("clarification Retry-After %q", r.header.Get("Retry-After"))
			}
			expect202(t, w.send(t, w.agent, http.MethodPost, s.loc,
				[]byte(`{"action":"clarification_response","clarification_response":"answer `+q+`"}`)), w.ps.Issuer)
		}
		pg := alice.Get(t, s.path())
		if strings.Contains(pg.HTML, s.path()+"/ask") || !strings.Contains(pg.HTML, "as many questions as this server allows") {
			t.Fatalf("after five rounds the page still offers asking:\n%s", pg.HTML)
		}
		pg = alice.Post(t, s.path()+"/ask", map[string]string{"question": "A sixth?"})
		if pg.Status >= 500 {
			t.Fatalf("sixth question: %d\n%s", pg.Status, pg.HTML)
		}
		if pg.Status == http.StatusSeeOther {
			pg = alice.Follow(t, pg)
		}
		if !strings.Contains(pg.HTML, "refused") {
			t.Fatalf("the person is not told the request ended:\n%s", pg.HTML)
		}
		w.terminal(t, w.agent, s.loc, http.StatusForbidden, aauth.ErrDenied)
	})

	t.Run("PS-179 an unanswered question expires", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, pstest.Options{})
		alice := w.person(t, "alice", false)
		s := w.ask(t, w.agent, "Question 10?", "interaction", "clarification")
		open(t, alice, s)
		alice.Post(t, s.path()+"/ask", map[string]string{"question": "Who are you?"})
		if r := w.poll(t, w.agent, s.loc); r.body["clarification"] != "Who are you?" {
			t.Fatalf("poll %s", r.raw)
		}
		w.clock.Advance(5 * time.Minute)
		w.terminal(t, w.agent, s.loc, http.StatusRequestTimeout, aauth.ErrExpired)
		expectProblem(t, w.send(t, w.agent, http.MethodPost, s.loc, []byte(`{"action":"clarification_response","clarification_response":"late"}`)),
			http.StatusGone, aauth.ErrInvalidRequest)
	})
}

// TestCallbacks: PS-170 (P§interaction-callback-errors).
func TestCallbacks(t *testing.T) {
	t.Parallel()
	var ap2 *conformance.AgentProvider
	w := newWorldWith(t, pstest.Options{}, func(env *pstest.Env) {
		ap2 = env.StartAP(t, "ap2.test", conformance.WithAPLocalhostCallbackAllowed(true))
	})
	if cb, _ := w.ap.Metadata()["callback_endpoint"].(string); cb != "https://ap.test/callback" {
		t.Fatalf("fixture callback_endpoint %q", cb)
	}
	alice := w.person(t, "alice", false)
	withCallback := func(s started, cb string) string { return s.link() + "&callback=" + url.QueryEscape(cb) }
	finishesAt := func(t *testing.T, pg pstest.Page, want string) {
		t.Helper()
		esc := strings.ReplaceAll(want, "&", "&amp;")
		if !strings.Contains(pg.HTML, `content="0;url=`+esc+`"`) || !strings.Contains(pg.HTML, `href="`+esc+`"`) {
			t.Fatalf("the final page does not send the browser to %s:\n%s", want, pg.HTML)
		}
	}

	// A person who must log in first comes back with the callback.
	s := w.ask(t, w.agent, "Log in first?", "interaction")
	anon := w.ps.NewBrowser(t)
	back := withCallback(s, "https://ap.test/callback")
	pg := anon.Get(t, back)
	next, err := url.QueryUnescape(strings.TrimPrefix(pg.Location, "/login?next="))
	if pg.Status != http.StatusSeeOther || err != nil || w.ps.Issuer+next != back {
		t.Fatalf("anonymous visit: %d %s", pg.Status, pg.Location)
	}
	w.ps.CreatePerson(t, "bob", false)
	pg = loginAs(t, anon, "bob", pstest.TestPassword, next)
	if pg.Status != http.StatusSeeOther || w.ps.Issuer+pg.Location != back {
		t.Fatalf("login does not come back to the link: %d %s", pg.Status, pg.Location)
	}
	anon.Follow(t, pg)
	anon.Post(t, s.path()+"/approve", nil)
	finishesAt(t, afterDecision(t, anon, anon.Post(t, s.path()+"/answer", map[string]string{"answer": "back"})), "https://ap.test/callback")
	w.terminal(t, w.agent, s.loc, http.StatusOK, "")
	// The agent is now bob's; alice connects her own agent below.
	w.agent = w.mint(t, conformance.TokenSpec{Sub: "aauth:a9@ap.test"})

	// Approve and answer: back to the callback.
	s = w.ask(t, w.agent, "Question 11?", "interaction")
	if pg := alice.Get(t, withCallback(s, "https://ap.test/callback")); pg.Status != http.StatusOK {
		t.Fatalf("open with callback: %d\n%s", pg.Status, pg.HTML)
	}
	alice.Post(t, s.path()+"/approve", nil)
	finishesAt(t, afterDecision(t, alice, alice.Post(t, s.path()+"/answer", map[string]string{"answer": "yes"})), "https://ap.test/callback")
	w.terminal(t, w.agent, s.loc, http.StatusOK, "")

	// Deny: callback?error=access_denied.
	s = w.ask(t, w.agent, "Question 12?", "interaction")
	alice.Get(t, withCallback(s, "https://ap.test/callback?state=xyz"))
	pg = afterDecision(t, alice, alice.Post(t, s.path()+"/deny", nil))
	u := regexp.MustCompile(`content="0;url=([^"]+)"`).FindStringSubmatch(pg.HTML)
	if u == nil {
		t.Fatalf("deny page has no redirect:\n%s", pg.HTML)
	}
	got, err := url.Parse(strings.ReplaceAll(u[1], "&amp;", "&"))
	if err != nil || got.Scheme+"://"+got.Host+got.Path != "https://ap.test/callback" ||
		got.Query().Get("error") != "access_denied" || got.Query().Get("state") != "xyz" {
		t.Fatalf("deny redirects to %s", u[1])
	}
	w.terminal(t, w.agent, s.loc, http.StatusForbidden, aauth.ErrDenied)

	// Foreign callbacks: an error page, the code is not used up, and the
	// right visit afterwards still works.
	s = w.ask(t, w.agent, "Question 13?", "interaction")
	for _, cb := range []string{"https://evil.test/cb", "https://ap.test.evil.test/callback", "https://ap.test:8443/callback",
		"http://ap.test/callback", "http://localhost:9999/cb", "javascript:alert(1)", "https://user@ap.test/callback"} {
		pg := alice.Get(t, withCallback(s, cb))
		if pg.Status != http.StatusBadRequest || !strings.Contains(pg.HTML, "Unknown return address") {
			t.Fatalf("callback %s: %d\n%s", cb, pg.Status, pg.HTML)
		}
		if strings.Contains(pg.HTML, "evil.test") || strings.Contains(pg.HTML, "localhost:9999") {
			t.Fatalf("the refused callback %s appears on the page", cb)
		}
	}
	if st := w.pollState(t, w.agent, s.loc); st != "pending" {
		t.Fatalf("a refused callback used the code up: %s", st)
	}
	open(t, alice, s)

	// localhost only for a provider that allows it.
	a2, err := ap2.NewAgent(conformance.TokenSpec{Sub: "aauth:a2@ap2.test"})
	if err != nil {
		t.Fatal(err)
	}
	s = w.ask(t, a2, "Question 14?", "interaction")
	if pg := alice.Get(t, withCallback(s, "http://localhost:9999/cb")); pg.Status != http.StatusOK {
		t.Fatalf("localhost callback for a provider allowing it: %d\n%s", pg.Status, pg.HTML)
	}
	finishesAt(t, afterDecision(t, alice, alice.Post(t, s.path()+"/deny", nil)), "http://localhost:9999/cb?error=access_denied")
}
