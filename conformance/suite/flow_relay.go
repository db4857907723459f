package suite

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// The interaction endpoint (E9, the agent's relay to its person, §3.20),
// spoken to by the agent the bind flow connected. A PS that does not
// advertise interaction_endpoint has these checks "not offered".

// relaySend posts body to E9 as b's agent.
func (t *Target) relaySend(ctx context.Context, b *boundAgent, body map[string]any) (*Response, error) {
	e9, err := t.need(ctx, "interaction_endpoint")
	if err != nil {
		return nil, err
	}
	return t.agentSend(ctx, b.agent, http.MethodPost, e9, jsonBody(body), nil)
}

// relayRefused expects 400 invalid_request for each body.
func (t *Target) relayRefused(ctx context.Context, b *boundAgent, bodies map[string]map[string]any) error {
	var v verdict
	for what, body := range bodies {
		r, err := t.relaySend(ctx, b, body)
		if err != nil {
			return err
		}
		v.addErr(MUST, prefixed(what, ExpectProblem(r, http.StatusBadRequest, aauth.ErrInvalidRequest)))
	}
	return v.err()
}

func relayChecks() []Check {
	link := "https://" + "relay.aauth-conformance.test/pay"
	return []Check{
		boundCheck("PS-224", "E9 without type, or with an unknown type, gets 400 invalid_request", MUST, func(ctx context.Context, t *Target, b *boundAgent) error {
			return t.relayRefused(ctx, b, map[string]map[string]any{
				"no type":      {"url": link, "code": "ABCD1234"},
				"type unknown": {"type": "telepathy", "url": link, "code": "ABCD1234"},
				"type 5":       {"type": 5, "url": link},
			})
		}),
		boundCheck("PS-225", "E9 interaction without an https url without fragment, or question without text, gets 400", IMPL, func(ctx context.Context, t *Target, b *boundAgent) error {
			return t.relayRefused(ctx, b, map[string]map[string]any{
				"interaction without url":   {"type": "interaction", "code": "ABCD1234"},
				"interaction with http url": {"type": "interaction", "url": "http://relay.aauth-conformance.test/x"},
				"payment with a fragment":   {"type": "payment", "url": link + "#frag"},
				"question without question": {"type": "question"},
			})
		}),
		boundCheck("PS-230", "E9 naming an unknown mission gets 404 mission_not_found", MUST, func(ctx context.Context, t *Target, b *boundAgent) error {
			r, err := t.relaySend(ctx, b, map[string]any{"type": "question", "question": "aauth-conformance: is this mission yours?",
				"mission_s256": randomS256(), "capabilities": []string{"interaction"}})
			if err != nil {
				return err
			}
			return ExpectProblem(r, http.StatusNotFound, aauth.ErrMissionNotFound)
		}),
		boundCheck("PS-228", "E9 question: the person's answer comes back as 200 {answer}", MUST, relayQuestion),
		boundCheck("PS-227", "E9 interaction the PS has no channel to relay gets 424 interaction_unavailable", MUST, func(ctx context.Context, t *Target, b *boundAgent) error {
			r, err := t.relaySend(ctx, b, map[string]any{"type": "interaction", "url": link, "code": "ABCD1234",
				"capabilities": []string{"interaction"}, "max_wait": 1})
			if err != nil {
				return err
			}
			if r.Status == http.StatusAccepted {
				// The PS has a channel to this person: the relay proper
				// (PS-226) applies instead.
				return NotApplicable("the PS relays to this person (202): it has a channel, so 424 does not apply")
			}
			return ExpectProblem(r, http.StatusFailedDependency, "interaction_unavailable")
		}),
	}
}

