package suite

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// missionFlow (IDP-1, PS §3.15 to §3.19): the connected agent proposes a
// mission naming the test resource; the person approves; the answer, the
// blob and its s256 are checked over the exact bytes received; the
// mission is used (person token, permission, audit), updated and
// completed, and its errors are compared with another agent's view (the
// existence oracle).
func missionFlow(ctx context.Context, t *Target, rec recorder) error {
	e5, err := t.need(ctx, "mission_endpoint")
	if err != nil {
		return err
	}
	e3, err := t.need(ctx, "person_token_endpoint")
	if err != nil {
		return err
	}
	b, err := t.bound(ctx)
	if err != nil {
		return err
	}
	a, rs := b.agent, t.Resource.Issuer()

	// Refusals first: they need no person.
	bv := verdict{}
	for _, body := range []string{`{}`, `{"description":5}`, `{"description":"x","tools":[{}]}`, `{"description":"x","resources":["http://x.test"]}`} {
		r, err := t.agentSend(ctx, a, http.MethodPost, e5, []byte(body), nil)
		if err != nil {
			return err
		}
		bv.addErr(MUST, prefixed(body, ExpectProblem(r, http.StatusBadRequest, aauth.ErrInvalidRequest)))
	}
	rec("PS-181 a proposal without a string description, or with bad tools or resources, gets 400", bv.err())

	// A proposal the agent withdraws (PS-156).
	w, err := t.agentSend(ctx, a, http.MethodPost, e5, jsonBody(map[string]any{"description": "aauth-conformance: a proposal to withdraw", "capabilities": []string{"interaction"}}), nil)
	if err != nil {
		return err
	}
	if w.Status == http.StatusAccepted {
		loc, err := t.location(w)
		if err != nil {
			return err
		}
		d, err := t.agentSend(ctx, a, http.MethodDelete, loc, nil, nil)
		if err != nil {
			return err
		}
		g, err := t.agentSend(ctx, a, http.MethodGet, loc, nil, nil)
		if err != nil {
			return err
		}
		dv := verdict{}
		if d.Status != http.StatusNoContent {
			dv.add(IMPL, "DELETE: %s, want 204", d)
			if d.Status >= 300 {
				dv.add(MUST, "DELETE: %s", d)
			}
		}
		if g.Status != http.StatusGone {
			dv.add(MUST, "a poll after DELETE: %s, want 410", g)
		}
		rec("PS-156 DELETE on the pending URL cancels; later polls get 410", dv.err())
	} else {
		rec("PS-156 DELETE on the pending URL cancels; later polls get 410", Skip("the proposal was answered at once: %s", w))
	}
	if err := t.proposalDenied(ctx, rec, a, e5); err != nil {
		return err
	}

	proposal := jsonBody(map[string]any{"description": "aauth-conformance mission " + randomHex(4) + ": check **everything**.",
		"tools": []any{map[string]any{"name": "WebSearch", "description": "Search the web"}}, "resources": []string{rs}, "capabilities": []string{"interaction"}})
	r, err := t.agentSend(ctx, a, http.MethodPost, e5, proposal, nil)
	if err != nil {
		return err
	}
	if r.Status == http.StatusAccepted {
		rec("PS-146 202: Location on the PS origin, Retry-After, no-store, status (E5)", t.check202(r))
	}
	if r, err = t.resolve(ctx, a, r, true, "approve the mission proposal of "+a.ID); err != nil {
		return err
	}
	if r.Status != http.StatusOK {
		return rec("PS-180 a proposal is approved: 200 (or 202, then 200)", Failf(MUST, "%s", r))
	}
	rec("PS-180 a proposal is approved: 200 (or 202, then 200)", nil)
	s256, ok1 := r.Body["s256"].(string)
	enc, ok2 := r.Body["mission"].(string)
	sv := verdict{}
	if !ok1 || !ok2 || strings.ContainsAny(enc, "=+/") {
		sv.add(MUST, "want string s256 and unpadded base64url mission: %s", r.Raw)
	}
	if c, ok := r.Body["capabilities"]; ok {
		if l, ok := c.([]any); !ok || slices.ContainsFunc(l, func(x any) bool { _, s := x.(string); return !s }) {
			sv.add(MUST, "capabilities is not an array of strings")
		}
	}
	if pts, ok := r.Body["person_tokens"]; ok {
		if _, ok := pts.(map[string]any); !ok {
			sv.add(MUST, "person_tokens is not an object")
		}
	}
	if rec("PS-182 the approval response: s256, mission, capabilities, person_tokens", sv.err()) != nil {
		return sv.err()
	}
	blob, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return rec("PS-183 s256 is the SHA-256 of the exact mission bytes", Failf(MUST, "mission is not base64url: %v", err))
	}
	if s256Of(blob) != s256 {
		rec("PS-183 s256 is the SHA-256 of the exact mission bytes", Failf(MUST, "SHA-256 of the decoded bytes is %s, s256 is %s", s256Of(blob), s256))
	} else {
		rec("PS-183 s256 is the SHA-256 of the exact mission bytes", nil)
	}
	var bl map[string]any
	mv := verdict{}
	if err := json.Unmarshal(blob, &bl); err != nil {
		mv.add(MUST, "the mission is not a JSON object: %v", err)
	} else {
		if bl["agent"] != a.ID {
			mv.add(MUST, "agent %v, want %s", bl["agent"], a.ID)
		}
		if _, ok := bl["description"].(string); !ok {
			mv.add(MUST, "no string description")
		}
		at, _ := bl["approved_at"].(string)
		approved, err := time.Parse(time.RFC3339, at)
		if err != nil {
			mv.add(MUST, "approved_at %q is not ISO 8601: %v", at, err)
		}
		if e, ok := bl["expires_at"].(string); ok {
			if exp, err := time.Parse(time.RFC3339, e); err != nil || !exp.After(approved) {
				rec("PS-185 expires_at, approved_tools and approved_resources are consistent", Failf(MUST, "expires_at %q", e))
			}
		}
		if ar, ok := bl["approved_resources"].([]any); ok && slices.ContainsFunc(ar, func(x any) bool { return x != rs }) {
			rec("PS-185 expires_at, approved_tools and approved_resources are consistent", Failf(MUST, "approved_resources %v is not within the proposal's", ar))
		}
		rec("PS-185 expires_at, approved_tools and approved_resources are consistent", nil)
		if _, ok := bl["capabilities"]; ok {
			rec("PS-186 the blob has no capabilities", Failf(MUST, "it has: %s", blob))
		} else {
			rec("PS-186 the blob has no capabilities", nil)
		}
	}
	rec("PS-184 the blob: agent, approved_at, description", mv.err())
	missionExp := int64(0)
	if e, ok := bl["expires_at"].(string); ok {
		if exp, err := time.Parse(time.RFC3339, e); err == nil {
			missionExp = exp.Unix()
		}
	}
	if pts, ok := r.Body["person_tokens"].(map[string]any); ok {
		pv := verdict{}
		for aud, v := range pts {
			s, _ := v.(string)
			if aud != rs {
				pv.add(MUST, "person_tokens has %q, not in the proposal", aud)
				continue
			}
			tok, err := t.verifyIssued(ctx, s, aauth.TypPersonToken, aud, a.Key)
			pv.addErr(MUST, err)
			if err == nil && tok.str("mission_s256") != s256 {
				pv.add(MUST, "mission_s256 %q, want %s", tok.str("mission_s256"), s256)
			}
			if missionExp != 0 && tok.num("exp") > missionExp {
				pv.add(MUST, "exp after the mission's expires_at")
			}
		}
		rec("PS-187 person_tokens: one valid mission token per proposed resource", pv.err())
	}
	m := mission{s256: s256, url: e5 + "/" + s256}

	// Under the mission.
	r, err = t.agentSend(ctx, a, http.MethodPost, e3, jsonBody(map[string]any{"resource": rs, "mission_s256": s256}), nil)
	if err != nil {
		return err
	}
	if r, err = t.resolve(ctx, a, r, true, "let "+a.ID+" act at "+rs+" under the mission"); err != nil {
		return err
	}
	missionPT, _ := r.Body["person_token"].(string)
	if s, _ := r.Body["person_token"].(string); r.Status != http.StatusOK || s == "" {
		rec("PS-062 a person token under a mission carries its mission_s256", Failf(MUST, "%s", r))
	} else {
		tok, err := t.verifyIssued(ctx, s, aauth.TypPersonToken, rs, a.Key)
		if err == nil && tok.str("mission_s256") != s256 {
			err = Failf(MUST, "mission_s256 %q, want %s", tok.str("mission_s256"), s256)
		}
		if err == nil {
			err = checkExp(tok, r.Body["expires_in"], map[string]int64{"agent token": tokenExp(a.Token), "mission": missionExp})
		}
		rec("PS-062 a person token under a mission carries its mission_s256", err)
	}

	if err := t.missionStripped(ctx, rec, a, missionPT); err != nil {
		return err
	}
	if err := t.proposalAgain(ctx, rec, a, proposal, s256); err != nil {
		return err
	}

	// The existence oracle: another connected agent's view of the mission.
	o, err := t.otherBound(ctx)
	if err != nil {
		return err
	}
	unknownS := randomS256()
	ov := verdict{}
	u1, err := t.agentSend(ctx, o, http.MethodPost, e3, jsonBody(map[string]any{"resource": rs, "mission_s256": unknownS}), nil)
	if err != nil {
		return err
	}
	u2, err := t.agentSend(ctx, o, http.MethodPost, e3, jsonBody(map[string]any{"resource": rs, "mission_s256": s256}), nil)
	if err != nil {
		return err
	}
	ov.addErr(MUST, ExpectProblem(u1, http.StatusNotFound, aauth.ErrMissionNotFound))
	ov.addErr(MUST, sameAnswer(u1, u2))
	rec("PS-060 E3: an unknown mission and another agent's answer the same 404", ov.err())
	ov = verdict{}
	body := []byte(`{"action":"update","description":"x"}`)
	u1, err = t.agentSend(ctx, o, http.MethodPost, e5+"/"+unknownS, body, nil)
	if err != nil {
		return err
	}
	u2, err = t.agentSend(ctx, o, http.MethodPost, m.url, body, nil)
	if err != nil {
		return err
	}
	ov.addErr(MUST, ExpectProblem(u1, http.StatusNotFound, aauth.ErrMissionNotFound))
	ov.addErr(MUST, sameAnswer(u1, u2))
	rec("PS-195 E6: an unknown mission and another agent's answer the same 404", ov.err())
	if err := t.oracleTiming(ctx, rec, e5, m); err != nil {
		return err
	}
	un1, err := t.unsigned(ctx, e5+"/"+unknownS, body)
	if err != nil {
		return err
	}
	un2, err := t.unsigned(ctx, m.url, body)
	if err != nil {
		return err
	}
	ov = verdict{}
	ov.addErr(MUST, onlyCode(un1, aauth.SigInvalidSignature))
	ov.addErr(MUST, sameAnswer(un1, un2))
	rec("PS-197 an unsigned request gets the same 401 whether the mission exists or not", ov.err())

	// E6 refusals.
	ev := verdict{}
	for _, b := range []string{`{}`, `{"action":"pause"}`} {
		r, err := t.agentSend(ctx, a, http.MethodPost, m.url, []byte(b), nil)
		if err != nil {
			return err
		}
		ev.addErr(MUST, prefixed(b, ExpectProblem(r, http.StatusBadRequest, aauth.ErrInvalidRequest)))
	}
	rec("PS-193 E6 without a known action gets 400", ev.err())
	ev = verdict{}
	for _, seg := range []string{"abc", s256[:42] + "="} {
		r, err := t.agentSend(ctx, a, http.MethodPost, e5+"/"+seg, []byte(`{"action":"update","description":"x"}`), nil)
		if err != nil {
			return err
		}
		ev.addErr(MUST, prefixed(seg, ExpectProblem(r, http.StatusBadRequest, aauth.ErrInvalidRequest)))
	}
	rec("PS-194 E6 with a malformed s256 gets 400", ev.err())
	ev = verdict{}
	for _, b := range []string{`{"action":"update"}`, `{"action":"completion"}`, `{"action":"update","description":5}`} {
		r, err := t.agentSend(ctx, a, http.MethodPost, m.url, []byte(b), nil)
		if err != nil {
			return err
		}
		ev.addErr(MUST, prefixed(b, ExpectProblem(r, http.StatusBadRequest, aauth.ErrInvalidRequest)))
	}
	rec("PS-199 update without description, completion without summary: 400", ev.err())
	g, err := t.agentSend(ctx, a, http.MethodGet, m.url, nil, nil)
	if err != nil {
		return err
	}
	if g.Status != http.StatusMethodNotAllowed {
		rec("PS-207 GET on the mission URL gets 405", Failf(IMPL, "%s", g))
	} else {
		rec("PS-207 GET on the mission URL gets 405", nil)
	}

	if err := t.permissionSteps(ctx, rec, a, o, m, false); err != nil {
		return err
	}
	if err := t.auditSteps(ctx, rec, a, o, m, false); err != nil {
		return err
	}

	// Update.
	upd := []byte(`{"action":"update","description":"aauth-conformance: also check the *update*."}`)
	r, err = t.agentSend(ctx, a, http.MethodPost, m.url, upd, nil)
	if err != nil {
		return err
	}
	if r, err = t.resolve(ctx, a, r, true, "accept the mission update"); err != nil {
		return err
	}
	uv := verdict{}
	if us, _ := r.Body["s256"].(string); r.Status != http.StatusOK || len(us) != 43 {
		uv.add(MUST, "%s, want 200 {s256}", r)
	} else if us != s256Of(upd) {
		uv.add(IMPL, "s256 %s is not the SHA-256 of the request body (%s)", us, s256Of(upd))
	}
	rec("PS-200 an accepted update answers 200 {s256} of the update bytes", uv.err())
	r, err = t.agentSend(ctx, a, http.MethodPost, e3, jsonBody(map[string]any{"resource": rs, "mission_s256": s256}), nil)
	if err != nil {
		return err
	}
	if r.Status != http.StatusOK {
		rec("PS-201 after an update the mission's s256 still gives person tokens", Failf(MUST, "%s", r))
	} else {
		rec("PS-201 after an update the mission's s256 still gives person tokens", nil)
	}

	// Completion.
	r, err = t.agentSend(ctx, a, http.MethodPost, m.url, []byte(`{"action":"completion","summary":"aauth-conformance: done.","capabilities":["interaction","clarification"]}`), nil)
	if err != nil {
		return err
	}
	if r.Status != http.StatusAccepted {
		return rec("PS-203 completion: 202, then 200 terminated once the person accepts", Failf(MUST, "%s, want 202", r))
	}
	during, err := t.agentSend(ctx, a, http.MethodPost, e3, jsonBody(map[string]any{"resource": rs, "mission_s256": s256}), nil)
	if err != nil {
		return err
	}
	if during.Status != http.StatusOK {
		rec("PS-205 the mission stays active while a completion waits", Failf(MUST, "%s", during))
	} else {
		rec("PS-205 the mission stays active while a completion waits", nil)
	}
	if r, err = t.completionFollowUp(ctx, rec, a, r, e3, rs, s256); err != nil {
		return err
	}
	if r, err = t.resolve(ctx, a, r, true, "accept the mission's completion"); err != nil {
		return err
	}
	cv := verdict{}
	if r.Status != http.StatusOK {
		cv.add(MUST, "%s, want 200", r)
	} else if r.Body["mission_status"] != "terminated" || r.Body["termination_reason"] != "completed" {
		cv.add(IMPL, "body %s, want mission_status terminated, termination_reason completed", r.Raw)
	}
	rec("PS-203 completion: 202, then 200 terminated once the person accepts", cv.err())

	// Terminated, everywhere.
	term := func(r *Response) error {
		var v verdict
		v.addErr(MUST, ExpectProblem(r, http.StatusForbidden, aauth.ErrMissionTerminated))
		if r.Status == http.StatusForbidden && (r.Body["mission_status"] != "terminated" || r.Body["termination_reason"] == nil) {
			v.add(MUST, "no mission_status terminated with termination_reason: %s", r.Raw)
		}
		return v.err()
	}
	r, err = t.agentSend(ctx, a, http.MethodPost, e3, jsonBody(map[string]any{"resource": rs, "mission_s256": s256}), nil)
	if err != nil {
		return err
	}
	rec("PS-061 E3 with the signer's terminated mission gets 403 mission_terminated", term(r))
	r, err = t.agentSend(ctx, a, http.MethodPost, m.url, upd, nil)
	if err != nil {
		return err
	}
	rec("PS-206 an update after termination gets 403 mission_terminated", term(r))
	rec("PS-198 the owner's terminated mission: 403 with mission_status and termination_reason", term(r))
	r, err = t.agentSend(ctx, o, http.MethodPost, e3, jsonBody(map[string]any{"resource": rs, "mission_s256": s256}), nil)
	if err != nil {
		return err
	}
	rec("PS-210 another agent's terminated mission is still 404", ExpectProblem(r, http.StatusNotFound, aauth.ErrMissionNotFound))
	if err := t.terminatedAtE4(ctx, rec, a, missionPT, term); err != nil {
		return err
	}
	if err := t.permissionSteps(ctx, rec, a, o, m, true); err != nil {
		return err
	}
	return t.auditSteps(ctx, rec, a, o, m, true)
}

