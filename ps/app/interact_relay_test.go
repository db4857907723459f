package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// enableInbox turns on the person's inbox channel in /settings (PS-172).
func enableInbox(t *testing.T, b *pstest.Browser, name string) {
	t.Helper()
	pg := b.Get(t, "/settings")
	if !strings.Contains(pg.HTML, `name="inbox_channel"`) {
		t.Fatalf("/settings has no inbox switch:\n%s", pg.HTML)
	}
	pg = b.Post(t, "/settings/profile", map[string]string{"name": name, "email": "", "inbox_channel": "on"})
	if pg.Status != http.StatusSeeOther {
		t.Fatalf("save settings: %d\n%s", pg.Status, pg.HTML)
	}
	if pg = b.Get(t, "/settings"); !strings.Contains(pg.HTML, `value="on" checked`) {
		t.Fatalf("the inbox switch did not stay on:\n%s", pg.HTML)
	}
}

// expectApproval checks a 202 requirement=approval: no url, no code (PS-172).
func (w *world) expectApproval(t *testing.T, r result) string {
	t.Helper()
	loc := expect202(t, r, w.ps.Issuer)
	req, params := requirement(t, r)
	if req != "approval" || len(params) != 0 {
		t.Fatalf("want requirement=approval without parameters, got %q %v", req, params)
	}
	if r.header.Get("Retry-After") != "5" {
		t.Fatalf("approval Retry-After %q, want 5 (A-45)", r.header.Get("Retry-After"))
	}
	return loc
}

