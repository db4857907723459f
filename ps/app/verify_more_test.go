package app_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// offsetClock is a PS clock that tests move forward to cross the JWKS
// refetch floor and cache lifetimes without sleeping.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *offsetClock) Advance(d time.Duration) { c.off.Add(int64(d)) }
func (c *offsetClock) Offset() time.Duration   { return time.Duration(c.off.Load()) }

// twin copies a signed request so the exact same bytes can be sent again.
func twin(t *testing.T, req *http.Request, body []byte) *http.Request {
	t.Helper()
	c := req.Clone(t.Context())
	c.Body = io.NopCloser(bytes.NewReader(body))
	return c
}

// TestReplay: PS-027.
func TestReplay(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	req := signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), validBody)
	again := twin(t, req, validBody)
	expectVerified(t, w.do(t, req))
	before := w.ps.TableCounts(t)
	expect401(t, w.do(t, again), aauth.SigInvalidSignature)
	unchanged(t, w.ps, before)

	// Two different requests signed in the same second are both accepted.
	created := time.Now()
	for _, b := range []string{`{"resource":"https://rs3.test"}`, `{"resource":"https://rs4.test"}`} {
		expectVerified(t, w.do(t, signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), []byte(b), conformance.WithCreated(created))))
	}
}

// TestReplaySharedAcrossReplicas: two PS processes on one PostgreSQL
// database share the replay cache (PS-027 across replicas).
func TestReplaySharedAcrossReplicas(t *testing.T) {
	t.Parallel()
	env := pstest.NewEnv(t)
	ap := env.StartAP(t, "ap.test")
	dbURL := storetest.NewMigratedPostgresURL(t)
	a := env.Start(t, pstest.Options{DatabaseURL: dbURL})
	b := env.Start(t, pstest.Options{DatabaseURL: dbURL})
	agent, err := ap.NewAgent(conformance.TokenSpec{Sub: "aauth:a1@ap.test"})
	if err != nil {
		t.Fatal(err)
	}
	via := func(p *pstest.PS, req *http.Request) result {
		env.Resolver.Set(pstest.DefaultHost, p.Addr)
		w := &world{env: &pstest.Env{CA: env.CA, Resolver: env.Resolver, Client: conformance.NewHTTPClient(env.CA, env.Resolver)}}
		return w.do(t, req)
	}
	req := signed(t, agent, http.MethodPost, a.URL("/token"), validBody)
	again := twin(t, req, validBody)
	expectVerified(t, via(a, req))
	expect401(t, via(b, again), aauth.SigInvalidSignature)

	// Both replicas publish the same single signing key.
	ka, _ := a.App.Keys.JWKS(t.Context())
	kb, _ := b.App.Keys.JWKS(t.Context())
	if !bytes.Equal(ka, kb) {
		t.Fatalf("replicas publish different JWKS:\n%s\n%s", ka, kb)
	}
}

// TestInvalidIssuerFetchesNothing: PS-034.
func TestInvalidIssuerFetchesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	for _, iss := range []string{"http://ap.test", "https://AP.test", "https://ap.test:8443", "https://ap.test/v1", "https://ap.test/"} {
		t.Run(iss, func(t *testing.T) {
			w.ap.ResetCounters()
			a := w.mint(t, conformance.TokenSpec{ClaimOverrides: map[string]any{"iss": iss}})
			expect401(t, w.do(t, signed(t, a, http.MethodPost, w.ps.URL("/token"), validBody)), aauth.SigInvalidJWT)
			if n := w.ap.Requests(); n != 0 {
				t.Fatalf("the agent provider was contacted %d times", n)
			}
		})
	}
}

// TestEgressPolicyRefusesLoopbackProvider: PS-047. The test DNS maps
// ap.test to 127.0.0.1 and nothing admits loopback.
func TestEgressPolicyRefusesLoopbackProvider(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{NoEgressAllow: true})
	before := w.ps.TableCounts(t)
	expect401(t, w.do(t, signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), validBody)), aauth.SigInvalidJWT)
	unchanged(t, w.ps, before)
	if n := w.ap.Requests(); n != 0 {
		t.Fatalf("the agent provider was contacted %d times", n)
	}
}

// TestOversizeBody: PS-050. 413 before any verification or fetch, with and
// without a Content-Length.
func TestOversizeBody(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	big := append([]byte(`{"x":"`), bytes.Repeat([]byte("a"), 1<<20)...)
	big = append(big, '"', '}')
	for _, chunked := range []bool{false, true} {
		req := signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), big)
		if chunked {
			req.ContentLength = -1
			req.Body = io.NopCloser(bytes.NewReader(big)) // no GetBody, no length: chunked
		}
		before := w.ps.TableCounts(t)
		expectProblem(t, w.do(t, req), http.StatusRequestEntityTooLarge, aauth.ErrInvalidRequest)
		unchanged(t, w.ps, before)
	}
	if n := w.ap.Requests(); n != 0 {
		t.Fatalf("an oversize request made the PS contact the agent provider %d times", n)
	}
}

