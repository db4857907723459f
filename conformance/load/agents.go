package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// Target is the PS under load and the fixtures the agents act through.
type Target struct {
	// Issuer is the PS's issuer; its metadata names the endpoints.
	Issuer string
	// Client reaches the PS (and nothing else is needed of it).
	Client *http.Client
	// AP mints the agents' tokens; the PS must be able to fetch it.
	AP *conformance.AgentProvider
	// Resource mints the resource tokens; the PS must be able to fetch its
	// metadata and JWKS.
	Resource *conformance.Resource
	// Scope is what the resource tokens ask for (default calendar.read).
	Scope string

	personEP, authEP, missionEP, interactionEP string
}

// Agent is one load agent: its key and agent token, and the mission it
// holds.
type Agent struct {
	*conformance.Agent
	MissionS256 string
	// seq numbers the agent's requests: an agent sending the same body
	// twice in one second would sign the same thing twice, which the
	// replay cache rightly refuses (PS-027).
	seq atomic.Int64
}

// next is a body member making the request unique; servers ignore
// members they do not know.
func (a *Agent) next() int64 { return a.seq.Add(1) }

// maxAnswer bounds what is read of an agent-API answer.
const maxAnswer = 1 << 20

// answer is an agent-API response read in full.
type answer struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (a answer) String() string {
	raw := string(a.raw)
	if len(raw) > 300 {
		raw = raw[:300] + "…"
	}
	return fmt.Sprintf("%d %s", a.status, raw)
}

// discover reads the endpoints from the PS metadata.
func (t *Target) discover(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.Issuer+aauth.WellKnownPath(aauth.DWKPerson), nil)
	if err != nil {
		return err
	}
	a, err := t.send(req)
	if err != nil {
		return err
	}
	str := func(n string) string { s, _ := a.body[n].(string); return s }
	t.personEP, t.authEP, t.missionEP, t.interactionEP = str("person_token_endpoint"), str("auth_token_endpoint"), str("mission_endpoint"), str("interaction_endpoint")
	if a.status != http.StatusOK || t.personEP == "" || t.authEP == "" || t.missionEP == "" || t.interactionEP == "" {
		return fmt.Errorf("PS metadata: %s (want person, auth token, mission and interaction endpoints)", a)
	}
	if t.Scope == "" {
		t.Scope = "calendar.read"
	}
	return nil
}

func (t *Target) send(req *http.Request) (answer, error) {
	res, err := t.Client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if err != nil {
		return answer{}, err
	}
	a := answer{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &a.body)
	return a, nil
}

// signed sends a request signed by a, now.
func (t *Target) signed(ctx context.Context, a *conformance.Agent, method, url string, body []byte, header http.Header) (answer, error) {
	req := a.NewRequest(method, url, body)
	req = req.WithContext(ctx)
	for k, v := range header {
		req.Header[k] = v
	}
	if _, err := a.Sign(req, body); err != nil {
		return answer{}, err
	}
	return t.send(req)
}

// postJSON signs and sends v as JSON to url.
func (t *Target) postJSON(ctx context.Context, a *conformance.Agent, url string, v any) (answer, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return answer{}, err
	}
	return t.signed(ctx, a, http.MethodPost, url, body, nil)
}

// settle turns a 202 asking for interaction into the final answer: the
// person approves, the agent long-polls. A 429 (first contacts per
// provider and minute) is retried after its Retry-After.
func (t *Target) settle(ctx context.Context, a *conformance.Agent, p *Person, question bool, send func() (answer, error)) (answer, error) {
	r, err := send()
	for err == nil && r.status == http.StatusTooManyRequests {
		wait, _ := strconv.Atoi(r.header.Get("Retry-After"))
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(time.Duration(max(wait, 1)) * time.Second):
		}
		r, err = send()
	}
	if err != nil || r.status != http.StatusAccepted {
		return r, err
	}
	loc := r.header.Get("Location")
	req, err := conformance.ParseRequirement(r.header.Values(aauth.HeaderAAuthRequirement))
	if err != nil {
		return r, err
	}
	if req.Token != "interaction" || req.Params["url"] == "" || loc == "" {
		return r, fmt.Errorf("202 without an interaction for the person: %s", r)
	}
	if err := p.Approve(ctx, req.Params["url"], req.Params["code"], question); err != nil {
		return r, err
	}
	for range 5 {
		r, err = t.signed(ctx, a, http.MethodGet, loc, nil, http.Header{aauth.HeaderPrefer: {"wait=10"}})
		if err != nil || r.status != http.StatusAccepted {
			return r, err
		}
	}
	return r, fmt.Errorf("still pending after approval: %s", r)
}

