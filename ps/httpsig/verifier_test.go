package httpsig_test

// Unit tests of the Verifier with in-memory fakes for key discovery, the
// replay cache and revocations, and a fixed clock. The end-to-end tests in
// ps/app cover the same rows over HTTPS with the real discovery and
// database; these tests pin down what only a unit test can see: the order
// of the checks where codes could conflict, that nothing is fetched for a
// token refused on its face, that no replay entry is written on any
// refusal, the refresh-once rule and the mapping of discovery errors.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/fetch"
	"github.com/aauth-ps/aauth-ps/ps/httpsig"
)

// t0 is the fixed clock of every test.
var t0 = time.Unix(1_800_000_000, 0)

const (
	apIssuer = "https://ap.test"
	apKID    = "ap-key-1"
	agentID  = "aauth:a1@ap.test"
	psURL    = "https://ps.test/person"
)

var validBody = []byte(`{"resource":"https://rs.test"}`)

// fakeDiscovery answers Key and RefreshKey from functions and counts calls.
type fakeDiscovery struct {
	mu                     sync.Mutex
	keyCalls, refreshCalls int
	last                   [3]string // issuer, dwk and kid of the last call
	key, refresh           func(iss, dwk, kid string) (fetch.KeyResult, error)
}

func (d *fakeDiscovery) Key(_ context.Context, iss, dwk, kid string) (fetch.KeyResult, error) {
	d.mu.Lock()
	d.keyCalls++
	d.last = [3]string{iss, dwk, kid}
	f := d.key
	d.mu.Unlock()
	return f(iss, dwk, kid)
}

func (d *fakeDiscovery) RefreshKey(_ context.Context, iss, dwk, kid string) (fetch.KeyResult, error) {
	d.mu.Lock()
	d.refreshCalls++
	d.last = [3]string{iss, dwk, kid}
	f := d.refresh
	d.mu.Unlock()
	return f(iss, dwk, kid)
}

func (d *fakeDiscovery) counts() (int, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.keyCalls, d.refreshCalls
}

// memReplay is an in-memory replay cache; an agent's request is written
// only when revs holds no revocation for its token.
type memReplay struct {
	mu     sync.Mutex
	seen   map[string]time.Time
	writes int
	err    error
	revs   *fakeRevocations
}

func newMemReplay() *memReplay { return &memReplay{seen: map[string]time.Time{}} }

func (m *memReplay) RememberSignature(_ context.Context, key string, expiresAt time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return false, m.err
	}
	if _, dup := m.seen[key]; dup {
		return false, nil
	}
	m.seen[key] = expiresAt
	m.writes++
	return true, nil
}

func (m *memReplay) RememberAgentSignature(ctx context.Context, key string, expiresAt time.Time, iss, jti string) (fresh, revoked bool, err error) {
	if revoked, err := m.revs.IsRevoked(ctx, iss, jti); err != nil || revoked {
		return false, revoked, err
	}
	fresh, err = m.RememberSignature(ctx, key, expiresAt)
	return fresh, false, err
}

func (m *memReplay) entries() map[string]time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.seen)
}

func (m *memReplay) reset() {
	m.mu.Lock()
	clear(m.seen)
	m.mu.Unlock()
}

// fakeRevocations is a revocation set keyed by iss and jti.
type fakeRevocations struct {
	mu      sync.Mutex
	revoked map[string]bool
	calls   int
	err     error
}

func (r *fakeRevocations) IsRevoked(_ context.Context, iss, jti string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	return r.revoked[iss+" "+jti], r.err
}

// fixture is an agent provider key held in memory, an agent key, and a
// Verifier wired to fakes that publish the AP key under apKID.
type fixture struct {
	apKey, agentKey *conformance.AgentKey
	published       map[string]any
	disc            *fakeDiscovery
	replay          *memReplay
	revs            *fakeRevocations
	cfg             httpsig.Config
	v               *httpsig.Verifier
}

