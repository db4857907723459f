package jose_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/aauth-ps/aauth-ps/ps/jose"
)

// TestSignJWTIsWhatJWSSignWrote (issue 12, finding 54): SignJWT, built
// from jwx's building blocks, writes the token jws.Sign wrote (byte for
// byte for Ed25519, whose signatures are deterministic), which jwx's full
// verifier accepts, with exactly the header {"alg","kid","typ"}. A key
// that is not the alg's is refused, never signed under the wrong name.
func TestSignJWTIsWhatJWSSignWrote(t *testing.T) {
	claims := map[string]any{"iss": "https://ps.test", "sub": "s<&>", "exp": 1730221200, "cnf": map[string]any{"jwk": map[string]any{"kty": "OKP"}}}
	ed := ed25519.NewKeyFromSeed(make([]byte, 32))
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		alg string
		key crypto.Signer
	}{
		{"Ed25519", ed},
		{"ES256", p256},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			a, ok := jwa.LookupSignatureAlgorithm(tc.alg)
			if !ok {
				t.Fatalf("jwx has no %s", tc.alg)
			}
			tok, err := jose.SignJWT(tc.alg, "kid-1", "aa-person+jwt", tc.key, claims)
			if err != nil {
				t.Fatal(err)
			}
			payload, err := jws.Verify([]byte(tok), jws.WithKey(a, tc.key.Public()))
			if err != nil {
				t.Fatalf("jwx does not verify the token: %v", err)
			}
			var got map[string]any
			if err := json.Unmarshal(payload, &got); err != nil || got["sub"] != "s<&>" || got["iss"] != "https://ps.test" {
				t.Fatalf("claims %s (%v)", payload, err)
			}
			hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
			if want := `{"alg":"` + tc.alg + `","kid":"kid-1","typ":"aa-person+jwt"}`; string(hdr) != want {
				t.Fatalf("header %s, want %s", hdr, want)
			}
			if tc.alg != "Ed25519" {
				return
			}
			// What the previous implementation (jws.Sign) wrote.
			h := jws.NewHeaders()
			_ = h.Set(jws.TypeKey, "aa-person+jwt")
			_ = h.Set(jws.KeyIDKey, "kid-1")
			body, _ := json.Marshal(claims)
			old, err := jws.Sign(body, jws.WithKey(a, tc.key, jws.WithProtectedHeaders(h)))
			if err != nil {
				t.Fatal(err)
			}
			if string(old) != tok {
				t.Fatalf("SignJWT %s\njws.Sign %s", tok, old)
			}
		})
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for _, bad := range []struct {
		alg string
		key crypto.Signer
	}{{"Ed25519", p256}, {"ES256", ed}, {"ES256", p384}, {"RS256", ed}, {"EdDSA", ed}} {
		if tok, err := jose.SignJWT(bad.alg, "kid-1", "aa-person+jwt", bad.key, claims); err == nil {
			t.Errorf("%s with a %T signed: %s", bad.alg, bad.key.Public(), tok)
		}
	}
}