// Setup makes an agent named local at the AP, binds it to the person p,
// has p approve its mission for the resource and consent to the scope,
// and checks one exchange end to end.
func (t *Target) Setup(ctx context.Context, p *Person, local string) (*Agent, error) {
	ca, err := t.AP.NewAgent(conformance.TokenSpec{Sub: "aauth:" + local + "@" + t.AP.Host()})
	if err != nil {
		return nil, err
	}
	a := &Agent{Agent: ca}
	q := map[string]any{"type": "question", "question": "May I connect for the load run?", "capabilities": []string{"interaction"}}
	r, err := t.settle(ctx, ca, p, true, func() (answer, error) { return t.postJSON(ctx, ca, t.interactionEP, q) })
	if err != nil {
		return nil, fmt.Errorf("binding %s: %w", ca.ID, err)
	}
	if r.status != http.StatusOK {
		return nil, fmt.Errorf("binding %s: %s", ca.ID, r)
	}
	proposal := map[string]any{"description": "# Load run\n\nRead the calendar, many times.",
		"resources": []string{t.Resource.Issuer()}, "capabilities": []string{"interaction"}}
	r, err = t.settle(ctx, ca, p, false, func() (answer, error) { return t.postJSON(ctx, ca, t.missionEP, proposal) })
	if err != nil {
		return nil, fmt.Errorf("mission of %s: %w", ca.ID, err)
	}
	if a.MissionS256, _ = r.body["s256"].(string); r.status != http.StatusOK || a.MissionS256 == "" {
		return nil, fmt.Errorf("mission of %s: %s", ca.ID, r)
	}
	if err := t.exchange(ctx, a, p); err != nil {
		return nil, fmt.Errorf("first exchange of %s: %w", ca.ID, err)
	}
	return a, nil
}

// errStatus is an answer that is not the 200 a steady exchange gets.
var errStatus = errors.New("unexpected answer")

// PersonToken is the first leg: a person token for the resource under the
// agent's mission. With p nil a 202 is an error (the steady state).
func (t *Target) PersonToken(ctx context.Context, a *Agent, p *Person) (string, error) {
	return t.personToken(ctx, a, p, map[string]any{"resource": t.Resource.Issuer(), "mission_s256": a.MissionS256, "load_seq": a.next()})
}

// PlainPersonToken is a person token for the resource under no mission:
// the request mockin's person token endpoint answers, so the two compare
// like for like. The first one per agent asks the person's consent (p
// settles it); with p nil a 202 is an error.
func (t *Target) PlainPersonToken(ctx context.Context, a *Agent, p *Person) (string, error) {
	body := map[string]any{"resource": t.Resource.Issuer(), "load_seq": a.next()}
	if p != nil {
		body["capabilities"] = []string{"interaction"} // the person is reached through the agent
	}
	return t.personToken(ctx, a, p, body)
}

func (t *Target) personToken(ctx context.Context, a *Agent, p *Person, body map[string]any) (string, error) {
	r, err := t.sendAs(ctx, a, p, t.personEP, body)
	if err != nil {
		return "", err
	}
	pt, _ := r.body["person_token"].(string)
	if r.status != http.StatusOK || pt == "" {
		return "", fmt.Errorf("%w from the person token endpoint: %s", errStatus, r)
	}
	return pt, nil
}

// exchange is one three-party exchange; p nil means nothing may need the
// person.
func (t *Target) exchange(ctx context.Context, a *Agent, p *Person) error {
	pt, err := t.PersonToken(ctx, a, p)
	if err != nil {
		return err
	}
	rt, err := t.Resource.MintFor(pt, a.Key, t.Scope, time.Time{}, nil)
	if err != nil {
		return err
	}
	r, err := t.sendAs(ctx, a, p, t.authEP, map[string]any{"resource_token": rt, "presented_token": pt})
	if err != nil {
		return err
	}
	if at, _ := r.body["auth_token"].(string); r.status != http.StatusOK || at == "" {
		return fmt.Errorf("%w from the auth token endpoint: %s", errStatus, r)
	}
	return nil
}

// sendAs posts body to url as a; with a person p a request that needs the
// person is settled through them, without one it is the answer as it is.
func (t *Target) sendAs(ctx context.Context, a *Agent, p *Person, url string, body any) (answer, error) {
	send := func() (answer, error) { return t.postJSON(ctx, a.Agent, url, body) }
	if p == nil {
		return send()
	}
	return t.settle(ctx, a.Agent, p, false, send)
}

// Exchange is one steady three-party exchange (two PS requests).
func (t *Target) Exchange(ctx context.Context, a *Agent) error { return t.exchange(ctx, a, nil) }
