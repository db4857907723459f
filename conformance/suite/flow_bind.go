package suite

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// boundAgent is the outcome of the bind flow, used by the later flows: a
// new agent connected to the person, with a person token for the test
// resource.
type boundAgent struct {
	agent *conformance.Agent
	pt    issued
}

// bound runs the bind flow (if not yet) and returns its agent.
func (t *Target) bound(ctx context.Context) (*boundAgent, error) {
	s := t.scenarioFor(ctx, "bind", bindFlow)
	t.mu.Lock()
	b := t.bind
	t.mu.Unlock()
	if b == nil {
		if s.err != nil {
			return nil, s.err
		}
		return nil, Skip("the bind flow did not finish")
	}
	return b, nil
}

// e3Resource is the person token endpoint and the test resource.
func (t *Target) e3Resource(ctx context.Context) (e3, rs string, err error) {
	if e3, err = t.need(ctx, "person_token_endpoint"); err != nil {
		return "", "", err
	}
	if t.Resource == nil {
		return "", "", Skip("no test resource the PS can reach")
	}
	return e3, t.Resource.Issuer(), nil
}

// bindFlow: a never-seen agent asks for a person token for the test
// resource, with the interaction capability. The PS answers 202 with an
// interaction (PS-065, PS-063); the pending URL is probed (PS-146 to
// PS-157) before the person approves; then the token is checked (PS-056,
// PS-009, PS-072 to PS-077, PS-151, PS-152, PS-154, PS-167).
func bindFlow(ctx context.Context, t *Target, rec recorder) error {
	e3, rs, err := t.e3Resource(ctx)
	if err != nil {
		return err
	}
	a, err := t.newFlowAgent("a")
	if err != nil {
		return err
	}
	first, err := t.agentSend(ctx, a, http.MethodPost, e3, jsonBody(map[string]any{"resource": rs, "capabilities": []string{"interaction"},
		"justification": hostileJustification}), nil)
	if err != nil {
		return err
	}
	done := first
	if first.Status == http.StatusOK {
		// No enrollment at all: reported, and the token is still checked.
		rec("PS-065 a new agent gets no person token before it is connected", Failf(MUST, "200 at once: %.200s", first))
		rec("PS-063 the first person token waits for the person (202)", Failf(SHOULD, "200 at once"))
	} else if err := t.bindPending(ctx, rec, a, e3, first, rs, &done); err != nil {
		return err
	}
	return t.bindToken(ctx, rec, a, e3, rs, done)
}

