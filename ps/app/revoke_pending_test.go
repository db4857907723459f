package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// A person (or an operator with the CLI) revokes an agent while it has
// requests waiting for her. Revoke stops it for good (A-40 (c); README
// "its requests are refused"), so its open requests end in the revoking
// transaction with the answer the same request would get if made now —
// 403 denied ("the person revoked this agent"), or 403 mission_terminated
// (termination_reason revoked) for one naming a mission the revocation
// ended (PS-158) — their long polls wake (PS-154), and a decision the
// person makes afterwards on a page left open delivers nothing (PS-112:
// no token is ever returned for it; PS-165: only the person the agent is
// bound to can approve, and it is bound to no one it may act for).

// pendingOf is what the revocation must end: one started request and the
// refusal its poll must get.
type pendingOf struct {
	name   string
	s      started
	code   string // the refusal's error
	decide string // the person's decision afterwards (a path under the request)
	form   map[string]string
	polled bool // the agent already read the refusal
}

// expectRevokedAnswer polls s and expects the refusal of a revoked agent:
// 403 with code, naming the revocation, no Signature-Error.
func expectRevokedAnswer(t *testing.T, r result, code string) {
	t.Helper()
	expectProblem(t, r, http.StatusForbidden, code)
	if d, _ := r.body["detail"].(string); !strings.Contains(d, "revoked this agent") {
		t.Fatalf("detail %q does not say the person revoked the agent: %s", d, r.raw)
	}
	if code == aauth.ErrMissionTerminated && r.body["termination_reason"] != "revoked" {
		t.Fatalf("mission_terminated without termination_reason revoked: %s", r.raw)
	}
}

// decideAfterRevocation has the person of b decide each request on the
// page she still had open: every page says the request ended because she
// revoked the agent, nothing is written (no token, consent, grant or
// mission), each poll is the refusal if the agent had not read it yet and
// then 410 (PS-152), and the stored answer is still the refusal.
func decideAfterRevocation(t *testing.T, w *world, b *pstest.Browser, ps []pendingOf) {
	t.Helper()
	before := w.ps.TableCounts(t)
	for _, p := range ps {
		pg := afterDecision(t, b, b.Post(t, p.s.path()+"/"+p.decide, p.form))
		if !strings.Contains(pg.HTML, "Request ended") || !strings.Contains(pg.HTML, "you revoked this agent") {
			t.Fatalf("%s: the page after the decision does not say the request ended with the revocation:\n%s", p.name, pg.HTML)
		}
		if !p.polled {
			expectRevokedAnswer(t, w.poll(t, w.agent, p.s.loc), p.code)
		}
		expectProblem(t, w.poll(t, w.agent, p.s.loc), http.StatusGone, aauth.ErrInvalidRequest)
		r, err := w.ps.App.Engine.Get(context.Background(), p.s.id)
		if err != nil {
			t.Fatal(err)
		}
		if r.State.Open() || r.ResultStatus != http.StatusForbidden || !strings.Contains(string(r.ResultBody), `"`+p.code+`"`) {
			t.Fatalf("%s: the decision changed the ended request: %s %d %s", p.name, r.State, r.ResultStatus, r.ResultBody)
		}
	}
	writesNothing(t, w.ps, before)
}