// TestRelayLink: a bound agent relays a resource's link through the
// person's inbox (PS-226, PS-229, PS-231, PS-172, A-27, A-24).
func TestRelayLink(t *testing.T) {
	t.Parallel()
	w := newWorldWith(t, pstest.Options{}, func(env *pstest.Env) {
		// rs.test resolves (to loopback, which the test PS may reach), so
		// the PS's egress check admits the relayed link.
		env.Resolver.Set("rs.test", "127.0.0.1:9")
	})
	alice := w.person(t, "alice", false)
	w.bind(t, w.agent, alice)
	enableInbox(t, alice, "Alice")

	// The agent cannot bring the person: the PS's own channel reaches her.
	loc := w.expectApproval(t, w.relay(t, w.agent, map[string]any{
		"type": "interaction", "url": "https://rs.test/confirm", "code": "X7K2 M9P4", "description": "Confirm the *booking*",
	}))
	id := strings.TrimPrefix(loc, w.ps.Issuer+"/pending/")
	if st := w.pollState(t, w.agent, loc); st != "pending" {
		t.Fatalf("status %s", st)
	}
	home := alice.Get(t, "/")
	if !strings.Contains(home.HTML, `href="/interact/`+id+`"`) || !strings.Contains(home.HTML, "Open a link an agent relayed") {
		t.Fatalf("the relay is not on the person's home page:\n%s", home.HTML)
	}
	pg := alice.Get(t, "/interact/"+id)
	if pg.Status != http.StatusOK || !strings.Contains(pg.HTML, "<code>https://rs.test/confirm?code=X7K2+M9P4</code>") ||
		!strings.Contains(section(pg.HTML, "assert-agent"), "<em>booking</em>") {
		t.Fatalf("relay page (PS-231):\n%s", pg.HTML)
	}
	if st := w.pollState(t, w.agent, loc); st != "interacting" {
		t.Fatalf("after the person opened the request the status is %s (PS-226)", st)
	}
	pg = alice.Post(t, "/interact/"+id+"/open", nil)
	if pg.Status != http.StatusOK || !strings.Contains(pg.HTML, `content="0;url=https://rs.test/confirm?code=X7K2+M9P4"`) {
		t.Fatalf("open: %d\n%s", pg.Status, pg.HTML)
	}
	r := w.terminal(t, w.agent, loc, http.StatusOK, "")
	if r.body["status"] != "relayed" || r.body["engaged"] != true || len(r.body) != 2 {
		t.Fatalf("engaged relay: %s", r.raw)
	}

	// max_wait passes without the person: engaged=false, no later than
	// max_wait plus one Retry-After (PS-229).
	loc = w.expectApproval(t, w.relay(t, w.agent, map[string]any{"type": "payment", "url": "https://rs.test/pay", "max_wait": 3}))
	w.clock.Advance(4 * time.Second)
	r = w.send(t, w.agent, http.MethodGet, loc, nil)
	if r.status != http.StatusOK || r.body["status"] != "relayed" || r.body["engaged"] != false {
		t.Fatalf("after max_wait: %d %s", r.status, r.raw)
	}
	expectProblem(t, w.poll(t, w.agent, loc), http.StatusGone, aauth.ErrInvalidRequest)

	// The person clicks after max_wait passed but before the agent polled:
	// max_wait passed first, so the relay is unengaged and the browser is
	// not sent on.
	loc = w.expectApproval(t, w.relay(t, w.agent, map[string]any{"type": "interaction", "url": "https://rs.test/late", "max_wait": 3}))
	id = strings.TrimPrefix(loc, w.ps.Issuer+"/pending/")
	alice.Get(t, "/interact/"+id)
	w.clock.Advance(4 * time.Second)
	pg = afterDecision(t, alice, alice.Post(t, "/interact/"+id+"/open", nil))
	if strings.Contains(pg.HTML, "url=https://rs.test/late") || !strings.Contains(pg.HTML, "stopped waiting") {
		t.Fatalf("a click after max_wait: %d\n%s", pg.Status, pg.HTML)
	}
	if r = w.terminal(t, w.agent, loc, http.StatusOK, ""); r.body["engaged"] != false {
		t.Fatalf("a click after max_wait counts as engaged: %s", r.raw)
	}

	// Declined: 403 denied.
	loc = w.expectApproval(t, w.relay(t, w.agent, map[string]any{"type": "interaction", "url": "https://rs.test/other"}))
	id = strings.TrimPrefix(loc, w.ps.Issuer+"/pending/")
	alice.Get(t, "/interact/"+id)
	alice.Post(t, "/interact/"+id+"/deny", nil)
	w.terminal(t, w.agent, loc, http.StatusForbidden, aauth.ErrDenied)

	// A link into a private network is not followed: the request ends
	// denied and the browser is not sent there.
	for _, target := range []string{"https://10.0.0.1/x", "https://169.254.169.254/latest"} {
		loc = w.expectApproval(t, w.relay(t, w.agent, map[string]any{"type": "interaction", "url": target}))
		id = strings.TrimPrefix(loc, w.ps.Issuer+"/pending/")
		alice.Get(t, "/interact/"+id)
		pg = alice.Post(t, "/interact/"+id+"/open", nil)
		if strings.Contains(pg.HTML, "url="+target) || strings.Contains(pg.HTML, `href="`+target) {
			t.Fatalf("the browser is sent to %s:\n%s", target, pg.HTML)
		}
		w.terminal(t, w.agent, loc, http.StatusForbidden, aauth.ErrDenied)
	}
}

