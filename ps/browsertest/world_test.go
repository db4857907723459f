package browsertest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// offsetClock is the PS clock: real time plus an offset the agent moves
// forward before each poll, so a well-behaved poll is never slow_down.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *offsetClock) Advance(d time.Duration) { c.off.Add(int64(d)) }
func (c *offsetClock) Offset() time.Duration   { return time.Duration(c.off.Load()) }

// world is one PS at https://ps.test, one agent provider at https://ap.test
// and one agent of it, aauth:a1@ap.test.
type world struct {
	env   *pstest.Env
	ap    *conformance.AgentProvider
	ps    *pstest.PS
	agent *conformance.Agent
	clock *offsetClock
}

const agentID = "aauth:a1@ap.test"

func newWorld(t *testing.T, before ...func(env *pstest.Env)) *world {
	t.Helper()
	return newConfiguredWorld(t, nil, before...)
}

// newConfiguredWorld is newWorld with the PS's configuration changed by
// configure (nil: the defaults).
func newConfiguredWorld(t *testing.T, configure func(*config.Config), before ...func(env *pstest.Env)) *world {
	t.Helper()
	env := pstest.NewEnv(t)
	ap := env.StartAP(t, "ap.test",
		conformance.WithAPName("Example Agents"),
		conformance.WithAPDescription("Personal assistants that book **travel** and manage calendars."))
	// Servers the PS must resolve start first: it reads --resolve at start.
	for _, f := range before {
		f(env)
	}
	clock := &offsetClock{}
	ps := env.Start(t, pstest.Options{Now: clock.Now, Configure: configure})
	agent, err := ap.NewAgent(conformance.TokenSpec{Sub: agentID,
		ClaimOverrides: map[string]any{"platform": "Travel Assistant 2.1", "device": "alice's laptop"}})
	if err != nil {
		t.Fatal(err)
	}
	return &world{env: env, ap: ap, ps: ps, agent: agent, clock: clock}
}

// result is a response read in full.
type result struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (w *world) do(t *testing.T, method, url string, body []byte) result {
	t.Helper()
	req := w.agent.NewRequest(method, url, body)
	if _, err := w.agent.Sign(req, body, conformance.WithCreatedOffset(w.clock.Offset())); err != nil {
		t.Fatal(err)
	}
	res, err := w.env.Client.Do(req)
	if err != nil {
		t.Fatalf("agent: %s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := result{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// interaction is what the agent got back for its question: where to poll,
// and the link and code for its person.
type interaction struct {
	loc, url, code string
}

// ask is the unbound agent asking its person a question through the PS
// (it can take the person to a link and answer clarification questions).
func (w *world) ask(t *testing.T, question, why string) interaction {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"type": "question", "question": question, "description": why,
		"capabilities": []string{"interaction", "clarification"}})
	res := w.do(t, http.MethodPost, w.ps.URL("/interaction"), body)
	if res.status != http.StatusAccepted {
		t.Fatalf("agent: POST /interaction: status %d, want 202; body %s", res.status, res.raw)
	}
	req, params := requirement(t, res)
	if req != "interaction" || !strings.HasPrefix(params["url"], w.ps.Issuer+"/interact/") || params["code"] == "" {
		t.Fatalf("agent: POST /interaction: AAuth-Requirement %s %v", req, params)
	}
	loc := res.header.Get("Location")
	if !strings.HasPrefix(loc, w.ps.Issuer+"/pending/") {
		t.Fatalf("agent: POST /interaction: Location %q", loc)
	}
	return interaction{loc: loc, url: params["url"], code: params["code"]}
}

// poll is a well-behaved agent poll: the PS clock moves past the advised
// Retry-After first.
func (w *world) poll(t *testing.T, loc string) result {
	t.Helper()
	w.clock.Advance(6 * time.Second)
	return w.do(t, http.MethodGet, loc, nil)
}

// clarify answers the person's clarification question.
func (w *world) clarify(t *testing.T, loc, answer string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"action": "clarification_response", "clarification_response": answer})
	if res := w.do(t, http.MethodPost, loc, body); res.status != http.StatusAccepted {
		t.Fatalf("agent: clarification_response: status %d, want 202; body %s", res.status, res.raw)
	}
}

// requirement parses AAuth-Requirement into its token and parameters.
func requirement(t *testing.T, r result) (string, map[string]string) {
	t.Helper()
	req, err := conformance.ParseRequirement(r.header.Values(aauth.HeaderAAuthRequirement))
	if err != nil {
		t.Fatal(err)
	}
	return req.Token, req.Params
}