func mustKey(tb testing.TB, alg string) *conformance.AgentKey {
	tb.Helper()
	k, err := conformance.NewAgentKey(alg)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func publish(k *conformance.AgentKey) map[string]any {
	return conformance.Patch(k.PublicJWK(), map[string]any{"kid": apKID})
}

func newFixture(tb testing.TB, apAlg, agentAlg string, mods ...func(*httpsig.Config)) *fixture {
	tb.Helper()
	f := &fixture{
		apKey:    mustKey(tb, apAlg),
		agentKey: mustKey(tb, agentAlg),
		replay:   newMemReplay(),
		revs:     &fakeRevocations{revoked: map[string]bool{}},
	}
	f.replay.revs = f.revs
	f.published = publish(f.apKey)
	f.disc = &fakeDiscovery{
		key: func(iss, dwk, kid string) (fetch.KeyResult, error) {
			if iss != apIssuer || dwk != aauth.DWKAgent {
				return fetch.KeyResult{}, fmt.Errorf("unexpected discovery of %s %s", iss, dwk)
			}
			if kid != apKID {
				return fetch.KeyResult{}, fetch.ErrUnknownKey
			}
			return fetch.KeyResult{JWK: maps.Clone(f.published), FromCache: true}, nil
		},
	}
	f.disc.refresh = f.disc.key
	f.cfg = httpsig.Config{
		Issuer:      "https://ps.test",
		Authorities: []string{"ps.test", "ps.internal:8443"},
		Now:         func() time.Time { return t0 },
		Discovery:   f.disc,
		Replay:      f.replay,
		Revocations: f.revs,
		Identifiers: aauth.Strict,
	}
	for _, m := range mods {
		m(&f.cfg)
	}
	v, err := httpsig.New(f.cfg)
	if err != nil {
		tb.Fatal(err)
	}
	f.v = v
	return f
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// signJWT assembles a compact JWT signed by key.
func signJWT(tb testing.TB, key *conformance.AgentKey, header, claims map[string]any) string {
	tb.Helper()
	hb, err := json.Marshal(header)
	if err != nil {
		tb.Fatal(err)
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	in := b64(hb) + "." + b64(cb)
	sig, err := key.Sign([]byte(in))
	if err != nil {
		tb.Fatal(err)
	}
	return in + "." + b64(sig)
}

// claims is a token change: header and claims are edited in place.
type claims func(h, c map[string]any)

// token mints an agent token for the fixture's agent key, signed by the AP
// key, valid at t0, with edits applied (a nil value in the maps is kept as
// JSON null; use delete in the edit to drop a member).
func (f *fixture) token(tb testing.TB, edits ...claims) string {
	tb.Helper()
	h := map[string]any{"typ": aauth.TypAgentToken, "alg": f.apKey.Alg(), "kid": apKID}
	c := map[string]any{
		"iss": apIssuer, "dwk": aauth.DWKAgent, "sub": agentID, "jti": "jti-1",
		"iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix(),
		"cnf": map[string]any{"jwk": f.agentKey.PublicJWK()},
	}
	for _, e := range edits {
		e(h, c)
	}
	return signJWT(tb, f.apKey, h, c)
}

func setHeader(name string, v any) claims { return func(h, _ map[string]any) { h[name] = v } }
func dropHeader(name string) claims       { return func(h, _ map[string]any) { delete(h, name) } }
func setClaim(name string, v any) claims  { return func(_, c map[string]any) { c[name] = v } }
func dropClaim(name string) claims        { return func(_, c map[string]any) { delete(c, name) } }
func cnf(jwk map[string]any) claims       { return setClaim("cnf", map[string]any{"jwk": jwk}) }

// request signs a request carrying tok with the agent key, created = t0
// unless an option says otherwise, and returns it as the server receives
// it (over TLS, Host ps.test) together with the body as received.
func (f *fixture) request(tb testing.TB, tok, method string, body []byte, opts ...conformance.SignOption) (*http.Request, []byte) {
	tb.Helper()
	req := conformance.NewRequest(method, psURL, body)
	s := &conformance.Signer{Key: f.agentKey, Token: tok}
	if _, err := s.Sign(req, body, append([]conformance.SignOption{conformance.WithCreated(t0)}, opts...)...); err != nil {
		tb.Fatal(err)
	}
	var got []byte
	if req.Body != nil {
		var err error
		if got, err = io.ReadAll(req.Body); err != nil {
			tb.Fatal(err)
		}
	}
	sr := httptest.NewRequest(req.Method, req.URL.RequestURI(), bytes.NewReader(got))
	sr.Host = req.Host
	sr.Header = req.Header.Clone()
	sr.TLS = &tls.ConnectionState{}
	return sr, got
}

// post is a signed POST of validBody with a token edited by edits.
func (f *fixture) post(tb testing.TB, edits []claims, opts ...conformance.SignOption) (*http.Request, []byte) {
	tb.Helper()
	return f.request(tb, f.token(tb, edits...), http.MethodPost, validBody, opts...)
}

func (f *fixture) verify(r *http.Request, body []byte) (*httpsig.Agent, error) {
	return f.v.Verify(context.Background(), r, body, httpsig.Policy{})
}

// sigErr asserts err is exactly a *aauth.SignatureError with code.
func sigErr(tb testing.TB, err error, code aauth.SigCode) *aauth.SignatureError {
	tb.Helper()
	se, ok := err.(*aauth.SignatureError)
	if !ok {
		tb.Fatalf("error = %T %v, want *aauth.SignatureError %s", err, err, code)
	}
	if se.Code != code {
		tb.Fatalf("code = %s (%v), want %s", se.Code, se, code)
	}
	return se
}

// nothingWritten asserts a refusal left no replay entry behind.
func (f *fixture) nothingWritten(tb testing.TB) {
	tb.Helper()
	if e := f.replay.entries(); len(e) != 0 {
		tb.Fatalf("a refused request left %d replay entries", len(e))
	}
}

// notFetched asserts the refusal came before any discovery call (PS-034, A-30).
func (f *fixture) notFetched(tb testing.TB) {
	tb.Helper()
	if k, r := f.disc.counts(); k != 0 || r != 0 {
		tb.Fatalf("discovery was called (Key %d, RefreshKey %d)", k, r)
	}
}

func TestNewRequiresDependencies(t *testing.T) {
	f := newFixture(t, aauth.AlgEd25519, aauth.AlgEd25519)
	for name, mod := range map[string]func(*httpsig.Config){
		"Now":         func(c *httpsig.Config) { c.Now = nil },
		"Discovery":   func(c *httpsig.Config) { c.Discovery = nil },
		"Replay":      func(c *httpsig.Config) { c.Replay = nil },
		"Revocations": func(c *httpsig.Config) { c.Revocations = nil },
		"Authorities": func(c *httpsig.Config) { c.Authorities = nil },
	} {
		cfg := f.cfg
		mod(&cfg)
		if v, err := httpsig.New(cfg); err == nil || v != nil {
			t.Errorf("New without %s: %v, %v", name, v, err)
		}
	}
	if got := f.v.AcceptAlgs(); !slices.Equal(got, aauth.SupportedAlgs) {
		t.Fatalf("default AcceptAlgs = %v", got)
	}
	got := f.v.AcceptAlgs()
	got[0] = "none"
	if f.v.AcceptAlgs()[0] != aauth.AlgEd25519 {
		t.Fatal("AcceptAlgs exposes internal state")
	}
}

// TestVerifyAccepts: Ed25519 and ES256 agents and agent providers (PS-026),
// and what the verified Agent carries.
func TestVerifyAccepts(t *testing.T) {
	for _, algs := range [][2]string{
		{aauth.AlgEd25519, aauth.AlgEd25519},
		{aauth.AlgEd25519, aauth.AlgES256},
		{aauth.AlgES256, aauth.AlgEd25519},
		{aauth.AlgES256, aauth.AlgES256},
	} {
		t.Run("AP "+algs[0]+", agent "+algs[1], func(t *testing.T) {
			f := newFixture(t, algs[0], algs[1])
			r, body := f.post(t, []claims{setClaim("ps", "https://ps.test"), setClaim("platform", "x")})
			a, err := f.verify(r, body)
			if err != nil {
				t.Fatal(err)
			}
			if a.ID != agentID || a.Parsed.Local != "a1" || a.Provider != apIssuer || a.TokenJTI != "jti-1" ||
				!a.TokenExp.Equal(t0.Add(time.Hour)) || !a.TokenIAT.Equal(t0) || a.PS != "https://ps.test" ||
				a.ParentAgent != "" || a.Label != conformance.DefaultLabel || !a.Created.Equal(t0) ||
				a.Key.Thumbprint != f.agentKey.Thumbprint() || a.Key.Alg != algs[1] || a.Claims["platform"] != "x" {
				t.Fatalf("agent = %+v", a)
			}
			if rest, _ := io.ReadAll(r.Body); !bytes.Equal(rest, body) {
				t.Fatalf("body not reset: %q", rest)
			}
			if k, rf := f.disc.counts(); k != 1 || rf != 0 || f.disc.last != [3]string{apIssuer, aauth.DWKAgent, apKID} {
				t.Fatalf("discovery: Key %d, RefreshKey %d, last %v", k, rf, f.disc.last)
			}
			if f.revs.calls != 1 {
				t.Fatalf("revocation lookups = %d", f.revs.calls)
			}
			// The replay entry lives until created + window.
			e := f.replay.entries()
			if len(e) != 1 {
				t.Fatalf("replay entries = %v", e)
			}
			for _, exp := range e {
				if !exp.Equal(t0.Add(60 * time.Second)) {
					t.Fatalf("replay entry expires %v, want created+60s", exp)
				}
			}
		})
	}
}

// TestVerifyAcceptsVariants: parameters, labels and windows that must pass.
func TestVerifyAcceptsVariants(t *testing.T) {
	cases := []struct {
		name  string
		ids   string
		build func(t *testing.T, f *fixture) (*http.Request, []byte)
	}{
		{"alg and keyid parameters ignored", "PS-017", func(t *testing.T, f *fixture) (*http.Request, []byte) {
			return f.post(t, nil, conformance.WithParam("alg", "hmac-sha256"), conformance.WithParam("keyid", "x"))
		}},
		{"label aauth", "PS-019", func(t *testing.T, f *fixture) (*http.Request, []byte) {
			return f.post(t, nil, conformance.WithLabel("aauth"))
		}},
		{"extra covered components", "P§covered-components", func(t *testing.T, f *fixture) (*http.Request, []byte) {
			return f.post(t, nil, conformance.WithExtraComponents("@query", "@scheme"))
		}},
		{"future expires", "PS-016", func(t *testing.T, f *fixture) (*http.Request, []byte) {
			return f.post(t, nil, conformance.WithExpires(t0.Add(30*time.Second)))
		}},
		{"expires now", "PS-016", func(t *testing.T, f *fixture) (*http.Request, []byte) {
			return f.post(t, nil, conformance.WithExpires(t0))
		}},
		{"created at the window's past edge", "PS-016, A-20", func(t *testing.T, f *fixture) (*http.Request, []byte) {
			return f.post(t, nil, conformance.WithCreated(t0.Add(-60*time.Second)))
		}},
		{"created at the window's future edge", "PS-016, A-20", func(t *testing.T, f *fixture) (*http.Request, []byte) {
			return f.post(t, nil, conformance.WithCreated(t0.Add(60*time.Second)))
		}},
		{"iat at the window's edge", "PS-038, A-20", func(t *testing.T, f *fixture) (*http.Request, []byte) {
			return f.post(t, []claims{setClaim("iat", t0.Add(60*time.Second).Unix())})
		}},
		{"iat long past", "PS-038", func(t *testing.T, f *fixture) (*http.Request, []byte) {
			return f.post(t, []claims{setClaim("iat", t0.Add(-86000*time.Second).Unix())})
		}},
		{"fractional exp", "PS-038", func(t *testing.T, f *fixture) (*http.Request, []byte) {
			return f.post(t, []claims{setClaim("exp", float64(t0.Unix())+1.5)})
		}},
		{"typ with application/ prefix, upper case", "A-30", func(t *testing.T, f *fixture) (*http.Request, []byte) {
			return f.post(t, []claims{setHeader("typ", "application/AA-AGENT+JWT")})
		}},
		{"upper-case local part", "PS-039", func(t *testing.T, f *fixture) (*http.Request, []byte) {
			return f.post(t, []claims{setClaim("sub", "aauth:Assistant-V2@ap.test")})
		}},
		{"top-level sub with + is only logged", "A-61", func(t *testing.T, f *fixture) (*http.Request, []byte) {
			return f.post(t, []claims{setClaim("sub", "aauth:a1+x@ap.test")})
		}},
		{"unknown claims ignored", "PS-043", func(t *testing.T, f *fixture) (*http.Request, []byte) {
			return f.post(t, []claims{setClaim("foo", map[string]any{"bar": 1})})
		}},
		{"ps names another PS (advisory)", "PS-042", func(t *testing.T, f *fixture) (*http.Request, []byte) {
			return f.post(t, []claims{setClaim("ps", "https://other-ps.test")})
		}},
		{"authority alias", "PS-022", func(t *testing.T, f *fixture) (*http.Request, []byte) {
			req := conformance.NewRequest(http.MethodPost, "https://ps.internal:8443/person", validBody)
			if _, err := (&conformance.Signer{Key: f.agentKey, Token: f.token(t)}).Sign(req, validBody, conformance.WithCreated(t0)); err != nil {
				t.Fatal(err)
			}
			sr := httptest.NewRequest(http.MethodPost, "/person", bytes.NewReader(validBody))
			sr.Host, sr.Header, sr.TLS = "ps.internal:8443", req.Header.Clone(), &tls.ConnectionState{}
			return sr, validBody
		}},
		{"Host in upper case with the default port", "P§covered-components", func(t *testing.T, f *fixture) (*http.Request, []byte) {
			r, body := f.post(t, nil)
			r.Host = "PS.TEST:443"
			return r, body
		}},
		{"sha-512 Content-Digest", "PS-023", func(t *testing.T, f *fixture) (*http.Request, []byte) {
			return f.post(t, nil, conformance.WithDigestAlg("sha-512"))
		}},
		{"unknown digest next to a matching one", "PS-023, A-17", func(t *testing.T, f *fixture) (*http.Request, []byte) {
			return f.post(t, nil, conformance.WithDigestAlg("md5", "sha-256"))
		}},
		{"GET without body covers the base components only", "PS-014", func(t *testing.T, f *fixture) (*http.Request, []byte) {
			return f.request(t, f.token(t), http.MethodGet, nil)
		}},
	}
	for _, c := range cases {
		t.Run(c.name+" ("+c.ids+")", func(t *testing.T) {
			f := newFixture(t, aauth.AlgEd25519, aauth.AlgEd25519)
			r, body := c.build(t, f)
			if _, err := f.verify(r, body); err != nil {
				t.Fatalf("refused: %v", err)
			}
		})
	}
}

// TestVerifyBehindTLSProxy: behind a TLS-terminating proxy the request
// arrives over plain HTTP (r.TLS == nil) but the PS's scheme is still
// https, so an explicit ":443" in Host is the default port (RFC 9421
// §2.2.3) and must not make @authority foreign (PS-022).
func TestVerifyBehindTLSProxy(t *testing.T) {
	f := newFixture(t, aauth.AlgEd25519, aauth.AlgEd25519)
	r, body := f.post(t, nil)
	r.TLS = nil
	if _, err := f.verify(r, body); err != nil {
		t.Fatalf("plain Host behind the proxy: %v", err)
	}
	r, body = f.post(t, nil, conformance.WithCreated(t0.Add(-time.Second)))
	r.TLS, r.Host = nil, "ps.test:443"
	if _, err := f.verify(r, body); err != nil {
		t.Fatalf("Host ps.test:443 behind a TLS proxy: %v", err)
	}
}

// TestMissingHeadersBeatEverything: a missing Signature, Signature-Input or
// Signature-Key is invalid_signature whatever else is wrong (PS-012), and
// nothing is fetched or written.
func TestMissingHeadersBeatEverything(t *testing.T) {
	everythingWrong := func(f *fixture, t *testing.T, omit ...string) (*http.Request, []byte) {
		r, body := f.post(t, []claims{setHeader("typ", "JWT"), setClaim("exp", t0.Add(-time.Hour).Unix()), setClaim("iss", "http://ap.test")},
			conformance.WithCreated(t0.Add(-time.Hour)), conformance.WithoutComponent("@path"),
			conformance.WithScheme("hwk"), conformance.WithoutHeader(omit...))
		r.Host = "other.test"
		return r, body
	}
	for _, omit := range [][]string{
		{"Signature"}, {"Signature-Input"}, {"Signature-Key"},
		{"Signature", "Signature-Input"}, {"Signature", "Signature-Input", "Signature-Key"},
	} {
		t.Run(strings.Join(omit, "+"), func(t *testing.T) {
			f := newFixture(t, aauth.AlgEd25519, aauth.AlgEd25519)
			r, body := everythingWrong(f, t, omit...)
			// The headers that remain are garbage too.
			for _, h := range []string{"Signature", "Signature-Input", "Signature-Key"} {
				if r.Header.Get(h) != "" {
					r.Header.Set(h, "(((")
				}
			}
			_, err := f.verify(r, body)
			se := sigErr(t, err, aauth.SigInvalidSignature)
			for _, h := range omit {
				if !strings.Contains(se.Detail, h) {
					t.Errorf("detail %q does not name %s", se.Detail, h)
				}
			}
			f.notFetched(t)
			f.nothingWritten(t)
		})
	}
}

// refusal is one bad request and what it must get.
type refusal struct {
	name string
	ids  string
	code aauth.SigCode
	// fetches: whether the refusal may come after key discovery.
	fetches bool
	build   func(t *testing.T, f *fixture) (*http.Request, []byte)
}

func post(edits []claims, opts ...conformance.SignOption) func(*testing.T, *fixture) (*http.Request, []byte) {
	return func(t *testing.T, f *fixture) (*http.Request, []byte) { return f.post(t, edits, opts...) }
}

func with(opts ...conformance.SignOption) func(*testing.T, *fixture) (*http.Request, []byte) {
	return post(nil, opts...)
}

func withToken(edits ...claims) func(*testing.T, *fixture) (*http.Request, []byte) {
	return post(edits)
}

func withHost(host string, edits ...claims) func(*testing.T, *fixture) (*http.Request, []byte) {
	return func(t *testing.T, f *fixture) (*http.Request, []byte) {
		r, body := f.post(t, edits)
		r.Host = host
		return r, body
	}
}

// orderRefusals are requests with two or more faults: each names the code
// that must win (PS-REQUIREMENTS §2.5 steps 1-8 and §2.2.1).
func orderRefusals() []refusal {
	stale, ahead := conformance.WithCreated(t0.Add(-120*time.Second)), conformance.WithCreated(t0.Add(120*time.Second))
	return []refusal{
		// Step 1b: parsing.
		{name: "unparseable Signature-Input beats missing components", ids: "PS-030", code: aauth.SigInvalidSignature,
			build: with(conformance.WithoutComponent("@path"), conformance.WithSignatureInput("((("))},
		{name: "unparseable Signature beats stale created", ids: "PS-030", code: aauth.SigInvalidSignature,
			build: with(stale, conformance.WithSignature("sig=not base64"))},
		{name: "unparseable Signature-Key is invalid_key, beating stale created", ids: "PS-030", code: aauth.SigInvalidKey,
			build: with(stale, conformance.WithSignatureKey("sig=jwt;jwt=unquoted=="))},
		{name: "Signature-Key without the label beats a bad scheme", ids: "PS-019", code: aauth.SigInvalidSignature,
			build: with(conformance.WithKeyLabel("other"), conformance.WithScheme("hwk"))},
		{name: "two signatures", ids: "PS-019", code: aauth.SigInvalidSignature,
			build: with(conformance.WithSignatureInput(`sig=("@method");created=1, sig2=("@method");created=1`))},
		{name: "Signature member not a byte sequence", ids: "PS-030", code: aauth.SigInvalidSignature,
			build: with(conformance.WithSignature(`sig="abc"`))},
		{name: "Signature-Input member not an inner list", ids: "PS-030", code: aauth.SigInvalidSignature,
			build: with(conformance.WithSignatureInput(`sig="@method"`))},
		{name: "Signature-Key member an inner list", ids: "PS-030", code: aauth.SigInvalidKey,
			build: with(conformance.WithSignatureKey(`sig=(jwt)`))},
		// Step 2 before step 3.
		{name: "invalid_input beats stale created", ids: "PS-014, PS-016", code: aauth.SigInvalidInput,
			build: with(stale, conformance.WithoutComponent("@path"))},
		{name: "invalid_input beats clock skew", ids: "PS-015, PS-016", code: aauth.SigInvalidInput,
			build: with(ahead, conformance.WithoutComponent("content-digest"))},
		{name: "invalid_input beats past expires", ids: "PS-014, PS-016", code: aauth.SigInvalidInput,
			build: with(conformance.WithExpires(t0.Add(-time.Second)), conformance.WithoutComponent("signature-key"))},
		{name: "invalid_input beats missing created", ids: "PS-014, PS-016", code: aauth.SigInvalidInput,
			build: with(conformance.WithoutCreated(), conformance.WithoutComponent("@authority"))},
		{name: "invalid_input beats non-integer created", ids: "PS-014, PS-016", code: aauth.SigInvalidInput,
			build: with(conformance.WithCreatedRaw(`"x"`), conformance.WithoutComponent("@method"))},
		{name: "invalid_input beats unsupported scheme", ids: "PS-015, PS-018", code: aauth.SigInvalidInput,
			build: with(conformance.WithScheme("hwk"), conformance.WithoutComponent("content-type"))},
		{name: "a parameterised component does not count", ids: "PS-014", code: aauth.SigInvalidInput,
			build: with(conformance.WithSignatureInput(fmt.Sprintf(
				`sig=("@method" "@authority" "@path" "content-type" "content-digest" "signature-key";sf);created=%d`, t0.Unix())))},
		// Step 3 before step 4.
		{name: "stale created beats unsupported scheme", ids: "PS-016, PS-018", code: aauth.SigInvalidSignature,
			build: with(stale, conformance.WithScheme("hwk"))},
		{name: "clock skew beats unsupported scheme", ids: "PS-016, PS-018, A-20", code: aauth.SigClockSkew,
			build: with(ahead, conformance.WithScheme("jwks_uri"))},
		{name: "past expires beats unsupported scheme", ids: "PS-016, PS-018", code: aauth.SigInvalidSignature,
			build: with(conformance.WithExpires(t0.Add(-time.Second)), conformance.WithScheme("x509"))},
		{name: "missing created", ids: "PS-016", code: aauth.SigInvalidSignature, build: with(conformance.WithoutCreated())},
		{name: "decimal created", ids: "PS-016", code: aauth.SigInvalidSignature, build: with(conformance.WithCreatedRaw("1800000000.5"))},
		{name: "string expires", ids: "PS-016", code: aauth.SigInvalidSignature, build: with(conformance.WithParam("expires", "x"))},
		// Step 4 before the authority check and the token.
		{name: "unsupported scheme beats foreign authority", ids: "PS-018, PS-022", code: aauth.SigUnsupportedScheme,
			build: func(t *testing.T, f *fixture) (*http.Request, []byte) {
				r, body := f.post(t, nil, conformance.WithScheme("jkt-jwt"))
				r.Host = "other.test"
				return r, body
			}},
		{name: "scheme member not a token", ids: "PS-018", code: aauth.SigInvalidKey,
			build: with(conformance.WithKeyMember(`"jwt";jwt="x"`))},
		{name: "unknown scheme", ids: "PS-018", code: aauth.SigUnsupportedScheme, build: with(conformance.WithScheme("frobnicate"))},
		// Authority (7c, IMPL) before the token, so nothing is fetched for a request aimed elsewhere.
		{name: "foreign authority beats a bad token", ids: "PS-022, PS-031", code: aauth.SigInvalidSignature,
			build: withHost("other.test", setHeader("typ", "JWT"))},
		{name: "foreign authority beats an unknown kid", ids: "PS-022, PS-036", code: aauth.SigInvalidSignature,
			build: withHost("other.test", setHeader("kid", "zzz"))},
		{name: "authority with a non-default port", ids: "PS-022", code: aauth.SigInvalidSignature, build: withHost("ps.test:8443")},
		{name: "http default port is foreign over TLS", ids: "PS-022", code: aauth.SigInvalidSignature, build: withHost("ps.test:80")},
		// Step 5, checks that need no network, in order: typ first.
		{name: "jwt parameter missing", ids: "PS-030", code: aauth.SigInvalidKey, build: with(conformance.WithKeyMember(`jwt;token="x"`))},
		{name: "jwt parameter not a string", ids: "PS-030", code: aauth.SigInvalidKey, build: with(conformance.WithKeyMember(`jwt;jwt=1`))},
		{name: "malformed JWT", ids: "PS-032", code: aauth.SigInvalidJWT, build: with(conformance.WithKeyMember(`jwt;jwt="a.b"`))},
		{name: "typ beats alg, kid, exp and iss", ids: "PS-031, A-30", code: aauth.SigInvalidJWT,
			build: withToken(setHeader("typ", aauth.TypPersonToken), setHeader("alg", "none"), dropHeader("kid"),
				setClaim("exp", t0.Add(-time.Hour).Unix()), setClaim("iss", "http://ap.test"))},
		{name: "typ missing beats expired", ids: "PS-031", code: aauth.SigInvalidJWT,
			build: withToken(dropHeader("typ"), setClaim("exp", t0.Add(-time.Hour).Unix()))},
		{name: "typ JWT", ids: "PS-031", code: aauth.SigInvalidJWT, build: withToken(setHeader("typ", "JWT"))},
		{name: "typ not a string", ids: "PS-031", code: aauth.SigInvalidJWT, build: withToken(setHeader("typ", 1))},
		{name: "alg EdDSA beats expired", ids: "PS-032", code: aauth.SigInvalidJWT,
			build: withToken(setHeader("alg", "EdDSA"), setClaim("exp", t0.Add(-time.Hour).Unix()))},
		{name: "alg none", ids: "PS-032", code: aauth.SigInvalidJWT, build: withToken(setHeader("alg", "none"))},
		{name: "alg HS256", ids: "PS-032", code: aauth.SigInvalidJWT, build: withToken(setHeader("alg", "HS256"))},
		{name: "alg ES384", ids: "PS-032", code: aauth.SigInvalidJWT, build: withToken(setHeader("alg", "ES384"))},
		{name: "alg missing", ids: "PS-032", code: aauth.SigInvalidJWT, build: withToken(dropHeader("alg"))},
		{name: "kid missing beats expired", ids: "PS-032", code: aauth.SigInvalidJWT,
			build: withToken(dropHeader("kid"), setClaim("exp", t0.Add(-time.Hour).Unix()))},
		{name: "kid empty", ids: "PS-032", code: aauth.SigInvalidJWT, build: withToken(setHeader("kid", ""))},
		{name: "expired beats missing iat and bad sub", ids: "PS-038", code: aauth.SigExpiredJWT,
			build: withToken(setClaim("exp", t0.Add(-time.Second).Unix()), dropClaim("iat"), setClaim("sub", "nope"))},
		{name: "exp equal to now is expired", ids: "PS-038", code: aauth.SigExpiredJWT, build: withToken(setClaim("exp", t0.Unix()))},
		{name: "exp missing", ids: "PS-038", code: aauth.SigInvalidJWT, build: withToken(dropClaim("exp"))},
		{name: "exp a string", ids: "PS-038", code: aauth.SigInvalidJWT, build: withToken(setClaim("exp", "1900000000"))},
		{name: "exp beyond int64", ids: "PS-038", code: aauth.SigInvalidJWT, build: withToken(setClaim("exp", json.Number("9223372036854775808")))},
		{name: "iat missing", ids: "PS-038", code: aauth.SigInvalidJWT, build: withToken(dropClaim("iat"))},
		{name: "iat null", ids: "PS-038", code: aauth.SigInvalidJWT, build: withToken(setClaim("iat", nil))},
		{name: "iat ahead beats a bad sub", ids: "PS-038, A-20", code: aauth.SigClockSkew,
			build: withToken(setClaim("iat", t0.Add(61*time.Second).Unix()), setClaim("sub", "nope"))},
		{name: "iat 2^63 is not a date in the past", ids: "PS-038, A-20", code: aauth.SigInvalidJWT,
			build: withToken(setClaim("iat", json.Number("9223372036854775808")))},
		{name: "iss missing", ids: "PS-034", code: aauth.SigInvalidJWT, build: withToken(dropClaim("iss"))},
		{name: "dwk aauth-person.json", ids: "PS-033", code: aauth.SigInvalidJWT, build: withToken(setClaim("dwk", aauth.DWKPerson))},
		{name: "dwk missing", ids: "PS-033", code: aauth.SigInvalidJWT, build: withToken(dropClaim("dwk"))},
		{name: "iss http", ids: "PS-034", code: aauth.SigInvalidJWT, build: withToken(setClaim("iss", "http://ap.test"))},
		{name: "iss upper case", ids: "PS-034", code: aauth.SigInvalidJWT, build: withToken(setClaim("iss", "https://AP.test"))},
		{name: "iss with port", ids: "PS-034", code: aauth.SigInvalidJWT, build: withToken(setClaim("iss", "https://ap.test:8443"))},
		{name: "iss with path", ids: "PS-034", code: aauth.SigInvalidJWT, build: withToken(setClaim("iss", "https://ap.test/v1"))},
		{name: "iss with trailing slash", ids: "PS-034", code: aauth.SigInvalidJWT, build: withToken(setClaim("iss", "https://ap.test/"))},
		{name: "iss loopback http outside dev", ids: "PS-034, A-16", code: aauth.SigInvalidJWT, build: withToken(setClaim("iss", "http://localhost:8080"))},
		{name: "sub missing", ids: "PS-039", code: aauth.SigInvalidJWT, build: withToken(dropClaim("sub"))},
		{name: "jti missing", ids: "PS-039", code: aauth.SigInvalidJWT, build: withToken(dropClaim("jti"))},
		{name: "jti empty", ids: "PS-039", code: aauth.SigInvalidJWT, build: withToken(setClaim("jti", ""))},
		{name: "jti a number", ids: "PS-039", code: aauth.SigInvalidJWT, build: withToken(setClaim("jti", 5))},
		{name: "cnf missing", ids: "PS-039", code: aauth.SigInvalidJWT, build: withToken(dropClaim("cnf"))},
		{name: "cnf.jwk missing", ids: "PS-039", code: aauth.SigInvalidJWT, build: withToken(setClaim("cnf", map[string]any{}))},
		{name: "cnf.jwk a string", ids: "PS-039", code: aauth.SigInvalidJWT, build: withToken(setClaim("cnf", map[string]any{"jwk": "x"}))},
		{name: "sub with space", ids: "PS-039", code: aauth.SigInvalidJWT, build: withToken(setClaim("sub", "aauth:a b@ap.test"))},
		{name: "sub empty local", ids: "PS-039", code: aauth.SigInvalidJWT, build: withToken(setClaim("sub", "aauth:@ap.test"))},
		{name: "sub scheme in domain", ids: "PS-039", code: aauth.SigInvalidJWT, build: withToken(setClaim("sub", "aauth:x@https://ap.test"))},
		{name: "sub local over 255", ids: "PS-039", code: aauth.SigInvalidJWT, build: withToken(setClaim("sub", "aauth:"+strings.Repeat("a", 256)+"@ap.test"))},
		{name: "sub in another domain", ids: "PS-040, A-29", code: aauth.SigInvalidJWT, build: withToken(setClaim("sub", "aauth:x@evil.test"))},
		{name: "sub in a subdomain", ids: "PS-040, A-29", code: aauth.SigInvalidJWT, build: withToken(setClaim("sub", "aauth:x@sub.ap.test"))},
		{name: "ps http", ids: "PS-039", code: aauth.SigInvalidJWT, build: withToken(setClaim("ps", "http://ps.test"))},
		{name: "ps not a string", ids: "PS-039", code: aauth.SigInvalidJWT, build: withToken(setClaim("ps", true))},
		{name: "parent_agent invalid", ids: "PS-039", code: aauth.SigInvalidJWT, build: withToken(setClaim("parent_agent", "nope"))},
		{name: "parent_agent not a string", ids: "PS-039", code: aauth.SigInvalidJWT, build: withToken(setClaim("parent_agent", 1))},
		// After discovery: JWT signature and JWKS key (PS-037, PS-045); revocation (PS-046) only for a verified token.
		{name: "JWKS key alg differs from header", ids: "PS-045, A-31", code: aauth.SigInvalidJWT, fetches: true,
			build: func(t *testing.T, f *fixture) (*http.Request, []byte) {
				f.published["alg"] = aauth.AlgES256
				return f.post(t, nil)
			}},
		{name: "tampered JWT payload", ids: "PS-037", code: aauth.SigInvalidJWT, fetches: true,
			build: func(t *testing.T, f *fixture) (*http.Request, []byte) {
				tok := f.token(t)
				other := strings.Split(f.token(t, setClaim("jti", "other")), ".")
				parts := strings.Split(tok, ".")
				return f.request(t, parts[0]+"."+other[1]+"."+parts[2], http.MethodPost, validBody)
			}},
		{name: "revoked, but the JWT signature fails first", ids: "PS-037, PS-046", code: aauth.SigInvalidJWT, fetches: true,
			build: func(t *testing.T, f *fixture) (*http.Request, []byte) {
				f.revs.revoked[apIssuer+" jti-1"] = true
				other := mustKey(t, aauth.AlgEd25519)
				f.published = publish(other)
				return f.post(t, nil)
			}},
		{name: "revoked beats a bad cnf.jwk", ids: "PS-046", code: aauth.SigRevokedJWT, fetches: true,
			build: func(t *testing.T, f *fixture) (*http.Request, []byte) {
				f.revs.revoked[apIssuer+" jti-1"] = true
				return f.post(t, []claims{cnf(map[string]any{"kty": "OKP"})})
			}},
		{name: "revoked", ids: "PS-046", code: aauth.SigRevokedJWT, fetches: true,
			build: func(t *testing.T, f *fixture) (*http.Request, []byte) {
				f.revs.revoked[apIssuer+" jti-1"] = true
				return f.post(t, nil)
			}},
		// Step 6: cnf.jwk admission.
		{name: "cnf.jwk without alg", ids: "PS-024", code: aauth.SigUnsupportedAlgorithm, fetches: true,
			build: func(t *testing.T, f *fixture) (*http.Request, []byte) {
				return f.post(t, []claims{cnf(conformance.Patch(f.agentKey.PublicJWK(), map[string]any{"alg": nil}))})
			}},
		{name: "cnf.jwk alg EdDSA", ids: "PS-024", code: aauth.SigUnsupportedAlgorithm, fetches: true,
			build: func(t *testing.T, f *fixture) (*http.Request, []byte) {
				return f.post(t, []claims{cnf(conformance.Patch(f.agentKey.PublicJWK(), map[string]any{"alg": "EdDSA"}))})
			}},
		{name: "cnf.jwk with d beats its missing alg", ids: "PS-025", code: aauth.SigInvalidKey, fetches: true,
			build: func(t *testing.T, f *fixture) (*http.Request, []byte) {
				return f.post(t, []claims{cnf(conformance.Patch(f.agentKey.PublicJWK(), map[string]any{"alg": nil, "d": "AAAA"}))})
			}},
		{name: "cnf.jwk Ed25519 with kty EC", ids: "PS-025", code: aauth.SigInvalidKey, fetches: true,
			build: func(t *testing.T, f *fixture) (*http.Request, []byte) {
				return f.post(t, []claims{cnf(conformance.Patch(f.agentKey.PublicJWK(), map[string]any{"kty": "EC", "y": "AAAA"}))})
			}},
		// Step 7 and after.
		{name: "signed by another key", ids: "PS-020", code: aauth.SigInvalidSignature, fetches: true,
			build: func(t *testing.T, f *fixture) (*http.Request, []byte) {
				return f.post(t, nil, conformance.WithSigningKey(mustKey(t, aauth.AlgEd25519)))
			}},
		{name: "corrupt signature", ids: "PS-021", code: aauth.SigInvalidSignature, fetches: true, build: with(conformance.WithCorruptSignature())},
		{name: "tamper path", ids: "PS-021", code: aauth.SigInvalidSignature, fetches: true, build: with(conformance.TamperPath("/token"))},
		{name: "tamper method", ids: "PS-021", code: aauth.SigInvalidSignature, fetches: true, build: with(conformance.TamperMethod(http.MethodPut))},
		{name: "tamper content-type", ids: "PS-021", code: aauth.SigInvalidSignature, fetches: true,
			build: with(conformance.TamperContentType("text/plain"))},
		{name: "digest of another body", ids: "PS-023, A-17", code: aauth.SigInvalidSignature, fetches: true,
			build: with(conformance.WithDigestBody([]byte(`{"resource":"https://evil.test"}`)))},
		{name: "digest with only an unknown algorithm", ids: "PS-023, A-17", code: aauth.SigInvalidSignature, fetches: true,
			build: with(conformance.WithDigestAlg("md5"))},
		{name: "digest covered but absent", ids: "PS-023", code: aauth.SigInvalidSignature, fetches: true,
			build: with(conformance.WithoutHeader("Content-Digest"))},
		{name: "body changed after signing", ids: "PS-023", code: aauth.SigInvalidSignature, fetches: true,
			build: with(conformance.TamperBody([]byte(`{"resource":"https://evil.test"}`)))},
		{name: "sub-agent", ids: "PS-041", code: aauth.SigInvalidJWT, fetches: true,
			build: withToken(setClaim("sub", "aauth:a1+s1@ap.test"), setClaim("parent_agent", agentID))},
		// Revocation (PS-046) is read with the replay write (finding 60),
		// and still answers before every step after it.
		{name: "revoked beats a message signature by another key", ids: "PS-046, PS-020", code: aauth.SigRevokedJWT, fetches: true,
			build: revoked(func(t *testing.T, f *fixture) (*http.Request, []byte) {
				return f.post(t, nil, conformance.WithSigningKey(mustKey(t, aauth.AlgEd25519)))
			})},
		{name: "revoked beats a tampered path", ids: "PS-046, PS-021", code: aauth.SigRevokedJWT, fetches: true,
			build: revoked(with(conformance.TamperPath("/token")))},
		{name: "revoked beats a body changed after signing", ids: "PS-046, PS-023", code: aauth.SigRevokedJWT, fetches: true,
			build: revoked(with(conformance.TamperBody([]byte(`{"resource":"https://evil.test"}`))))},
		{name: "revoked beats the sub-agent refusal", ids: "PS-046, PS-041", code: aauth.SigRevokedJWT, fetches: true,
			build: revoked(withToken(setClaim("sub", "aauth:a1+s1@ap.test"), setClaim("parent_agent", agentID)))},
		{name: "revoked, a GET", ids: "PS-046", code: aauth.SigRevokedJWT, fetches: true,
			build: revoked(func(t *testing.T, f *fixture) (*http.Request, []byte) {
				return f.request(t, f.token(t), http.MethodGet, nil)
			})},
	}
}

// revoked is build with the agent token (jti-1) revoked.
func revoked(build func(*testing.T, *fixture) (*http.Request, []byte)) func(*testing.T, *fixture) (*http.Request, []byte) {
	return func(t *testing.T, f *fixture) (*http.Request, []byte) {
		f.revs.revoked[apIssuer+" jti-1"] = true
		return build(t, f)
	}
}

// TestVerifyRefusalOrder runs every refusal: the winning code, no discovery
// call unless the refusal needs the key, and never a replay entry.
func TestVerifyRefusalOrder(t *testing.T) {
	for _, c := range orderRefusals() {
		t.Run(c.name+" ("+c.ids+")", func(t *testing.T) {
			f := newFixture(t, aauth.AlgEd25519, aauth.AlgEd25519)
			r, body := c.build(t, f)
			_, err := f.verify(r, body)
			se := sigErr(t, err, c.code)
			switch c.code {
			case aauth.SigInvalidInput:
				want := []string{"@method", "@authority", "@path", "signature-key", "content-type", "content-digest"}
				if !slices.Equal(se.RequiredInput, want) {
					t.Errorf("required_input = %v, want %v", se.RequiredInput, want)
				}
			case aauth.SigUnsupportedScheme:
				if !slices.Equal(se.AcceptSchemes, []string{aauth.SchemeJWT}) {
					t.Errorf("Accept-Signature-Scheme = %v", se.AcceptSchemes)
				}
			case aauth.SigUnsupportedAlgorithm:
				if !slices.Equal(se.AcceptAlgs, aauth.SupportedAlgs) {
					t.Errorf("Accept-Signature-Alg = %v", se.AcceptAlgs)
				}
			}
			if c.code != aauth.SigInvalidInput && se.RequiredInput != nil ||
				c.code != aauth.SigUnsupportedScheme && se.AcceptSchemes != nil ||
				c.code != aauth.SigUnsupportedAlgorithm && se.AcceptAlgs != nil {
				t.Errorf("%s carries another code's members: %+v", c.code, se)
			}
			if !c.fetches {
				f.notFetched(t)
				if f.revs.calls != 0 {
					t.Errorf("revocations consulted %d times", f.revs.calls)
				}
			}
			f.nothingWritten(t)
		})
	}
}

// TestSubAgentPolicy: the sub-agent refusal explains itself (PS-041), and a
// policy that admits sub-agents lets the same request through.
func TestSubAgentPolicy(t *testing.T) {
	f := newFixture(t, aauth.AlgEd25519, aauth.AlgEd25519)
	edits := []claims{setClaim("sub", "aauth:a1+s1@ap.test"), setClaim("parent_agent", agentID)}
	r, body := f.post(t, edits)
	se := sigErr(t, func() error { _, err := f.verify(r, body); return err }(), aauth.SigInvalidJWT)
	if !strings.Contains(se.Detail, "parent") {
		t.Fatalf("detail %q does not explain the sub-agent rule", se.Detail)
	}
	r, body = f.post(t, edits)
	a, err := f.v.Verify(context.Background(), r, body, httpsig.Policy{AllowSubAgent: true})
	if err != nil || a.ParentAgent != agentID || !a.Parsed.IsSubAgentName() {
		t.Fatalf("AllowSubAgent: %+v, %v", a, err)
	}
}

// TestStrictPSClaim: with strict mode a ps naming another PS is refused,
// except with an upstream_token (PS-042, A-28).
func TestStrictPSClaim(t *testing.T) {
	f := newFixture(t, aauth.AlgEd25519, aauth.AlgEd25519, func(c *httpsig.Config) { c.StrictPSClaim = true })
	other := []claims{setClaim("ps", "https://other-ps.test")}
	r, body := f.post(t, other)
	_, err := f.verify(r, body)
	sigErr(t, err, aauth.SigInvalidJWT)
	f.nothingWritten(t)

	chained := []byte(`{"resource":"https://rs.test","upstream_token":"eyJ.e30.AAAA"}`)
	r, body = f.request(t, f.token(t, other...), http.MethodPost, chained)
	if _, err := f.verify(r, body); err != nil {
		t.Fatalf("chained request refused: %v", err)
	}
	for _, edits := range [][]claims{{setClaim("ps", "https://ps.test")}, nil} {
		r, body = f.post(t, edits, conformance.WithCreated(t0.Add(-time.Second*time.Duration(len(edits)+1))))
		if _, err := f.verify(r, body); err != nil {
			t.Fatalf("ps %v refused: %v", edits, err)
		}
	}
}

// TestReplay: the first use succeeds, an exact replay is refused, and two
// different signatures with the same created both pass (PS-027, A-37); GET
// is exempt.
func TestReplay(t *testing.T) {
	f := newFixture(t, aauth.AlgEd25519, aauth.AlgEd25519)
	r, body := f.post(t, nil)
	replay := r.Clone(context.Background())
	if _, err := f.verify(r, body); err != nil {
		t.Fatal(err)
	}
	replay.Body = io.NopCloser(bytes.NewReader(body))
	_, err := f.verify(replay, body)
	se := sigErr(t, err, aauth.SigInvalidSignature)
	if !strings.Contains(se.Detail, "already been used") {
		t.Fatalf("detail %q", se.Detail)
	}
	// Same agent, same created, same path, different body.
	r2, body2 := f.request(t, f.token(t), http.MethodPost, []byte(`{"resource":"https://rs2.test"}`))
	if _, err := f.verify(r2, body2); err != nil {
		t.Fatalf("second distinct request with the same created: %v", err)
	}
	if n := len(f.replay.entries()); n != 2 {
		t.Fatalf("replay entries = %d, want 2", n)
	}
	// GET polls are idempotent and never recorded.
	g, gb := f.request(t, f.token(t), http.MethodGet, nil)
	g2 := g.Clone(context.Background())
	for _, req := range []*http.Request{g, g2} {
		if _, err := f.verify(req, gb); err != nil {
			t.Fatalf("GET: %v", err)
		}
	}
	if n := len(f.replay.entries()); n != 2 {
		t.Fatalf("GET wrote replay entries: %d", n)
	}
}

// TestRefreshOnce covers P§jwks-discovery: a cached key that fails is
// refreshed once; the refresh decides between success, unknown_key and
// invalid_jwt (PS-036, PS-037).
func TestRefreshOnce(t *testing.T) {
	cases := []struct {
		name      string
		fromCache bool
		first     func(f *fixture) map[string]any
		refresh   func(f *fixture) (fetch.KeyResult, error)
		want      aauth.SigCode
		refreshes int
	}{
		{"stale cached key, refresh finds the right one", true,
			func(f *fixture) map[string]any { return publish(mustKey(t, aauth.AlgEd25519)) },
			func(f *fixture) (fetch.KeyResult, error) { return fetch.KeyResult{JWK: publish(f.apKey)}, nil },
			"", 1},
		{"cached key without alg, refresh publishes alg", true,
			func(f *fixture) map[string]any {
				return conformance.Patch(publish(f.apKey), map[string]any{"alg": nil})
			},
			func(f *fixture) (fetch.KeyResult, error) { return fetch.KeyResult{JWK: publish(f.apKey)}, nil },
			"", 1},
		{"stale cached key, refresh still stale", true,
			func(f *fixture) map[string]any { return publish(mustKey(t, aauth.AlgEd25519)) },
			func(f *fixture) (fetch.KeyResult, error) {
				return fetch.KeyResult{JWK: publish(mustKey(t, aauth.AlgEd25519))}, nil
			},
			aauth.SigInvalidJWT, 1},
		{"stale cached key, refresh fails", true,
			func(f *fixture) map[string]any { return publish(mustKey(t, aauth.AlgEd25519)) },
			func(f *fixture) (fetch.KeyResult, error) { return fetch.KeyResult{}, errors.New("refresh floor") },
			aauth.SigInvalidJWT, 1},
		{"stale cached key, provider unavailable on refresh", true,
			func(f *fixture) map[string]any { return publish(mustKey(t, aauth.AlgEd25519)) },
			func(f *fixture) (fetch.KeyResult, error) {
				return fetch.KeyResult{}, &fetch.UnavailableError{RetryAfter: time.Second}
			},
			aauth.SigInvalidJWT, 1},
		{"stale cached key, kid gone on refresh", true,
			func(f *fixture) map[string]any { return publish(mustKey(t, aauth.AlgEd25519)) },
			func(f *fixture) (fetch.KeyResult, error) {
				return fetch.KeyResult{}, fmt.Errorf("jwks: %w", fetch.ErrUnknownKey)
			},
			aauth.SigUnknownKey, 1},
		{"freshly fetched wrong key is not refreshed", false,
			func(f *fixture) map[string]any { return publish(mustKey(t, aauth.AlgEd25519)) },
			func(f *fixture) (fetch.KeyResult, error) { return fetch.KeyResult{JWK: publish(f.apKey)}, nil },
			aauth.SigInvalidJWT, 0},
		{"good cached key needs no refresh", true,
			func(f *fixture) map[string]any { return publish(f.apKey) },
			func(f *fixture) (fetch.KeyResult, error) { return fetch.KeyResult{}, errors.New("must not be called") },
			"", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, aauth.AlgEd25519, aauth.AlgEd25519)
			first := c.first(f)
			f.disc.key = func(string, string, string) (fetch.KeyResult, error) {
				return fetch.KeyResult{JWK: first, FromCache: c.fromCache}, nil
			}
			f.disc.refresh = func(string, string, string) (fetch.KeyResult, error) { return c.refresh(f) }
			r, body := f.post(t, nil)
			_, err := f.verify(r, body)
			if c.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
			} else {
				sigErr(t, err, c.want)
				f.nothingWritten(t)
			}
			if k, rf := f.disc.counts(); k != 1 || rf != c.refreshes {
				t.Fatalf("Key %d, RefreshKey %d; want 1, %d", k, rf, c.refreshes)
			}
		})
	}
}

