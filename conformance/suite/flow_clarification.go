package suite

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// clarificationFlow (§3.14): a new agent declaring the interaction and
// clarification capabilities asks for a person token; the person, at the
// consent page, asks it a question instead of deciding. The agent's poll
// carries the question (PS-174); the agent's answers are checked
// (PS-175); then the person approves, having seen the answer.
func clarificationFlow(ctx context.Context, t *Target, rec recorder) error {
	e3, rs, err := t.e3Resource(ctx)
	if err != nil {
		return err
	}
	if t.Person == nil {
		return errNoPerson
	}
	a, err := t.newFlowAgent("c")
	if err != nil {
		return err
	}
	first, err := t.agentSend(ctx, a, http.MethodPost, e3, jsonBody(map[string]any{"resource": rs,
		"capabilities": []string{"interaction", "clarification"}, "justification": "aauth-conformance: a question first"}), nil)
	if err != nil {
		return err
	}
	if err := t.check202(first); err != nil {
		return Skip("the first request of a new agent was not deferred: %v", err)
	}
	loc, _ := t.location(first)
	url, code, err := checkInteraction(first)
	if err != nil {
		return Skip("the first request of a new agent asked for no interaction: %v", err)
	}
	question := "aauth-conformance asks: which records will you read? " + randomHex(3)
	shown := false
	if err := t.Person.Decide(ctx, Interaction{URL: url, Code: code, Ask: question, What: "ask agent " + a.ID + " a question",
		Shown: func(Page) { shown = true }}); err != nil {
		if shown {
			return NotApplicable("the PS's consent page offers the person no way to ask the agent a question: %v", err)
		}
		return Skip("the person could not ask the agent a question: %v", err)
	}

	// The question reaches the agent's poll.
	var r *Response
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r, err = t.agentSend(ctx, a, http.MethodGet, loc, nil, http.Header{"Prefer": {"wait=5"}}); err != nil {
			return err
		}
		req, _ := conformance.ParseRequirement(r.Header.Values("AAuth-Requirement"))
		if r.Status != http.StatusAccepted || req.Token == "clarification" || time.Now().After(deadline) {
			break
		}
		time.Sleep(retryAfter(r))
	}
	rec("PS-174 the question reaches the poll: 202 requirement=clarification, body clarification", checkClarification(t, r, question))

	// The agent's answer: malformed ones refused, then a good one taken.
	answer := "aauth-conformance answers: only the records you name, " + randomHex(3)
	var v verdict
	for _, body := range []string{`{"action":"clarification_response"}`, `{"action":"clarification_response","clarification_response":5}`} {
		br, err := t.agentSend(ctx, a, http.MethodPost, loc, []byte(body), nil)
		if err != nil {
			return err
		}
		v.addErr(MUST, prefixed(body, ExpectProblem(br, http.StatusBadRequest, aauth.ErrInvalidRequest)))
	}
	ok, err := t.agentSend(ctx, a, http.MethodPost, loc, jsonBody(map[string]any{"action": "clarification_response", "clarification_response": answer}), nil)
	if err != nil {
		return err
	}
	switch {
	case ok.Status < 200 || ok.Status > 299:
		v.add(MUST, "a well-formed clarification_response: %s, want it accepted (202)", ok)
	case ok.Status != http.StatusAccepted:
		v.add(IMPL, "a well-formed clarification_response: %d, want 202", ok.Status)
	}
	// The agent keeps polling, at the pace the PS asked for.
	time.Sleep(max(retryAfter(ok), retryAfter(r)))
	again, err := t.agentSend(ctx, a, http.MethodGet, loc, nil, nil)
	if err != nil {
		return err
	}
	if again.Status != http.StatusAccepted {
		v.add(MUST, "after the answer the poll is %s, want 202 while the person decides", again)
	}

	rec("PS-178 past five rounds no question reaches the agent; a sixth ends the request 403 denied",
		t.clarificationCap(ctx, a, loc, url, max(retryAfter(ok), retryAfter(r))))

	// The person sees the answer and approves.
	var pages []string
	if err := t.Person.Decide(ctx, Interaction{URL: url, Approve: true, What: "read the agent's answer and connect agent " + a.ID,
		Shown: func(p Page) { pages = append(pages, p.Text) }}); err != nil {
		v.add(MUST, "the person could not approve after the answer: %v", err)
	} else if len(pages) > 0 && !strings.Contains(strings.Join(pages, "\n"), answer) {
		v.add(MUST, "the person's page does not show the agent's answer %q", answer)
	}
	rec("PS-175 clarification_response: malformed gets 400, a string is accepted, the person sees it", v.err())
	return nil
}