// TestRevokeAgentEndsPendingRequests (UI route, both databases): A-40
// (c), PS-112, PS-154, PS-158, PS-165. The agent has one request of every
// kind waiting for alice — a question, a person-token consent, an
// auth-token consent, a permission, a mission proposal and, under an
// approved mission, a completion; and a permission under no mission
// whose parameters name that mission — and a long poll held on the
// question.
// Alice revokes it on Connected agents: the long poll wakes with 403
// denied, every other poll gets its refusal, and approving or answering
// each afterwards changes nothing.
func TestRevokeAgentEndsPendingRequests(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, url string) {
		w, alice, rs := raceWorld(t, url)
		pt := personToken(t, w, alice, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
		m := w.approveMission(t, w.agent, alice, `{"description":"# Plan the week","resources":["https://rs.test"],"capabilities":["interaction"]}`, nil)

		rt := resourceToken(t, w, rs, pt, "calendar.read", nil)
		ps := []pendingOf{
			{name: "question", s: w.ask(t, w.agent, "What is the secret?", "interaction"), code: aauth.ErrDenied,
				decide: "answer", form: map[string]string{"answer": "secret answer"}},
			{name: "person token", s: w.expectInteraction(t, w.post(t, w.agent, "/person", `{"resource":"https://other.test","capabilities":["interaction"]}`)),
				code: aauth.ErrDenied, decide: "approve"},
			{name: "auth token", s: w.expectInteraction(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt,
				"presented_token": pt, "capabilities": []string{"interaction"}}))), code: aauth.ErrDenied, decide: "approve"},
			{name: "permission", s: w.expectInteraction(t, w.post(t, w.agent, "/permission", `{"action":"SendEmail","description":"Send the report","capabilities":["interaction"]}`)),
				code: aauth.ErrDenied, decide: "approve"},
			{name: "mission proposal", s: w.propose(t, w.agent, `{"description":"# Another plan","capabilities":["interaction"]}`),
				code: aauth.ErrDenied, decide: "approve"},
			{name: "completion", s: w.expectInteraction(t, w.post(t, w.agent, "/mission/"+m.s256, `{"action":"completion","summary":"Done."}`)),
				code: aauth.ErrMissionTerminated, decide: "approve"},
			// Under no mission, though its parameters name the one that
			// ended: denied, not mission_terminated (the request's own
			// mission member decides, not the s256 appearing anywhere).
			{name: "permission naming the mission", s: w.expectInteraction(t, w.post(t, w.agent, "/permission",
				`{"action":"ArchiveMission","description":"Archive the plan","parameters":{"mission":"`+m.s256+`"},"capabilities":["interaction"]}`)),
				code: aauth.ErrDenied, decide: "approve"},
		}
		for _, p := range ps {
			open(t, alice, p.s)
		}
		expect202(t, w.poll(t, w.agent, ps[0].s.loc), w.ps.Issuer) // "interacting" is news: told at once
		poll := w.startLongPoll(t, w.env.Client, w.agent, ps[0].s.loc, 10)
		poll.held(t, w.ps, ps[0].s.loc)

		id := agentBindingID(t, alice, w.agent.ID)
		if pg := alice.Post(t, "/agents/"+id+"/revoke", nil); pg.Status != http.StatusSeeOther {
			t.Fatalf("revoke: %d\n%s", pg.Status, pg.HTML)
		}
		o := poll.result(t)
		if o.d > wokeWithin {
			t.Fatalf("the long poll was not woken by the revocation: %d %s after %v", o.r.status, o.r.raw, o.d)
		}
		expectRevokedAnswer(t, o.r, aauth.ErrDenied)
		ps[0].polled = true
		for i := range ps[1:] {
			p := &ps[i+1]
			expectRevokedAnswer(t, w.poll(t, w.agent, p.s.loc), p.code)
			p.polled = true
		}
		// Ended in the revoking transaction, not when someone looks.
		for _, p := range ps {
			if r, err := w.ps.App.Engine.Get(context.Background(), p.s.id); err != nil || r.State.Open() {
				t.Fatalf("%s is still open after the revocation: %v %v", p.name, r, err)
			}
		}
		decideAfterRevocation(t, w, alice, ps)
	})
}

// TestRevokeAgentConnectedFromPendingQuestion (UI route, both
// databases): the reviewer's sequence. The agent is connected from its
// pending question; alice revokes it and then answers that question on
// the page she still has open. The agent's poll gets 403 denied, never
// the answer (A-40 (c), PS-165), and the page says the request ended.
func TestRevokeAgentConnectedFromPendingQuestion(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, url string) {
		w := newWorldWith(t, pstest.Options{DatabaseURL: url}, nil)
		alice := w.person(t, "alice", false)
		s := w.ask(t, w.agent, "What is the secret?", "interaction")
		open(t, alice, s)
		if pg := alice.Post(t, s.path()+"/approve", nil); pg.Status != http.StatusSeeOther {
			t.Fatalf("connect: %d\n%s", pg.Status, pg.HTML)
		}
		id := agentBindingID(t, alice, w.agent.ID)
		if pg := alice.Post(t, "/agents/"+id+"/revoke", nil); pg.Status != http.StatusSeeOther {
			t.Fatalf("revoke: %d\n%s", pg.Status, pg.HTML)
		}
		decideAfterRevocation(t, w, alice, []pendingOf{{name: "question", s: s, code: aauth.ErrDenied,
			decide: "answer", form: map[string]string{"answer": "secret answer"}}})
		if r, _ := w.ps.App.Engine.Get(context.Background(), s.id); r != nil && r.State != pending.StateDenied {
			t.Fatalf("state %s, want denied", r.State)
		}
	})
}