// TestDiscoveryErrors maps discovery failures onto Signature-Error codes or
// a 503 with Retry-After (PS-035, PS-036, PS-047, A-25).
func TestDiscoveryErrors(t *testing.T) {
	cases := []struct {
		name       string
		err        error
		code       aauth.SigCode // for a SignatureError
		status     int           // for a Problem
		retryAfter int
	}{
		{"issuer missing", fetch.ErrIssuerMissing, aauth.SigIssuerMissing, 0, 0},
		{"issuer mismatch, wrapped", fmt.Errorf("metadata: %w", fetch.ErrIssuerMismatch), aauth.SigIssuerMismatch, 0, 0},
		{"unknown kid", fetch.ErrUnknownKey, aauth.SigUnknownKey, 0, 0},
		{"egress denied", fmt.Errorf("%w: 127.0.0.1 is loopback", fetch.ErrEgressDenied), aauth.SigInvalidJWT, 0, 0},
		{"bad metadata", fetch.ErrBadMetadata, aauth.SigInvalidJWT, 0, 0},
		{"TLS failure", fmt.Errorf("%w: %w", fetch.ErrBadMetadata, fetch.ErrTLS), aauth.SigInvalidJWT, 0, 0},
		{"oversize JWKS", fmt.Errorf("%w: %w", fetch.ErrBadMetadata, fetch.ErrTooLarge), aauth.SigInvalidJWT, 0, 0},
		{"unavailable, retry in 7s", &fetch.UnavailableError{RetryAfter: 7 * time.Second, Err: errors.New("timeout")}, "", 503, 7},
		{"unavailable, wrapped", fmt.Errorf("jwks: %w", &fetch.UnavailableError{RetryAfter: 30 * time.Second}), "", 503, 30},
		{"unavailable, no delay", &fetch.UnavailableError{}, "", 503, 5},
		{"unavailable, sub-second delay", &fetch.UnavailableError{RetryAfter: 200 * time.Millisecond}, "", 503, 1},
		{"unavailable, 1.4s rounds up", &fetch.UnavailableError{RetryAfter: 1400 * time.Millisecond}, "", 503, 2},
		{"anything else", errors.New("boom"), "", 500, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, aauth.AlgEd25519, aauth.AlgEd25519)
			f.disc.key = func(string, string, string) (fetch.KeyResult, error) { return fetch.KeyResult{}, c.err }
			r, body := f.post(t, nil)
			_, err := f.verify(r, body)
			if c.code != "" {
				se := sigErr(t, err, c.code)
				if !errors.Is(se, c.err) {
					t.Errorf("the cause is not kept: %v", se)
				}
			} else {
				p, ok := err.(*aauth.Problem)
				if !ok {
					t.Fatalf("error = %T %v, want *aauth.Problem", err, err)
				}
				if p.Status != c.status || p.RetryAfter != c.retryAfter || !errors.Is(p, c.err) {
					t.Fatalf("problem = %+v, want %d with Retry-After %d", p, c.status, c.retryAfter)
				}
				wantCode := aauth.ErrTemporarilyUnavailable
				if c.status == 500 {
					wantCode = aauth.ErrServerError
				}
				if p.Code != wantCode {
					t.Fatalf("problem code %s, want %s", p.Code, wantCode)
				}
			}
			if f.revs.calls != 0 {
				t.Errorf("revocations consulted after a discovery failure")
			}
			f.nothingWritten(t)
		})
	}
}