type mission struct{ s256, url string }

// unsigned POSTs body without a signature.
func (t *Target) unsigned(ctx context.Context, u string, body []byte) (*Response, error) {
	req, err := newRequest(http.MethodPost, u, body)
	if err != nil {
		return nil, err
	}
	return t.Do(ctx, req)
}

// otherBound connects a second agent to the person (once per target).
func (t *Target) otherBound(ctx context.Context) (*conformance.Agent, error) {
	t.mu.Lock()
	o := t.other
	t.mu.Unlock()
	if o != nil {
		return o, nil
	}
	e3, err := t.need(ctx, "person_token_endpoint")
	if err != nil {
		return nil, err
	}
	o, err = t.newFlowAgent("b")
	if err != nil {
		return nil, err
	}
	rs := t.Resource.Issuer()
	r, err := t.agentSend(ctx, o, http.MethodPost, e3, jsonBody(map[string]any{"resource": rs, "capabilities": []string{"interaction"}}), nil)
	if err != nil {
		return nil, err
	}
	if r, err = t.resolve(ctx, o, r, true, "connect a second agent "+o.ID+" and let it act at "+rs); err != nil {
		return nil, err
	}
	if r.Status != http.StatusOK {
		return nil, Failf(MUST, "connecting a second agent: %s", r)
	}
	t.mu.Lock()
	t.other = o
	t.mu.Unlock()
	return o, nil
}

