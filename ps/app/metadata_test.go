package app_test

import (
	"crypto/ed25519"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/jose"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

func getDoc(t *testing.T, w *world, path string) (result, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, w.ps.URL(path), nil)
	r := w.do(t, req)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, r.status, r.raw)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") { // PS-010
		t.Fatalf("GET %s: Cache-Control %q", path, cc)
	}
	return r, decode(t, r.raw)
}

// TestMetadata: PS-001, PS-002, PS-003, PS-004, PS-007, PS-253.
func TestMetadata(t *testing.T) {
	w := newWorld(t, pstest.Options{})
	_, md := getDoc(t, w, "/.well-known/aauth-person.json")
	if md["issuer"] != "https://ps.test" {
		t.Fatalf("issuer = %v, want the fetch origin", md["issuer"])
	}
	if err := aauth.Strict.CheckServer(md["issuer"].(string)); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"issuer", "jwks_uri", "auth_token_endpoint", "person_token_endpoint"} {
		if _, ok := md[f].(string); !ok {
			t.Fatalf("metadata lacks %s: %v", f, md)
		}
	}
	for k, v := range md {
		if !strings.HasSuffix(k, "_endpoint") && !strings.HasSuffix(k, "_uri") {
			continue
		}
		u, err := url.Parse(v.(string))
		if err != nil || u.Scheme != "https" || u.RawQuery != "" || u.Fragment != "" {
			t.Fatalf("%s = %v: want https without query or fragment", k, v)
		}
	}
	algs, _ := md["accept_signature_algs"].([]any)
	if len(algs) != 2 || algs[0] != "Ed25519" || algs[1] != "ES256" {
		t.Fatalf("accept_signature_algs = %v", algs)
	}
	for _, f := range []string{"scopes_supported", "claims_supported"} { // PS-006
		arr, ok := md[f].([]any)
		if !ok || len(arr) == 0 {
			t.Fatalf("%s = %v", f, md[f])
		}
		for _, x := range arr {
			if _, ok := x.(string); !ok {
				t.Fatalf("%s has a non-string member", f)
			}
		}
	}
	if _, ok := md["login_endpoint"]; ok {
		t.Fatal("metadata advertises the removed login_endpoint")
	}
	// PS-005: a signed POST of {} to every advertised agent endpoint is a
	// 400 invalid_request, never 404 or 405. (The auth token endpoint's
	// behaviour has not landed: it answers 501 after verifying.)
	for _, f := range []string{"person_token_endpoint", "mission_endpoint", "interaction_endpoint"} {
		expectProblem(t, w.do(t, signed(t, w.agent, http.MethodPost, md[f].(string), []byte(`{}`))), http.StatusBadRequest, aauth.ErrInvalidRequest)
	}
	expectVerified(t, w.do(t, signed(t, w.agent, http.MethodPost, md["auth_token_endpoint"].(string), []byte(`{}`))))
}

// TestJWKS: PS-008, PS-011, plus rotation through the keys manager.
func TestJWKS(t *testing.T) {
	w := newWorld(t, pstest.Options{})
	_, md := getDoc(t, w, "/.well-known/aauth-person.json")
	if md["jwks_uri"] != w.ps.URL("/.well-known/jwks.json") {
		t.Fatalf("jwks_uri = %v", md["jwks_uri"])
	}
	check := func() []string {
		_, set := getDoc(t, w, "/.well-known/jwks.json")
		keys, _ := set["keys"].([]any)
		if len(keys) == 0 {
			t.Fatal("empty JWKS")
		}
		var kids []string
		for _, k := range keys {
			m := k.(map[string]any)
			for _, p := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
				if _, ok := m[p]; ok {
					t.Fatalf("JWKS member has private %q", p)
				}
			}
			pk, err := jose.ParsePublicJWK(m, aauth.SupportedAlgs) // alg present, fully specified, agrees with kty/crv
			if err != nil {
				t.Fatalf("JWKS member %v: %v", m, err)
			}
			if m["kid"] != pk.Thumbprint {
				t.Fatalf("kid %v is not the RFC 7638 thumbprint %s", m["kid"], pk.Thumbprint)
			}
			kid := m["kid"].(string)
			if slices.Contains(kids, kid) {
				t.Fatalf("duplicate kid %s", kid)
			}
			kids = append(kids, kid)
		}
		return kids
	}
	first := check()
	if len(first) != 1 {
		t.Fatalf("a new PS publishes %d keys", len(first))
	}
	active, err := w.ps.App.Keys.Active(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := active.Public.(ed25519.PublicKey); !ok || active.Alg != aauth.AlgEd25519 {
		t.Fatalf("default signing key is %s %T, want Ed25519", active.Alg, active.Public)
	}
	newKID, err := w.ps.App.Keys.Rotate(t.Context(), aauth.AlgEd25519)
	if err != nil {
		t.Fatal(err)
	}
	after := check()
	if !slices.Contains(after, first[0]) || !slices.Contains(after, newKID) {
		t.Fatalf("after rotation JWKS = %v; want the new key and the retired %s", after, first[0])
	}
}
