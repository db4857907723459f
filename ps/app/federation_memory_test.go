package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestFederationStandingAnswer: the PS answers an AS's clarification
// itself from the person's standing answer for the mission (issue 11,
// P§as-response "itself, if mission context has the answer"). The person
// answers on the PS's page with "Give the same answer …" ticked; the next
// request of that mission meeting the same question from the same AS is
// answered by the PS (no person, no agent step), evidenced as the PS's
// answer; another question, another AS or another mission is asked again;
// after Forget on the mission page it is asked again; a suspended mission
// does not answer from memory. PS-126, PS-173 (the agent without the
// capability is never sent the question), PS-168 (the question on the
// mission page is sanitized), PS-282. On both databases.
func TestFederationStandingAnswer(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			var as2 *conformance.AccessServer
			policy := pstest.FourPartyPolicy(t)
			f := newFedWorldOn(t, pstest.Options{DatabaseURL: b.NewURL(t),
				Configure: func(c *config.Config) { c.MissionPolicy = policy; c.MissionSuspendRevokes = false }},
				func(env *pstest.Env) {
					var err error
					if as2, err = conformance.StartAccessServer(env.CA, env.Resolver, "as2.test"); err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { _ = as2.Close() })
				})
			federationStandingAnswer(t, f, as2)
		})
	}
}

// standingEvents are the mission's standing_answer evidence records:
// their event and actor kind, in order.
func standingEvents(t *testing.T, f *fedWorld, s256 string) []string {
	t.Helper()
	chain, err := f.ps.App.Store.Evidence(ctxT(), s256)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range chain {
		if e.Record.Type != evidence.StandingAnswer {
			continue
		}
		var body struct {
			Event        string `json:"event"`
			AccessServer string `json:"access_server"`
			Question     string `json:"question_s256"`
			Answer       string `json:"standing_answer"`
		}
		if err := json.Unmarshal(e.Record.Body, &body); err != nil || body.AccessServer == "" || body.Question == "" || body.Answer == "" {
			t.Fatalf("standing_answer record %s: %v", e.Record.Body, err)
		}
		out = append(out, body.Event+"/"+e.Record.Actor.Kind)
	}
	return out
}