// bindPending probes a new agent's deferred first request and has the
// person approve it; done receives the terminal answer.
func (t *Target) bindPending(ctx context.Context, rec recorder, a *conformance.Agent, e3 string, first *Response, rs string, done **Response) error {
	rec("PS-065 a new agent gets no person token before it is connected", nil)
	if rec("PS-063 the first person token waits for the person (202)", t.check202(first)) != nil {
		return rec("PS-146 202: Location on the PS origin, Retry-After, no-store, status", t.check202(first))
	}
	rec("PS-146 202: Location on the PS origin, Retry-After, no-store, status", nil)
	loc, _ := t.location(first)
	url, code, err := checkInteraction(first)
	if rec("PS-159 requirement=interaction with an https url and a code", err) != nil {
		return err
	}
	var v verdict
	if !crockford.MatchString(code) || len(strings.ReplaceAll(code, "-", "")) < 8 {
		v.add(MUST, "code %q: want Crockford base32 with at least 8 symbols", code)
	}
	rec("PS-160 the code is Crockford base32, 8 symbols or more", v.err())

	// The pending URL, before the person acts.
	un, err := t.get(ctx, loc)
	if err != nil {
		return err
	}
	rec("PS-148 an unsigned poll gets 401 invalid_signature", onlyCode(un, aauth.SigInvalidSignature))
	other, err := t.newFlowAgent("other")
	if err != nil {
		return err
	}
	theirs, err := t.agentSend(ctx, other, http.MethodGet, loc, nil, nil)
	if err != nil {
		return err
	}
	unknown, err := t.agentSend(ctx, a, http.MethodGet, loc[:strings.LastIndex(loc, "/")+1]+randomHex(16), nil, nil)
	if err != nil {
		return err
	}
	pv := verdict{}
	if theirs.Status != http.StatusNotFound {
		pv.add(MUST, "another agent's poll: %s, want 404", theirs)
	} else if err := sameAnswer(theirs, unknown); err != nil {
		pv.add(MUST, "another agent's poll and an unknown id: %v", err)
	}
	rec("PS-149 another agent's poll is the 404 of an unknown id", pv.err())
	bad, err := t.agentSend(ctx, a, http.MethodPost, loc, []byte(`{"action":"foo"}`), nil)
	if err != nil {
		return err
	}
	empty, err := t.agentSend(ctx, a, http.MethodPost, loc, []byte(`{}`), nil)
	if err != nil {
		return err
	}
	bv := verdict{}
	bv.addErr(MUST, ExpectProblem(bad, http.StatusBadRequest, aauth.ErrInvalidRequest))
	bv.addErr(MUST, ExpectProblem(empty, http.StatusBadRequest, aauth.ErrInvalidRequest))
	rec("PS-157 a POST to the pending URL without a known action gets 400", bv.err())
	cr, err := t.agentSend(ctx, a, http.MethodPost, loc, []byte(`{"action":"clarification_response","clarification_response":"nobody asked"}`), nil)
	if err != nil {
		return err
	}
	rec("PS-176 a clarification_response with no question outstanding gets 400", ExpectProblem(cr, http.StatusBadRequest, aauth.ErrInvalidRequest))
	again, err := t.agentSend(ctx, a, http.MethodGet, loc, nil, nil)
	if err != nil {
		return err
	}
	sv := verdict{}
	sv.addErr(MUST, t.check202(again))
	if again.Status == http.StatusAccepted {
		sv.addErr(MUST, samePending(first, again))
	}
	rec("PS-150 an unresolved poll is 202 with the same header set", sv.err())
	start := time.Now()
	held, err := t.agentSend(ctx, a, http.MethodGet, loc, nil, http.Header{"Prefer": {"wait=2"}})
	if err != nil {
		return err
	}
	wv := verdict{}
	if took := time.Since(start); held.Status != http.StatusAccepted {
		wv.add(IMPL, "Prefer: wait=2 on an unresolved request: %s, want 202", held)
	} else if took > 3500*time.Millisecond {
		wv.add(IMPL, "Prefer: wait=2 held the poll %s, over 3 s", took.Round(time.Millisecond))
	}
	rec("PS-154 Prefer: wait=2 answers 202 within 3 s while unresolved", wv.err())

	// The person connects the agent and approves.
	if t.Person == nil {
		return errNoPerson
	}
	if err := t.bindDecide(ctx, rec, a, first, loc, url, code, rs); err != nil {
		return err
	}
	// Something is waiting now: a long poll must not hold it.
	var err2 error
	begun, polls := time.Now(), 0
	var took time.Duration
	for {
		start := time.Now()
		if *done, err2 = t.agentSend(ctx, a, http.MethodGet, loc, nil, http.Header{"Prefer": {"wait=10"}}); err2 != nil {
			return err2
		}
		took, polls = time.Since(start), polls+1
		if (*done).Status != http.StatusAccepted || time.Since(begun) > maxFlowWait {
			break
		}
		// The person may have more to do (a second page): wait and poll.
		time.Sleep(retryAfter(*done))
	}
	switch {
	case polls > 1:
		// The person was not done when the first poll began, so the
		// result may have come while the last one was held: that poll's
		// time says nothing of a result already waiting.
		rec("PS-154 Prefer: wait answers at once when the result is already waiting", NotApplicable("the person had more to do after the decision page (%d polls); the result came during a held poll", polls))
	case took > 2*time.Second:
		rec("PS-154 Prefer: wait answers at once when the result is already waiting", Failf(IMPL, "the waiting result took %s", took.Round(time.Millisecond)))
	default:
		rec("PS-154 Prefer: wait answers at once when the result is already waiting", nil)
	}
	ok := (*done).Status == http.StatusOK
	if s, _ := (*done).Body["person_token"].(string); !ok || s == "" {
		return rec("PS-151 after approval the poll is 200 with the person token", Failf(MUST, "%s", *done))
	}
	rec("PS-151 after approval the poll is 200 with the person token", nil)
	gone, err := t.agentSend(ctx, a, http.MethodGet, loc, nil, nil)
	if err != nil {
		return err
	}
	if gone.Status != http.StatusGone {
		rec("PS-152 a poll after the terminal answer gets 410", Failf(MUST, "%s", gone))
	} else {
		rec("PS-152 a poll after the terminal answer gets 410", nil)
	}
	rec("PS-162 a used interaction code is refused the second time", t.refusedLink(ctx, url, code, "open a link whose code was used: the PS must refuse it"))
	return nil
}

