package suite

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// proposalDenied: the person denies a proposal; the poll ends 403 denied
// and carries no mission, and a later poll gives none either (PS-190).
func (t *Target) proposalDenied(ctx context.Context, rec recorder, a *conformance.Agent, e5 string) error {
	const key = "PS-190 a denied proposal ends with 403 denied and gives no mission"
	r, err := t.agentSend(ctx, a, http.MethodPost, e5, jsonBody(map[string]any{"description": "aauth-conformance: a proposal to deny " + randomHex(4),
		"capabilities": []string{"interaction"}}), nil)
	if err != nil {
		return err
	}
	if r.Status != http.StatusAccepted {
		rec(key, Skip("the proposal was answered at once: %s", r))
		return nil
	}
	loc, err := t.location(r)
	if err != nil {
		return err
	}
	if r, err = t.resolve(ctx, a, r, false, "deny the mission proposal of "+a.ID); err != nil {
		return err
	}
	v := verdict{}
	v.addErr(MUST, ExpectProblem(r, http.StatusForbidden, aauth.ErrDenied))
	if r.Body["s256"] != nil || r.Body["mission"] != nil {
		v.add(MUST, "the denial carries a mission: %s", r.Raw)
	}
	again, err := t.agentSend(ctx, a, http.MethodGet, loc, nil, nil)
	if err != nil {
		return err
	}
	if again.Status == http.StatusOK || again.Body["s256"] != nil {
		v.add(MUST, "a poll after the denial: %s", again)
	}
	rec(key, v.err())
	return nil
}

// proposalAgain: the same proposal bytes, approved again, give another
// mission: approved_at differs or the PS makes the blob differ (PS-189).
func (t *Target) proposalAgain(ctx context.Context, rec recorder, a *conformance.Agent, proposal []byte, first string) error {
	const key = "PS-189 approving the same proposal bytes twice gives two s256 values"
	e5, err := t.need(ctx, "mission_endpoint")
	if err != nil {
		return err
	}
	r, err := t.agentSend(ctx, a, http.MethodPost, e5, proposal, nil)
	if err != nil {
		return err
	}
	if r, err = t.resolve(ctx, a, r, true, "approve the same mission proposal of "+a.ID+" again"); err != nil {
		return err
	}
	s, _ := r.Body["s256"].(string)
	switch {
	case r.Status != http.StatusOK || s == "":
		rec(key, Failf(MUST, "the second approval: %s, want 200 {s256}", r))
	case s == first:
		rec(key, Failf(MUST, "both approvals gave s256 %s", s))
	default:
		rec(key, nil)
	}
	return nil
}

// missionStripped: a resource token that drops the mission_s256 of the
// mission person token it names is refused (PS-094).
func (t *Target) missionStripped(ctx context.Context, rec recorder, a *conformance.Agent, pt string) error {
	const key = "PS-094 an RT without the presented token's mission_s256 gets 400 invalid_resource_token"
	r, err := t.missionAtE4(ctx, a, pt, true)
	if r == nil {
		return skipStep(rec, key, err)
	}
	rec(key, ExpectProblem(r, http.StatusBadRequest, aauth.ErrInvalidResourceToken))
	return nil
}

// terminatedAtE4: after the mission ended, a resource token carrying its
// mission_s256 (naming the person token obtained under it) gets 403
// mission_terminated (PS-097, PS-209 at E4).
func (t *Target) terminatedAtE4(ctx context.Context, rec recorder, a *conformance.Agent, pt string, term func(*Response) error) error {
	const key = "PS-097 an RT with a terminated mission's mission_s256 gets 403 mission_terminated"
	r, err := t.missionAtE4(ctx, a, pt, false)
	if r == nil {
		return skipStep(rec, key, err)
	}
	rec(key, term(r))
	return nil
}