// TestOutOfBandCompletion: PS-281. The person decides from the inbox on
// the home page without the code; the agent's next poll is terminal; the
// code no longer works.
func TestOutOfBandCompletion(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	alice := w.person(t, "alice", false)
	w.bind(t, w.agent, alice)
	enableInbox(t, alice, "Alice")

	s := w.ask(t, w.agent, "Aisle or window?", "interaction")
	home := alice.Get(t, "/")
	if !strings.Contains(home.HTML, `href="`+s.path()+`"`) {
		t.Fatalf("the request is not in the inbox:\n%s", home.HTML)
	}
	pg := alice.Get(t, s.path())
	if pg.Status != http.StatusOK || !strings.Contains(pg.HTML, "Aisle or window?") {
		t.Fatalf("inbox page: %d\n%s", pg.Status, pg.HTML)
	}
	alice.Post(t, s.path()+"/answer", map[string]string{"answer": "aisle"})
	if r := w.terminal(t, w.agent, s.loc, http.StatusOK, ""); r.body["answer"] != "aisle" {
		t.Fatalf("answer %s", r.raw)
	}
	for _, b := range []*pstest.Browser{alice, w.person(t, "bob", false)} {
		pg = b.Get(t, s.link())
		if pg.Status == http.StatusOK || strings.Contains(pg.HTML, "Aisle or window?") {
			t.Fatalf("a visit with the code after out-of-band completion: %d\n%s", pg.Status, pg.HTML)
		}
	}
	if pg = alice.Get(t, s.link()); !strings.Contains(pg.HTML, "not valid") {
		t.Fatalf("the used code is not refused as invalid:\n%s", pg.HTML)
	}

	// Out of band before the person ever saw the link: a deny from the
	// inbox uses the code up as well.
	s = w.ask(t, w.agent, "Shall I pay?", "interaction")
	alice.Get(t, "/")
	alice.Post(t, s.path()+"/deny", nil)
	w.terminal(t, w.agent, s.loc, http.StatusForbidden, aauth.ErrDenied)
	if pg = alice.Get(t, s.link()); pg.Status != http.StatusBadRequest || !strings.Contains(pg.HTML, "not valid") {
		t.Fatalf("the code after an out-of-band deny: %d\n%s", pg.Status, pg.HTML)
	}
}

// TestDecisionAfterExpiry: a person deciding on a request whose lifetime
// passed while the page was open is told it expired; the agent gets 408
// (PS-155, PS-162).
func TestDecisionAfterExpiry(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	alice := w.person(t, "alice", false)
	for _, action := range []string{"approve", "deny", "ask"} {
		s := w.ask(t, w.agent, "Still there? "+action, "interaction", "clarification")
		open(t, alice, s)
		w.clock.Advance(10*time.Minute + time.Second)
		pg := alice.Post(t, s.path()+"/"+action, map[string]string{"question": "why?"})
		if pg.Status == http.StatusSeeOther {
			pg = alice.Follow(t, pg)
		}
		if pg.Status != http.StatusOK || !strings.Contains(pg.HTML, "expired") {
			t.Fatalf("%s after expiry: %d\n%s", action, pg.Status, pg.HTML)
		}
		w.terminal(t, w.agent, s.loc, http.StatusRequestTimeout, aauth.ErrExpired)
	}
}

// longPoll sends a poll with Prefer: wait=secs through client c.
func (w *world) longPoll(t *testing.T, c *http.Client, a *conformance.Agent, loc string, secs int) (result, error) {
	req := a.NewRequest(http.MethodGet, loc, nil)
	req.Header.Set("Prefer", fmt.Sprintf("wait=%d", secs))
	if _, err := a.Sign(req, nil, conformance.WithCreatedOffset(w.clock.Offset())); err != nil {
		return result{}, err
	}
	return sendResult(c, req)
}

// backgroundPoll is a long poll running on its own goroutine.
type backgroundPoll struct {
	done chan polled
}

// polled is a long poll's outcome and how long it took.
type polled struct {
	r   result
	err error
	d   time.Duration
}

// startLongPoll sends a long poll (Prefer: wait=secs) in the background.
func (w *world) startLongPoll(t *testing.T, c *http.Client, a *conformance.Agent, loc string, secs int) *backgroundPoll {
	p := &backgroundPoll{done: make(chan polled, 1)}
	go func() {
		var o polled
		o.d = timed(func() { o.r, o.err = w.longPoll(t, c, a, loc, secs) })
		p.done <- o
	}()
	return p
}

// held waits until ps records the poll as waiting on loc's request (the
// long-poll mark, written after the poll subscribed to wake-ups), then
// checks the poll has not answered: only then does a change made next test
// the wake-up rather than the first read.
func (p *backgroundPoll) held(t *testing.T, ps *pstest.PS, loc string) {
	t.Helper()
	id := loc[strings.LastIndex(loc, "/")+1:]
	deadline := time.Now().Add(5 * time.Second)
	for !longPollMarked(t, ps, id) {
		select {
		case o := <-p.done:
			t.Fatalf("the long poll answered before it was seen waiting: %d %s %v", o.r.status, o.r.raw, o.err)
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the long poll was never seen waiting")
		}
	}
	select {
	case o := <-p.done:
		t.Fatalf("the long poll answered while nothing changed: %d %s %v", o.r.status, o.r.raw, o.err)
	default:
	}
}