// bindDecide is the person's step of the bind flow: the code as a person
// may type it (PS-161), the consent page's contents (PS-168, PS-169) and,
// before deciding, the decision forms replayed without the person's
// session (PS-164).
func (t *Target) bindDecide(ctx context.Context, rec recorder, a *conformance.Agent, first *Response, loc, url, code, rs string) error {
	var pages []Page
	replay := errNotShown
	in := Interaction{URL: url, Code: mangledCode(code), Approve: true, What: "connect agent " + a.ID + " and let it act at " + rs,
		Shown: func(p Page) {
			if len(pages) == 0 {
				replay = t.unauthenticatedDecision(ctx, a, loc, first, p)
			}
			pages = append(pages, p)
		}}
	err := t.Person.Decide(ctx, in)
	switch {
	case len(pages) == 0:
		// An approver that shows nothing cannot say which code it used.
		rec("PS-161 the code is accepted in lower case, without hyphens, with O and L", errNotShown)
	case err != nil:
		rec("PS-161 the code is accepted in lower case, without hyphens, with O and L", Failf(MUST, "the code typed as %q (given %q): %v", in.Code, code, err))
	default:
		rec("PS-161 the code is accepted in lower case, without hyphens, with O and L", nil)
	}
	if err != nil {
		pages, replay, in.Code = nil, errNotShown, code
		if err := t.Person.Decide(ctx, in); err != nil {
			return Skip("the person step failed: %v", err)
		}
	}
	rec("PS-164 the decision forms posted without the person's session change nothing", replay)
	if len(pages) == 0 {
		rec("PS-168 agent Markdown reaches the consent page without live script", errNotShown)
		rec("PS-169 the consent page shows the agent, the resource and the justification", errNotShown)
		rec("PS-282 the justification is shown apart from what the resource says, attributed to the agent", errNotShown)
		return nil
	}
	var v verdict
	all := Page{}
	for _, p := range pages {
		if live := liveMarker(p.HTML); live != "" {
			v.add(MUST, "%s: the justification's payload is live: %s", p.URL, live)
		}
		all.Text += p.Text + "\n"
	}
	rec("PS-168 agent Markdown reaches the consent page without live script", v.err())
	rec("PS-169 the consent page shows the agent, the resource and the justification", showsAll(all, map[string][]string{
		"the agent":         {a.ID, strings.TrimPrefix(a.ID, "aauth:")},
		"the resource":      {rs, strings.TrimPrefix(rs, "https://")},
		"the justification": {justificationShown},
	}))
	rec("PS-282 the justification is shown apart from what the resource says, attributed to the agent", t.consentAttribution(pages, a))
	return nil
}

// consentAttribution checks PS-282 on every page that shows the
// justification; one of them must.
func (t *Target) consentAttribution(pages []Page, a *conformance.Agent) error {
	var v verdict
	seen := 0
	for _, p := range pages {
		if !strings.Contains(squash(p.Text), justificationShown) {
			continue
		}
		seen++
		v.addErr(MUST, attributedToAgent(p, justificationShown, []string{a.ID, strings.TrimPrefix(a.ID, "aauth:"), "agent"}, resourceAssertions(t.Resource)))
	}
	if seen == 0 {
		return Failf(MUST, "no page the person was shown carries the justification (%q)", justificationShown)
	}
	return v.err()
}