// relayQuestion: the agent relays a question; the person answers it
// through the approver; the agent's poll ends 200 {"answer"} (PS-228).
func relayQuestion(ctx context.Context, t *Target, b *boundAgent) error {
	if t.Person == nil {
		return errNoPerson
	}
	question := "aauth-conformance relays: which colour? " + randomHex(3)
	answer := "aauth-conformance's person says teal " + randomHex(3)
	r, err := t.relaySend(ctx, b, map[string]any{"type": "question", "question": question, "capabilities": []string{"interaction"}})
	if err != nil {
		return err
	}
	r, err = t.await(ctx, b.agent, r, func(req conformance.Requirement) error {
		return t.Person.Decide(ctx, Interaction{URL: req.Params["url"], Code: req.Params["code"], Answer: answer,
			What: "answer the agent's question " + question})
	})
	if err != nil {
		return err
	}
	got, ok := r.Body["answer"].(string)
	if r.Status != http.StatusOK || !ok {
		return Failf(MUST, "%s, want 200 {\"answer\": string}", r)
	}
	if !strings.Contains(got, answer) {
		return Failf(MUST, "answer %q, the person wrote %q", got, answer)
	}
	return nil
}

// await follows a deferred answer r to its end: the first interaction
// (or approval) is handed to person, then the Location is polled at the
// PS's pace until the answer is not 202.
func (t *Target) await(ctx context.Context, a *conformance.Agent, r *Response, person func(conformance.Requirement) error) (*Response, error) {
	asked := false
	deadline := time.Now().Add(maxFlowWait)
	for r.Status == http.StatusAccepted && time.Now().Before(deadline) {
		loc, err := t.location(r)
		if err != nil {
			return nil, err
		}
		req, err := conformance.ParseRequirement(r.Header.Values("AAuth-Requirement"))
		if err != nil {
			return nil, Failf(MUST, "%v", err)
		}
		if !asked && (req.Token == "interaction" || req.Token == "approval") {
			asked = true
			if err := person(req); err != nil {
				return nil, Skip("the person step failed: %v", err)
			}
		}
		start := time.Now()
		if r, err = t.agentSend(ctx, a, http.MethodGet, loc, nil, http.Header{"Prefer": {"wait=10"}}); err != nil {
			return nil, err
		}
		if r.Status == http.StatusAccepted {
			time.Sleep(max(retryAfter(r)-time.Since(start), 0))
		}
	}
	return r, nil
}

// Keys of the relay proper (PS-226, P§interaction-response-poll-authority).
const (
	relayEngagedKey  = "PS-226 E9 interaction relay: 202, then interacting once the person opened it"
	relayDoneKey     = "PS-226 E9 interaction relay: a terminal answer once the person followed the link"
	relayMaxWaitKey  = "PS-226 E9 interaction relay with max_wait, never engaged: a terminal answer once it passed"
	relayMaxWait     = 2
	relayUnengagedBy = 60 * time.Second
)