// result waits for the poll's outcome.
func (p *backgroundPoll) result(t *testing.T) polled {
	t.Helper()
	o := <-p.done
	if o.err != nil {
		t.Fatal(o.err)
	}
	return o
}

// longPollMarked reads the pending request's long-poll mark. It is test
// instrumentation over the shared schema (migrations/*/…pending…):
// pending_requests.long_poll_until_ms is set while a poll waits.
func longPollMarked(t *testing.T, ps *pstest.PS, id string) bool {
	t.Helper()
	var until *int64
	if err := ps.App.Store.QuerySQL(context.Background(), &until, `SELECT long_poll_until_ms FROM pending_requests WHERE id = ?`, id); err != nil {
		t.Fatal(err)
	}
	return until != nil
}

// wokeWithin tells a long poll (Prefer: wait=10) that was woken from one
// that ran out its wait, with room for a loaded 2-core machine under -race.
const wokeWithin = 5 * time.Second

// TestLongPollAndSlowDown: PS-153, PS-154.
func TestLongPollAndSlowDown(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	alice := w.person(t, "alice", false)

	t.Run("PS-154 Prefer: wait holds, then 202", func(t *testing.T) {
		s := w.ask(t, w.agent, "Hold on?", "interaction")
		var r result
		var err error
		d := timed(func() { r, err = w.longPoll(t, w.env.Client, w.agent, s.loc, 2) })
		if err != nil {
			t.Fatal(err)
		}
		expect202(t, r, w.ps.Issuer)
		if d < 1500*time.Millisecond || d > 3500*time.Millisecond {
			t.Fatalf("Prefer: wait=2 answered after %v", d)
		}
		if r.header.Get("Preference-Applied") != "wait=2" {
			t.Fatalf("Preference-Applied %q", r.header.Get("Preference-Applied"))
		}
	})

	t.Run("PS-154 a long poll wakes when the person answers", func(t *testing.T) {
		s := w.ask(t, w.agent, "Wake me?", "interaction")
		open(t, alice, s)
		alice.Post(t, s.path()+"/approve", nil)
		// The agent is told "interacting" first: a long poll answers news at once (issue 15 item 7).
		expect202(t, w.poll(t, w.agent, s.loc), w.ps.Issuer)
		// The poll must be waiting before the person answers: an answer
		// that lands first is simply read at the start, and would pass with
		// waking broken.
		poll := w.startLongPoll(t, w.env.Client, w.agent, s.loc, 10)
		poll.held(t, w.ps, s.loc)
		alice.Post(t, s.path()+"/answer", map[string]string{"answer": "awake"})
		o := poll.result(t)
		if o.r.status != http.StatusOK || o.r.body["answer"] != "awake" || o.d > wokeWithin {
			t.Fatalf("long poll: %d %s after %v", o.r.status, o.r.raw, o.d)
		}
		expectProblem(t, w.poll(t, w.agent, s.loc), http.StatusGone, aauth.ErrInvalidRequest)
	})

	t.Run("PS-153 polling faster than Retry-After is slow_down", func(t *testing.T) {
		s := w.ask(t, w.agent, "Too fast?", "interaction")
		expect202(t, w.send(t, w.agent, http.MethodGet, s.loc, nil), w.ps.Issuer)
		// At once again, well inside the advised Retry-After.
		r := w.send(t, w.agent, http.MethodGet, s.loc, nil)
		expectProblem(t, r, http.StatusTooManyRequests, aauth.ErrSlowDown)
		if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
			t.Fatalf("slow_down without a usable Retry-After: %q", ra)
		}
		// A well-behaved poll afterwards is answered normally.
		expect202(t, w.poll(t, w.agent, s.loc), w.ps.Issuer)
	})
}

