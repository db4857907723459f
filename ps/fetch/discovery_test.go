package fetch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	apIssuer = "https://ap.test"
	dwkAgent = "aauth-agent.json"
	metaPath = "/.well-known/aauth-agent.json"
	jwksPath = "/.well-known/jwks.json"
)

// apFixture is an agent provider on the test server: metadata and JWKS
// whose body, status, content type and headers tests change at will.
type apFixture struct {
	mu         sync.Mutex
	meta       string
	metaCT     string
	metaStatus int
	metaHeader http.Header
	jwks       string
	jwksCT     string
	jwksStatus int
	jwksHeader http.Header
	delay      time.Duration
}

func (a *apFixture) set(f func(a *apFixture)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(a)
}

func (a *apFixture) serve(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		body, ct, status, hdr, delay := a.meta, a.metaCT, a.metaStatus, a.metaHeader, a.delay
		if kind == "jwks" {
			body, ct, status, hdr = a.jwks, a.jwksCT, a.jwksStatus, a.jwksHeader
		}
		a.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		for k, v := range hdr {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", ct)
		if status == 0 {
			status = 200
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
}

func metaDoc(issuer, jwksURI string) string {
	b, _ := json.Marshal(map[string]any{"issuer": issuer, "jwks_uri": jwksURI, "name": "Test AP"})
	return string(b)
}

func jwk(kid, x string) map[string]any {
	return map[string]any{"kty": "OKP", "crv": "Ed25519", "alg": "Ed25519", "kid": kid, "x": x}
}

func jwksDoc(members ...any) string {
	b, _ := json.Marshal(map[string]any{"keys": members})
	return string(b)
}

type discEnv struct {
	pki   *testPKI
	srv   *testServer
	ap    *apFixture
	clock *fakeClock
	c     *Client
	d     *Discovery
}

func newDiscEnv(t testing.TB, opt func(*DiscoveryOptions), copt func(*Config)) *discEnv {
	t.Helper()
	e := &discEnv{pki: newTestPKI(t), clock: newFakeClock()}
	e.srv = startTLS(t, e.pki, nil)
	e.ap = &apFixture{
		meta:   metaDoc(apIssuer, apIssuer+jwksPath),
		metaCT: "application/json",
		jwks:   jwksDoc(jwk("k1", "x1")),
		jwksCT: "application/jwk-set+json",
	}
	e.srv.handle(metaPath, e.ap.serve("meta"))
	e.srv.handle(jwksPath, e.ap.serve("jwks"))
	e.c = testClient(t, e.pki, e.srv, copt)
	o := DiscoveryOptions{Now: e.clock.Now}
	if opt != nil {
		opt(&o)
	}
	e.d = NewDiscovery(e.c, o)
	return e
}

func (e *discEnv) metaHits() int { return e.srv.count("ap.test" + metaPath) }
func (e *discEnv) jwksHits() int { return e.srv.count("ap.test" + jwksPath) }

func (e *discEnv) wantHits(t *testing.T, meta, jwks int) {
	t.Helper()
	if m, j := e.metaHits(), e.jwksHits(); m != meta || j != jwks {
		t.Fatalf("fetches: metadata %d, JWKS %d; want %d, %d", m, j, meta, jwks)
	}
}

func (e *discEnv) key(t *testing.T, kid string) KeyResult {
	t.Helper()
	r, err := e.d.Key(context.Background(), apIssuer, dwkAgent, kid)
	if err != nil {
		t.Fatalf("Key(%s): %v", kid, err)
	}
	return r
}

func TestDiscoveryKeyAndCache(t *testing.T) {
	e := newDiscEnv(t, nil, nil)
	r := e.key(t, "k1")
	if r.FromCache || r.JWK["x"] != "x1" || r.JWK["kid"] != "k1" {
		t.Fatalf("first Key: %+v", r)
	}
	e.wantHits(t, 1, 1)
	r.JWK["x"] = "tampered"

	e.clock.Advance(30 * time.Minute)
	r = e.key(t, "k1")
	if !r.FromCache || r.JWK["x"] != "x1" {
		t.Fatalf("cached Key: %+v", r)
	}
	md, err := e.d.Metadata(context.Background(), apIssuer, dwkAgent)
	if err != nil || md["issuer"] != apIssuer || md["name"] != "Test AP" {
		t.Fatalf("Metadata: %v %v", md, err)
	}
	md["issuer"] = "x"
	if md, _ := e.d.Metadata(context.Background(), apIssuer, dwkAgent); md["issuer"] != apIssuer {
		t.Fatal("callers can alter the cache")
	}
	e.wantHits(t, 1, 1)

	// DefaultTTL (1h) without cache headers: refetched after it.
	e.clock.Advance(31 * time.Minute)
	if r := e.key(t, "k1"); r.FromCache {
		t.Fatal("after the default TTL the JWKS must be refetched")
	}
	e.wantHits(t, 2, 2)
}

func TestMetadataURLIsConcatenation(t *testing.T) {
	e := newDiscEnv(t, nil, nil)
	const iss = "https://ap.test/tenants/a"
	e.srv.handle("/tenants/a/.well-known/aauth-agent.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, metaDoc(iss, "https://ap.test/tenants/a/jwks"))
	})
	md, err := e.d.Metadata(context.Background(), iss, dwkAgent)
	if err != nil || md["issuer"] != iss {
		t.Fatalf("%v %v", md, err)
	}
	if e.srv.count("ap.test/tenants/a/.well-known/aauth-agent.json") != 1 {
		t.Fatalf("hits %v", e.srv.hits)
	}
	// Byte equality: a differently spelled issuer is a mismatch, although
	// URL normalisation would call it the same.
	_, err = e.d.Metadata(context.Background(), "https://AP.test", dwkAgent)
	if !errors.Is(err, ErrIssuerMismatch) {
		t.Fatalf("upper-case host: %v", err)
	}
	_, err = e.d.Metadata(context.Background(), "https://ap.test:443", dwkAgent)
	if !errors.Is(err, ErrIssuerMismatch) {
		t.Fatalf("explicit :443: %v", err)
	}
}

func TestIssuerMissingAndMismatch(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		meta string
		want error
	}{
		{"missing", `{"jwks_uri":"https://ap.test/.well-known/jwks.json"}`, ErrIssuerMissing},
		{"not a string", `{"issuer":42,"jwks_uri":"https://ap.test/.well-known/jwks.json"}`, ErrIssuerMissing},
		{"other issuer", metaDoc("https://evil.test", apIssuer+jwksPath), ErrIssuerMismatch},
		{"trailing slash", metaDoc(apIssuer+"/", apIssuer+jwksPath), ErrIssuerMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newDiscEnv(t, nil, nil)
			e.ap.set(func(a *apFixture) { a.meta = tc.meta })
			if _, err := e.d.Key(ctx, apIssuer, dwkAgent, "k1"); !errors.Is(err, tc.want) {
				t.Fatalf("Key: %v, want %v", err, tc.want)
			}
			// The failure is remembered until the floor passes: no refetch.
			e.clock.Advance(59 * time.Second)
			if _, err := e.d.Metadata(ctx, apIssuer, dwkAgent); !errors.Is(err, tc.want) {
				t.Fatalf("Metadata: %v", err)
			}
			e.wantHits(t, 1, 0)
			// After the floor the fixed document is accepted.
			e.ap.set(func(a *apFixture) { a.meta = metaDoc(apIssuer, apIssuer+jwksPath) })
			e.clock.Advance(2 * time.Second)
			e.key(t, "k1")
			e.wantHits(t, 2, 1)
		})
	}
}