// unauthenticatedDecision posts the forms of the decision page p without
// the person's session: the request must still be waiting (PS-164).
func (t *Target) unauthenticatedDecision(ctx context.Context, a *conformance.Agent, loc string, first *Response, p Page) error {
	got, err := t.replayWithoutSession(ctx, p)
	if err != nil {
		return err
	}
	if len(got) == 0 {
		return NotApplicable("the decision page at %s has no POST form to replay", p.URL)
	}
	poll, err := t.pollPaced(ctx, a, loc, first)
	if err != nil {
		return err
	}
	if poll.Status != http.StatusAccepted {
		return Failf(MUST, "after %s without a session the poll is %s, want 202", strings.Join(got, ", "), poll)
	}
	return nil
}

// bindToken checks the first person token (done's) and what follows.
func (t *Target) bindToken(ctx context.Context, rec recorder, a *conformance.Agent, e3, rs string, done *Response) error {
	ptStr, _ := done.Body["person_token"].(string)
	if done.Status != http.StatusOK || ptStr == "" {
		return Failf(MUST, "no person token: %s", done)
	}
	pt, err := t.verifyIssued(ctx, ptStr, aauth.TypPersonToken, rs, a.Key)
	rec("PS-072 person token: typ, alg, kid, iss, dwk, aud", err)
	rec("PS-009 the person token verifies with the PS JWKS", err)
	rec("PS-073 person token cnf.jwk is the agent's key, with alg", err)
	rec("PS-075 person token exp within an hour and the agent token", checkExp(pt, done.Body["expires_in"], map[string]int64{"agent token": tokenExp(a.Token)}))
	nv := verdict{}
	for _, n := range []string{"scope", "account", "mission_s256"} {
		if _, ok := pt.claims[n]; ok {
			nv.add(MUST, "the person token carries %s", n)
		}
	}
	rec("PS-076 person token has no scope and no account (and no mission outside one)", nv.err())
	t.mu.Lock()
	t.bind = &boundAgent{agent: a, pt: pt}
	t.mu.Unlock()

	// Consent given: at once from now on, a new jti each time.
	jtis := map[string]bool{pt.str("jti"): true}
	iv, jv := verdict{}, verdict{}
	for i := range 10 {
		r, err := t.agentSend(ctx, a, http.MethodPost, e3, jsonBody(map[string]any{"resource": rs}), nil)
		if err != nil {
			return err
		}
		s, _ := r.Body["person_token"].(string)
		if r.Status != http.StatusOK || s == "" {
			iv.add(MUST, "request %d: %s", i, r)
			break
		}
		if !strings.Contains(r.Header.Get("Cache-Control"), "no-store") {
			iv.add(IMPL, "Cache-Control %q, want no-store", r.Header.Get("Cache-Control"))
		}
		tok, err := t.verifyIssued(ctx, s, aauth.TypPersonToken, rs, a.Key)
		if err != nil {
			iv.addErr(MUST, err)
			break
		}
		if jtis[tok.str("jti")] {
			jv.add(MUST, "jti %s repeated", tok.str("jti"))
		}
		jtis[tok.str("jti")] = true
		if tok.str("sub") != pt.str("sub") {
			jv.add(MUST, "PS-077: sub changed between tokens for one resource")
		}
	}
	rec("PS-056 with consent, E3 answers 200 {person_token, expires_in} at once", iv.err())
	rec("PS-074 person token jti unique over 11 tokens", jv.err())

	// A rotated agent key: recognised, no new enrollment, same sub.
	k2, err := conformance.NewAgentKey(aauth.AlgEd25519)
	if err != nil {
		return err
	}
	rot, err := t.mintFrom(t.AP, conformance.TokenSpec{Agent: k2, Sub: a.ID})
	if err != nil {
		return err
	}
	rr, err := t.agentSend(ctx, rot, http.MethodPost, e3, jsonBody(map[string]any{"resource": rs}), nil)
	if err != nil {
		return err
	}
	s, _ := rr.Body["person_token"].(string)
	if rr.Status != http.StatusOK || s == "" {
		rec("PS-167 a rotated agent key is recognised without a new enrollment", Failf(MUST, "%s", rr))
	} else {
		rec("PS-167 a rotated agent key is recognised without a new enrollment", nil)
		tok, err := t.verifyIssued(ctx, s, aauth.TypPersonToken, rs, k2)
		if err == nil && tok.str("sub") != pt.str("sub") {
			err = Failf(MUST, "sub %q after the key rotation, was %q", tok.str("sub"), pt.str("sub"))
		}
		rec("PS-077 sub is stable across tokens and agent keys", err)
	}

	// Bad requests from the connected agent.
	rv, mv := verdict{}, verdict{}
	for _, b := range []string{`{}`, `{"resource":5}`} {
		r, err := t.agentSend(ctx, a, http.MethodPost, e3, []byte(b), nil)
		if err != nil {
			return err
		}
		rv.addErr(MUST, prefixed(b, ExpectProblem(r, http.StatusBadRequest, aauth.ErrInvalidRequest)))
	}
	rec("PS-057 E3 without a string resource gets 400 invalid_request", rv.err())
	rv = verdict{}
	for _, res := range []string{"http://" + strings.TrimPrefix(rs, "https://"), strings.ToUpper(rs[:9]) + rs[9:], rs + ":8443", rs + "/", rs + "/api", rs + "?x=1", rs + "#f"} {
		r, err := t.agentSend(ctx, a, http.MethodPost, e3, jsonBody(map[string]any{"resource": res}), nil)
		if err != nil {
			return err
		}
		rv.addErr(MUST, prefixed(res, ExpectProblem(r, http.StatusBadRequest, aauth.ErrInvalidRequest)))
	}
	rec("PS-058 E3 with a resource that is no server identifier gets 400", rv.err())
	good := randomS256()
	for _, m := range []string{good[:42], good + "A", good[:42] + "=", "+" + good[1:], "/" + good[1:]} {
		r, err := t.agentSend(ctx, a, http.MethodPost, e3, jsonBody(map[string]any{"resource": rs, "mission_s256": m}), nil)
		if err != nil {
			return err
		}
		mv.addErr(MUST, prefixed(m, ExpectProblem(r, http.StatusBadRequest, aauth.ErrInvalidRequest)))
	}
	rec("PS-059 E3 with a malformed mission_s256 gets 400", mv.err())
	r, err := t.agentSend(ctx, a, http.MethodPost, e3, jsonBody(map[string]any{"resource": rs, "platform": "toaster"}), nil)
	if err != nil {
		return err
	}
	rec("PS-099 E3 with an unknown platform gets 400", ExpectProblem(r, http.StatusBadRequest, aauth.ErrInvalidRequest))
	r, err = t.agentSend(ctx, a, http.MethodPost, e3, jsonBody(map[string]any{"resource": rs, "capabilities": "interaction"}), nil)
	if err != nil {
		return err
	}
	rec("PS-256 E3 with capabilities that is not an array gets 400", ExpectProblem(r, http.StatusBadRequest, aauth.ErrInvalidRequest))
	return nil
}