// permissionSteps: E7 with and without the mission (PS-214 to PS-218);
// after termination, the mission errors (PS-217).
func (t *Target) permissionSteps(ctx context.Context, rec recorder, a, o *conformance.Agent, m mission, terminated bool) error {
	e7, err := t.advertised(ctx, "permission_endpoint")
	if err != nil || e7 == "" {
		return err
	}
	send := func(ag *conformance.Agent, body map[string]any) (*Response, error) {
		return t.agentSend(ctx, ag, http.MethodPost, e7, jsonBody(body), nil)
	}
	if terminated {
		r, err := send(a, map[string]any{"action": "SendEmail", "mission_s256": m.s256})
		if err != nil {
			return err
		}
		ev := verdict{}
		ev.addErr(MUST, ExpectProblem(r, http.StatusForbidden, aauth.ErrMissionTerminated))
		if r, err = send(o, map[string]any{"action": "SendEmail", "mission_s256": randomS256()}); err != nil {
			return err
		}
		ev.addErr(IMPL, ExpectProblem(r, http.StatusNotFound, aauth.ErrMissionNotFound))
		rec("PS-217 permission: terminated mission 403, unknown mission 404", ev.err())
		return nil
	}
	bv := verdict{}
	for _, b := range []map[string]any{{}, {"action": 5}, {"action": "SendEmail", "parameters": "x"}, {"action": "SendEmail", "description": 5}} {
		r, err := send(a, b)
		if err != nil {
			return err
		}
		bv.addErr(MUST, prefixed(string(jsonBody(b)), ExpectProblem(r, http.StatusBadRequest, aauth.ErrInvalidRequest)))
	}
	rec("PS-215 permission without a string action (or bad members) gets 400", bv.err())
	for _, withMission := range []bool{true, false} {
		body := map[string]any{"action": "SendEmail", "description": "aauth-conformance: send one email", "parameters": map[string]any{"to": "nobody@example.com"},
			"capabilities": []string{"interaction"}}
		name := "PS-216 permission works without mission_s256"
		if withMission {
			body["mission_s256"] = m.s256
			name = "PS-214 permission under the mission: 200 granted or denied (or 202, then 200)"
		}
		r, err := send(a, body)
		if err != nil {
			return err
		}
		if r, err = t.resolve(ctx, a, r, true, "grant permission to send one email"); err != nil {
			return err
		}
		pv := verdict{}
		p := r.Body["permission"]
		if r.Status != http.StatusOK || (p != "granted" && p != "denied") {
			pv.add(MUST, "%s", r)
		}
		rec(name, pv.err())
		if withMission {
			xv := verdict{}
			if _, has := r.Body["reason"]; has && p != "denied" {
				xv.add(MUST, "reason with %v", p)
			}
			rec("PS-218 permission is granted or denied; reason only with denied", xv.err())
		}
	}
	return nil
}