// TestUnbindAgentEndsPendingRequests (UI route): A-40 (c), PS-065. Unbind
// forgets the binding, and the agent must ask again with a new link and
// code: its waiting question and person-token request end 403 denied
// ("the person disconnected this agent"), and approving the person token
// afterwards issues nothing to an agent bound to no one. Each page says
// how its request ended, from the reason stored with the result: the
// question alice refused herself before the unbind says refused.
func TestUnbindAgentEndsPendingRequests(t *testing.T) {
	t.Parallel()
	w, alice, _ := authWorld(t)
	refused := w.ask(t, w.agent, "May I?", "interaction")
	open(t, alice, refused)
	if pg := afterDecision(t, alice, alice.Post(t, refused.path()+"/deny", nil)); !strings.Contains(pg.HTML, "This request was refused.") {
		t.Fatalf("the page of a request alice refused:\n%s", pg.HTML)
	}
	q := w.ask(t, w.agent, "Still there?", "interaction")
	pt := w.expectInteraction(t, w.post(t, w.agent, "/person", `{"resource":"https://rs.test","capabilities":["interaction"]}`))
	open(t, alice, pt)
	if pg := alice.Post(t, "/agents/"+agentBindingID(t, alice, w.agent.ID)+"/unbind", nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("unbind: %d\n%s", pg.Status, pg.HTML)
	}
	for _, s := range []started{q, pt} {
		r := w.poll(t, w.agent, s.loc)
		expectProblem(t, r, http.StatusForbidden, aauth.ErrDenied)
		if r.body["detail"] != "the person disconnected this agent" {
			t.Fatalf("detail: %s", r.raw)
		}
	}
	before := w.ps.TableCounts(t)
	pg := afterDecision(t, alice, alice.Post(t, pt.path()+"/approve", nil))
	if !strings.Contains(pg.HTML, "you disconnected this agent") {
		t.Fatalf("the page does not say the request ended with the unbind:\n%s", pg.HTML)
	}
	writesNothing(t, w.ps, before)
	if pg := alice.Get(t, refused.path()); !strings.Contains(pg.HTML, "This request was refused.") || strings.Contains(pg.HTML, "this agent, so nothing") {
		t.Fatalf("the request alice refused before the unbind now reads otherwise:\n%s", pg.HTML)
	}
}

// TestDecisionRechecksBinding (both databases): A-40 (c), PS-112, PS-165.
// A request the revocation did not end (made while the revocation
// committed; here the binding is revoked under it directly) is decided
// by the person afterwards. The decision reads the binding again in its
// own transaction and delivers nothing: the answer to the question
// (written alone) and the person token with its consent (written in one
// transaction, rolled back whole) are refused, the agent's poll gets 403
// denied, and the page says the request ended.
func TestDecisionRechecksBinding(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, url string) {
		w, alice, _ := raceWorld(t, url)
		q := w.ask(t, w.agent, "What is the secret?", "interaction")
		pt := w.expectInteraction(t, w.post(t, w.agent, "/person", `{"resource":"https://rs.test","capabilities":["interaction"]}`))
		open(t, alice, q)
		open(t, alice, pt)
		b, err := w.ps.App.Agents.Lookup(context.Background(), w.ap.Issuer(), w.agent.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.ps.App.Agents.Revoke(context.Background(), b.PersonID, b.ID); err != nil {
			t.Fatal(err)
		}
		decideAfterRevocation(t, w, alice, []pendingOf{
			{name: "question", s: q, code: aauth.ErrDenied, decide: "answer", form: map[string]string{"answer": "secret answer"}},
			{name: "person token", s: pt, code: aauth.ErrDenied, decide: "approve"},
		})
	})
}

// TestConnectingAnAgentBoundToAnother (UI route): PS-165. An agent not
// yet connected asks twice; alice connects it from the first request,
// and bob then approves the second. The agent is hers: bob's request ends
// 403 denied ("bound to another person"), and his page says it was
// refused, not that anyone revoked the agent (its ending is the reason
// stored with the result, and this refusal stores none).
func TestConnectingAnAgentBoundToAnother(t *testing.T) {
	t.Parallel()
	w := newWorldWith(t, pstest.Options{}, nil)
	alice := w.person(t, "alice", false)
	bob := w.person(t, "bob", false)
	first := w.ask(t, w.agent, "Shall we connect?", "interaction")
	second := w.ask(t, w.agent, "Or with me?", "interaction")
	open(t, alice, first)
	if pg := alice.Post(t, first.path()+"/approve", nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("alice connects: %d\n%s", pg.Status, pg.HTML)
	}
	open(t, bob, second)
	pg := afterDecision(t, bob, bob.Post(t, second.path()+"/approve", nil))
	if !strings.Contains(pg.HTML, "This request was refused.") || strings.Contains(pg.HTML, "this agent, so nothing") {
		t.Fatalf("bob's page after connecting alice's agent:\n%s", pg.HTML)
	}
	r := w.poll(t, w.agent, second.loc)
	expectProblem(t, r, http.StatusForbidden, aauth.ErrDenied)
	if r.body["detail"] != "the agent is bound to another person" {
		t.Fatalf("detail: %s", r.raw)
	}
}