// onlyCode checks a 401 with Signature-Error code (nothing more).
func onlyCode(r *Response, code aauth.SigCode) error {
	if r.Status != http.StatusUnauthorized {
		return Failf(MUST, "status %d, want 401 %s: %s", r.Status, code, r)
	}
	got, _, err := SigError(r.Header)
	if err != nil {
		return Failf(MUST, "%v", err)
	}
	if got != string(code) {
		return Failf(MUST, "Signature-Error error=%s, want %s", got, code)
	}
	return nil
}

// prefixed names the input a failure is about.
func prefixed(what string, err error) error {
	if err == nil {
		return nil
	}
	if f, ok := err.(*Failure); ok {
		return &Failure{Level: f.Level, Msg: what + ": " + f.Msg}
	}
	return fmt.Errorf("%s: %w", what, err)
}

var bindChecks = func() []Check {
	s := stepsOf("bind", bindFlow)
	return []Check{
		s("PS-065", "a new agent gets no person token before it is connected", MUST),
		s("PS-063", "the first person token waits for the person (202)", SHOULD),
		s("PS-146", "202: Location on the PS origin, Retry-After, no-store, status", MUST),
		s("PS-159", "requirement=interaction with an https url and a code", MUST),
		s("PS-160", "the code is Crockford base32, 8 symbols or more", MUST),
		s("PS-148", "an unsigned poll gets 401 invalid_signature", MUST),
		s("PS-149", "another agent's poll is the 404 of an unknown id", MUST),
		s("PS-157", "a POST to the pending URL without a known action gets 400", MUST),
		s("PS-176", "a clarification_response with no question outstanding gets 400", IMPL),
		s("PS-150", "an unresolved poll is 202 with the same header set", MUST),
		s("PS-154", "Prefer: wait=2 answers 202 within 3 s while unresolved", IMPL),
		s("PS-154", "Prefer: wait answers at once when the result is already waiting", IMPL),
		s("PS-151", "after approval the poll is 200 with the person token", MUST),
		s("PS-152", "a poll after the terminal answer gets 410", MUST),
		s("PS-161", "the code is accepted in lower case, without hyphens, with O and L", MUST),
		s("PS-164", "the decision forms posted without the person's session change nothing", MUST),
		s("PS-168", "agent Markdown reaches the consent page without live script", MUST),
		s("PS-169", "the consent page shows the agent, the resource and the justification", MUST),
		s("PS-282", "the justification is shown apart from what the resource says, attributed to the agent", MUST),
		s("PS-162", "a used interaction code is refused the second time", MUST),
		s("PS-072", "person token: typ, alg, kid, iss, dwk, aud", MUST),
		s("PS-009", "the person token verifies with the PS JWKS", MUST),
		s("PS-073", "person token cnf.jwk is the agent's key, with alg", MUST),
		s("PS-075", "person token exp within an hour and the agent token", MUST),
		s("PS-076", "person token has no scope and no account (and no mission outside one)", MUST, "PS-062"),
		s("PS-056", "with consent, E3 answers 200 {person_token, expires_in} at once", MUST),
		s("PS-074", "person token jti unique over 11 tokens", MUST),
		s("PS-167", "a rotated agent key is recognised without a new enrollment", MUST),
		s("PS-077", "sub is stable across tokens and agent keys", MUST),
		s("PS-057", "E3 without a string resource gets 400 invalid_request", MUST),
		s("PS-058", "E3 with a resource that is no server identifier gets 400", MUST),
		s("PS-059", "E3 with a malformed mission_s256 gets 400", MUST),
		s("PS-099", "E3 with an unknown platform gets 400", MUST),
		s("PS-256", "E3 with capabilities that is not an array gets 400", MUST),
	}
}