func TestBadMetadata(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		setup func(a *apFixture)
		want  error
		ok    bool
	}{
		{"metadata 404", func(a *apFixture) { a.metaStatus = 404 }, ErrBadMetadata, false},
		{"metadata 403", func(a *apFixture) { a.metaStatus = 403 }, ErrBadMetadata, false},
		{"metadata text/html", func(a *apFixture) { a.metaCT = "text/html" }, ErrBadMetadata, false},
		{"metadata jwk-set content type", func(a *apFixture) { a.metaCT = "application/jwk-set+json" }, ErrBadMetadata, false},
		{"metadata no content type", func(a *apFixture) { a.metaCT = "" }, ErrBadMetadata, false},
		{"metadata json with charset", func(a *apFixture) { a.metaCT = "application/json; charset=utf-8" }, nil, true},
		{"metadata array", func(a *apFixture) { a.meta = `[1,2]` }, ErrBadMetadata, false},
		{"metadata not JSON", func(a *apFixture) { a.meta = `{"issuer":` }, ErrBadMetadata, false},
		{"metadata duplicate member", func(a *apFixture) {
			a.meta = `{"issuer":"https://ap.test","jwks_uri":"https://ap.test/.well-known/jwks.json","jwks_uri":"https://ap.test/x"}`
		}, ErrBadMetadata, false},
		{"jwks_uri missing", func(a *apFixture) { a.meta = `{"issuer":"https://ap.test"}` }, ErrBadMetadata, false},
		{"jwks_uri not a string", func(a *apFixture) { a.meta = `{"issuer":"https://ap.test","jwks_uri":1}` }, ErrBadMetadata, false},
		{"jwks_uri http", func(a *apFixture) { a.meta = metaDoc(apIssuer, "http://ap.test"+jwksPath) }, ErrBadMetadata, false},
		{"jwks_uri http localhost outside dev", func(a *apFixture) { a.meta = metaDoc(apIssuer, "http://localhost/jwks") }, ErrBadMetadata, false},
		{"jwks_uri userinfo", func(a *apFixture) { a.meta = metaDoc(apIssuer, "https://u@ap.test"+jwksPath) }, ErrBadMetadata, false},
		{"jwks_uri other port", func(a *apFixture) { a.meta = metaDoc(apIssuer, "https://ap.test:8443"+jwksPath) }, ErrBadMetadata, false},
		{"JWKS 404", func(a *apFixture) { a.jwksStatus = 404 }, ErrBadMetadata, false},
		{"JWKS text/plain", func(a *apFixture) { a.jwksCT = "text/plain" }, ErrBadMetadata, false},
		{"JWKS application/json", func(a *apFixture) { a.jwksCT = "application/json" }, nil, true},
		{"JWKS without keys", func(a *apFixture) { a.jwks = `{"kid":"k1"}` }, ErrBadMetadata, false},
		{"JWKS keys not array", func(a *apFixture) { a.jwks = `{"keys":{"kid":"k1"}}` }, ErrBadMetadata, false},
		{"JWKS duplicate kid", func(a *apFixture) { a.jwks = jwksDoc(jwk("k1", "a"), jwk("k1", "b")) }, ErrBadMetadata, false},
		{"JWKS too large", func(a *apFixture) { a.jwks = jwksDoc(jwk("k1", strings.Repeat("a", 300<<10))) }, ErrTooLarge, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newDiscEnv(t, nil, nil)
			e.ap.set(tc.setup)
			_, err := e.d.Key(ctx, apIssuer, dwkAgent, "k1")
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrBadMetadata) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if errors.Is(err, ErrUnavailable) {
				t.Fatal("a definitive failure must not be ErrUnavailable")
			}
		})
	}
}

