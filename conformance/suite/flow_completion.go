package suite

import (
	"context"
	"net/http"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
)

const followUpKey = "PS-204 a person's follow-up on a completion reaches the agent as 202 clarification; the mission stays active"

// completionFollowUp (PS-204, P§mission-completion): r is the 202 to a
// completion. The person, at the completion's interaction, asks the agent
// a follow-up instead of accepting; the agent's poll carries it as 202
// requirement=clarification, and E3 under the mission still gives a
// person token. The agent answers and the person then accepts. It returns
// the response the completion continues from: r itself when the person
// could not ask (the check is then skipped or not offered).
func (t *Target) completionFollowUp(ctx context.Context, rec recorder, a *conformance.Agent, r *Response, e3, rs, s256 string) (*Response, error) {
	if t.Person == nil {
		rec(followUpKey, errNoPerson)
		return r, nil
	}
	url, code, err := checkInteraction(r)
	if err != nil {
		rec(followUpKey, Skip("the completion's 202 names no interaction: %v", err))
		return r, nil
	}
	loc, err := t.location(r)
	if err != nil {
		rec(followUpKey, err)
		return r, nil
	}
	question := "aauth-conformance asks: what is left undone? " + randomHex(3)
	shown := false
	if err := t.Person.Decide(ctx, Interaction{URL: url, Code: code, Ask: question, What: "ask agent " + a.ID + " about its completion",
		Shown: func(Page) { shown = true }}); err != nil {
		if shown {
			rec(followUpKey, NotApplicable("the completion page offers the person no follow-up: %v", err))
		} else {
			rec(followUpKey, Skip("the person could not ask a follow-up: %v", err))
		}
		// The code may be spent: the person settles the completion with
		// a visit without it.
		return t.acceptCompletion(ctx, a, url, loc)
	}
	var pr *Response
	deadline := time.Now().Add(30 * time.Second)
	for {
		if pr, err = t.agentSend(ctx, a, http.MethodGet, loc, nil, http.Header{"Prefer": {"wait=5"}}); err != nil {
			return nil, err
		}
		req, _ := conformance.ParseRequirement(pr.Header.Values("AAuth-Requirement"))
		if pr.Status != http.StatusAccepted || req.Token == "clarification" || time.Now().After(deadline) {
			break
		}
		time.Sleep(retryAfter(pr))
	}
	v := verdict{}
	v.addErr(MUST, checkClarification(t, pr, question))
	still, err := t.agentSend(ctx, a, http.MethodPost, e3, jsonBody(map[string]any{"resource": rs, "mission_s256": s256}), nil)
	if err != nil {
		return nil, err
	}
	if still.Status != http.StatusOK {
		v.add(MUST, "E3 under the mission after the follow-up: %s, want 200 (the mission is active)", still)
	}
	rec(followUpKey, v.err())

	// The agent answers; the person accepts the completion.
	if _, err := t.agentSend(ctx, a, http.MethodPost, loc, jsonBody(map[string]any{"action": "clarification_response",
		"clarification_response": "aauth-conformance answers: nothing is left."}), nil); err != nil {
		return nil, err
	}
	return t.acceptCompletion(ctx, a, url, loc)
}

// acceptCompletion has the person accept a completion at url (its code
// already spent) and returns the agent's next poll of loc.
func (t *Target) acceptCompletion(ctx context.Context, a *conformance.Agent, url, loc string) (*Response, error) {
	if err := t.Person.Decide(ctx, Interaction{URL: url, Approve: true, What: "accept the mission's completion"}); err != nil {
		return nil, Skip("the person could not accept the completion after the follow-up: %v", err)
	}
	return t.agentSend(ctx, a, http.MethodGet, loc, nil, http.Header{"Prefer": {"wait=10"}})
}