// caseFolded is id with its local part's letters in the other case.
func caseFolded(id string) string {
	at := strings.LastIndex(id, "@")
	local := strings.TrimPrefix(id[:at], "aauth:")
	if u := strings.ToUpper(local); u != local {
		return "aauth:" + u + id[at:]
	}
	return "aauth:" + strings.ToLower(local) + id[at:]
}

// upstreamChecks: E3 with an upstream_token that fails verification
// (P§upstream-token-verification 1 and 3).
func upstreamChecks() []Check {
	return []Check{
		boundCheck("PS-069", "an upstream_token that fails verification gets 400 invalid_upstream_token", MUST, func(ctx context.Context, t *Target, b *boundAgent) error {
			e3, err := t.need(ctx, "person_token_endpoint")
			if err != nil {
				return err
			}
			rs := b.pt.str("aud")
			dot := strings.LastIndex(b.pt.raw, ".")
			sig := []byte(b.pt.raw[dot+1:])
			sig[3] ^= 0x01 // still base64url: the low bit moves within the alphabet
			if sig[3] == '.' || sig[3] == '/' {
				sig[3] = 'A'
			}
			var v verdict
			for what, up := range map[string]string{
				"an agent token (typ aa-agent+jwt)":                     b.agent.Token,
				"the caller's own person token (aud is not the caller)": b.pt.raw,
				"a person token with a broken signature":                b.pt.raw[:dot+1] + string(sig),
				"three dots of nothing":                                 "e30.e30.AAAA",
			} {
				r, err := t.agentSend(ctx, b.agent, http.MethodPost, e3, jsonBody(map[string]any{"resource": rs, "upstream_token": up}), nil)
				if err != nil {
					return err
				}
				v.addErr(MUST, prefixed(what, ExpectProblem(r, http.StatusBadRequest, aauth.ErrInvalidUpstreamToken)))
			}
			return v.err()
		}),
	}
}

