package jose_test

import (
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/jose"
	"github.com/aauth-ps/aauth-ps/ps/strictjson"
)

// FuzzParseCompact: ParseCompact never panics; an accepted token has exactly
// three parts and object header and claims, and the accessors and the
// signature check on it never panic either (PS-032).
func FuzzParseCompact(f *testing.F) {
	seed := ed25519.NewKeyFromSeed(make([]byte, 32))
	edJWK, _ := jose.PublicJWK(seed.Public(), "")
	edKey, err := jose.ParsePublicJWK(edJWK, aauth.SupportedAlgs)
	if err != nil {
		f.Fatal(err)
	}
	es, err := conformance.NewAgentKey(aauth.AlgES256)
	if err != nil {
		f.Fatal(err)
	}
	esKey, err := jose.ParsePublicJWK(es.PublicJWK(), aauth.SupportedAlgs)
	if err != nil {
		f.Fatal(err)
	}
	cnf, _ := json.Marshal(es.PublicJWK())
	claims := `{"iss":"https://ap.test","dwk":"aauth-agent.json","sub":"aauth:a1@ap.test","jti":"j1","iat":1730217600,"exp":1730221200,"cnf":{"jwk":` + string(cnf) + `}}`
	for _, s := range []string{
		compact(edHeader, claims, edSigner(seed)),
		compact(esHeader, claims, func(in []byte) []byte { s, _ := es.Sign(in); return s }),
		compact(`{"alg":"none"}`, `{}`, noSig),
		compact(`{"alg":"Ed25519","crit":["exp"]}`, claims, edSigner(seed)),
		"eyJhbGciOiJFZDI1NTE5Iiwia2lkIjoiYXAta2V5LTEiLCJ0eXAiOiJhYS1hZ2VudCtqd3QifQ.e30.AAAA", // §2.5 vector placeholder
		"a.b", "a.b.c.d", "..", "e30.e30.", "e31.e30.AAAA", "e30=.e30.AAAA",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := jose.ParseCompact(s)
		if err != nil {
			if tok != nil {
				t.Fatal("token returned with an error")
			}
			return
		}
		if strings.Count(s, ".") != 2 || len(s) > jose.MaxJWTLength || tok.Header == nil || tok.Claims == nil || tok.Raw != s {
			t.Fatalf("accepted %q as %+v", s, tok)
		}
		_ = jose.TypMatches(tok.HeaderString("typ"), aauth.TypAgentToken)
		_, _ = tok.ClaimString("sub")
		_, _, _ = tok.NumericDate("exp")
		_, _, _ = tok.NumericDate("iat")
		_ = tok.VerifySignature(edKey)
		_ = tok.VerifySignature(esKey)
	})
}

// FuzzParsePublicJWK: ParsePublicJWK never panics, and an accepted key
// re-renders through PublicJWK to a JWK that is admitted again with the
// same algorithm and thumbprint (PS-008, PS-024, PS-025).
func FuzzParsePublicJWK(f *testing.F) {
	for _, alg := range []string{aauth.AlgEd25519, aauth.AlgES256} {
		k, err := conformance.NewAgentKey(alg)
		if err != nil {
			f.Fatal(err)
		}
		good := k.PublicJWK()
		for _, patch := range []map[string]any{
			nil, {"kid": "k1"}, {"alg": nil}, {"alg": "EdDSA"}, {"alg": "none"}, {"alg": "HS256"},
			{"kty": nil}, {"x": nil}, {"y": nil}, {"d": "AAAA"}, {"kty": "EC", "y": "AAAA"},
			{"crv": "P-384", "alg": "ES384"}, {"kty": "XYZ"}, {"x": "AAAA"},
		} {
			b, _ := json.Marshal(conformance.Patch(good, patch))
			f.Add(b)
		}
	}
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","alg":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`))
	f.Add([]byte(`{"kty":"oct","k":"c2VjcmV0","alg":"HS256"}`))
	f.Add([]byte(`{"kty":"RSA","n":"AQAB","e":"AQAB","alg":"RS256"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := strictjson.DecodeObject(data)
		if err != nil {
			return
		}
		k, err := jose.ParsePublicJWK(m, aauth.SupportedAlgs)
		if err != nil {
			return
		}
		again, err := jose.PublicJWK(k.Key, "")
		if err != nil {
			t.Fatalf("admitted %v, but PublicJWK refuses it: %v", m, err)
		}
		k2, err := jose.ParsePublicJWK(again, aauth.SupportedAlgs)
		if err != nil {
			t.Fatalf("admitted %v, but its re-rendering %v is refused: %v", m, again, err)
		}
		if k2.Alg != k.Alg || k2.Thumbprint != k.Thumbprint {
			t.Fatalf("re-rendering changed the key: %s/%s vs %s/%s", k.Alg, k.Thumbprint, k2.Alg, k2.Thumbprint)
		}
		for _, member := range []string{"x", "y"} {
			if m[member] != nil && m[member] != again[member] {
				t.Fatalf("member %s changed: %v vs %v", member, m[member], again[member])
			}
		}
	})
}