func TestInvalidIssuerOrDWK(t *testing.T) {
	e := newDiscEnv(t, nil, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		issuer, dwk string
		want        error
	}{
		{apIssuer, "../admin", ErrBadMetadata},
		{apIssuer, "a/b", ErrBadMetadata},
		{apIssuer, "", ErrBadMetadata},
		{apIssuer, "x?y", ErrBadMetadata},
		{"https://ap.test?x=", dwkAgent, ErrBadMetadata},
		{"https://ap.test#f", dwkAgent, ErrBadMetadata},
		{"http://ap.test", dwkAgent, ErrEgressDenied},
		{"http://localhost", dwkAgent, ErrEgressDenied}, // dev mode off
		{"ftp://ap.test", dwkAgent, ErrEgressDenied},
		{"https://user@ap.test", dwkAgent, ErrEgressDenied},
	} {
		if _, err := e.d.Key(ctx, tc.issuer, tc.dwk, "k1"); !errors.Is(err, tc.want) {
			t.Errorf("%q %q: %v, want %v", tc.issuer, tc.dwk, err, tc.want)
		}
	}
	if e.srv.conns.Load() != 0 {
		t.Fatal("an invalid issuer caused a connection")
	}
}

// PS-248: at most one JWKS fetch per issuer per minute, even under a flood
// of unknown kids; PS-249(a): a rotated key is found after the floor.
func TestUnknownKidFloor(t *testing.T) {
	e := newDiscEnv(t, nil, nil)
	ctx := context.Background()
	e.key(t, "k1")
	e.wantHits(t, 1, 1)

	// The JWKS was fetched just now: an unknown kid cannot refresh it.
	for i := range 10 {
		if _, err := e.d.Key(ctx, apIssuer, dwkAgent, fmt.Sprintf("nope-%d", i)); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("unknown kid: %v", err)
		}
		e.clock.Advance(3 * time.Second)
	}
	e.wantHits(t, 1, 1)

	// The AP rotates; once the floor has passed, a flood of (mostly
	// unknown) kids makes exactly one refetch, and the new kid is found.
	// The fetch is slow so that the flood overlaps it.
	e.ap.set(func(a *apFixture) { a.jwks, a.delay = jwksDoc(jwk("k2", "x2")), 50*time.Millisecond })
	e.clock.Advance(31 * time.Second) // 61 s since the fetch
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			kid := fmt.Sprintf("flood-%d", i)
			if i%4 == 0 {
				kid = "k2"
			}
			_, err := e.d.Key(ctx, apIssuer, dwkAgent, kid)
			if kid == "k2" && err != nil {
				errs <- fmt.Errorf("k2: %w", err)
			}
			if kid != "k2" && !errors.Is(err, ErrUnknownKey) {
				errs <- fmt.Errorf("%s: %v", kid, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	e.wantHits(t, 1, 2)
	if _, err := e.d.Key(ctx, apIssuer, dwkAgent, "k1"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("retired k1: %v", err)
	}
	e.wantHits(t, 1, 2)
	if r := e.key(t, "k2"); !r.FromCache || r.JWK["x"] != "x2" {
		t.Fatalf("k2 from cache: %+v", r)
	}
}

// PS-249(c): the key material changes under the same kid.
func TestRefreshKey(t *testing.T) {
	e := newDiscEnv(t, nil, nil)
	ctx := context.Background()
	e.key(t, "k1")
	e.ap.set(func(a *apFixture) { a.jwks = jwksDoc(jwk("k1", "x1-new")) })

	// Within the floor: no refetch, the cached member comes back marked as such.
	e.clock.Advance(30 * time.Second)
	r, err := e.d.RefreshKey(ctx, apIssuer, dwkAgent, "k1")
	if err != nil || !r.FromCache || r.JWK["x"] != "x1" {
		t.Fatalf("RefreshKey within floor: %+v %v", r, err)
	}
	if _, err := e.d.RefreshKey(ctx, apIssuer, dwkAgent, "zz"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("RefreshKey unknown kid within floor: %v", err)
	}
	e.wantHits(t, 1, 1)

	// After the floor: one refetch, even though the copy is fresh.
	e.clock.Advance(31 * time.Second)
	r, err = e.d.RefreshKey(ctx, apIssuer, dwkAgent, "k1")
	if err != nil || r.FromCache || r.JWK["x"] != "x1-new" {
		t.Fatalf("RefreshKey after floor: %+v %v", r, err)
	}
	e.wantHits(t, 1, 2)
	// And the new material is what Key now serves from cache.
	if r := e.key(t, "k1"); !r.FromCache || r.JWK["x"] != "x1-new" {
		t.Fatalf("Key after refresh: %+v", r)
	}

	// The key disappears: after the floor, RefreshKey says unknown.
	e.ap.set(func(a *apFixture) { a.jwks = jwksDoc(jwk("k9", "x9")) })
	e.clock.Advance(61 * time.Second)
	if _, err := e.d.RefreshKey(ctx, apIssuer, dwkAgent, "k1"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("RefreshKey for a removed key: %v", err)
	}
	e.wantHits(t, 1, 3)
}

func TestCacheControlHonoured(t *testing.T) {
	base := newFakeClock().Now()
	cases := []struct {
		name    string
		header  http.Header
		stillOK time.Duration // no refetch at this age
		refetch time.Duration // refetch at this age
	}{
		{"max-age", http.Header{"Cache-Control": {"max-age=300"}}, 299 * time.Second, 301 * time.Second},
		{"max-age with Age", http.Header{"Cache-Control": {"max-age=300"}, "Age": {"200"}}, 99 * time.Second, 101 * time.Second},
		{"no-store revalidates at the floor", http.Header{"Cache-Control": {"no-store"}}, 59 * time.Second, 61 * time.Second},
		{"no-cache revalidates at the floor", http.Header{"Cache-Control": {"no-cache"}}, 59 * time.Second, 61 * time.Second},
		{"max-age below the floor", http.Header{"Cache-Control": {"max-age=5"}}, 59 * time.Second, 61 * time.Second},
		{"Expires", http.Header{
			"Date":    {base.Format(http.TimeFormat)},
			"Expires": {base.Add(10 * time.Minute).Format(http.TimeFormat)},
		}, 599 * time.Second, 601 * time.Second},
		{"max-age wins over Expires", http.Header{
			"Cache-Control": {"max-age=120"},
			"Expires":       {base.Add(time.Hour).Format(http.TimeFormat)},
		}, 119 * time.Second, 121 * time.Second},
		{"default TTL", nil, 59 * time.Minute, 61 * time.Minute},
		{"capped at MaxAge", http.Header{"Cache-Control": {"max-age=31536000"}}, 24*time.Hour - time.Second, 24*time.Hour + time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newDiscEnv(t, nil, nil)
			e.ap.set(func(a *apFixture) { a.metaHeader, a.jwksHeader = tc.header, tc.header })
			e.key(t, "k1")
			e.clock.Advance(tc.stillOK)
			if r := e.key(t, "k1"); !r.FromCache {
				t.Fatalf("refetched at %s", tc.stillOK)
			}
			e.wantHits(t, 1, 1)
			e.clock.Advance(tc.refetch - tc.stillOK)
			if r := e.key(t, "k1"); r.FromCache {
				t.Fatalf("not refetched at %s", tc.refetch)
			}
			e.wantHits(t, 2, 2)
		})
	}
}