// clarificationCap: the person asks questions 2 to 6 of one request, the
// agent answering each; the PS must stop them by the sixth (PS-178): it
// offers no sixth question, or a sixth ends the request 403 denied.
func (t *Target) clarificationCap(ctx context.Context, a *conformance.Agent, loc, url string, pace time.Duration) error {
	for round := 2; round <= 6; round++ {
		time.Sleep(pace)
		q := "aauth-conformance question " + strconv.Itoa(round) + ": and then? " + randomHex(3)
		shown := false
		err := t.Person.Decide(ctx, Interaction{URL: url, Ask: q, What: "ask agent " + a.ID + " question " + strconv.Itoa(round),
			Shown: func(Page) { shown = true }})
		switch {
		case err != nil && shown:
			if round <= 2 {
				return Skip("the person could not ask a second question: %v", err)
			}
			return nil // the PS offers no more questions: the cap is reached
		case err != nil:
			return Skip("the person could not ask question %d: %v", round, err)
		}
		r, err := t.agentSend(ctx, a, http.MethodGet, loc, nil, http.Header{"Prefer": {"wait=5"}})
		if err != nil {
			return err
		}
		req, _ := conformance.ParseRequirement(r.Header.Values("AAuth-Requirement"))
		if round == 6 {
			if req.Token == "clarification" {
				return Failf(MUST, "a sixth question reached the agent: %s", r)
			}
			return ExpectProblem(r, http.StatusForbidden, aauth.ErrDenied)
		}
		if r.Status == http.StatusForbidden && r.Body["error"] == aauth.ErrDenied {
			return nil // a lower cap, enforced
		}
		if req.Token != "clarification" {
			return Skip("question %d did not reach the agent's poll: %s", round, r)
		}
		time.Sleep(pace)
		ans, err := t.agentSend(ctx, a, http.MethodPost, loc, jsonBody(map[string]any{"action": "clarification_response",
			"clarification_response": "aauth-conformance answer " + strconv.Itoa(round)}), nil)
		if err != nil {
			return err
		}
		if ans.Status < 200 || ans.Status > 299 {
			return Skip("answer %d was not taken: %s", round, ans)
		}
		pace = max(retryAfter(ans), retryAfter(r))
	}
	return nil
}

// checkClarification checks a clarification 202 (PS-174).
func checkClarification(t *Target, r *Response, question string) error {
	var v verdict
	v.addErr(MUST, t.check202(r))
	req, err := conformance.ParseRequirement(r.Header.Values("AAuth-Requirement"))
	switch {
	case err != nil:
		v.add(MUST, "%v", err)
	case req.Token != "clarification":
		v.add(MUST, "requirement=%s, want clarification: %s", req.Token, r)
	case req.Params["url"] != "" || req.Params["code"] != "":
		v.add(MUST, "requirement=clarification carries url or code: %q", r.Header.Values("AAuth-Requirement"))
	}
	if q, ok := r.Body["clarification"].(string); !ok || !strings.Contains(q, question) {
		v.add(MUST, "body clarification %v, want the person's question %q", r.Body["clarification"], question)
	}
	if to, ok := r.Body["timeout"]; ok {
		if n, isNum := to.(float64); !isNum || n != float64(int64(n)) {
			v.add(MUST, "timeout %v is not an integer", to)
		}
	}
	if opts, ok := r.Body["options"]; ok {
		l, isList := opts.([]any)
		for _, o := range l {
			if _, isStr := o.(string); !isStr {
				isList = false
			}
		}
		if !isList {
			v.add(MUST, "options %v is not an array of strings", opts)
		}
	}
	return v.err()
}

var clarificationChecks = func() []Check {
	s := stepsOf("clarification", clarificationFlow)
	return []Check{
		s("PS-174", "the question reaches the poll: 202 requirement=clarification, body clarification", MUST),
		s("PS-175", "clarification_response: malformed gets 400, a string is accepted, the person sees it", MUST),
		s("PS-178", "past five rounds no question reaches the agent; a sixth ends the request 403 denied", MUST),
	}
}

