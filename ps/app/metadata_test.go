package app_test

import (
	"crypto/ed25519"
	"net/http"
	"slices"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/conformance/suite"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/jose"
)

func getDoc(t *testing.T, w *world, path string) (result, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, w.ps.URL(path), nil)
	r := w.do(t, req)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, r.status, r.raw)
	}
	return r, decode(t, r.raw)
}

// TestMetadata: the suite's metadata checks (PS-001, PS-002, PS-003,
// PS-004, PS-006, PS-007, PS-008, PS-010, PS-253) and PS-005 on every
// advertised endpoint (the permission endpoint included, now that it
// works). PS-003 is also asserted here directly: issuer, jwks_uri,
// auth_token_endpoint and person_token_endpoint are non-empty strings,
// the issuer and the PS's own URLs.
func TestMetadata(t *testing.T) {
	t.Parallel()
	sw := newSuiteWorld(t)
	rep := sw.run(t, suite.Groups(suite.Checks(), suite.GroupMetadata, suite.GroupEndpoints), false, map[string]suite.Status{})
	// The auth token endpoint works, so it is advertised and passes PS-005
	// (before issue 8 it was advertised and answered 501).
	if res, _ := rep.Find("PS-005 signed POST {} to auth_token_endpoint"); res.Status != suite.StatusPass {
		t.Fatalf("auth_token_endpoint: %s %s", res.Status, res.Detail)
	}
	// This PS's own list (PS-007, PS-254): exactly aauth.SupportedAlgs,
	// Ed25519 first, in the metadata and in Accept-Signature-Alg.
	w := sw.world
	_, md := getDoc(t, w, "/.well-known/aauth-person.json")
	if res, _ := rep.Find("PS-003 issuer, jwks_uri, auth_token_endpoint and person_token_endpoint are strings"); res.Status != suite.StatusPass {
		t.Fatalf("PS-003: %s %s", res.Status, res.Detail)
	}
	for f, want := range map[string]string{"issuer": w.ps.Issuer, "jwks_uri": w.ps.URL("/.well-known/jwks.json"),
		"auth_token_endpoint": w.ps.URL("/token"), "person_token_endpoint": w.ps.URL("/person")} {
		if s, ok := md[f].(string); !ok || s != want {
			t.Fatalf("PS-003: metadata %s = %#v, want the string %q", f, md[f], want)
		}
	}
	algs, _ := md["accept_signature_algs"].([]any)
	if len(algs) != 2 || algs[0] != "Ed25519" || algs[1] != "ES256" {
		t.Fatalf("accept_signature_algs = %v", algs)
	}
	a := w.mint(t, conformance.TokenSpec{CnfJWK: conformance.Patch(w.agent.Key.PublicJWK(), map[string]any{"alg": nil})})
	r := w.do(t, signed(t, a, http.MethodPost, w.ps.URL("/token"), validBody))
	expect401(t, r, aauth.SigUnsupportedAlgorithm)
	if got := tokenList(t, r.header.Values(aauth.HeaderAcceptSignatureAlg)); !slices.Equal(got, aauth.SupportedAlgs) {
		t.Fatalf("Accept-Signature-Alg = %v, want %v", got, aauth.SupportedAlgs)
	}
	// The audit endpoint works too (issue 8), so it is advertised and passes PS-005.
	if res, _ := rep.Find("PS-005 signed POST {} to audit_endpoint"); res.Status != suite.StatusPass {
		t.Fatalf("audit_endpoint: %s %s", res.Status, res.Detail)
	}
	for _, f := range []string{"person_token_endpoint", "auth_token_endpoint", "mission_endpoint", "interaction_endpoint", "audit_endpoint"} {
		if _, ok := md[f].(string); !ok {
			t.Fatalf("this PS does not advertise %s", f)
		}
	}
}

// TestJWKS: PS-008, PS-010, PS-011, plus rotation through the keys manager.
func TestJWKS(t *testing.T) {
	t.Parallel()
	sw := newSuiteWorld(t)
	w := sw.world
	jwksChecks, err := suite.Select(suite.Checks(), "PS-008", "PS-010")
	if err != nil {
		t.Fatal(err)
	}
	_, md := getDoc(t, w, "/.well-known/aauth-person.json")
	if md["jwks_uri"] != w.ps.URL("/.well-known/jwks.json") {
		t.Fatalf("jwks_uri = %v", md["jwks_uri"])
	}
	// check runs the suite's JWKS checks, then this PS's own rules: every
	// key admitted by its own JWK parser, kid = RFC 7638 thumbprint.
	check := func() []string {
		sw.run(t, jwksChecks, false, nil)
		_, set := getDoc(t, w, "/.well-known/jwks.json")
		keys, _ := set["keys"].([]any)
		var kids []string
		for _, k := range keys {
			m := k.(map[string]any)
			pk, err := jose.ParsePublicJWK(m, aauth.SupportedAlgs) // alg present, fully specified, agrees with kty/crv
			if err != nil {
				t.Fatalf("JWKS member %v: %v", m, err)
			}
			if m["kid"] != pk.Thumbprint {
				t.Fatalf("kid %v is not the RFC 7638 thumbprint %s", m["kid"], pk.Thumbprint)
			}
			kids = append(kids, m["kid"].(string))
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
