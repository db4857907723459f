package app_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/jose"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// Helpers for the black-box tests of the mission layer (E5, E6, mission
// control) and the person token endpoint (E3): PS-REQUIREMENTS §3.5, §3.6,
// §3.15–3.17.

// rsFixture is a resource that publishes only its metadata document
// ({issuer}/.well-known/aauth-resource.json), so the PS can show the person
// what the resource says about itself (PS-064), and counts the fetches.
type rsFixture struct {
	Issuer string
	gets   atomic.Int64
}

// Gets is how many times the metadata document was fetched.
func (r *rsFixture) Gets() int64 { return r.gets.Load() }

// startRS serves metadata md (issuer added) at https://host over TLS with a
// certificate from the environment's CA, and maps host in the resolver.
// Call it before env.Start: the PS reads --resolve at start.
func startRS(t *testing.T, env *pstest.Env, host string, md map[string]any) *rsFixture {
	t.Helper()
	cert, err := env.CA.Issue(host)
	if err != nil {
		t.Fatal(err)
	}
	rs := &rsFixture{Issuer: "https://" + host}
	doc := maps.Clone(md)
	doc["issuer"] = rs.Issuer
	raw, _ := json.Marshal(doc)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/aauth-resource.json" {
			http.NotFound(w, r)
			return
		}
		rs.gets.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=300")
		_, _ = w.Write(raw)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	env.Resolver.Set(host, srv.Listener.Addr().String())
	return rs
}

// rsMetadata is the metadata the consent tests look for on the page.
var rsMetadata = map[string]any{
	"name":        "Fixture Calendar",
	"description": "Keeps **appointments** for the test person.",
	"access_mode": "identity",
	"jwks_uri":    "https://rs.test/.well-known/jwks.json",
}

// missionWorld is a world with rs.test serving metadata, person alice with
// a logged-in browser, and w.agent bound to her.
func missionWorld(t *testing.T, opt pstest.Options) (*world, *pstest.Browser, *rsFixture) {
	t.Helper()
	var rs *rsFixture
	w := newWorldWith(t, opt, func(env *pstest.Env) { rs = startRS(t, env, "rs.test", rsMetadata) })
	b := w.person(t, "alice", false)
	w.bind(t, w.agent, b)
	return w, b, rs
}

// newAgent mints a second agent at ap.test with its own key.
func (w *world) newAgent(t *testing.T, sub string) *conformance.Agent {
	t.Helper()
	a, err := w.ap.NewAgent(conformance.TokenSpec{Sub: sub})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// post signs and sends a POST as a at the PS's time.
func (w *world) post(t *testing.T, a *conformance.Agent, path string, body string) result {
	t.Helper()
	return w.send(t, a, http.MethodPost, w.ps.URL(path), []byte(body))
}

// approved is a mission as the agent received it.
type approved struct {
	s256 string
	blob []byte
	bl   map[string]any
	res  result
}

// propose POSTs a proposal and expects the interaction 202.
func (w *world) propose(t *testing.T, a *conformance.Agent, proposal string) started {
	t.Helper()
	return w.expectInteraction(t, w.post(t, a, "/mission", proposal))
}

// approveMission proposes, lets the person of b approve with form (the
// edits: description, tools, resources, expires) and returns the 200.
func (w *world) approveMission(t *testing.T, a *conformance.Agent, b *pstest.Browser, proposal string, form map[string]string) approved {
	t.Helper()
	s := w.propose(t, a, proposal)
	open(t, b, s)
	if pg := b.Post(t, s.path()+"/approve", form); pg.Status != http.StatusSeeOther && pg.Status != http.StatusOK {
		t.Fatalf("approve: %d\n%s", pg.Status, pg.HTML)
	}
	r := w.poll(t, a, s.loc)
	if r.status != http.StatusOK {
		t.Fatalf("approval poll: %d %s", r.status, r.raw)
	}
	return decodeApproval(t, r)
}

// decodeApproval checks the approval schema (PS-182) and s256 over the
// received bytes (PS-183).
func decodeApproval(t *testing.T, r result) approved {
	t.Helper()
	s256, ok := r.body["s256"].(string)
	enc, ok2 := r.body["mission"].(string)
	if !ok || !ok2 || strings.ContainsAny(enc, "=+/") {
		t.Fatalf("approval body (PS-182): %s", r.raw)
	}
	blob, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		t.Fatalf("mission is not unpadded base64url: %v", err)
	}
	sum := sha256.Sum256(blob)
	if base64.RawURLEncoding.EncodeToString(sum[:]) != s256 {
		t.Fatal("s256 is not the SHA-256 of the received bytes (PS-183)")
	}
	var bl map[string]any
	if err := json.Unmarshal(blob, &bl); err != nil {
		t.Fatalf("blob is not JSON: %v", err)
	}
	return approved{s256: s256, blob: blob, bl: bl, res: r}
}

