package fetch

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/aauth-ps/aauth-ps/ps/strictjson"
	"github.com/aauth-ps/aauth-ps/ps/telemetry"
)

// DiscoveryOptions configures a Discovery. Zero values take the defaults.
type DiscoveryOptions struct {
	// Now is the clock (tests inject a fake one). nil means time.Now.
	Now func() time.Time
	// MinRefetch is the floor between two fetches of one issuer's document
	// (metadata or JWKS), and the base of the retry back-off. Default 1 minute.
	MinRefetch time.Duration
	// MaxAge: a cached document is discarded this long after it was fetched,
	// whatever its headers said; it is not served stale beyond it either.
	// Default 24h.
	MaxAge time.Duration
	// DefaultTTL applies when a response has neither Cache-Control max-age /
	// no-store / no-cache nor Expires. Default 1h.
	DefaultTTL time.Duration
	// MaxEntries bounds the number of cached issuer/dwk pairs (LRU
	// eviction). Default 10000.
	MaxEntries int
	// MaxCacheBytes bounds the summed body sizes of the cached documents
	// (LRU eviction): entries are created by unauthenticated callers, and
	// MaxEntries alone would allow MaxEntries × 2 × Config.MaxBytes.
	// Default 64 MiB.
	MaxCacheBytes int64
	// MaxBackoff caps the exponential retry back-off after transient
	// failures (MinRefetch, 2×, 4×, …). Default 1h.
	MaxBackoff time.Duration
	// AllowCrossOriginJWKS admits a jwks_uri whose origin differs from the
	// issuer's (deployment admission, SK§scheme-specific-risks).
	AllowCrossOriginJWKS bool
	// AllowLoopbackHTTP (dev mode): accept http://localhost and
	// http://127.0.0.1 issuers and jwks_uri values. The Client must be built
	// with Config.AllowLoopbackHTTP too.
	AllowLoopbackHTTP bool
	// Logger receives fetch failures (URL and error only). nil discards.
	Logger *slog.Logger
}

// KeyResult is a JWKS member selected by kid.
type KeyResult struct {
	// JWK is the selected member exactly as published (a copy; numbers are
	// json.Number). alg and kty are NOT validated here.
	JWK map[string]any
	// FromCache is true when the issuer's JWKS was not fetched during this
	// call: the member is cached key material, so after a signature failure
	// a RefreshKey may help.
	FromCache bool
}

// Discovery fetches and caches issuer metadata and JWKS documents. It is
// safe for concurrent use.
type Discovery struct {
	c   *Client
	o   DiscoveryOptions
	log *slog.Logger
	sf  singleflight.Group

	mu      sync.Mutex
	entries map[string]*entry
	lru     *list.List // of *entry, most recently used first
	bytes   int64      // summed size of the live cached values
}

type entry struct {
	key  string
	elem *list.Element
	meta *docState
	jwks *docState
}

// docState is the cache and fetch bookkeeping for one document.
type docState struct {
	url string

	has        bool
	value      any   // map[string]any (metadata) or []any (JWKS members)
	size       int64 // body bytes of value, counted in Discovery.bytes while live
	fetchedAt  time.Time
	freshUntil time.Time

	attempted   bool
	lastAttempt time.Time // start of the last fetch: the floor runs from here

	failures      int       // consecutive transient failures
	retryAt       time.Time // back-off: no attempt before this
	lastTransient error

	lastErr error // definitive failure, reported until the floor passes

	inflight    bool // a fetch of this document is running
	forceWanted bool

	live bool // still reachable from the cache (not evicted or replaced)
}

type docKind uint8

const (
	docMetadata docKind = iota
	docJWKS
)

type docReq struct {
	kind   docKind
	key    string // issuer "\x00" dwk
	url    string
	issuer string
}

type outcome uint8

const (
	servedFresh outcome = iota // cache fresh and no refresh wanted
	fetchedNew                 // fetched during this call
	servedStale                // refresh forbidden (floor, back-off) or failed transiently: cached copy
)

type flightResult struct {
	value   any
	outcome outcome
}

