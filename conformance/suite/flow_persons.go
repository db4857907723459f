package suite

import (
	"context"
	"net/http"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// twoPersonsFlow needs a second person at the PS (Target.Person2): the
// second person cannot act on a request of the first person's agent
// (PS-165), and connects an agent of their own, whose person token for
// the test resource carries another sub (PS-079).
func twoPersonsFlow(ctx context.Context, t *Target, rec recorder) error {
	if t.Person2 == nil {
		return Skip("needs a second person at the PS: run with --second-person USER")
	}
	b, err := t.bound(ctx)
	if err != nil {
		return err
	}
	rec("PS-165 another person cannot act on a connected agent's request", t.notYours(ctx, b))

	e3, rs, err := t.e3Resource(ctx)
	if err != nil {
		return err
	}
	a, r, err := t.firstRequest(ctx, "p2", e3, rs)
	if err != nil {
		return err
	}
	second := &Target{Issuer: t.Issuer, Client: t.Client, AP: t.AP, Person: t.Person2, sent: map[string]int64{}}
	if r, err = second.resolve(ctx, a, r, true, "as the second person: connect agent "+a.ID+" and let it act at "+rs); err != nil {
		return err
	}
	s, _ := r.Body["person_token"].(string)
	if r.Status != http.StatusOK || s == "" {
		return rec("PS-079 two people at one resource get different sub values", Failf(MUST, "the second person's agent got no person token: %s", r))
	}
	pt, err := t.verifyIssued(ctx, s, aauth.TypPersonToken, rs, a.Key)
	if err != nil {
		return rec("PS-079 two people at one resource get different sub values", err)
	}
	if pt.str("sub") == b.pt.str("sub") {
		return rec("PS-079 two people at one resource get different sub values", Failf(MUST, "both people are sub %q at %s", pt.str("sub"), rs))
	}
	rec("PS-079 two people at one resource get different sub values", nil)
	t.mu.Lock()
	t.bind2 = &boundAgent{agent: a, pt: pt}
	t.mu.Unlock()
	return nil
}

// boundToSecond runs the two-persons flow (if not yet) and returns the
// agent it connected to the second person, nil when it did not.
func (t *Target) boundToSecond(ctx context.Context) *boundAgent {
	t.scenarioFor(ctx, "two-persons", twoPersonsFlow)
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.bind2
}

// notYours has the second person open the link of a request the first
// person's connected agent b makes (a question relayed through E9): the
// PS must offer them no decision, and the request still waits.
func (t *Target) notYours(ctx context.Context, b *boundAgent) error {
	r, err := t.relaySend(ctx, b, map[string]any{"type": "question", "question": "aauth-conformance: for my own person only", "capabilities": []string{"interaction"}})
	if err != nil {
		return err
	}
	if r.Status != http.StatusAccepted {
		return Skip("E9 question: %s, want a 202 with an interaction to open", r)
	}
	req, err := conformance.ParseRequirement(r.Header.Values("AAuth-Requirement"))
	if err != nil || req.Token != "interaction" {
		return Skip("E9 question: no requirement=interaction to open (%v): %s", err, r)
	}
	loc, err := t.location(r)
	if err != nil {
		return err
	}
	shown := false
	err = t.Person2.Decide(ctx, Interaction{URL: req.Params["url"], Code: req.Params["code"], Answer: "the second person answers",
		What: "as the second person: open another person's request (the PS must refuse)", Shown: func(Page) { shown = true }})
	switch {
	case !shown:
		return errNotShown
	case err == nil:
		return Failf(MUST, "the second person answered the first person's agent's question")
	}
	poll, err := t.pollPaced(ctx, b.agent, loc, r)
	if err != nil {
		return err
	}
	if poll.Status != http.StatusAccepted {
		return Failf(MUST, "after the second person's visit the request is %s, want still 202", poll)
	}
	return nil
}

var twoPersonsChecks = func() []Check {
	s := stepsOf("two-persons", twoPersonsFlow)
	return []Check{
		s("PS-165", "another person cannot act on a connected agent's request", MUST),
		s("PS-079", "two people at one resource get different sub values", MUST),
	}
}