func federationStandingAnswer(t *testing.T, f *fedWorld, as2 *conformance.AccessServer) {
	mission := func() (string, string) {
		ap := f.approveMission(t, f.agent, f.b, `{"description":"# Plan the offsite\n\nRead the team calendar.",`+
			`"resources":["https://rs.test"],"capabilities":["interaction"]}`, nil)
		pt, _ := ap.res.body["person_tokens"].(map[string]any)["https://rs.test"].(string)
		if pt == "" {
			t.Fatalf("no mission person token for rs.test: %s", ap.res.raw)
		}
		return ap.s256, pt
	}
	s256, pt := mission()
	// The agent declares interaction only: the AS's question goes to the
	// person unless the PS answers it.
	auth := func(pt, s256 string, as *conformance.AccessServer) result {
		rt := resourceToken(t, f.world, f.rs, pt, "calendar.read", func(s *conformance.ResourceTokenSpec) {
			s.Aud, s.MissionS256 = as.Issuer(), s256
		})
		return f.post(t, f.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt,
			"capabilities": []string{"interaction"}}))
	}
	const question = "Which calendar: **work** or home?<script>alert(1)</script>"
	lastAnswer := func(as *conformance.AccessServer) any {
		reqs := as.Requests()
		return reqs[len(reqs)-1].Clarification["clarification_response"]
	}
	// The person is asked and answers with the box ticked.
	askPerson := func(as *conformance.AccessServer, s256, pt, q string) started {
		t.Helper()
		as.Script(conformance.ASStep{Kind: conformance.ASClarification, Question: q})
		s := f.expectInteraction(t, auth(pt, s256, as))
		pg := open(t, f.b, s)
		if !strings.Contains(pg.HTML, "Give the same answer if <code>"+as.Issuer()+"</code> asks this again during this mission") ||
			strings.Contains(pg.HTML, `name="remember" value="on" checked`) {
			t.Fatalf("want the unticked box on the question page:\n%s", pg.HTML)
		}
		return s
	}
	// Outside a mission nothing can be kept: no box.
	f.as.Script(conformance.ASStep{Kind: conformance.ASClarification, Question: question})
	s := f.expectInteraction(t, f.request(t, f.rt(t, "calendar.read")))
	open(t, f.b, s)
	f.b.Post(t, s.path()+"/approve", nil)
	if pg := f.b.Get(t, s.path()); !strings.Contains(pg.HTML, "Your answer to the access server") || strings.Contains(pg.HTML, `name="remember"`) {
		t.Fatalf("want the question without the box outside a mission:\n%s", pg.HTML)
	}
	f.b.Post(t, s.path()+"/deny", nil)
	expectNoToken(t, f.awaitResult(t, s.loc), http.StatusForbidden, "denied")

	s = askPerson(f.as, s256, pt, question)
	f.b.Post(t, s.path()+"/answer", map[string]string{"answer": "Work.", "remember": "on"})
	f.expectASToken(t, f.awaitResult(t, s.loc))
	if got := lastAnswer(f.as); got != "Work." {
		t.Fatalf("the AS received %v, want the person's answer", got)
	}
	if ev := standingEvents(t, f, s256); len(ev) != 1 || ev[0] != "kept/person" {
		t.Fatalf("evidence after keeping: %v", ev)
	}

	// The same question from the same AS in the same mission: the PS
	// answers; the agent sees only approval (no interaction, no question).
	fromMemory := func() {
		t.Helper()
		n := len(f.as.Requests())
		f.as.Script(conformance.ASStep{Kind: conformance.ASClarification, Question: question})
		r := auth(pt, s256, f.as)
		if r.status == http.StatusAccepted {
			if req, _ := requirement(t, r); req != "approval" {
				t.Fatalf("want the PS to answer, not %s: %s", req, r.raw)
			}
			r = f.awaitResult(t, expect202(t, r, f.ps.Issuer))
		}
		f.expectASToken(t, r)
		if got := lastAnswer(f.as); got != "Work." || len(f.as.Requests()) != n+1 {
			t.Fatalf("the AS received %v (requests %d → %d), want the standing answer", got, n, len(f.as.Requests()))
		}
	}
	fromMemory()
	if ev := standingEvents(t, f, s256); len(ev) != 2 || ev[1] != "answered/ps" {
		t.Fatalf("evidence after the PS answered: %v", ev)
	}
	if pg := f.b.Get(t, "/missions/"+s256); !strings.Contains(pg.HTML, "This server answered the question of "+f.as.Issuer()+" with the standing answer kept") {
		t.Fatalf("the mission log does not say the PS answered:\n%s", pg.HTML)
	}

	// Another question text, another AS, another mission: the person.
	decline := func(s started) {
		t.Helper()
		f.b.Post(t, s.path()+"/deny", nil)
		expectNoToken(t, f.awaitResult(t, s.loc), http.StatusForbidden, "denied")
	}
	decline(askPerson(f.as, s256, pt, question+" "))
	decline(askPerson(as2, s256, pt, question))
	s2, pt2 := mission()
	decline(askPerson(f.as, s2, pt2, question))
	if ev := standingEvents(t, f, s256); len(ev) != 2 {
		t.Fatalf("evidence after the questions the PS did not answer: %v", ev)
	}
	// The same words with the AS's choices: the PS answers only when the
	// kept answer is one of them; otherwise the person is asked.
	f.as.Script(conformance.ASStep{Kind: conformance.ASClarification, Question: question, Options: []string{"Home.", "Office."}})
	s = f.expectInteraction(t, auth(pt, s256, f.as))
	open(t, f.b, s)
	decline(s)
	f.as.Script(conformance.ASStep{Kind: conformance.ASClarification, Question: question, Options: []string{"Home.", "Work."}})
	if r := auth(pt, s256, f.as); r.status == http.StatusAccepted {
		f.expectASToken(t, f.awaitResult(t, expect202(t, r, f.ps.Issuer)))
	} else {
		f.expectASToken(t, r)
	}
	if got := lastAnswer(f.as); got != "Work." {
		t.Fatalf("the AS received %v, want the standing answer among its choices", got)
	}
	if ev := standingEvents(t, f, s256); len(ev) != 3 || ev[2] != "answered/ps" {
		t.Fatalf("evidence after the questions with choices: %v", ev)
	}

	// The mission page: which AS (verified), its question (its words,
	// sanitized), the person's answer; Forget.
	pg := f.b.Get(t, "/missions/"+s256)
	section, _, _ := strings.Cut(pg.HTML[strings.Index(pg.HTML, "Answers this server gives for you"):], "</section>")
	if !strings.Contains(section, "<code>"+f.as.Issuer()+"</code>") || !strings.Contains(section, "the access server's words, not verified") ||
		!strings.Contains(section, "<strong>work</strong>") || strings.Contains(section, "<script>") || !strings.Contains(section, "Work.") {
		t.Fatalf("the mission page's standing answers:\n%s", section)
	}
	answers, err := f.ps.App.Store.StandingAnswers(ctxT(), s256)
	if err != nil || len(answers) != 1 {
		t.Fatalf("standing answers: %+v %v", answers, err)
	}
	// Another mission's page cannot forget it (not found, nothing changes).
	if pg := f.b.Post(t, "/missions/"+s2+"/answers/"+answers[0].ID+"/forget", nil); pg.Status != http.StatusNotFound {
		t.Fatalf("forget through another mission: %d", pg.Status)
	}
	fromMemory()
	if pg := f.b.Follow(t, f.b.Post(t, "/missions/"+s256+"/answers/"+answers[0].ID+"/forget", nil)); !strings.Contains(pg.HTML, "Forgotten") ||
		strings.Contains(pg.HTML, "Answers this server gives for you") {
		t.Fatalf("forget:\n%s", pg.HTML)
	}
	if ev := standingEvents(t, f, s256); len(ev) != 5 || ev[4] != "forgotten/person" {
		t.Fatalf("evidence after Forget: %v", ev)
	}
	s = askPerson(f.as, s256, pt, question)
	f.b.Post(t, s.path()+"/answer", map[string]string{"answer": "Home.", "remember": "on"})
	f.expectASToken(t, f.awaitResult(t, s.loc))

	// Suspended while the request waits on the AS: the question goes to
	// the person, the AS hears nothing from memory.
	n := len(f.as.Hits())
	f.as.Script(conformance.ASStep{Kind: conformance.ASApproval, RetryAfter: 2},
		conformance.ASStep{Kind: conformance.ASClarification, Question: question})
	done := make(chan result, 1)
	go func() { done <- auth(pt, s256, f.as) }()
	for deadline := time.Now().Add(10 * time.Second); len(f.as.Hits()) == n; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the request never reached the AS")
		}
	}
	if pg := f.b.Post(t, "/missions/"+s256+"/suspend", nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("suspend: %d %s", pg.Status, pg.HTML)
	}
	f.expectInteraction(t, <-done)
	if got := f.as.Requests()[len(f.as.Requests())-1].Clarification; got != nil {
		t.Fatalf("a suspended mission answered from memory: %v", got)
	}
	if ev := standingEvents(t, f, s256); len(ev) != 6 || ev[5] != "kept/person" {
		t.Fatalf("evidence after the suspended mission's question: %v", ev)
	}

	// At the bound (20 per mission): keeping one more is refused with a
	// clear message and nothing changes; the person may answer without it.
	for i := range store.MaxStandingAnswers {
		if err := f.ps.App.Store.PutStandingAnswer(ctxT(), &store.StandingAnswer{MissionS256: s2, AccessServer: f.as.Issuer(),
			QuestionS256: fmt.Sprint("q", i), Question: "?", Answer: "!", CreatedBy: "test", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	s = askPerson(f.as, s2, pt2, question)
	before := len(f.as.Requests())
	refused := f.b.Follow(t, f.b.Post(t, s.path()+"/answer", map[string]string{"answer": "Work.", "remember": "on"}))
	if !strings.Contains(refused.HTML, "This mission already keeps 20 standing answers") || !strings.Contains(refused.HTML, "Your answer to the access server") {
		t.Fatalf("keeping a 21st answer was not refused:\n%s", refused.HTML)
	}
	if ev := standingEvents(t, f, s2); len(ev) != 0 || len(f.as.Requests()) != before || f.as.Requests()[before-1].Clarification != nil {
		t.Fatalf("a refused keep changed something: evidence %v, AS requests %d → %d", ev, before, len(f.as.Requests()))
	}
	f.b.Post(t, s.path()+"/answer", map[string]string{"answer": "Work."})
	f.expectASToken(t, f.awaitResult(t, s.loc))

	// The exported evidence, standing_answer records included, verifies.
	if rep, types := verifyExport(t, f.world, f.b, s256); !rep.OK || !slices.Contains(types, evidence.StandingAnswer) {
		t.Fatalf("the mission's evidence export: %+v %v", rep, types)
	}
}