// NewDiscovery builds a Discovery fetching through c (which must not be nil).
func NewDiscovery(c *Client, o DiscoveryOptions) *Discovery {
	if c == nil {
		panic("fetch: NewDiscovery needs a Client")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MinRefetch <= 0 {
		o.MinRefetch = time.Minute
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 24 * time.Hour
	}
	if o.DefaultTTL <= 0 {
		o.DefaultTTL = time.Hour
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = 10000
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Hour
	}
	if o.MaxCacheBytes <= 0 {
		o.MaxCacheBytes = 64 << 20
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Discovery{c: c, o: o, log: log, entries: map[string]*entry{}, lru: list.New()}
}

// Metadata fetches (or serves from cache) {issuer}/.well-known/{dwk} and
// returns the parsed JSON object (a copy) after the issuer check.
func (d *Discovery) Metadata(ctx context.Context, issuer, dwk string) (map[string]any, error) {
	md, _, err := d.metadata(ctx, issuer, dwk)
	if err != nil {
		return nil, err
	}
	return cloneJSON(md).(map[string]any), nil
}

// Key returns the JWKS member whose kid equals kid, for the issuer's dwk
// document. An unknown kid triggers one JWKS refetch if the floor allows.
func (d *Discovery) Key(ctx context.Context, issuer, dwk, kid string) (KeyResult, error) {
	return d.key(ctx, issuer, dwk, kid, false)
}

// RefreshKey is called after a signature failed under a key Key returned
// from cache: it refetches the issuer's JWKS once (subject to the floor and
// back-off) and returns the member for kid again. When no refetch is
// permitted it returns the cached member with FromCache true (or
// ErrUnknownKey if the kid is not cached).
func (d *Discovery) RefreshKey(ctx context.Context, issuer, dwk, kid string) (KeyResult, error) {
	return d.key(ctx, issuer, dwk, kid, true)
}

func (d *Discovery) key(ctx context.Context, issuer, dwk, kid string, refresh bool) (KeyResult, error) {
	md, _, err := d.metadata(ctx, issuer, dwk)
	if err != nil {
		return KeyResult{}, err
	}
	jwksURI, err := d.jwksURI(issuer, md)
	if err != nil {
		return KeyResult{}, err
	}
	r := docReq{kind: docJWKS, key: cacheKey(issuer, dwk), url: jwksURI, issuer: issuer}
	fr, err := d.get(ctx, r, refresh)
	if err != nil {
		return KeyResult{}, err
	}
	jwk, err := selectKey(fr.value.([]any), kid)
	if err == nil {
		return KeyResult{JWK: jwk, FromCache: fr.outcome != fetchedNew}, nil
	}
	if !errors.Is(err, ErrUnknownKey) || refresh || fr.outcome == fetchedNew {
		return KeyResult{}, err
	}
	// Unknown kid under cached key material: one refetch, floor permitting.
	fr, err = d.get(ctx, r, true)
	if err != nil {
		return KeyResult{}, err
	}
	jwk, err = selectKey(fr.value.([]any), kid)
	if err != nil {
		return KeyResult{}, err
	}
	return KeyResult{JWK: jwk, FromCache: fr.outcome != fetchedNew}, nil
}

func (d *Discovery) metadata(ctx context.Context, issuer, dwk string) (map[string]any, bool, error) {
	if err := d.checkIssuer(issuer, dwk); err != nil {
		return nil, false, err
	}
	// Exactly issuer + "/.well-known/" + dwk: no URL normalisation.
	r := docReq{kind: docMetadata, key: cacheKey(issuer, dwk), url: issuer + "/.well-known/" + dwk, issuer: issuer}
	fr, err := d.get(ctx, r, false)
	if err != nil {
		return nil, false, err
	}
	return fr.value.(map[string]any), fr.outcome == fetchedNew, nil
}

func cacheKey(issuer, dwk string) string { return issuer + "\x00" + dwk }

// checkIssuer refuses issuer and dwk values that cannot name a metadata
// document, before anything is cached or fetched.
func (d *Discovery) checkIssuer(issuer, dwk string) error {
	if dwk == "" || len(dwk) > 255 || dwk == "." || dwk == ".." || strings.IndexFunc(dwk, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_')
	}) >= 0 {
		return fmt.Errorf("%w: invalid dwk %q", ErrBadMetadata, dwk)
	}
	u, err := url.Parse(issuer)
	if err != nil {
		return fmt.Errorf("%w: invalid issuer: %w", ErrBadMetadata, err)
	}
	switch {
	case strings.HasPrefix(issuer, "https://"):
	case strings.HasPrefix(issuer, "http://") && d.o.AllowLoopbackHTTP && isDevLoopbackHost(u.Hostname()):
	default:
		return fmt.Errorf("%w: issuer %q is not an https URL", ErrEgressDenied, issuer)
	}
	if u.User != nil {
		return fmt.Errorf("%w: issuer carries userinfo", ErrEgressDenied)
	}
	if u.Host == "" || u.RawQuery != "" || u.ForceQuery || strings.Contains(issuer, "#") {
		return fmt.Errorf("%w: issuer %q cannot prefix a well-known URL", ErrBadMetadata, issuer)
	}
	return nil
}

// jwksURI extracts and admits the metadata's jwks_uri.
func (d *Discovery) jwksURI(issuer string, md map[string]any) (string, error) {
	raw, ok := md["jwks_uri"].(string)
	if !ok || raw == "" {
		return "", fmt.Errorf("%w: %s metadata has no jwks_uri string", ErrBadMetadata, issuer)
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%w: %s: unusable jwks_uri %q", ErrBadMetadata, issuer, raw)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && d.o.AllowLoopbackHTTP && isDevLoopbackHost(u.Hostname()):
	default:
		return "", fmt.Errorf("%w: %s: jwks_uri %q is not https", ErrBadMetadata, issuer, raw)
	}
	iu, err := url.Parse(issuer)
	if err != nil {
		return "", fmt.Errorf("%w: invalid issuer: %w", ErrBadMetadata, err)
	}
	if !sameOrigin(u, iu) && !d.o.AllowCrossOriginJWKS {
		return "", fmt.Errorf("%w: %s: cross-origin jwks_uri %q is not admitted", ErrBadMetadata, issuer, raw)
	}
	return raw, nil
}

// selectKey returns a copy of the only member whose kid equals kid. Other
// members are never inspected beyond their kid (PS-044).
func selectKey(keys []any, kid string) (map[string]any, error) {
	var found map[string]any
	n := 0
	for _, k := range keys {
		m, ok := k.(map[string]any)
		if !ok {
			continue
		}
		if s, ok := m["kid"].(string); ok && s == kid {
			found = m
			n++
		}
	}
	switch n {
	case 0:
		return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, kid)
	case 1:
		return cloneJSON(found).(map[string]any), nil
	}
	return nil, fmt.Errorf("%w: %d JWKS members carry kid %q", ErrBadMetadata, n, kid)
}