// TestProviderUnavailable: PS-250. 503 temporarily_unavailable with
// Retry-After when the provider fails and nothing is cached.
func TestProviderUnavailable(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	w.ap.SetMetadataStatus(http.StatusInternalServerError)
	before := w.ps.TableCounts(t)
	r := w.do(t, signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), validBody))
	expectProblem(t, r, http.StatusServiceUnavailable, aauth.ErrTemporarilyUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	unchanged(t, w.ps, before)
}

// TestJWKSCacheFloor: PS-248, PS-036. A flood of unknown kids refetches the
// provider's JWKS at most once per minute.
func TestJWKSCacheFloor(t *testing.T) {
	t.Parallel()
	clock := &offsetClock{}
	w := newWorld(t, pstest.Options{Now: clock.Now})
	expectVerified(t, w.do(t, signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), validBody)))
	clock.Advance(61 * time.Second)
	start := w.ap.JWKSFetches()
	for i := range 10 {
		a := w.mint(t, conformance.TokenSpec{KID: "unknown-" + string(rune('a'+i))})
		r := w.do(t, signed(t, a, http.MethodPost, w.ps.URL("/token"), validBody, conformance.WithCreatedOffset(clock.Offset())))
		expect401(t, r, aauth.SigUnknownKey)
	}
	if got := w.ap.JWKSFetches() - start; got != 1 {
		t.Fatalf("JWKS fetched %d times for 10 unknown kids after the floor passed, want exactly 1", got)
	}
}

// TestJWKSRefresh: PS-249 (a) rotation, (b) stale on error, (c) silent
// re-keying under the same kid.
func TestJWKSRefresh(t *testing.T) {
	t.Parallel()
	t.Run("a rotated provider key is accepted after the floor", func(t *testing.T) {
		clock := &offsetClock{}
		w := newWorld(t, pstest.Options{Now: clock.Now})
		expectVerified(t, w.do(t, signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), validBody)))
		w.ap.RotateKey()
		clock.Advance(61 * time.Second)
		a := w.mint(t, conformance.TokenSpec{})
		expectVerified(t, w.do(t, signed(t, a, http.MethodPost, w.ps.URL("/token"), validBody, conformance.WithCreatedOffset(clock.Offset()))))
	})
	t.Run("a failing JWKS endpoint falls back to the cached copy", func(t *testing.T) {
		clock := &offsetClock{}
		w := newWorld(t, pstest.Options{Now: clock.Now})
		expectVerified(t, w.do(t, signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), validBody)))
		w.ap.SetJWKSStatus(http.StatusInternalServerError)
		w.ap.SetMetadataStatus(http.StatusInternalServerError)
		clock.Advance(10 * time.Minute) // past max-age=300
		expectVerified(t, w.do(t, signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), validBody, conformance.WithCreatedOffset(clock.Offset()))))
	})
	t.Run("new key material under the same kid is picked up", func(t *testing.T) {
		clock := &offsetClock{}
		w := newWorld(t, pstest.Options{Now: clock.Now})
		expectVerified(t, w.do(t, signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), validBody)))
		if err := w.ap.ReplaceKeyMaterial(w.ap.SigningKID()); err != nil {
			t.Fatal(err)
		}
		clock.Advance(61 * time.Second)
		a := w.mint(t, conformance.TokenSpec{})
		expectVerified(t, w.do(t, signed(t, a, http.MethodPost, w.ps.URL("/token"), validBody, conformance.WithCreatedOffset(clock.Offset()))))
	})
}

// TestStrictPSClaim: PS-042 strict mode.
func TestStrictPSClaim(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{Configure: func(c *config.Config) { c.StrictPSClaim = true }})
	other := w.mint(t, conformance.TokenSpec{PS: "https://other-ps.test"})
	expect401(t, w.do(t, signed(t, other, http.MethodPost, w.ps.URL("/token"), validBody)), aauth.SigInvalidJWT)
	chained := []byte(`{"resource":"https://rs.test","upstream_token":"x"}`)
	expectVerified(t, w.do(t, signed(t, other, http.MethodPost, w.ps.URL("/token"), chained)))
	ours := w.mint(t, conformance.TokenSpec{PS: w.ps.Issuer})
	expectVerified(t, w.do(t, signed(t, ours, http.MethodPost, w.ps.URL("/token"), validBody)))
}

