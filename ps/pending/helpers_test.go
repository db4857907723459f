package pending_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/dunglas/httpsfv"
	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

const issuer = "https://ps.example"

var (
	agentA1 = pending.Requester{Scheme: "jwt", Issuer: "https://ap.example", Subject: "aauth:a1@ap.example"}
	agentA3 = pending.Requester{Scheme: "jwt", Issuer: "https://ap.example", Subject: "aauth:a3@ap.example"}
)

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_800_000_000, 0).UTC()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func ctxOf(t *testing.T) context.Context { return t.Context() }

// newEngine returns an engine with a fake clock and a memory notifier.
func newEngine(t *testing.T, s *store.Store, mod ...func(*pending.Options)) (*pending.Engine, *clock) {
	t.Helper()
	c := newClock()
	o := pending.Options{Issuer: issuer}
	for _, m := range mod {
		m(&o)
	}
	return pending.New(s, pending.NewMemoryNotifier(), c.Now, o), c
}

func create(t *testing.T, e *pending.Engine, q pending.Requirement, mod ...func(*pending.NewRequest)) (*pending.Request, string) {
	t.Helper()
	n := pending.NewRequest{Kind: aauth.PendingPersonToken, Stage: "consent", Requester: agentA1, Requirement: q,
		Capabilities: []string{aauth.CapabilityInteraction, aauth.CapabilityClarification},
		Payload:      json.RawMessage(`{"resource_token":"rt"}`)}
	for _, m := range mod {
		m(&n)
	}
	r, code, err := e.Create(ctxOf(t), n)
	require.NoError(t, err)
	return r, code
}

func poll(t *testing.T, e *pending.Engine, id string) pending.Response {
	t.Helper()
	resp, err := e.Poll(ctxOf(t), id, agentA1, 0)
	require.NoError(t, err)
	return resp
}

func post(t *testing.T, e *pending.Engine, id, body string) pending.Response {
	t.Helper()
	resp, err := e.Post(ctxOf(t), id, agentA1, []byte(body))
	require.NoError(t, err)
	return resp
}

// jsonBody decodes a response body into a map.
func jsonBody(t *testing.T, resp pending.Response) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(resp.Body, &m), "body %q", resp.Body)
	return m
}

// requireProblem checks a problem+json answer.
func requireProblem(t *testing.T, resp pending.Response, status int, code string) map[string]any {
	t.Helper()
	require.Equal(t, status, resp.Status, "body %s", resp.Body)
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	m := jsonBody(t, resp)
	require.Equal(t, code, m["error"])
	return m
}

// requireGone checks the A-08 410.
func requireGone(t *testing.T, resp pending.Response) {
	t.Helper()
	m := requireProblem(t, resp, http.StatusGone, "invalid_request")
	require.Equal(t, "pending request is no longer available", m["detail"])
}

// require202 checks the header set every 202 carries (PS-146) and returns
// the body.
func require202(t *testing.T, e *pending.Engine, resp pending.Response, id string, retryAfter int) map[string]any {
	t.Helper()
	require.Equal(t, http.StatusAccepted, resp.Status, "body %s", resp.Body)
	require.Equal(t, issuer+"/pending/"+id, resp.Header.Get("Location"))
	require.Equal(t, itoa(retryAfter), resp.Header.Get("Retry-After"))
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	m := jsonBody(t, resp)
	require.Contains(t, []any{"pending", "interacting"}, m["status"])
	return m
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// requirement parses AAuth-Requirement; nil when absent.
func requirement(t *testing.T, resp pending.Response) *httpsfv.Item {
	t.Helper()
	v := resp.Header.Values("AAuth-Requirement")
	if len(v) == 0 {
		return nil
	}
	d, err := httpsfv.UnmarshalDictionary(v)
	require.NoError(t, err)
	m, ok := d.Get("requirement")
	require.True(t, ok)
	it, ok := m.(httpsfv.Item)
	require.True(t, ok)
	return &it
}

func param(t *testing.T, it *httpsfv.Item, name string) any {
	t.Helper()
	v, ok := it.Params.Get(name)
	require.True(t, ok, "parameter %s", name)
	return v
}