// relayFlow: a connected agent relays a link on the test resource (its
// /callback page records the person's visit) through E9. A PS with no
// channel to the first person (424, PS-227) is tried with the second
// person's agent; with none to either the relay is not offered. One relay
// carries max_wait and is left alone until it ends (no person needed);
// the other the person opens, which must show on the poll as
// interacting, and follows, after which the poll must end.
func relayFlow(ctx context.Context, t *Target, rec recorder) error {
	b, err := t.bound(ctx)
	if err != nil {
		return err
	}
	if t.Resource == nil {
		return Skip("no test resource to relay a link to")
	}
	link := t.Resource.Issuer() + conformance.ResourceCallbackPath
	relay := func(b *boundAgent, code string, extra map[string]any) (*Response, error) {
		body := map[string]any{"type": "interaction", "url": link, "code": code, "capabilities": []string{"interaction"},
			"description": "aauth-conformance relays a link of " + t.Resource.Issuer()}
		for k, v := range extra {
			body[k] = v
		}
		return t.relaySend(ctx, b, body)
	}
	person := t.Person
	code := relayCode()
	unengaged, err := relay(b, code, map[string]any{"max_wait": relayMaxWait})
	if err != nil {
		return err
	}
	if unengaged.Status == http.StatusFailedDependency && t.Person2 != nil {
		if b2 := t.boundToSecond(ctx); b2 != nil {
			b, person = b2, t.Person2
			if unengaged, err = relay(b, code, map[string]any{"max_wait": relayMaxWait}); err != nil {
				return err
			}
		}
	}
	if unengaged.Status == http.StatusFailedDependency {
		return NotApplicable("the PS has no channel to relay a link to the person (424 interaction_unavailable: PS-227 applies)")
	}
	rec(relayMaxWaitKey, t.relayEndsUnengaged(ctx, b, unengaged))

	if person == nil {
		rec(relayEngagedKey, errNoPerson)
		return rec(relayDoneKey, errNoPerson)
	}
	code = relayCode()
	first, err := relay(b, code, nil)
	if err != nil {
		return err
	}
	if err := t.check202(first); err != nil {
		rec(relayEngagedKey, err)
		return rec(relayDoneKey, Skip("the relay was not deferred"))
	}
	loc, _ := t.location(first)
	req, err := conformance.ParseRequirement(first.Header.Values("AAuth-Requirement"))
	if err != nil {
		rec(relayEngagedKey, Failf(MUST, "%v", err))
		return rec(relayDoneKey, Skip("the relay's requirement does not parse"))
	}
	engaged := errNotShown
	shown := false
	decided := person.Decide(ctx, Interaction{URL: req.Params["url"], Code: req.Params["code"], Pending: loc, Approve: true,
		What: "open the link the agent relayed (" + link + "?code=" + code + ")",
		Shown: func(Page) {
			if shown {
				return
			}
			shown = true
			engaged = t.relayInteracting(ctx, b, loc, first)
		},
		Visited: func() bool { return slices.Contains(t.Resource.CallbackVisits(), "code="+code) }})
	rec(relayEngagedKey, engaged)
	if decided != nil {
		return rec(relayDoneKey, Skip("the person step failed: %v", decided))
	}
	end, err := t.await(ctx, b.agent, first, func(conformance.Requirement) error { return nil })
	if err != nil {
		return rec(relayDoneKey, err)
	}
	rec(relayDoneKey, relayEnded(end, true))
	return nil
}

// relayCode is an interaction code for the relayed link.
func relayCode() string { return strings.ToUpper(randomHex(5)) }

// relayInteracting polls the relay once the person has it open: 202 with
// status interacting.
func (t *Target) relayInteracting(ctx context.Context, b *boundAgent, loc string, first *Response) error {
	r, err := t.pollPaced(ctx, b.agent, loc, first)
	if err != nil {
		return err
	}
	if err := t.check202(r); err != nil {
		return prefixed("with the person on the relay", err)
	}
	if st := r.Body["status"]; st != "interacting" {
		return Failf(MUST, "with the person on the relay the poll's status is %v, want interacting: %s", st, r.Raw)
	}
	return nil
}

// relayEndsUnengaged polls a relay no one opens past its max_wait: it
// must end (the IMPL body says engaged false).
func (t *Target) relayEndsUnengaged(ctx context.Context, b *boundAgent, first *Response) error {
	if err := t.check202(first); err != nil {
		return err
	}
	loc, _ := t.location(first)
	deadline := time.Now().Add(relayUnengagedBy)
	r := first
	for r.Status == http.StatusAccepted {
		if time.Now().After(deadline) {
			return Failf(MUST, "still 202 %s after a relay with max_wait %d: %s", relayUnengagedBy, relayMaxWait, r)
		}
		var err error
		if r, err = t.pollPaced(ctx, b.agent, loc, r); err != nil {
			return err
		}
	}
	return relayEnded(r, false)
}

// relayEnded checks a relay's terminal answer: not 202; IMPL, 200
// {"status":"relayed","engaged":engaged} (the link is the resource's).
func relayEnded(r *Response, engaged bool) error {
	if r.Status == http.StatusAccepted {
		return Failf(MUST, "no terminal answer: %s", r)
	}
	if r.Status != http.StatusOK || r.Body["status"] != "relayed" || r.Body["engaged"] != engaged {
		return Failf(IMPL, "%s, want 200 {\"status\":\"relayed\",\"engaged\":%t}", r, engaged)
	}
	return nil
}

var relayProperChecks = func() []Check {
	return keyedSteps("relay", relayFlow, MUST, relayMaxWaitKey, relayEngagedKey, relayDoneKey)
}