// updatedRequestFlow (PS-177): the connected agent asks for an auth token
// for two scopes the person has not granted; while the person has not
// decided, the agent replaces the resource token by one for fewer scopes.
// Malformed updates are refused; the person then approves what the
// update asks for, and the auth token has exactly that scope.
func updatedRequestFlow(ctx context.Context, t *Target, rec recorder) error {
	const key = "PS-177 updated_request: needs presented_token, keeps tenant, replaces the request's scope"
	e4, err := t.need(ctx, "auth_token_endpoint")
	if err != nil {
		return err
	}
	b, err := t.bound(ctx)
	if err != nil {
		return err
	}
	a, rs := b.agent, t.Resource
	mint := func(scope string, change func(*conformance.ResourceTokenSpec)) (string, error) {
		return rs.MintFor(b.pt.raw, a.Key, scope, time.Time{}, change)
	}
	wide, err := mint("calendar.write payments.charge", nil)
	if err != nil {
		return err
	}
	r, err := t.agentSend(ctx, a, http.MethodPost, e4, jsonBody(map[string]any{"resource_token": wide, "presented_token": b.pt.raw,
		"capabilities": []string{"interaction"}, "justification": "Read-only access: aauth-conformance will not change anything"}), nil)
	if err != nil {
		return err
	}
	if r.Status != http.StatusAccepted {
		return Skip("E4 for scopes never granted did not wait for the person: %s", r)
	}
	loc, err := t.location(r)
	if err != nil {
		return err
	}
	narrow, err := mint("calendar.write", nil)
	if err != nil {
		return err
	}
	otherTenant, err := mint("calendar.write", func(s *conformance.ResourceTokenSpec) { s.Tenant = "aauth-conformance-other" })
	if err != nil {
		return err
	}
	var v verdict
	for _, c := range []struct {
		what   string
		body   map[string]any
		status int
		code   string
	}{
		{"without presented_token", map[string]any{"action": "updated_request", "resource_token": narrow}, 400, aauth.ErrInvalidRequest},
		{"another tenant", map[string]any{"action": "updated_request", "resource_token": otherTenant, "presented_token": b.pt.raw}, 400, aauth.ErrInvalidResourceToken},
	} {
		br, err := t.agentSend(ctx, a, http.MethodPost, loc, jsonBody(c.body), nil)
		if err != nil {
			return err
		}
		v.addErr(MUST, prefixed(c.what, ExpectProblem(br, c.status, c.code)))
	}
	up, err := t.agentSend(ctx, a, http.MethodPost, loc, jsonBody(map[string]any{"action": "updated_request", "resource_token": narrow, "presented_token": b.pt.raw}), nil)
	if err != nil {
		return err
	}
	switch {
	case up.Status < 200 || up.Status > 299:
		return rec(key, Failf(MUST, "the same resource with fewer scopes: %s, want it accepted", up))
	case up.Status != http.StatusAccepted:
		v.add(IMPL, "the update answered %d, want 202", up.Status)
	}
	time.Sleep(retryAfter(r))
	var pages []string
	if r, err = t.await(ctx, a, r, func(req conformance.Requirement) error {
		return t.Person.Decide(ctx, Interaction{URL: req.Params["url"], Code: req.Params["code"], Approve: true,
			What: "let " + a.ID + " write the calendar (the agent narrowed its request)", Shown: func(p Page) { pages = append(pages, p.Text) }})
	}); err != nil {
		return err
	}
	// The agent said "read-only"; the resource's scope says write: the
	// person is shown the resource's word for it, and the decision is the
	// resource's scope (PS-283).
	var rv verdict
	if len(pages) == 0 {
		rec(readOnlyKey, errNotShown)
	} else if write := conformance.ResourceScopes["calendar.write"].(string); !strings.Contains(strings.Join(pages, "\n"), write) {
		rv.add(MUST, "the consent page does not show the resource's description of calendar.write (%q)", write)
	}
	atStr, _ := r.Body["auth_token"].(string)
	if r.Status != http.StatusOK || atStr == "" {
		v.add(MUST, "after the update and the person's approval: %s, want 200 with an auth token", r)
	} else if at, err := t.verifyIssued(ctx, atStr, aauth.TypAuthToken, rs.Issuer(), a.Key); err != nil {
		v.addErr(MUST, err)
	} else if at.str("scope") != "calendar.write" {
		v.add(MUST, "the auth token's scope is %q, want the updated request's calendar.write", at.str("scope"))
		rv.add(MUST, "the auth token's scope is %q, want the resource's calendar.write", at.str("scope"))
	}
	rec(key, v.err())
	if len(pages) > 0 {
		rec(readOnlyKey, rv.err())
	}
	return nil
}

// readOnlyKey is the PS-283 step of the updated-request flow.
const readOnlyKey = "PS-283 a justification claiming read-only is shown and decided as the resource's write scope"

var updatedRequestChecks = func() []Check {
	s := stepsOf("updated-request", updatedRequestFlow)
	return []Check{
		s("PS-177", "updated_request: needs presented_token, keeps tenant, replaces the request's scope", MUST),
		s("PS-283", "a justification claiming read-only is shown and decided as the resource's write scope", MUST),
	}
}