// auditSteps: E8 (PS-219 to PS-223).
func (t *Target) auditSteps(ctx context.Context, rec recorder, a, o *conformance.Agent, m mission, terminated bool) error {
	e8, err := t.advertised(ctx, "audit_endpoint")
	if err != nil || e8 == "" {
		return err
	}
	send := func(ag *conformance.Agent, body map[string]any) (*Response, error) {
		return t.agentSend(ctx, ag, http.MethodPost, e8, jsonBody(body), nil)
	}
	if terminated {
		r, err := send(a, map[string]any{"action": "WebSearch", "mission_s256": m.s256})
		if err != nil {
			return err
		}
		ev := verdict{}
		ev.addErr(MUST, ExpectProblem(r, http.StatusForbidden, aauth.ErrMissionTerminated))
		rec("PS-221 audit: a terminated mission gets 403", ev.err())
		return nil
	}
	bv := verdict{}
	for _, b := range []map[string]any{{"action": "WebSearch"}, {"mission_s256": m.s256}, {"mission_s256": m.s256, "action": "WebSearch", "result": "x"}} {
		r, err := send(a, b)
		if err != nil {
			return err
		}
		bv.addErr(MUST, prefixed(string(jsonBody(b)), ExpectProblem(r, http.StatusBadRequest, aauth.ErrInvalidRequest)))
	}
	rec("PS-220 audit without mission_s256 or action, or with bad members, gets 400", bv.err())
	ov := verdict{}
	u1, err := send(o, map[string]any{"mission_s256": randomS256(), "action": "WebSearch"})
	if err != nil {
		return err
	}
	u2, err := send(o, map[string]any{"mission_s256": m.s256, "action": "WebSearch"})
	if err != nil {
		return err
	}
	ov.addErr(MUST, ExpectProblem(u1, http.StatusNotFound, aauth.ErrMissionNotFound))
	ov.addErr(MUST, ExpectProblem(u2, http.StatusNotFound, aauth.ErrMissionNotFound))
	rec("PS-221 audit: an unknown or another agent's mission gets 404", ov.err())
	start := time.Now()
	r, err := send(a, map[string]any{"mission_s256": m.s256, "action": "WebSearch", "description": "searched", "parameters": map[string]any{"q": "aauth"}, "result": map[string]any{"hits": 3}})
	if err != nil {
		return err
	}
	if r.Status != http.StatusCreated {
		rec("PS-219 audit: a valid record gets 201", Failf(MUST, "%s", r))
	} else {
		rec("PS-219 audit: a valid record gets 201", nil)
	}
	if took := time.Since(start); r.Status == http.StatusAccepted || took > time.Second {
		rec("PS-223 audit never defers and answers within 1 s", Failf(IMPL, "%s in %s", r, took))
	} else {
		rec("PS-223 audit never defers and answers within 1 s", nil)
	}
	return nil
}