// TestPendingSurvivesRestart: a pending request outlives the process; the
// person completes it on the restarted PS (PS-146, PS-151).
func TestPendingSurvivesRestart(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewMigratedSQLiteURL(t)
	w := newWorld(t, pstest.Options{DatabaseURL: dbURL})
	w.ps.CreatePerson(t, "alice", false)
	s := w.ask(t, w.agent, "Across a restart?", "interaction")
	w.ps.Stop()

	w.ps = w.env.Start(t, pstest.Options{DatabaseURL: dbURL, Now: w.clock.Now})
	if st := w.pollState(t, w.agent, s.loc); st != "pending" {
		t.Fatalf("status after restart %s", st)
	}
	alice := w.ps.NewBrowser(t)
	alice.Login(t, "alice")
	open(t, alice, s)
	alice.Post(t, s.path()+"/approve", nil)
	alice.Post(t, s.path()+"/answer", map[string]string{"answer": "still here"})
	if r := w.terminal(t, w.agent, s.loc, http.StatusOK, ""); r.body["answer"] != "still here" {
		t.Fatalf("answer %s", r.raw)
	}
}

// TestReplicasShareLongPoll: two PS instances on one PostgreSQL database.
// The agent long-polls instance A while the person completes the request
// through the web UI of instance B; A's poll wakes at once, and the
// terminal answer is delivered exactly once across both (PS-152, PS-154).
func TestReplicasShareLongPoll(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewMigratedPostgresURL(t)
	clock := &offsetClock{}
	env := pstest.NewEnv(t)
	ap := env.StartAP(t, "ap.test")
	psA := env.Start(t, pstest.Options{DatabaseURL: dbURL, Now: clock.Now})
	psB := env.Start(t, pstest.Options{DatabaseURL: dbURL, Now: clock.Now}) // the env resolver now points ps.test at B
	agent, err := ap.NewAgent(conformance.TokenSpec{Sub: "aauth:a1@ap.test"})
	if err != nil {
		t.Fatal(err)
	}
	// A client that always reaches A.
	toA := conformance.NewResolver()
	for h, addr := range env.Resolver.Map() {
		toA.Set(h, addr)
	}
	toA.Set(pstest.DefaultHost, psA.Addr)
	clientA := conformance.NewHTTPClient(env.CA, toA)
	wA := &world{env: &pstest.Env{CA: env.CA, Resolver: toA, Client: clientA}, ap: ap, ps: psA, agent: agent, clock: clock}
	wB := &world{env: env, ap: ap, ps: psB, agent: agent, clock: clock}

	psB.CreatePerson(t, "alice", false)
	alice := psB.NewBrowser(t)
	alice.Login(t, "alice")

	s := wA.ask(t, agent, "Which replica?", "interaction")
	open(t, alice, s)
	alice.Post(t, s.path()+"/approve", nil)
	// The agent is told "interacting" first: a long poll answers news at once (issue 15 item 7).
	expect202(t, wA.poll(t, agent, s.loc), wA.ps.Issuer)

	poll := wA.startLongPoll(t, clientA, agent, s.loc, 10)
	poll.held(t, psA, s.loc) // A's poll waits before B changes anything
	answered := time.Now()
	if pg := afterDecision(t, alice, alice.Post(t, s.path()+"/answer", map[string]string{"answer": "either"})); pg.Status != http.StatusOK {
		t.Fatalf("answer on B: %d\n%s", pg.Status, pg.HTML)
	}
	o := poll.result(t)
	if o.r.status != http.StatusOK || o.r.body["answer"] != "either" {
		t.Fatalf("A's long poll: %d %s", o.r.status, o.r.raw)
	}
	if woke := time.Since(answered); woke > wokeWithin {
		t.Fatalf("A's long poll woke %v after B completed the request", woke)
	}
	expectProblem(t, wB.poll(t, agent, s.loc), http.StatusGone, aauth.ErrInvalidRequest)
	expectProblem(t, wA.poll(t, agent, s.loc), http.StatusGone, aauth.ErrInvalidRequest)
}

