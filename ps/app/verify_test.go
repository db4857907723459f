package app_test

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/conformance/suite"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

var validBody = []byte(`{"resource":"https://rs.test"}`)

// suiteWorld is a world whose PS can also reach the agent providers that
// misbehave for good (suite.Break), with the conformance suite's target
// for it. The suite runs here strictly: IMPL rows are this PS's decisions.
type suiteWorld struct {
	*world
	target *suite.Target
	before map[string]int64
}

func newSuiteWorld(t *testing.T) *suiteWorld {
	t.Helper()
	env := pstest.NewEnv(t)
	ap := env.StartAP(t, "ap.test")
	faulty := map[suite.Fault]*conformance.AgentProvider{}
	for _, f := range suite.Faults() {
		p := env.StartAP(t, suite.FaultHost("ap.test", f))
		if err := suite.Break(p, f); err != nil {
			t.Fatal(err)
		}
		faulty[f] = p
	}
	clock := &offsetClock{}
	ps := env.Start(t, pstest.Options{Now: clock.Now})
	agent, err := ap.NewAgent(conformance.TokenSpec{Sub: "aauth:a1@ap.test"})
	if err != nil {
		t.Fatal(err)
	}
	sw := &suiteWorld{world: &world{env: env, ap: ap, ps: ps, agent: agent, clock: clock}}
	sw.target = &suite.Target{
		Issuer: ps.Issuer,
		Client: env.Client,
		AP:     ap,
		Agent:  agent,
		Body:   validBody,
		Faulty: faulty,
		// The harness H records the revocation (PS-046). That write is the
		// test's own, not the refused request's: the snapshot is retaken.
		Revoke: func(ctx context.Context, iss, jti string, exp time.Time) error {
			err := ps.App.Store.RecordRevocation(ctx, iss, jti, exp, time.Now())
			sw.before = ps.TableCounts(t)
			return err
		},
		// After verifying, the auth token endpoint refuses validBody (no
		// resource_token) with 400 invalid_request.
		Verified: verifiedThenRefusedBody,
	}
	return sw
}

// run runs checks and gives each its subtest, which fails unless the check
// passed (or ended as want says, by "ID Name"). With unchangedDB every
// check must leave the database as it found it.
func (sw *suiteWorld) run(t *testing.T, checks []suite.Check, unchangedDB bool, want map[string]suite.Status) suite.Report {
	t.Helper()
	if len(checks) == 0 {
		t.Fatal("no checks selected")
	}
	dbErr := map[string]string{}
	var hooks suite.Hooks
	if unchangedDB {
		hooks.Before = func(suite.Check) { sw.before = sw.ps.TableCounts(t) }
		hooks.After = func(c suite.Check) {
			if after := sw.ps.TableCounts(t); !maps.Equal(sw.before, after) {
				dbErr[c.Key()] = fmt.Sprintf("a refused request changed the database: before %v, after %v", sw.before, after)
			}
		}
	}
	rep := suite.Run(t.Context(), sw.target, checks, hooks)
	for _, res := range rep.Results {
		key := res.Key()
		t.Run(key, func(t *testing.T) {
			st, ok := want[key]
			if !ok {
				st = suite.StatusPass
			}
			if res.Status != st {
				t.Fatalf("%s (failed level %s), want %s: %s", res.Status, res.FailedLevel, st, res.Detail)
			}
			if e := dbErr[key]; e != "" {
				t.Fatal(e)
			}
		})
	}
	for key := range want {
		if _, ok := rep.Find(key); !ok {
			t.Errorf("no check %q ran", key)
		}
	}
	return rep
}

// TestSignedRequestRefusals sends every bad request of PS-REQUIREMENTS
// §3.2–3.3 (the suite's refusal checks, PS-012 to PS-046) to a real PS
// over HTTPS and checks the 401, its Signature-Error code and header
// shapes, the problem body, and that nothing was written.
func TestSignedRequestRefusals(t *testing.T) {
	t.Parallel()
	sw := newSuiteWorld(t)
	checks := suite.Groups(suite.Checks(), suite.GroupRefusal)
	ids := map[string]bool{}
	for _, c := range checks {
		ids[c.ID] = true
	}
	for _, id := range []string{"PS-012", "PS-014", "PS-015", "PS-016", "PS-018", "PS-019", "PS-020", "PS-021", "PS-022",
		"PS-023", "PS-024", "PS-025", "PS-029", "PS-030", "PS-031", "PS-032", "PS-033", "PS-034", "PS-035", "PS-036",
		"PS-037", "PS-038", "PS-039", "PS-040", "PS-041", "PS-045", "PS-046"} {
		if !ids[id] {
			t.Errorf("the suite has no refusal check for %s", id)
		}
	}
	sw.run(t, checks, true, nil)
}

// TestSignedRequestAccepted covers the requests that must verify, replay
// (PS-027) and unsupported methods (PS-055).
func TestSignedRequestAccepted(t *testing.T) {
	t.Parallel()
	sw := newSuiteWorld(t)
	sw.run(t, suite.Groups(suite.Checks(), suite.GroupAccepted, suite.GroupReplay, suite.GroupMethod), false, nil)
}
