package suite

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
)

// Person carries out the person's part of a flow (conformance.Person):
// the suite's and the load generator's persons share one contract.
type Person = conformance.Person

// Interaction is one person step (conformance.Interaction).
type Interaction = conformance.Interaction

// Page is a page of the PS as the person's browser showed it
// (conformance.Page).
type Page = conformance.Page

// errNotShown ends a check about the person's pages when the approver
// cannot read them.
var errNotShown = NotApplicable("the approver cannot report what the PS showed the person (only --approve browser can); check it by hand")

// errNoPerson ends a flow that needs the person when none is configured.
var errNoPerson = Skip("needs the person: run with --approve browser|manual|cmd:COMMAND")

// scenario is a flow run once per Target whose steps are reported by
// several checks: the first check to need it runs the whole flow, which
// records an outcome per check key; each check then reports its own.
type scenario struct {
	once sync.Once
	got  map[string]error
	err  error
}

type recorder func(key string, err error) error

// scenarioFor runs the scenario name at most once for t.
func (t *Target) scenarioFor(ctx context.Context, name string, run func(ctx context.Context, t *Target, rec recorder) error) *scenario {
	t.mu.Lock()
	if t.scenarios == nil {
		t.scenarios = map[string]*scenario{}
	}
	s, ok := t.scenarios[name]
	if !ok {
		s = &scenario{got: map[string]error{}}
		t.scenarios[name] = s
	}
	t.mu.Unlock()
	s.once.Do(func() {
		var mu sync.Mutex
		s.err = run(ctx, t, func(key string, err error) error {
			mu.Lock()
			defer mu.Unlock()
			if _, dup := s.got[key]; !dup || err != nil {
				s.got[key] = err
			}
			return err
		})
	})
	return s
}

// step is a check reporting the step key of a scenario.
func step(sc string, run func(ctx context.Context, t *Target, rec recorder) error, id, name, level string, also ...string) Check {
	c := Check{ID: id, Name: name, Level: level, Group: GroupFlow, Also: also}
	c.Run = func(ctx context.Context, t *Target) error {
		s := t.scenarioFor(ctx, sc, run)
		if err, ok := s.got[id+" "+name]; ok {
			return err
		}
		var oe *outcomeError
		if errors.As(s.err, &oe) {
			// What the flow needs is not offered: that is "not offered" for
			// the flow's own surface, but a skip for another surface's
			// check that only this flow reaches.
			if home := scenarioHome[sc]; oe.status == StatusNotApplicable && home != "" && SurfaceOf(c) != home {
				return Skip("only the %s flow reaches this check: %s", sc, oe.reason)
			}
			return s.err
		}
		if s.err != nil {
			return Skip("the %s flow did not reach this step: %v", sc, s.err)
		}
		return Skip("the %s flow did not reach this step", sc)
	}
	return c
}

// stepsOf returns step for one scenario.
func stepsOf(sc string, run func(ctx context.Context, t *Target, rec recorder) error) func(id, name, level string, also ...string) Check {
	return func(id, name, level string, also ...string) Check { return step(sc, run, id, name, level, also...) }
}

// keyedSteps are steps of one scenario at one level, each named by its
// key "PS-nnn name".
func keyedSteps(sc string, run func(ctx context.Context, t *Target, rec recorder) error, level string, keys ...string) []Check {
	out := make([]Check, 0, len(keys))
	for _, k := range keys {
		id, name, _ := strings.Cut(k, " ")
		out = append(out, step(sc, run, id, name, level))
	}
	return out
}

// scenarioHome is the surface a flow belongs to (see step).
var scenarioHome = map[string]string{"mission": SurfaceMissions, "three-party": SurfaceAuthTokens, "sub-agent": SurfaceSubAgents, "revocation": SurfaceRevocation,
	"federation": SurfaceFederation, "chaining": SurfaceChaining, "r3": SurfaceAuthTokens, "sub-agent-more": SurfaceSubAgents,
	"revocation-namespace": SurfaceRevocation}