// missionAtE4 sends E4 a resource token for the mission person token pt
// (without its mission_s256 when strip is set), with pt as presented
// token. A nil answer comes with an outcome error (Skip) or a failure.
func (t *Target) missionAtE4(ctx context.Context, a *conformance.Agent, pt string, strip bool) (*Response, error) {
	e4, err := t.advertised(ctx, "auth_token_endpoint")
	if err != nil {
		return nil, err
	}
	if e4 == "" || pt == "" || t.Resource == nil {
		return nil, Skip("no auth_token_endpoint, or no person token under the mission")
	}
	spec, err := conformance.TokenFor(pt, a.Key, conformance.ResourceAPIScope)
	if err != nil {
		return nil, err
	}
	if spec.MissionS256 == "" {
		return nil, Skip("the mission person token carries no mission_s256 (PS-062)")
	}
	if strip {
		spec.MissionS256 = ""
	}
	rt, err := t.Resource.MintResourceToken(spec)
	if err != nil {
		return nil, err
	}
	return t.agentSend(ctx, a, http.MethodPost, e4, jsonBody(map[string]any{"resource_token": rt, "presented_token": pt, "capabilities": []string{"interaction"}}), nil)
}

// skipStep records an outcome error (Skip, NotApplicable) for key and goes
// on; any other error ends the flow.
func skipStep(rec recorder, key string, err error) error {
	var oe *outcomeError
	if errors.As(err, &oe) {
		rec(key, err)
		return nil
	}
	return err
}

// oracleTiming: another agent's mission and an unknown one, 50 pairs of
// E6 requests in alternating order (bodies differ, so none is a replay);
// the median times must not tell them apart (PS-196: within 5 ms, the
// IMPL criterion). A PS limits mission_not_found answers per agent
// (PS-208), so each never-connected agent sends five pairs only, after
// one uncounted request (its first, when the PS meets its token). A
// difference a busy machine makes by chance does not repeat: a second
// round decides.
func (t *Target) oracleTiming(ctx context.Context, rec recorder, e5 string, m mission) error {
	const key = "PS-196 an unknown and another agent's mission answer in equal time (medians of 50 within 5 ms)"
	var diff time.Duration
	for round := range 2 {
		mu, mo, err := t.timingRound(ctx, e5, m)
		var f *Failure
		if errors.As(err, &f) {
			rec(key, err)
			return nil
		}
		if err != nil {
			return skipStep(rec, key, err)
		}
		if diff = (mu - mo).Abs(); diff < 5*time.Millisecond {
			rec(key, nil)
			return nil
		}
		if round == 1 {
			rec(key, Failf(MUST, "median %s for unknown missions, %s for another agent's: %s apart, twice", mu, mo, diff))
		}
	}
	return nil
}

// timingRound times 50 pairs (see oracleTiming) and returns the medians
// for unknown missions and for another agent's.
func (t *Target) timingRound(ctx context.Context, e5 string, m mission) (time.Duration, time.Duration, error) {
	const n, perAgent = 50, 5
	var unknown, owned []time.Duration
	var o *conformance.Agent
	send := func(u string) (*Response, time.Duration, error) {
		body := jsonBody(map[string]any{"action": "update", "description": "aauth-conformance timing " + randomHex(4)})
		req, err := sign(o, http.MethodPost, u, body)
		if err != nil {
			return nil, 0, err
		}
		start := time.Now()
		r, err := t.Do(ctx, req)
		return r, time.Since(start), err
	}
	for i := range n {
		if i%perAgent == 0 {
			var err error
			if o, err = t.newFlowAgent("timing"); err != nil {
				return 0, 0, err
			}
			if _, _, err := send(e5 + "/" + randomS256()); err != nil {
				return 0, 0, err
			}
		}
		urls := []string{e5 + "/" + randomS256(), m.url}
		var got [2]*Response
		for k := range 2 {
			j := (i + k) % 2
			r, took, err := send(urls[j])
			if err != nil {
				return 0, 0, err
			}
			got[j] = r
			if j == 0 {
				unknown = append(unknown, took)
			} else {
				owned = append(owned, took)
			}
		}
		if got[0].Status == http.StatusTooManyRequests || got[1].Status == http.StatusTooManyRequests {
			return 0, 0, Skip("rate-limited after %d pairs of five per agent: %s", i, got[1])
		}
		if got[0].Status != http.StatusNotFound || got[1].Status != got[0].Status {
			return 0, 0, Failf(MUST, "unknown mission: %s; another agent's: %s, want the same 404", got[0], got[1])
		}
	}
	median := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/2] }
	return median(unknown), median(owned), nil
}