// TestInternalFailures: store failures are 500 problems, never a 401 that
// would blame the agent, and leave nothing behind.
func TestInternalFailures(t *testing.T) {
	f := newFixture(t, aauth.AlgEd25519, aauth.AlgEd25519)
	f.revs.err = errors.New("database down")
	r, body := f.post(t, nil)
	_, err := f.verify(r, body)
	if p, ok := err.(*aauth.Problem); !ok || p.Status != 500 || p.Code != aauth.ErrServerError || !errors.Is(p, f.revs.err) {
		t.Fatalf("revocation failure: %T %v", err, err)
	}
	f.nothingWritten(t)

	f = newFixture(t, aauth.AlgEd25519, aauth.AlgEd25519)
	f.replay.err = errors.New("database down")
	r, body = f.post(t, nil)
	_, err = f.verify(r, body)
	if p, ok := err.(*aauth.Problem); !ok || p.Status != 500 || !errors.Is(p, f.replay.err) {
		t.Fatalf("replay failure: %T %v", err, err)
	}
}

// TestWindowConfig: the configured window bounds created and iat.
func TestWindowConfig(t *testing.T) {
	f := newFixture(t, aauth.AlgEd25519, aauth.AlgEd25519, func(c *httpsig.Config) { c.Window = 10 * time.Second })
	for _, c := range []struct {
		name  string
		edits []claims
		opt   conformance.SignOption
		code  aauth.SigCode
	}{
		{"created 11s old", nil, conformance.WithCreated(t0.Add(-11 * time.Second)), aauth.SigInvalidSignature},
		{"created 11s ahead", nil, conformance.WithCreated(t0.Add(11 * time.Second)), aauth.SigClockSkew},
		{"iat 11s ahead", []claims{setClaim("iat", t0.Add(11*time.Second).Unix())}, conformance.WithCreated(t0), aauth.SigClockSkew},
		{"created 10s old", nil, conformance.WithCreated(t0.Add(-10 * time.Second)), ""},
	} {
		r, body := f.post(t, c.edits, c.opt)
		_, err := f.verify(r, body)
		if c.code == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if se, ok := err.(*aauth.SignatureError); !ok || se.Code != c.code {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}
	// The replay entry is kept until created + the configured window.
	for _, exp := range f.replay.entries() {
		if !exp.Equal(t0) {
			t.Fatalf("replay entry expires %v, want %v", exp, t0)
		}
	}
}