// agentSend signs and sends a request as a; hdr is added unsigned. Two
// byte-identical requests in one second would be a replay (created has
// second resolution), so the second waits for the next second.
func (t *Target) agentSend(ctx context.Context, a *conformance.Agent, method, u string, body []byte, hdr http.Header) (*Response, error) {
	key := method + " " + u + " " + a.Token + " " + string(body)
	t.mu.Lock()
	if t.sent == nil {
		t.sent = map[string]int64{}
	}
	last := t.sent[key]
	t.mu.Unlock()
	if now := time.Now(); now.Unix() == last {
		time.Sleep(time.Until(time.Unix(last+1, 0)))
	}
	t.mu.Lock()
	if len(t.sent) > 10000 {
		clear(t.sent)
	}
	t.sent[key] = time.Now().Unix()
	t.mu.Unlock()
	req, err := sign(a, method, u, body)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	return t.Do(ctx, req)
}

// maxFlowWait bounds how long a deferred request is polled.
const maxFlowWait = 5 * time.Minute

// resolve follows a deferred answer to its end: on requirement=interaction
// (or approval) it hands the step to the person, then polls the Location,
// honouring Retry-After, until the answer is not 202.
func (t *Target) resolve(ctx context.Context, a *conformance.Agent, r *Response, approve bool, what string) (*Response, error) {
	return t.resolveFor(ctx, a, r, approve, what, false)
}

// resolveFor is resolve; with waiting, requirement=approval is the PS
// waiting on someone else (an access server) and is only polled, and a
// requirement=clarification 202 is returned for the caller to answer.
func (t *Target) resolveFor(ctx context.Context, a *conformance.Agent, r *Response, approve bool, what string, waiting bool) (*Response, error) {
	asked := false
	deadline := time.Now().Add(maxFlowWait)
	for r.Status == http.StatusAccepted {
		loc, err := t.location(r)
		if err != nil {
			return nil, err
		}
		req, err := conformance.ParseRequirement(r.Header.Values("AAuth-Requirement"))
		if err != nil {
			return nil, err
		}
		if waiting && req.Token == "clarification" {
			return r, nil
		}
		if !asked && (req.Token == "interaction" || req.Token == "approval" && !waiting) {
			if t.Person == nil {
				return nil, errNoPerson
			}
			asked = true
			if err := t.Person.Decide(ctx, Interaction{URL: req.Params["url"], Code: req.Params["code"], Approve: approve, What: what}); err != nil {
				return nil, Skip("the person step failed: %v", err)
			}
		} else if req.Token == "clarification" {
			return nil, Skip("the PS asked a clarification question the suite cannot answer: %v", r.Body["clarification"])
		}
		if time.Now().After(deadline) {
			return nil, Failf(MUST, "still 202 after %s: %s", maxFlowWait, r)
		}
		start := time.Now()
		if r, err = t.agentSend(ctx, a, http.MethodGet, loc, nil, http.Header{"Prefer": {"wait=10"}}); err != nil {
			return nil, err
		}
		if r.Status == http.StatusAccepted {
			wait := retryAfter(r) - time.Since(start)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(max(wait, 0)):
			}
		}
	}
	return r, nil
}

// location is the absolute Location of a 202, on the PS origin.
func (t *Target) location(r *Response) (string, error) {
	loc := r.Header.Get("Location")
	if strings.HasPrefix(loc, "/") {
		loc = t.Issuer + loc
	}
	if !strings.HasPrefix(loc, t.Issuer+"/") {
		return "", Failf(MUST, "PS-146: 202 Location %q is not on the PS origin", r.Header.Get("Location"))
	}
	return loc, nil
}

func retryAfter(r *Response) time.Duration {
	var n int
	for _, c := range r.Header.Get("Retry-After") {
		if c < '0' || c > '9' {
			return time.Second
		}
		n = n*10 + int(c-'0')
	}
	if n > 10 {
		n = 10
	}
	return time.Duration(n) * time.Second
}