// get is getDoc in a span saying whether the cache served it.
func (d *Discovery) get(ctx context.Context, r docReq, force bool) (flightResult, error) {
	ctx, span := telemetry.Start(ctx, "aauth.discovery", telemetry.AttrDocument.String(r.kind.String()), telemetry.AttrIssuer.String(r.issuer))
	fr, err := d.getDoc(ctx, r, force)
	span.SetAttributes(telemetry.AttrCacheHit.Bool(err == nil && fr.outcome != fetchedNew))
	telemetry.End(span, err)
	return fr, err
}

func (k docKind) String() string {
	if k == docJWKS {
		return "jwks"
	}
	return "metadata"
}

// getDoc serves r from cache or fetches it, sharing one fetch among
// concurrent callers. force asks for a refetch even when the copy is fresh.
func (d *Discovery) getDoc(ctx context.Context, r docReq, force bool) (flightResult, error) {
	d.mu.Lock()
	st := d.state(r)
	now := d.o.Now()
	d.expire(st, now)
	fetch, fr, err := d.decide(st, now, force, true)
	if !fetch {
		d.mu.Unlock()
		return fr, err
	}
	if force {
		st.forceWanted = true
	}
	d.mu.Unlock()

	sfKey := string(rune('0'+r.kind)) + r.key
	fctx := context.WithoutCancel(ctx) // one caller leaving must not fail the others
	for attempt := 0; ; attempt++ {
		ch := d.sf.DoChan(sfKey, func() (any, error) { return d.flight(fctx, r) })
		select {
		case res := <-ch:
			fr, _ := res.Val.(flightResult)
			if res.Err != nil {
				return fr, res.Err
			}
			// A forced caller that joined a flight which judged the copy
			// fresh (it started before our request) tries once more.
			if force && fr.outcome == servedFresh && attempt == 0 {
				continue
			}
			return fr, nil
		case <-ctx.Done():
			return flightResult{}, &UnavailableError{RetryAfter: time.Second, Err: ctx.Err()}
		}
	}
}

// decide says whether st needs a fetch now (or, with join, whether the
// caller should wait for the fetch in progress); if not, it returns what to
// serve. Called with d.mu held.
func (d *Discovery) decide(st *docState, now time.Time, force, join bool) (bool, flightResult, error) {
	if st.has && !force && now.Before(st.freshUntil) {
		return false, flightResult{value: st.value, outcome: servedFresh}, nil
	}
	// A fetch is running: a caller with nothing to serve, or one asking for
	// a refresh, waits for it. A caller content with a stale copy does not.
	if join && st.inflight && (force || !st.has) {
		return true, flightResult{}, nil
	}
	if wait := d.wait(st, now); wait > 0 {
		switch {
		case st.has:
			return false, flightResult{value: st.value, outcome: servedStale}, nil
		case st.lastErr != nil:
			return false, flightResult{}, st.lastErr
		}
		return false, flightResult{}, &UnavailableError{RetryAfter: max(wait, time.Second), Err: st.lastTransient}
	}
	return true, flightResult{}, nil
}