// missionBody is a body naming the mission by mission_s256.
func missionBody(resource, s256 string) string {
	return `{"resource":"` + resource + `","mission_s256":"` + s256 + `"}`
}

// expectTerminated asserts 403 mission_terminated with the reason.
func expectTerminated(t *testing.T, r result, reason string) {
	t.Helper()
	expectProblem(t, r, http.StatusForbidden, aauth.ErrMissionTerminated)
	if r.body["mission_status"] != "terminated" || r.body["termination_reason"] != reason {
		t.Fatalf("want termination_reason %s: %s", reason, r.raw)
	}
}

// sameAnswer asserts two responses are identical in status, body and
// header set with values, Date aside (PS-060, PS-195, PS-197).
func sameAnswer(t *testing.T, a, b result) {
	t.Helper()
	if a.status != b.status || !bytes.Equal(a.raw, b.raw) {
		t.Fatalf("answers differ:\n%d %s\n%d %s", a.status, a.raw, b.status, b.raw)
	}
	ha, hb := a.header.Clone(), b.header.Clone()
	ha.Del("Date")
	hb.Del("Date")
	if !maps.EqualFunc(ha, hb, slices.Equal) {
		t.Fatalf("header sets differ:\n%v\n%v", ha, hb)
	}
}

// randomS256 is a well-formed mission identifier naming nothing.
func randomS256() string {
	sum := sha256.Sum256([]byte(pstest.RandomHex(16)))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

var csrfValue = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOf reads the session's CSRF token from the home page.
func csrfOf(t *testing.T, b *pstest.Browser) string {
	t.Helper()
	m := csrfValue.FindStringSubmatch(b.Get(t, "/").HTML)
	if m == nil {
		t.Fatal("no CSRF token on the home page")
	}
	return m[1]
}

// mc calls the mission control API with b's session (nil b: none) and,
// when csrf is not empty, X-CSRF-Token.
func mc(t *testing.T, w *world, b *pstest.Browser, method, path, body, csrf string) result {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, w.ps.URL("/mission-control"+path), rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	c := w.env.Client
	if b != nil {
		c = b.Client
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := result{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// psKeys fetches the PS JWKS.
func psKeys(t *testing.T, w *world) map[string]*jose.PublicKey {
	t.Helper()
	res, err := w.env.Client.Get(w.ps.URL("/.well-known/jwks.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	out := map[string]*jose.PublicKey{}
	for _, k := range set.Keys {
		pk, err := jose.ParsePublicJWK(k, aauth.SupportedAlgs)
		if err != nil {
			t.Fatal(err)
		}
		out[k["kid"].(string)] = pk
	}
	return out
}

// verifyPT checks a person token's signature under the PS JWKS and its
// fixed members (PS-072, PS-073, PS-076) and returns its claims.
func verifyPT(t *testing.T, w *world, ks map[string]*jose.PublicKey, tok, aud string, agent *conformance.Agent) map[string]any {
	t.Helper()
	jwt, err := jose.ParseCompact(tok)
	if err != nil {
		t.Fatal(err)
	}
	h, c := jwt.Header, jwt.Claims
	pk := ks[jwt.HeaderString("kid")]
	if pk == nil || h["typ"] != aauth.TypPersonToken || h["alg"] != pk.Alg {
		t.Fatalf("header %v: kid not in the JWKS or typ/alg wrong (PS-072)", h)
	}
	if err := jwt.VerifySignature(pk); err != nil {
		t.Fatalf("signature: %v", err)
	}
	if c["iss"] != w.ps.Issuer || c["dwk"] != aauth.DWKPerson || c["aud"] != aud || c["jti"] == nil || c["sub"] == nil {
		t.Fatalf("claims %v (PS-072)", c)
	}
	for _, forbidden := range []string{"scope", "account"} {
		if _, has := c[forbidden]; has {
			t.Fatalf("person token carries %s (PS-076)", forbidden)
		}
	}
	cnf, _ := c["cnf"].(map[string]any)
	jwk, _ := cnf["jwk"].(map[string]any)
	ck, err := jose.ParsePublicJWK(jwk, aauth.SupportedAlgs)
	if err != nil || jwk["alg"] == nil || ck.Thumbprint != agent.Key.Thumbprint() {
		t.Fatalf("cnf.jwk %v is not the agent key (PS-073): %v", jwk, err)
	}
	return c
}

// num reads a JSON number claim as int64 (float64 or json.Number).
func num(c map[string]any, name string) int64 {
	switch v := c[name].(type) {
	case float64:
		return int64(v)
	case json.Number:
		n, _ := v.Int64()
		return n
	}
	return 0
}

// ctxT is a background context for direct service calls.
func ctxT() context.Context { return context.Background() }