// TestConsentSanitized: agent-asserted Markdown and display values are
// sanitized and attributed (PS-168, PS-282, PS-166, PS-169, A-62).
func TestConsentSanitized(t *testing.T) {
	t.Parallel()
	const payload = "<script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)> " +
		`<a href="javascript:alert(2)">y</a> <svg onload=alert(3)></svg> [z](JaVaScRiPt:alert(4)) <iframe src="https://evil.test"></iframe>`
	w := newWorld(t, pstest.Options{})
	w.ap.SetMetadataMutator(func(m map[string]any) {
		m["name"] = "Evil <script>alert(5)</script> Agents"
		m["description"] = "PROVIDER-SAYS " + payload
		m["logo_uri"] = "javascript:alert(6)"
	})
	alice := w.person(t, "alice", false)
	agent := w.mint(t, conformance.TokenSpec{ClaimOverrides: map[string]any{
		"platform": `<script>alert(7)</script>`, "device": `"><img src=x onerror=alert(8)>`,
	}})
	r := w.relay(t, agent, map[string]any{
		"type": "question", "question": "QUESTION-SAYS " + payload, "description": "AGENT-SAYS " + payload,
		"capabilities": []string{"interaction", "clarification"},
	})
	s := w.expectInteraction(t, r)
	pages := []pstest.Page{open(t, alice, s)}
	alice.Post(t, s.path()+"/ask", map[string]string{"question": "QUESTION-BY-PERSON <script>alert(9)</script>"})
	expect202(t, w.send(t, agent, http.MethodPost, s.loc, []byte(fmt.Sprintf(`{"action":"clarification_response","clarification_response":%q}`, "ANSWER-SAYS "+payload))), w.ps.Issuer)
	pages = append(pages, alice.Get(t, s.path()))
	alice.Post(t, s.path()+"/approve", nil)
	pages = append(pages, alice.Get(t, s.path()), alice.Get(t, "/"), alice.Get(t, "/agents"))

	for i, pg := range pages {
		if bad := liveHTML(t, pg.HTML); len(bad) > 0 {
			t.Fatalf("page %d carries live content %v:\n%s", i, bad, pg.HTML)
		}
		csp := pg.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") ||
			strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Fatalf("page %d Content-Security-Policy %q", i, csp)
		}
		if pg.Header.Get("X-Content-Type-Options") != "nosniff" || pg.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("page %d headers %v", i, pg.Header)
		}
	}
	pg := pages[1]
	agentPart, psPart, chat := section(pg.HTML, "assert-agent"), section(pg.HTML, "assert-ps"), section(pg.HTML, "assert-chat")
	for _, said := range []string{"AGENT-SAYS", "QUESTION-SAYS", "PROVIDER-SAYS", "Evil", "alert(7)", "alert(8)"} {
		if !strings.Contains(agentPart, said) {
			t.Fatalf("agent-asserted %s is not in the agent's region:\n%s", said, pg.HTML)
		}
		if strings.Contains(psPart, said) {
			t.Fatalf("agent-asserted %s appears among the PS's facts:\n%s", said, psPart)
		}
	}
	if !strings.Contains(agentPart, "not verified") || !strings.Contains(agentPart, agent.ID) {
		t.Fatalf("the agent's region is not attributed to the agent:\n%s", agentPart)
	}
	if !strings.Contains(psPart, agent.ID) || !strings.Contains(psPart, "https://ap.test") || !strings.Contains(psPart, agent.Key.Thumbprint()) {
		t.Fatalf("the PS's facts lack the verified agent identity:\n%s", psPart)
	}
	if !strings.Contains(chat, "ANSWER-SAYS") || !strings.Contains(chat, "The agent answered (not verified)") ||
		strings.Contains(agentPart, "ANSWER-SAYS") || strings.Contains(psPart, "ANSWER-SAYS") {
		t.Fatalf("the clarification response is not attributed to the agent:\n%s", pg.HTML)
	}
	if strings.Contains(pg.HTML, "javascript:alert(6)") {
		t.Fatal("a javascript: logo_uri reached the page")
	}
}