// TestMethodNotAllowed: PS-055.
func TestMethodNotAllowed(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		req, _ := http.NewRequest(m, w.ps.URL("/token"), nil)
		r := w.do(t, req)
		expectProblem(t, r, http.StatusMethodNotAllowed, aauth.ErrMethodNotAllowed)
		if r.header.Get("Allow") != "POST" {
			t.Fatalf("%s: Allow = %q", m, r.header.Get("Allow"))
		}
	}
	req, _ := http.NewRequest(http.MethodGet, w.ps.URL("/nope"), nil)
	expectProblem(t, w.do(t, req), http.StatusNotFound, aauth.ErrNotFound)
}

// TestTLSMinimumVersion: PS-247.
func TestTLSMinimumVersion(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		conn, err := tls.Dial("tcp", w.ps.Addr, &tls.Config{ServerName: pstest.DefaultHost, RootCAs: w.env.CA.Pool(), MinVersion: v, MaxVersion: v})
		if err == nil {
			conn.Close()
			t.Fatalf("a TLS version %x handshake succeeded", v)
		}
	}
	conn, err := tls.Dial("tcp", w.ps.Addr, &tls.Config{ServerName: pstest.DefaultHost, RootCAs: w.env.CA.Pool(), MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS 1.2: %v", err)
	}
	conn.Close()
}

// TestLogsCarryNoTokens: no token or key reaches a log line.
func TestLogsCarryNoTokens(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	w := newWorld(t, pstest.Options{Logs: &logs})
	expectVerified(t, w.do(t, signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), validBody)))
	bad := w.mint(t, conformance.TokenSpec{KID: "zzz"})
	expect401(t, w.do(t, signed(t, bad, http.MethodPost, w.ps.URL("/token"), validBody)), aauth.SigUnknownKey)
	expect401(t, w.do(t, signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), validBody, conformance.WithCorruptSignature())), aauth.SigInvalidSignature)
	out := logs.String()
	if !strings.Contains(out, "signed request refused") {
		t.Fatalf("expected refusal log lines, got:\n%s", out)
	}
	for _, tok := range []string{w.agent.Token, bad.Token} {
		for _, part := range strings.Split(tok, ".") {
			if len(part) > 16 && strings.Contains(out, part) {
				t.Fatalf("a log line contains part of an agent token:\n%s", out)
			}
		}
	}
	x := w.agent.Key.PublicJWK()["x"].(string)
	if strings.Contains(out, x) {
		t.Fatal("a log line contains key material")
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestHealthReadinessMetrics: /healthz, /readyz (database) and /metrics
// (requests by route and status, verification failures by code, the
// garbage collector's target, the SQLite WAL).
func TestHealthReadinessMetrics(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	get := func(path string) result {
		req, _ := http.NewRequest(http.MethodGet, w.ps.URL(path), nil)
		return w.do(t, req)
	}
	if r := get("/healthz"); r.status != 200 || r.body["status"] != "ok" {
		t.Fatalf("healthz: %d %s", r.status, r.raw)
	}
	if r := get("/readyz"); r.status != 200 || r.body["database"] != "ok" {
		t.Fatalf("readyz: %d %s", r.status, r.raw)
	}
	expect401(t, w.do(t, signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), validBody, conformance.WithoutHeader("Signature"))), aauth.SigInvalidSignature)
	m := string(get("/metrics").raw)
	for _, want := range []string{
		`aauth_ps_signature_verification_failures_total{code="invalid_signature"} 1`,
		`aauth_ps_signature_verification_failures_total{code="unknown_key"} 0`,
		`aauth_ps_http_requests_total{method="POST",route="/token",status="401"} 1`,
		`aauth_ps_http_requests_total{method="GET",route="/readyz",status="200"} 1`,
		// The collector's target and heap goal (issue 12, finding 47).
		"\ngo_gc_gogc_percent ",
		"\ngo_gc_heap_goal_bytes ",
		// The SQLite WAL's length and restarts (finding 61; 0 on PostgreSQL).
		"\naauth_ps_store_sqlite_wal_frames ",
		"\naauth_ps_store_sqlite_wal_restarts_total ",
	} {
		if !strings.Contains(m, want) {
			t.Fatalf("metrics lack %s:\n%s", want, m)
		}
	}
	// Readiness follows the database.
	w.ps.App.Store.Close()
	if r := get("/readyz"); r.status != http.StatusServiceUnavailable {
		t.Fatalf("readyz with a closed database: %d %s", r.status, r.raw)
	}
}

// decode is a helper for JSON documents fetched in tests.
func decode(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not JSON: %v: %s", err, raw)
	}
	return m
}