// PS-249(b): when a refetch fails, the cached copy is served, and retries
// back off exponentially.
func TestStaleOnErrorWithBackoff(t *testing.T) {
	e := newDiscEnv(t, nil, nil)
	ctx := context.Background()
	e.ap.set(func(a *apFixture) {
		a.metaHeader = http.Header{"Cache-Control": {"max-age=60"}}
		a.jwksHeader = a.metaHeader
	})
	e.key(t, "k1")
	e.ap.set(func(a *apFixture) { a.metaStatus, a.jwksStatus = 500, 503 })

	wantX := "x1"
	step := func(d time.Duration, wantMeta, wantJWKS int) {
		t.Helper()
		e.clock.Advance(d)
		r, err := e.d.Key(ctx, apIssuer, dwkAgent, "k1")
		if err != nil || !r.FromCache || r.JWK["x"] != wantX {
			t.Fatalf("at +%s: %+v %v", d, r, err)
		}
		e.wantHits(t, wantMeta, wantJWKS)
	}
	step(61*time.Second, 2, 2)  // stale: one attempt each, fails, cached copy served
	step(30*time.Second, 2, 2)  // back-off 1 min: no attempt
	step(31*time.Second, 3, 3)  // 61 s later: attempt, fails; back-off now 2 min
	step(61*time.Second, 3, 3)  // inside the 2 min
	step(60*time.Second, 4, 4)  // 121 s: attempt; back-off 4 min
	step(239*time.Second, 4, 4) // inside the 4 min
	// Recovery: the next attempt succeeds and refreshes the cache.
	e.ap.set(func(a *apFixture) { a.metaStatus, a.jwksStatus = 0, 0; a.jwks = jwksDoc(jwk("k1", "x1b")) })
	e.clock.Advance(2 * time.Second)
	r, err := e.d.Key(ctx, apIssuer, dwkAgent, "k1")
	if err != nil || r.FromCache || r.JWK["x"] != "x1b" {
		t.Fatalf("after recovery: %+v %v", r, err)
	}
	e.wantHits(t, 5, 5)
	// Back-off is reset: the document is fresh for max-age again.
	wantX = "x1b"
	step(30*time.Second, 5, 5)
}

