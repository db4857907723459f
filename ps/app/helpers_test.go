package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/conformance/suite"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// world is one PS, one agent provider at https://ap.test and one agent.
type world struct {
	env   *pstest.Env
	ap    *conformance.AgentProvider
	ps    *pstest.PS
	agent *conformance.Agent
	clock *offsetClock
}

func newWorld(t *testing.T, opt pstest.Options) *world {
	t.Helper()
	env := pstest.NewEnv(t)
	ap := env.StartAP(t, "ap.test")
	clock := &offsetClock{}
	if opt.Now == nil {
		opt.Now = clock.Now
	}
	ps := env.Start(t, opt)
	agent, err := ap.NewAgent(conformance.TokenSpec{Sub: "aauth:a1@ap.test"})
	if err != nil {
		t.Fatal(err)
	}
	return &world{env: env, ap: ap, ps: ps, agent: agent, clock: clock}
}

// poll is a well-behaved agent poll: the PS clock moves past the advised
// Retry-After first (so it is never slow_down), and the request is signed
// at the PS's time.
func (w *world) poll(t *testing.T, a *conformance.Agent, loc string, opts ...conformance.SignOption) result {
	t.Helper()
	w.clock.Advance(6 * time.Second)
	opts = append([]conformance.SignOption{conformance.WithCreatedOffset(w.clock.Offset())}, opts...)
	return w.do(t, signed(t, a, http.MethodGet, loc, nil, opts...))
}

// result is a response read in full.
type result struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (w *world) do(t *testing.T, req *http.Request) result {
	t.Helper()
	res, err := w.env.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
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

// signed builds and signs a request as agent a.
func signed(t *testing.T, a *conformance.Agent, method, url string, body []byte, opts ...conformance.SignOption) *http.Request {
	t.Helper()
	req := a.NewRequest(method, url, body)
	if _, err := a.Sign(req, body, opts...); err != nil {
		t.Fatal(err)
	}
	return req
}

// mint mints an agent token for a's key with spec changes.
func (w *world) mint(t *testing.T, spec conformance.TokenSpec) *conformance.Agent {
	t.Helper()
	if spec.Agent == nil {
		spec.Agent = w.agent.Key
	}
	if spec.Sub == "" {
		spec.Sub = w.agent.ID
	}
	tok, err := w.ap.MintAgentToken(spec)
	if err != nil {
		t.Fatal(err)
	}
	return &conformance.Agent{Key: spec.Agent, Token: tok, ID: spec.Sub, Issuer: w.ap.Issuer()}
}

// asSuite views a result as the conformance suite's response, so the
// suite's checks (the ones any PS must pass) serve these tests too.
func (r result) asSuite() *suite.Response {
	return &suite.Response{Status: r.status, Header: r.header, Raw: r.raw, Body: r.body}
}

// expect401 asserts a 401 whose Signature-Error and problem+json body both
// carry code, with Accept-Signature-* only beside their own error
// (PS-013, PS-054, PS-254). Every level counts here: this is our PS.
func expect401(t *testing.T, r result, code aauth.SigCode) {
	t.Helper()
	if err := suite.ExpectRefusal(r.asSuite(), code); err != nil {
		t.Fatal(err)
	}
}

// expectProblem asserts a non-401 answer in exactly application/problem+json
// without any Signature-* header (PS-028 for 403s, PS-054).
func expectProblem(t *testing.T, r result, status int, code string) {
	t.Helper()
	if err := suite.ExpectProblem(r.asSuite(), status, code); err != nil {
		t.Fatal(err)
	}
	if ct := r.header.Get("Content-Type"); ct != aauth.ProblemContentType {
		t.Fatalf("Content-Type = %q, want exactly problem+json", ct)
	}
}

// expectVerified asserts the request passed verification: the auth token
// endpoint then reads the body, which (validBody) has no resource_token,
// and answers 400 invalid_request without Signature-Error (PS-081).
func expectVerified(t *testing.T, r result) {
	t.Helper()
	if err := verifiedThenRefusedBody(r.asSuite()); err != nil {
		t.Fatal(err)
	}
}

// verifiedThenRefusedBody: the 400 that follows successful verification
// of a body the auth token endpoint cannot use: invalid_request for
// validBody (no resource_token), invalid_resource_token for the suite's
// {"resource_token":"x"} (PS-082).
func verifiedThenRefusedBody(r *suite.Response) error {
	code := r.Body["error"]
	if r.Status != http.StatusBadRequest || (code != aauth.ErrInvalidRequest && code != aauth.ErrInvalidResourceToken) ||
		r.Header.Get(aauth.HeaderSignatureError) != "" {
		return fmt.Errorf("%s; want the 400 invalid_request that follows successful verification", r)
	}
	return nil
}

// tokenList parses an SF List of Tokens without parameters (PS-254).
func tokenList(t *testing.T, vals []string) []string {
	t.Helper()
	out, err := suite.TokenList(vals)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// unchanged asserts the database holds what it held before.
func unchanged(t *testing.T, ps *pstest.PS, before map[string]int64) {
	t.Helper()
	if after := ps.TableCounts(t); !maps.Equal(before, after) {
		t.Fatalf("a refused request changed the database: before %v, after %v", before, after)
	}
}