// identityChecks: agent identifiers are compared exactly (PS-255).
func identityChecks() []Check {
	return []Check{
		boundCheck("PS-255", "an agent id differing from a connected one only in case is a new, unconnected agent", MUST, func(ctx context.Context, t *Target, b *boundAgent) error {
			e3, err := t.need(ctx, "person_token_endpoint")
			if err != nil {
				return err
			}
			k, err := conformance.NewAgentKey(aauth.AlgEd25519)
			if err != nil {
				return err
			}
			twin, err := t.mintFrom(t.AP, conformance.TokenSpec{Agent: k, Sub: caseFolded(b.agent.ID), Lifetime: 30 * time.Minute})
			if err != nil {
				return err
			}
			r, err := t.agentSend(ctx, twin, http.MethodPost, e3, jsonBody(map[string]any{"resource": b.pt.str("aud"), "capabilities": []string{"interaction"}}), nil)
			if err != nil {
				return err
			}
			switch {
			case r.Status == http.StatusOK:
				return Failf(MUST, "%s got a person token at once, as if it were the connected %s: %s", twin.ID, b.agent.ID, r)
			case r.Status == http.StatusAccepted:
				return t.check202(r)
			}
			return Failf(MUST, "%s, want the 202 a new agent with the interaction capability gets", r)
		}),
	}
}

// pendingFlow: new agents' first requests, to look at their pending URLs
// together (PS-147), to end one by revoking its agent token while it
// waits (PS-280), and a new agent that cannot bring its person (PS-171).
func pendingFlow(ctx context.Context, t *Target, rec recorder) error {
	e3, rs, err := t.e3Resource(ctx)
	if err != nil {
		return err
	}

	lone, err := t.newFlowAgent("lone")
	if err != nil {
		return err
	}
	r, err := t.agentSend(ctx, lone, http.MethodPost, e3, jsonBody(map[string]any{"resource": rs}), nil)
	if err != nil {
		return err
	}
	if r.Status == http.StatusOK {
		// The PS issued without reaching anyone: PS-065 reports that; the
		// case PS-171 is about (the person must be reached) did not arise.
		rec("PS-171 a new agent without the interaction capability gets 403 user_unreachable at E3", Skip("a new agent got a person token at once (see PS-065)"))
	} else {
		rec("PS-171 a new agent without the interaction capability gets 403 user_unreachable at E3", ExpectProblem(r, http.StatusForbidden, aauth.ErrUserUnreachable))
	}

	const n = 8
	var locs []string
	var agents []*conformance.Agent
	var firsts []*Response
	for range n {
		a, r, err := t.firstRequest(ctx, "p", e3, rs)
		if err != nil {
			return err
		}
		if r.Status == http.StatusOK {
			return Skip("a new agent got a person token at once (see PS-065): no pending URL to look at")
		}
		if err := t.check202(r); err != nil {
			return rec("PS-147 pending URLs are distinct and carry 128 bits or more", err)
		}
		loc, _ := t.location(r)
		locs, agents, firsts = append(locs, loc), append(agents, a), append(firsts, r)
	}
	var v verdict
	seen := map[string]bool{}
	for _, l := range locs {
		if seen[l] {
			v.add(MUST, "Location %s given twice", l)
		}
		seen[l] = true
		if bits := randomBits(l); bits < 64 {
			v.add(MUST, "%s: its last segment carries at most %d bits", l, bits)
		} else if bits < 128 {
			v.add(IMPL, "%s: its last segment carries at most %d bits, under 128", l, bits)
		}
	}
	rec("PS-147 pending URLs are distinct and carry 128 bits or more", v.err())

	// The agent token that started a request is revoked while it waits.
	a := agents[0]
	_, c, err := conformance.DecodeJWT(a.Token)
	if err != nil {
		return err
	}
	jti, _ := c["jti"].(string)
	if err := t.revoke(ctx, a.Issuer, jti, time.Unix(tokenExp(a.Token), 0)); err != nil {
		return rec("PS-280 a request whose agent token is revoked while it waits ends 403 revoked", err)
	}
	same, err := t.mintFrom(t.AP, conformance.TokenSpec{Agent: a.Key, Sub: a.ID, Lifetime: 30 * time.Minute})
	if err != nil {
		return err
	}
	poll, err := t.pollPaced(ctx, same, locs[0], firsts[0])
	if err != nil {
		return err
	}
	rec("PS-280 a request whose agent token is revoked while it waits ends 403 revoked", ExpectProblem(poll, http.StatusForbidden, aauth.ErrRevoked))
	rec("PS-163 five wrong codes end the interaction: the right one is refused, the poll 410 invalid_code", t.lockout(ctx, agents[1], locs[1], firsts[1]))
	return nil
}

