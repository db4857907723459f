package app_test

import (
	"context"
	"io"
	"maps"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/ratelimit"
)

// Request-rate limits (issue 12): per verified agent, per agent provider
// and per client address, each answering 429 with Retry-After and the
// draft's code (rate_limited; slow_down on a poll), changing nothing, and
// refilling with time.

func rule(t *testing.T, s string) ratelimit.Rule {
	t.Helper()
	r, err := ratelimit.ParseRule(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// expect429 asserts a 429 in problem+json with code and a Retry-After of
// at least minRetry seconds; it returns the Retry-After.
func expect429(t *testing.T, r result, code string, minRetry int) int {
	t.Helper()
	expectProblem(t, r, http.StatusTooManyRequests, code)
	ra, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || ra < minRetry {
		t.Fatalf("Retry-After = %q, want an integer ≥ %d", r.header.Get("Retry-After"), minRetry)
	}
	return ra
}

// withoutReplay is the table counts less the replay cache: a request
// refused after its signature verified is remembered as signed (so it
// cannot be replayed), and nothing else.
func withoutReplay(c map[string]int64) map[string]int64 {
	c = maps.Clone(c)
	delete(c, "replay_cache")
	return c
}

// rateBodies numbers request bodies: two identical signed requests in one
// second would be refused as replays.
var rateBodies atomic.Int64

// body is a distinct JSON body the person token endpoint refuses with 400
// after the signature verified.
func body() []byte { return []byte(`{"n":` + strconv.FormatInt(rateBodies.Add(1), 10) + `}`) }

func newAgent(t *testing.T, ap *conformance.AgentProvider, sub string) *conformance.Agent {
	t.Helper()
	a, err := ap.NewAgent(conformance.TokenSpec{Sub: sub})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestRateLimitPerAgent: an agent beyond its bucket gets 429 rate_limited
// with Retry-After; its refused request writes nothing but the replay
// entry; another agent of the same provider is still served; after
// Retry-After the agent is served again.
func TestRateLimitPerAgent(t *testing.T) {
	w := newWorld(t, pstest.Options{Configure: func(c *config.Config) {
		c.RateLimits.PerAgent = rule(t, "3/30s")
	}})
	person := w.ps.URL("/person")
	for i := range 3 {
		if r := w.send(t, w.agent, http.MethodPost, person, body()); r.status != http.StatusBadRequest {
			t.Fatalf("request %d within the limit: %d %s", i, r.status, r.raw)
		}
	}
	before := withoutReplay(w.ps.TableCounts(t))
	ra := expect429(t, w.send(t, w.agent, http.MethodPost, person, body()), aauth.ErrRateLimited, 9) // a token every 10 s
	if after := withoutReplay(w.ps.TableCounts(t)); !maps.Equal(before, after) {
		t.Fatalf("a rate-limited request changed the database: %v → %v", before, after)
	}
	if r := w.send(t, newAgent(t, w.ap, "aauth:a2@ap.test"), http.MethodPost, person, body()); r.status != http.StatusBadRequest {
		t.Fatalf("another agent of the provider: %d %s", r.status, r.raw)
	}
	w.clock.Advance(time.Duration(ra) * time.Second)
	if r := w.send(t, w.agent, http.MethodPost, person, body()); r.status != http.StatusBadRequest {
		t.Fatalf("after Retry-After: %d %s", r.status, r.raw)
	}
}

// TestRateLimitPerProvider: the agents of one provider share its bucket;
// an agent of another provider is unaffected.
func TestRateLimitPerProvider(t *testing.T) {
	var ap2 *conformance.AgentProvider
	w := newWorldWith(t, pstest.Options{Configure: func(c *config.Config) {
		c.RateLimits.PerProvider = rule(t, "4/1m")
	}}, func(env *pstest.Env) { ap2 = env.StartAP(t, "ap2.test") })
	person := w.ps.URL("/person")
	for i := range 4 {
		a := newAgent(t, w.ap, "aauth:p"+strconv.Itoa(i)+"@ap.test")
		if r := w.send(t, a, http.MethodPost, person, body()); r.status != http.StatusBadRequest {
			t.Fatalf("request %d within the provider's limit: %d %s", i, r.status, r.raw)
		}
	}
	expect429(t, w.send(t, newAgent(t, w.ap, "aauth:p9@ap.test"), http.MethodPost, person, body()), aauth.ErrRateLimited, 1)
	if r := w.send(t, newAgent(t, ap2, "aauth:q@ap2.test"), http.MethodPost, person, body()); r.status != http.StatusBadRequest {
		t.Fatalf("an agent of another provider: %d %s", r.status, r.raw)
	}
}

// TestRateLimitPerClient: one client address is counted before anything
// is verified — beyond its bucket even a badly signed request gets 429
// (not 401), changes nothing and costs the agent provider nothing; behind
// a trusted proxy the address is the forwarded client's, and an IPv6 /64
// is one client. A poll of a pending URL over the bound is told slow_down.
func TestRateLimitPerClient(t *testing.T) {
	w := newWorldWith(t, pstest.Options{BehindProxy: []string{"127.0.0.1/32"}, Configure: func(c *config.Config) {
		c.RateLimits.PerClient = rule(t, "2/1m")
	}}, nil)
	proxy := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "tcp", w.ps.Addr)
	}}}
	send := func(method, path, from string, tamper bool) result {
		t.Helper()
		var b []byte
		if method == http.MethodPost {
			b = body()
		}
		req := w.agent.NewRequest(method, "http://"+pstest.DefaultHost+path, b)
		req.Host = pstest.DefaultHost
		req.Header.Set("X-Forwarded-For", from)
		if _, err := w.agent.Sign(req, b, conformance.WithCreatedOffset(w.clock.Offset())); err != nil {
			t.Fatal(err)
		}
		if tamper {
			req.Header.Set("Signature", "sig=:AAAA:")
		}
		r, err := sendResult(proxy, req)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for i := range 2 {
		if r := send(http.MethodPost, "/person", "198.51.100.7", false); r.status != http.StatusBadRequest {
			t.Fatalf("request %d within the client's limit: %d %s", i, r.status, r.raw)
		}
	}
	fetches := w.ap.MetadataFetches() + w.ap.JWKSFetches()
	before := w.ps.TableCounts(t)
	expect429(t, send(http.MethodPost, "/person", "198.51.100.7", true), aauth.ErrRateLimited, 1)
	expect429(t, send(http.MethodGet, "/pending/0123456789abcdef", "198.51.100.7", false), aauth.ErrSlowDown, 1)
	unchanged(t, w.ps, before)
	if w.ap.MetadataFetches()+w.ap.JWKSFetches() != fetches {
		t.Fatal("a rate-limited request reached the agent provider")
	}
	if r := send(http.MethodPost, "/person", "198.51.100.8", true); r.status != http.StatusUnauthorized {
		t.Fatalf("a badly signed request from another client: %d %s, want 401", r.status, r.raw)
	}
	for i, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2::ffff"} {
		if r := send(http.MethodPost, "/person", ip, false); r.status != http.StatusBadRequest {
			t.Fatalf("IPv6 request %d within the /64's limit: %d %s", i, r.status, r.raw)
		}
	}
	expect429(t, send(http.MethodPost, "/person", "2001:db8:1:2::abcd", false), aauth.ErrRateLimited, 1)
}