// wait is how long until the floor and the back-off allow another fetch.
func (d *Discovery) wait(st *docState, now time.Time) time.Duration {
	if !st.attempted {
		return 0
	}
	w := st.lastAttempt.Add(d.o.MinRefetch).Sub(now)
	if b := st.retryAt.Sub(now); b > w {
		w = b
	}
	return w
}

// expire drops a copy older than MaxAge. Called with d.mu held.
func (d *Discovery) expire(st *docState, now time.Time) {
	if st.has && now.Sub(st.fetchedAt) >= d.o.MaxAge {
		d.drop(st)
	}
}

// drop forgets st's value. Called with d.mu held.
func (d *Discovery) drop(st *docState) {
	if st.live {
		d.bytes -= st.size
	}
	st.has, st.value, st.size = false, nil, 0
}

// retire detaches st from the cache accounting. Called with d.mu held.
func (d *Discovery) retire(st *docState) {
	if st != nil && st.live {
		d.bytes -= st.size
		st.live = false
	}
}

// evict removes an entry from the cache. Called with d.mu held.
func (d *Discovery) evict(el *list.Element) {
	e := el.Value.(*entry)
	d.lru.Remove(el)
	delete(d.entries, e.key)
	d.retire(e.meta)
	d.retire(e.jwks)
}

// shrink evicts least recently used entries, other than keep, while the
// cache is over its byte budget. Called with d.mu held.
func (d *Discovery) shrink(keep string) {
	for d.bytes > d.o.MaxCacheBytes {
		el := d.lru.Back()
		if el == nil || el.Value.(*entry).key == keep {
			return
		}
		d.evict(el)
	}
}

// state returns the docState for r, creating the entry (and evicting the
// least recently used one) as needed. Called with d.mu held.
func (d *Discovery) state(r docReq) *docState {
	e := d.entries[r.key]
	if e == nil {
		e = &entry{key: r.key}
		e.elem = d.lru.PushFront(e)
		d.entries[r.key] = e
		for d.lru.Len() > d.o.MaxEntries {
			d.evict(d.lru.Back())
		}
	} else {
		d.lru.MoveToFront(e.elem)
	}
	if r.kind == docMetadata {
		if e.meta == nil {
			e.meta = &docState{url: r.url, live: true}
		}
		return e.meta
	}
	if e.jwks == nil || e.jwks.url != r.url {
		d.retire(e.jwks)
		e.jwks = &docState{url: r.url, live: true} // a new jwks_uri is a new document
	}
	return e.jwks
}

// flight runs at most once at a time per document (singleflight): it
// re-decides under the lock, reserves the floor, fetches and records.
func (d *Discovery) flight(ctx context.Context, r docReq) (any, error) {
	d.mu.Lock()
	st := d.state(r)
	now := d.o.Now()
	d.expire(st, now)
	force := st.forceWanted
	st.forceWanted = false
	fetch, fr, err := d.decide(st, now, force, false)
	if !fetch {
		d.mu.Unlock()
		return fr, err
	}
	st.attempted, st.lastAttempt, st.inflight = true, now, true
	d.mu.Unlock()

	value, size, ttl, hint, ferr := d.fetchDoc(ctx, r)

	d.mu.Lock()
	defer d.mu.Unlock()
	// st may have been evicted or replaced meanwhile; updating it is harmless.
	now = d.o.Now()
	var te *TransientError
	switch {
	case ferr == nil:
		d.drop(st)
		*st = docState{url: st.url, has: true, value: value, size: size, fetchedAt: now, freshUntil: now.Add(ttl),
			attempted: true, lastAttempt: st.lastAttempt, live: st.live}
		if st.live {
			d.bytes += size
			d.shrink(r.key)
		}
		return flightResult{value: value, outcome: fetchedNew}, nil
	case errors.As(ferr, &te):
		st.inflight = false
		st.failures++
		backoff := d.backoff(st.failures, hint)
		st.retryAt = now.Add(backoff)
		st.lastTransient, st.lastErr = ferr, nil
		d.expire(st, now)
		if st.has {
			d.log.Warn("discovery fetch failed; serving cached copy", "url", r.url, "err", ferr, "retry_in", backoff)
			return flightResult{value: st.value, outcome: servedStale}, nil
		}
		d.log.Warn("discovery fetch failed", "url", r.url, "err", ferr, "retry_in", backoff)
		return flightResult{}, &UnavailableError{RetryAfter: backoff, Err: ferr}
	default:
		// Definitive: the issuer no longer publishes a usable document.
		// Drop the copy; report the error until the floor passes.
		d.log.Info("discovery fetch rejected", "url", r.url, "err", ferr)
		d.drop(st)
		*st = docState{url: st.url, attempted: true, lastAttempt: st.lastAttempt, lastErr: ferr, live: st.live}
		return flightResult{}, ferr
	}
}