// lockout presents five wrong codes, then the right one, for the pending
// request first started (PS-163).
func (t *Target) lockout(ctx context.Context, a *conformance.Agent, loc string, first *Response) error {
	if t.Person == nil {
		return errNoPerson
	}
	url, code, err := checkInteraction(first)
	if err != nil {
		return err
	}
	for i := range 5 {
		if err := t.refusedLink(ctx, url, wrongCode(code), fmt.Sprintf("open a link with a wrong code (%d of 5)", i+1)); err != nil {
			return err
		}
	}
	if err := t.refusedLink(ctx, url, code, "open a link with the right code after five wrong ones: the PS must refuse it"); err != nil {
		return err
	}
	poll, err := t.pollPaced(ctx, a, loc, first)
	if err != nil {
		return err
	}
	return ExpectProblem(poll, http.StatusGone, aauth.ErrInvalidCode)
}

// randomBits bounds the entropy of a URL's last path segment: its length
// times the bits of the smallest usual alphabet holding its characters
// (hyphens count as separators in hex and base32, as symbols in base64url).
func randomBits(u string) int {
	seg := u[strings.LastIndex(u, "/")+1:]
	bare := strings.ReplaceAll(seg, "-", "")
	only := func(alphabet string) bool {
		return strings.Trim(bare, alphabet) == "" || strings.Trim(bare, strings.ToUpper(alphabet)) == ""
	}
	switch {
	case only("0123456789abcdef"):
		return 4 * len(bare)
	case only("0123456789abcdefghijklmnopqrstuvwxyz"):
		return 5 * len(bare)
	}
	return 6 * len(seg)
}

var pendingChecks = func() []Check {
	s := stepsOf("pending", pendingFlow)
	return []Check{
		s("PS-171", "a new agent without the interaction capability gets 403 user_unreachable at E3", MUST),
		s("PS-147", "pending URLs are distinct and carry 128 bits or more", MUST),
		s("PS-280", "a request whose agent token is revoked while it waits ends 403 revoked", MUST, "PS-028"),
		s("PS-163", "five wrong codes end the interaction: the right one is refused, the poll 410 invalid_code", MUST),
	}
}

// missionCapabilityChecks: within a mission, an E3 without capabilities
// uses those captured at approval; outside it, none (PS-257).
func missionCapabilityChecks() []Check {
	return []Check{
		boundCheck("PS-257", "E3 without capabilities: in a mission the approved ones apply, outside it none", MUST, func(ctx context.Context, t *Target, b *boundAgent) error {
			_, s256, err := t.approvedMission(ctx, b, "capabilities captured at approval", "approve the mission proposal of "+b.agent.ID)
			if err != nil {
				return err
			}
			e3, _, err := t.e3Resource(ctx)
			if err != nil {
				return err
			}
			// A server the person never granted the agent: the provider's.
			other := t.AP.Issuer()
			var v verdict
			in, err := t.agentSend(ctx, b.agent, http.MethodPost, e3, jsonBody(map[string]any{"resource": other, "mission_s256": s256}), nil)
			if err != nil {
				return err
			}
			if err := t.check202(in); err != nil {
				v.addErr(MUST, prefixed("in the mission", err))
			} else if _, _, err := checkInteraction(in); err != nil {
				v.addErr(MUST, prefixed("in the mission", err))
			}
			out, err := t.agentSend(ctx, b.agent, http.MethodPost, e3, jsonBody(map[string]any{"resource": other}), nil)
			if err != nil {
				return err
			}
			v.addErr(MUST, prefixed("outside the mission", ExpectProblem(out, http.StatusForbidden, aauth.ErrUserUnreachable)))
			return v.err()
		}),
	}
}