var missionChecks = func() []Check {
	s := stepsOf("mission", missionFlow)
	return []Check{
		s("PS-181", "a proposal without a string description, or with bad tools or resources, gets 400", MUST),
		s("PS-156", "DELETE on the pending URL cancels; later polls get 410", MUST),
		s("PS-146", "202: Location on the PS origin, Retry-After, no-store, status (E5)", MUST),
		s("PS-180", "a proposal is approved: 200 (or 202, then 200)", MUST),
		s("PS-182", "the approval response: s256, mission, capabilities, person_tokens", MUST),
		s("PS-183", "s256 is the SHA-256 of the exact mission bytes", MUST),
		s("PS-184", "the blob: agent, approved_at, description", MUST),
		s("PS-185", "expires_at, approved_tools and approved_resources are consistent", MUST),
		s("PS-186", "the blob has no capabilities", MUST),
		s("PS-187", "person_tokens: one valid mission token per proposed resource", MUST),
		s("PS-062", "a person token under a mission carries its mission_s256", MUST),
		s("PS-060", "E3: an unknown mission and another agent's answer the same 404", MUST),
		s("PS-195", "E6: an unknown mission and another agent's answer the same 404", MUST),
		s("PS-197", "an unsigned request gets the same 401 whether the mission exists or not", MUST),
		s("PS-193", "E6 without a known action gets 400", MUST),
		s("PS-194", "E6 with a malformed s256 gets 400", MUST),
		s("PS-199", "update without description, completion without summary: 400", MUST),
		s("PS-207", "GET on the mission URL gets 405", IMPL),
		s("PS-215", "permission without a string action (or bad members) gets 400", MUST),
		s("PS-214", "permission under the mission: 200 granted or denied (or 202, then 200)", MUST),
		s("PS-218", "permission is granted or denied; reason only with denied", MUST),
		s("PS-216", "permission works without mission_s256", MUST),
		s("PS-220", "audit without mission_s256 or action, or with bad members, gets 400", MUST),
		s("PS-221", "audit: an unknown or another agent's mission gets 404", MUST),
		s("PS-219", "audit: a valid record gets 201", MUST, "PS-222"),
		s("PS-223", "audit never defers and answers within 1 s", IMPL),
		s("PS-200", "an accepted update answers 200 {s256} of the update bytes", MUST),
		s("PS-201", "after an update the mission's s256 still gives person tokens", MUST),
		s("PS-205", "the mission stays active while a completion waits", MUST),
		s("PS-203", "completion: 202, then 200 terminated once the person accepts", MUST),
		// confD.
		s("PS-204", "a person's follow-up on a completion reaches the agent as 202 clarification; the mission stays active", MUST),
		s("PS-061", "E3 with the signer's terminated mission gets 403 mission_terminated", MUST, "PS-209"),
		s("PS-206", "an update after termination gets 403 mission_terminated", MUST),
		s("PS-198", "the owner's terminated mission: 403 with mission_status and termination_reason", MUST),
		s("PS-210", "another agent's terminated mission is still 404", IMPL),
		s("PS-217", "permission: terminated mission 403, unknown mission 404", MUST),
		s("PS-221", "audit: a terminated mission gets 403", MUST),
		// confB (flow_missions_more.go).
		s("PS-196", "an unknown and another agent's mission answer in equal time (medians of 50 within 5 ms)", MUST),
		s("PS-190", "a denied proposal ends with 403 denied and gives no mission", MUST),
		s("PS-094", "an RT without the presented token's mission_s256 gets 400 invalid_resource_token", MUST),
		s("PS-189", "approving the same proposal bytes twice gives two s256 values", MUST),
		s("PS-097", "an RT with a terminated mission's mission_s256 gets 403 mission_terminated", MUST, "PS-209"),
	}
}