func TestBackoffSchedule(t *testing.T) {
	d := NewDiscovery(&Client{}, DiscoveryOptions{})
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour}
	for i, w := range want {
		if got := d.backoff(i+1, 0); got != w {
			t.Errorf("backoff(%d) = %s, want %s", i+1, got, w)
		}
	}
	if got := d.backoff(1000, 0); got != time.Hour {
		t.Errorf("backoff(1000) = %s", got)
	}
	if got := d.backoff(1, 10*time.Minute); got != 10*time.Minute {
		t.Errorf("Retry-After hint ignored: %s", got)
	}
	if got := d.backoff(1, 48*time.Hour); got != time.Hour {
		t.Errorf("Retry-After hint not capped: %s", got)
	}
}

// PS-250: a transient failure with nothing cached is ErrUnavailable with a
// retry suggestion, and no fetch is attempted before it.
func TestUnavailableWithoutCache(t *testing.T) {
	ctx := context.Background()
	t.Run("5xx", func(t *testing.T) {
		e := newDiscEnv(t, nil, nil)
		e.ap.set(func(a *apFixture) {
			a.metaStatus = 503
			a.metaHeader = http.Header{"Retry-After": {"5"}}
		})
		_, err := e.d.Key(ctx, apIssuer, dwkAgent, "k1")
		var ue *UnavailableError
		if !errors.Is(err, ErrUnavailable) || !errors.As(err, &ue) {
			t.Fatalf("got %v", err)
		}
		if ue.RetryAfter != time.Minute || ue.RetryAfterSeconds() != 60 {
			t.Fatalf("RetryAfter %s", ue.RetryAfter)
		}
		e.clock.Advance(45 * time.Second)
		_, err = e.d.Key(ctx, apIssuer, dwkAgent, "k1")
		if !errors.As(err, &ue) || ue.RetryAfter != 15*time.Second {
			t.Fatalf("second call: %v", err)
		}
		e.wantHits(t, 1, 0)
		e.ap.set(func(a *apFixture) { a.metaStatus = 0 })
		e.clock.Advance(16 * time.Second)
		e.key(t, "k1")
		e.wantHits(t, 2, 1)
	})
	t.Run("timeout", func(t *testing.T) {
		e := newDiscEnv(t, nil, func(c *Config) { c.Timeout = 150 * time.Millisecond })
		e.ap.set(func(a *apFixture) { a.delay = 5 * time.Second })
		_, err := e.d.Key(ctx, apIssuer, dwkAgent, "k1")
		var ue *UnavailableError
		var te *TransientError
		if !errors.As(err, &ue) || !errors.As(err, &te) || ue.RetryAfterSeconds() < 1 {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("429 and 408 are transient", func(t *testing.T) {
		for _, code := range []int{408, 429, 500, 502} {
			e := newDiscEnv(t, nil, nil)
			e.ap.set(func(a *apFixture) { a.jwksStatus = code })
			if _, err := e.d.Key(ctx, apIssuer, dwkAgent, "k1"); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("%d: %v", code, err)
			}
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := l.Addr().String()
		l.Close()
		e := newDiscEnv(t, nil, func(c *Config) { c.Resolve["ap.test"] = dead })
		if _, err := e.d.Key(ctx, apIssuer, dwkAgent, "k1"); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestMaxAgeDiscard(t *testing.T) {
	e := newDiscEnv(t, func(o *DiscoveryOptions) { o.MaxAge = 2 * time.Hour }, nil)
	ctx := context.Background()
	e.ap.set(func(a *apFixture) {
		a.metaHeader = http.Header{"Cache-Control": {"max-age=604800"}}
		a.jwksHeader = a.metaHeader
	})
	e.key(t, "k1")
	e.clock.Advance(2*time.Hour - time.Second)
	if r := e.key(t, "k1"); !r.FromCache {
		t.Fatal("refetched before MaxAge")
	}
	e.wantHits(t, 1, 1)
	// Past MaxAge the copy is gone: not even served stale when the AP fails.
	e.ap.set(func(a *apFixture) { a.metaStatus = 500 })
	e.clock.Advance(2 * time.Second)
	if _, err := e.d.Key(ctx, apIssuer, dwkAgent, "k1"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("past MaxAge with the AP down: %v", err)
	}
	e.wantHits(t, 2, 1)

	// A stale copy (TTL passed) is served on failure only within MaxAge.
	e2 := newDiscEnv(t, func(o *DiscoveryOptions) { o.MaxAge = 10 * time.Minute }, nil)
	e2.ap.set(func(a *apFixture) {
		a.metaHeader = http.Header{"Cache-Control": {"max-age=120"}}
		a.jwksHeader = a.metaHeader
	})
	e2.key(t, "k1")
	e2.ap.set(func(a *apFixture) { a.metaStatus, a.jwksStatus = 500, 500 })
	e2.clock.Advance(3 * time.Minute)
	if r := e2.key(t, "k1"); !r.FromCache {
		t.Fatal("stale copy not served")
	}
	e2.clock.Advance(8 * time.Minute) // 11 min old > MaxAge
	if _, err := e2.d.Key(ctx, apIssuer, dwkAgent, "k1"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("copy older than MaxAge was served: %v", err)
	}
}

func TestDefinitiveRefetchFailureDropsCopy(t *testing.T) {
	e := newDiscEnv(t, nil, nil)
	ctx := context.Background()
	e.key(t, "k1")
	e.ap.set(func(a *apFixture) { a.jwksStatus = 404 })
	e.clock.Advance(61 * time.Minute)
	if _, err := e.d.Key(ctx, apIssuer, dwkAgent, "k1"); !errors.Is(err, ErrBadMetadata) {
		t.Fatalf("JWKS now 404: %v", err)
	}
	e.clock.Advance(10 * time.Second)
	if _, err := e.d.Key(ctx, apIssuer, dwkAgent, "k1"); !errors.Is(err, ErrBadMetadata) {
		t.Fatalf("within floor: %v", err)
	}
	e.wantHits(t, 2, 2)
}

func TestSingleflight(t *testing.T) {
	e := newDiscEnv(t, nil, nil)
	e.ap.set(func(a *apFixture) { a.delay = 100 * time.Millisecond })
	ctx := context.Background()
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	fresh := make(chan bool, n)
	for range n {
		wg.Go(func() {
			r, err := e.d.Key(ctx, apIssuer, dwkAgent, "k1")
			if err != nil {
				errs <- err
				return
			}
			fresh <- !r.FromCache
		})
	}
	wg.Wait()
	close(errs)
	close(fresh)
	for err := range errs {
		t.Fatal(err)
	}
	e.wantHits(t, 1, 1)
	nFresh := 0
	for f := range fresh {
		if f {
			nFresh++
		}
	}
	if nFresh == 0 {
		t.Fatal("no caller saw the fetch")
	}

	// A caller that gives up does not cancel the shared fetch.
	e.clock.Advance(2 * time.Hour)
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err := e.d.Key(cctx, apIssuer, dwkAgent, "k1")
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("abandoned caller: %v", err)
	}
	r := e.key(t, "k1") // joins or follows the fetch the first caller started
	if r.JWK["x"] != "x1" {
		t.Fatal(r)
	}
	if m := e.metaHits(); m != 2 {
		t.Fatalf("metadata fetches %d, want 2", m)
	}
}

func TestCrossOriginJWKS(t *testing.T) {
	ctx := context.Background()
	for _, admit := range []bool{false, true} {
		e := newDiscEnv(t, func(o *DiscoveryOptions) { o.AllowCrossOriginJWKS = admit }, nil)
		e.ap.set(func(a *apFixture) { a.meta = metaDoc(apIssuer, "https://other.test/keys") })
		e.srv.handle("/keys", e.ap.serve("jwks"))
		r, err := e.d.Key(ctx, apIssuer, dwkAgent, "k1")
		if !admit {
			if !errors.Is(err, ErrBadMetadata) {
				t.Fatalf("cross-origin not admitted: %v", err)
			}
			if e.srv.count("other.test/keys") != 0 {
				t.Fatal("the cross-origin JWKS was fetched")
			}
			continue
		}
		if err != nil || r.JWK["kid"] != "k1" || e.srv.count("other.test/keys") != 1 {
			t.Fatalf("admitted: %v %v", r, err)
		}
	}
}

// PS-044: unusable neighbours never stop the selection by kid.
func TestUnusableNeighbourKeysIgnored(t *testing.T) {
	e := newDiscEnv(t, nil, nil)
	want := jwk("k1", "x1")
	want["x5c"] = []any{"MIIB"}
	e.ap.set(func(a *apFixture) {
		a.jwks = jwksDoc(
			map[string]any{"kty": "XYZ", "kid": "weird", "alg": "FOO-512"},
			map[string]any{"kty": "EC", "crv": "P-999", "kid": "bad-curve"},
			map[string]any{"kty": "RSA", "kid": "no-n"},
			map[string]any{"kid": 7},
			map[string]any{"no": "kid"},
			42, "string", nil, []any{1},
			want,
			map[string]any{"kty": "oct", "kid": "sym", "k": "AAAA"},
		)
	})
	r := e.key(t, "k1")
	b1, _ := json.Marshal(r.JWK)
	b2, _ := json.Marshal(want)
	if string(b1) != string(b2) {
		t.Fatalf("member altered: %s vs %s", b1, b2)
	}
	// Members are returned as published, unknown kty included: the caller
	// applies algorithm determination.
	if r := e.key(t, "weird"); r.JWK["kty"] != "XYZ" {
		t.Fatal(r)
	}
	// A member without alg comes back as is.
	e2 := newDiscEnv(t, nil, nil)
	e2.ap.set(func(a *apFixture) {
		a.jwks = `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"x"}],"extra":true}`
	})
	if r := e2.key(t, "k1"); r.JWK["alg"] != nil {
		t.Fatal(r)
	}
}

func TestDiscoveryEgressDenied(t *testing.T) {
	e := newDiscEnv(t, nil, func(c *Config) { c.EgressAllow = nil })
	ctx := context.Background()
	if _, err := e.d.Key(ctx, apIssuer, dwkAgent, "k1"); !errors.Is(err, ErrEgressDenied) {
		t.Fatalf("got %v", err)
	}
	if _, err := e.d.Key(ctx, apIssuer, dwkAgent, "k1"); !errors.Is(err, ErrEgressDenied) {
		t.Fatalf("second: %v", err)
	}
	if e.srv.conns.Load() != 0 {
		t.Fatal("the AP was contacted")
	}
}

func TestDiscoveryDevModeHTTP(t *testing.T) {
	plain := startPlain(t)
	_, port, _ := net.SplitHostPort(plain.addr)
	iss := "http://127.0.0.1:" + port
	ap := &apFixture{
		meta:   metaDoc(iss, "http://localhost:"+port+"/jwks"),
		metaCT: "application/json",
		jwks:   jwksDoc(jwk("k1", "x1")),
		jwksCT: "application/json",
	}
	plain.handle("/.well-known/aauth-agent.json", ap.serve("meta"))
	plain.handle("/jwks", ap.serve("jwks"))
	c, err := New(Config{AllowLoopbackHTTP: true, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	clock := newFakeClock()
	ctx := context.Background()

	// localhost and 127.0.0.1 are different origins: admit cross-origin here.
	d := NewDiscovery(c, DiscoveryOptions{Now: clock.Now, AllowLoopbackHTTP: true, AllowCrossOriginJWKS: true})
	r, err := d.Key(ctx, iss, dwkAgent, "k1")
	if err != nil || r.JWK["x"] != "x1" {
		t.Fatalf("dev mode: %v %v", r, err)
	}

	// Without dev mode in Discovery the http issuer is refused up front.
	strict := NewDiscovery(c, DiscoveryOptions{Now: clock.Now})
	if _, err := strict.Key(ctx, iss, dwkAgent, "k1"); !errors.Is(err, ErrEgressDenied) {
		t.Fatalf("strict: %v", err)
	}
	// Dev mode in Discovery but not in the Client: the Client refuses.
	prod, _ := New(Config{})
	dd := NewDiscovery(prod, DiscoveryOptions{Now: clock.Now, AllowLoopbackHTTP: true})
	if _, err := dd.Key(ctx, iss, dwkAgent, "k1"); !errors.Is(err, ErrEgressDenied) {
		t.Fatalf("client not in dev mode: %v", err)
	}
	if plain.count("127.0.0.1:"+port+"/.well-known/aauth-agent.json") != 1 {
		t.Fatalf("hits %v", plain.hits)
	}
}

func TestMaxEntriesEviction(t *testing.T) {
	e := newDiscEnv(t, func(o *DiscoveryOptions) { o.MaxEntries = 2 }, nil)
	ctx := context.Background()
	issuers := []string{"https://ap.test/a", "https://ap.test/b", "https://ap.test/c"}
	for _, iss := range issuers {
		path := strings.TrimPrefix(iss, apIssuer)
		e.srv.handle(path+metaPath, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, metaDoc(iss, apIssuer+jwksPath))
		})
	}
	hits := func(iss string) int { return e.srv.count("ap.test" + strings.TrimPrefix(iss, apIssuer) + metaPath) }
	for _, iss := range issuers {
		if _, err := e.d.Key(ctx, iss, dwkAgent, "k1"); err != nil {
			t.Fatal(err)
		}
	}
	e.d.mu.Lock()
	n := len(e.d.entries)
	e.d.mu.Unlock()
	if n != 2 {
		t.Fatalf("%d entries cached, want 2", n)
	}
	// c and b are cached; a was evicted (least recently used).
	if _, err := e.d.Key(ctx, issuers[2], dwkAgent, "k1"); err != nil || hits(issuers[2]) != 1 {
		t.Fatal("c should be cached")
	}
	if _, err := e.d.Key(ctx, issuers[0], dwkAgent, "k1"); err != nil || hits(issuers[0]) != 2 {
		t.Fatalf("a should have been refetched: %d", hits(issuers[0]))
	}
}

func TestMaxCacheBytesEviction(t *testing.T) {
	e := newDiscEnv(t, func(o *DiscoveryOptions) { o.MaxCacheBytes = 4000 }, nil)
	ctx := context.Background()
	pad := strings.Repeat("p", 1000)
	var issuers []string
	for i := range 4 {
		iss := fmt.Sprintf("https://ap.test/t%d", i)
		issuers = append(issuers, iss)
		path := fmt.Sprintf("/t%d", i)
		e.srv.handle(path+metaPath, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			b, _ := json.Marshal(map[string]any{"issuer": iss, "jwks_uri": iss + "/jwks", "pad": pad})
			w.Write(b)
		})
		e.srv.handle(path+"/jwks", e.ap.serve("jwks"))
	}
	for _, iss := range issuers {
		if _, err := e.d.Key(ctx, iss, dwkAgent, "k1"); err != nil {
			t.Fatal(err)
		}
		e.d.mu.Lock()
		b, n := e.d.bytes, len(e.d.entries)
		e.d.mu.Unlock()
		if b > 4000 {
			t.Fatalf("cache holds %d bytes, budget 4000 (%d entries)", b, n)
		}
	}
	e.d.mu.Lock()
	n := len(e.d.entries)
	_, firstCached := e.d.entries[cacheKey(issuers[0], dwkAgent)]
	var sum int64
	for _, en := range e.d.entries {
		for _, st := range []*docState{en.meta, en.jwks} {
			if st != nil && st.live {
				sum += st.size
			}
		}
	}
	b := e.d.bytes
	e.d.mu.Unlock()
	if n >= 4 || firstCached {
		t.Fatalf("no LRU eviction: %d entries, first cached %v", n, firstCached)
	}
	if sum != b {
		t.Fatalf("byte accounting drifted: entries sum to %d, counter %d", sum, b)
	}
}
