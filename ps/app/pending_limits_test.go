package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// Load tests of the bounds on pending requests (issue 15 item 2): an
// attacker who runs an agent provider mints fresh agents, each of which
// proposes a maximal mission and declares `interaction`, so that every
// request would store a pending row. The database stops growing at the
// configured bound, every refusal is 429 rate_limited with a Retry-After
// and writes nothing, and honest agents of other providers (and other
// clients) are still served. Loopback only; bounded in count and time.

// proposals numbers maximal proposals: two identical signed requests in
// one second would be refused as replays.
var proposals atomic.Int64

// maximalProposal is a mission proposal at the proposal limits,
// each one different.
func maximalProposal() []byte {
	seq := fmt.Sprintf("%08d", proposals.Add(1))
	tools := make([]map[string]string, 64)
	for i := range tools {
		tools[i] = map[string]string{"name": fmt.Sprintf("tool-%02d", i), "description": strings.Repeat("d", 1024)}
	}
	b, _ := json.Marshal(map[string]any{
		"description": seq + strings.Repeat("m", 8<<10-len(seq)), "tools": tools, "capabilities": []string{"interaction"},
	})
	return b
}

// floods numbers the agents of every flood, so that each is fresh.
var floods atomic.Int64

// flood sends n mission proposals, each from a fresh agent of ap, through
// client with 8 workers, and returns the statuses seen and one refusal.
// from, when set, is sent as X-Forwarded-For (the PS behind a proxy).
func flood(t *testing.T, w *world, ap *conformance.AgentProvider, client *http.Client, url, from string, n int) (map[int]int, result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	host := strings.TrimSuffix(strings.TrimPrefix(ap.Issuer(), "https://"), "/")
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		refusal  result
		failure  error
		wg       sync.WaitGroup
		next     = make(chan int)
	)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				sub := fmt.Sprintf("aauth:flood-%d-%d@%s", floods.Add(1), i, host)
				r, err := proposeAs(ctx, w, ap, client, url, sub, from, maximalProposal())
				mu.Lock()
				switch {
				case err != nil:
					failure = err
				default:
					statuses[r.status]++
					if r.status == http.StatusTooManyRequests {
						refusal = r
					}
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if failure != nil {
		t.Fatal(failure)
	}
	if ctx.Err() != nil {
		t.Fatalf("the flood did not finish in time: %v", statuses)
	}
	return statuses, refusal
}

// proposeAs proposes body as a fresh agent sub of ap; safe off the test
// goroutine.
func proposeAs(ctx context.Context, w *world, ap *conformance.AgentProvider, client *http.Client, url, sub, from string, body []byte) (result, error) {
	a, err := ap.NewAgent(conformance.TokenSpec{Sub: sub})
	if err != nil {
		return result{}, err
	}
	req := a.NewRequest(http.MethodPost, url, body).WithContext(ctx)
	req.Host = pstest.DefaultHost
	if from != "" {
		req.Header.Set("X-Forwarded-For", from)
	}
	if _, err := a.Sign(req, body, conformance.WithCreatedOffset(w.clock.Offset())); err != nil {
		return result{}, err
	}
	return sendResult(client, req)
}