// TestEveryBodyBounded (issue 12, PS-050): beyond the agent endpoints'
// own caps, every request body — the web UI's forms too — is bounded: a
// declared length over the largest cap is 413 invalid_request before
// anything is read, and changes nothing; a body without a declared length
// stops being read at the cap (the form reads as empty: a failed login is
// recorded as one), and the answer is never a 5xx.
func TestEveryBodyBounded(t *testing.T) {
	w := newWorld(t, pstest.Options{})
	w.person(t, "alice", false)
	before := w.ps.TableCounts(t)
	big := strings.Repeat("a", 1<<20)
	paths := []string{"/login", "/signup", "/settings/profile", "/mission"}
	for _, path := range paths {
		req, _ := http.NewRequest(http.MethodPost, w.ps.URL(path), strings.NewReader("username=alice&password="+big))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		expectProblem(t, w.do(t, req), http.StatusRequestEntityTooLarge, aauth.ErrInvalidRequest)
	}
	unchanged(t, w.ps, before)
	for _, path := range paths {
		req, _ := http.NewRequest(http.MethodPost, w.ps.URL(path), io.MultiReader(strings.NewReader("username=alice&password="), strings.NewReader(big)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.ContentLength = -1 // chunked: no declared length
		if r := w.do(t, req); r.status >= 500 {
			t.Fatalf("POST %s with an undeclared 1 MiB body: %d %s", path, r.status, r.raw)
		}
	}
}