// backoff is MinRefetch·2^(n-1), capped at MaxBackoff, and at least the
// server's Retry-After hint (also capped).
func (d *Discovery) backoff(n int, hint time.Duration) time.Duration {
	b := d.o.MinRefetch
	for i := 1; i < n && b < d.o.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.o.MaxBackoff)
	b = max(b, min(hint, d.o.MaxBackoff), time.Second)
	return b
}

// fetchDoc fetches and validates one document. A *TransientError means
// retry later; anything else is definitive.
func (d *Discovery) fetchDoc(ctx context.Context, r docReq) (value any, size int64, ttl, retryHint time.Duration, err error) {
	what := "metadata"
	accept := "application/json"
	if r.kind == docJWKS {
		what, accept = "JWKS", "application/jwk-set+json, application/json"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, 0, 0, 0, fmt.Errorf("%w: %s URL %q: %w", ErrBadMetadata, what, r.url, err)
	}
	req.Header.Set("Accept", accept)
	resp, err := d.c.Do(req)
	if err != nil {
		var te *TransientError
		if errors.Is(err, ErrEgressDenied) || errors.As(err, &te) {
			return nil, 0, 0, 0, err
		}
		return nil, 0, 0, 0, fmt.Errorf("%w: %s: %w", ErrBadMetadata, what, err)
	}
	switch code := resp.StatusCode; {
	case code == http.StatusOK:
	case code >= 500 || code == http.StatusRequestTimeout || code == http.StatusTooEarly || code == http.StatusTooManyRequests:
		return nil, 0, 0, retryAfter(resp.Header, d.o.Now()), &TransientError{URL: r.url, Err: fmt.Errorf("HTTP status %d", code)}
	default:
		return nil, 0, 0, 0, fmt.Errorf("%w: %s %s: HTTP status %d", ErrBadMetadata, what, r.url, code)
	}
	if err := checkContentType(resp.Header.Get("Content-Type"), r.kind); err != nil {
		return nil, 0, 0, 0, fmt.Errorf("%w: %s %s: %w", ErrBadMetadata, what, r.url, err)
	}
	obj, err := strictjson.DecodeObject(resp.Body)
	if err != nil {
		return nil, 0, 0, 0, fmt.Errorf("%w: %s %s: %w", ErrBadMetadata, what, r.url, err)
	}
	switch r.kind {
	case docMetadata:
		iss, ok := obj["issuer"].(string)
		if !ok {
			return nil, 0, 0, 0, fmt.Errorf("%w: %s", ErrIssuerMissing, r.url)
		}
		if iss != r.issuer {
			return nil, 0, 0, 0, fmt.Errorf("%w: %s names issuer %q, want %q", ErrIssuerMismatch, r.url, iss, r.issuer)
		}
		value = obj
	default:
		keys, ok := obj["keys"].([]any)
		if !ok {
			return nil, 0, 0, 0, fmt.Errorf("%w: JWKS %s has no keys array", ErrBadMetadata, r.url)
		}
		value = keys
	}
	ttl, ok := freshness(resp.Header, d.o.Now())
	if !ok {
		ttl = d.o.DefaultTTL
	}
	// no-store / no-cache / max-age=0 revalidate at the floor; nothing
	// outlives MaxAge.
	ttl = min(max(ttl, d.o.MinRefetch), d.o.MaxAge)
	return value, int64(len(resp.Body)), ttl, 0, nil
}

func checkContentType(ct string, kind docKind) error {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("unusable content type %q", ct)
	}
	if mt == "application/json" || kind == docJWKS && mt == "application/jwk-set+json" {
		return nil
	}
	return fmt.Errorf("content type %q is not application/json", mt)
}

// retryAfter reads a Retry-After header (seconds or HTTP date).
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// cloneJSON deep-copies a decoded JSON value so callers cannot alter the
// cache.
func cloneJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = cloneJSON(x)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = cloneJSON(x)
		}
		return s
	}
	return v
}