// sendResult sends req through c and reads the answer in full; unlike
// world.do it is safe off the test goroutine.
func sendResult(c *http.Client, req *http.Request) (result, error) {
	res, err := c.Do(req)
	if err != nil {
		return result{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return result{}, err
	}
	r := result{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r, nil
}

// expectRateLimited checks a refusal: 429 rate_limited in problem+json
// with a Retry-After of at least a second and at most limit.
func expectRateLimited(t *testing.T, r result, limit time.Duration) {
	t.Helper()
	expectProblem(t, r, http.StatusTooManyRequests, aauth.ErrRateLimited)
	ra, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || ra < 1 || time.Duration(ra)*time.Second > limit {
		t.Fatalf("Retry-After %q, want 1..%v", r.header.Get("Retry-After"), limit)
	}
}

func footprint(t *testing.T, ps *pstest.PS) (rows, bytes int64) {
	t.Helper()
	rows, bytes, err := ps.App.Store.PendingFootprint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return rows, bytes
}

// TestPendingFloodPerProvider: 250 fresh agents of one provider; the
// bound is 40 open requests per provider (one agent each: the per-agent
// bound is not what stops them). Exactly 40 rows are stored, the database
// stops growing there, and an agent of another provider is still served.
func TestPendingFloodPerProvider(t *testing.T) {
	// Not parallel: the flood would slow the timing tests of this package.
	const bound, attempts = 40, 250
	var evil *conformance.AgentProvider
	w := newWorldWith(t, pstest.Options{Configure: func(c *config.Config) {
		c.PendingMaxPerProvider, c.PendingMaxPerClient, c.PendingFirstContactsPerMinute = bound, 10_000, 10_000
	}}, func(env *pstest.Env) { evil = env.StartAP(t, "evil.test") })

	statuses, _ := flood(t, w, evil, w.env.Client, w.ps.URL("/mission"), "", bound)
	if statuses[http.StatusAccepted] != bound {
		t.Fatalf("the first %d proposals: %v, want all 202", bound, statuses)
	}
	rowsAtBound, bytesAtBound := footprint(t, w.ps)
	if rowsAtBound != bound || bytesAtBound < bound*(64<<10) {
		t.Fatalf("at the bound: %d rows, %d bytes; want %d maximal rows", rowsAtBound, bytesAtBound, bound)
	}
	before := w.ps.TableCounts(t)
	start := time.Now()
	statuses, refusal := flood(t, w, evil, w.env.Client, w.ps.URL("/mission"), "", attempts-bound)
	t.Logf("%d more proposals in %v: %v", attempts-bound, time.Since(start), statuses)
	if statuses[http.StatusTooManyRequests] != attempts-bound {
		t.Fatalf("beyond the bound: %v, want every one 429", statuses)
	}
	expectRateLimited(t, refusal, 10*time.Minute)
	if rows, bytes := footprint(t, w.ps); rows != rowsAtBound || bytes != bytesAtBound {
		t.Fatalf("the database grew past the bound: %d rows, %d bytes (at the bound %d, %d)", rows, bytes, rowsAtBound, bytesAtBound)
	}
	writesNothing(t, w.ps, before)

	// An honest agent of another provider is still served.
	w.expectInteraction(t, w.post(t, w.agent, "/mission", string(maximalProposal())))
}

// TestPendingFloodPerAgentAndFirstContacts: one agent cannot hold more
// than its bound; fresh agents of one provider are limited per minute, and
// the window moving on admits them again.
func TestPendingFloodPerAgentAndFirstContacts(t *testing.T) {
	// Not parallel: the flood would slow the timing tests of this package.
	const perAgent, perMinute = 3, 12
	var evil *conformance.AgentProvider
	w := newWorldWith(t, pstest.Options{Configure: func(c *config.Config) {
		c.PendingMaxPerAgent, c.PendingFirstContactsPerMinute = perAgent, perMinute
	}}, func(env *pstest.Env) { evil = env.StartAP(t, "evil.test") })

	one := w.newAgent(t, "aauth:one@ap.test")
	for range perAgent {
		w.expectInteraction(t, w.post(t, one, "/mission", string(maximalProposal())))
	}
	before := w.ps.TableCounts(t)
	expectRateLimited(t, w.post(t, one, "/mission", string(maximalProposal())), 10*time.Minute)
	writesNothing(t, w.ps, before)

	statuses, refusal := flood(t, w, evil, w.env.Client, w.ps.URL("/mission"), "", 100)
	if statuses[http.StatusAccepted] != perMinute || statuses[http.StatusTooManyRequests] != 100-perMinute {
		t.Fatalf("100 fresh agents in a minute: %v, want %d admitted", statuses, perMinute)
	}
	expectRateLimited(t, refusal, time.Minute)
	if rows, _ := footprint(t, w.ps); rows != perAgent+perMinute {
		t.Fatalf("%d rows stored, want %d", rows, perAgent+perMinute)
	}
	// Another provider's new agent is not affected; a minute later the
	// flooding provider may introduce agents again.
	w.expectInteraction(t, w.post(t, w.newAgent(t, "aauth:fresh@ap.test"), "/mission", string(maximalProposal())))
	w.clock.Advance(61 * time.Second)
	statuses, _ = flood(t, w, evil, w.env.Client, w.ps.URL("/mission"), "", 1)
	if statuses[http.StatusAccepted] != 1 {
		t.Fatalf("after the window: %v", statuses)
	}
}

// TestPendingFloodPerClient: behind a trusted proxy, one client address
// floods through several providers; its bound stops it while a client at
// another address is served (the address is the proxy's X-Forwarded-For,
// which the PS honours only from --trusted-proxy).
func TestPendingFloodPerClient(t *testing.T) {
	// Not parallel: the flood would slow the timing tests of this package.
	const bound = 30
	var evil1, evil2 *conformance.AgentProvider
	w := newWorldWith(t, pstest.Options{BehindProxy: []string{"127.0.0.1/32"}, Configure: func(c *config.Config) {
		c.PendingMaxPerClient, c.PendingFirstContactsPerMinute = bound, 10_000
	}}, func(env *pstest.Env) { evil1, evil2 = env.StartAP(t, "evil1.test"), env.StartAP(t, "evil2.test") })
	proxy := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "tcp", w.ps.Addr)
	}}}
	url := "http://" + pstest.DefaultHost + "/mission"

	s1, _ := flood(t, w, evil1, proxy, url, "203.0.113.9", 40)
	s2, refusal := flood(t, w, evil2, proxy, url, "203.0.113.9", 40)
	if got := s1[http.StatusAccepted] + s2[http.StatusAccepted]; got != bound || s1[http.StatusTooManyRequests]+s2[http.StatusTooManyRequests] != 80-bound {
		t.Fatalf("80 proposals from one address: %v %v, want %d admitted", s1, s2, bound)
	}
	expectRateLimited(t, refusal, 10*time.Minute)
	if rows, _ := footprint(t, w.ps); rows != bound {
		t.Fatalf("%d rows stored, want %d", rows, bound)
	}
	honest, _ := flood(t, w, w.ap, proxy, url, "198.51.100.7", 1)
	if honest[http.StatusAccepted] != 1 {
		t.Fatalf("a client at another address: %v, want 202", honest)
	}
}

// TestLongPollShowsNewsAtOnce: issue 15 item 7 over HTTPS. A question the
// person asks between two polls reaches the agent's next long poll at
// once, not at the end of its 10 s wait (PS-154, PS-174).
func TestLongPollShowsNewsAtOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	alice := w.person(t, "alice", false)
	s := w.ask(t, w.agent, "Which seat?", "interaction", "clarification")
	open(t, alice, s)
	if st := w.pollState(t, w.agent, s.loc); st != "interacting" {
		t.Fatalf("status %q, want interacting", st)
	}
	if pg := alice.Post(t, s.path()+"/ask", map[string]string{"question": "Window or aisle?"}); pg.Status >= 400 {
		t.Fatalf("ask: %d\n%s", pg.Status, pg.HTML)
	}
	var (
		r   result
		err error
	)
	d := timed(func() { r, err = w.longPoll(t, w.env.Client, w.agent, s.loc, 10) })
	if err != nil {
		t.Fatal(err)
	}
	expect202(t, r, w.ps.Issuer)
	if r.body["clarification"] != "Window or aisle?" || d > 2*time.Second {
		t.Fatalf("long poll: %s after %v; want the question at once", r.raw, d)
	}
}
