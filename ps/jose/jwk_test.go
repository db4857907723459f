package jose_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"maps"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/jose"
)

// RFC 8037 Appendix A test key (Ed25519).
const (
	rfc8037X          = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
	rfc8037D          = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
	rfc8037Thumbprint = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" // Appendix A.3
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func okpJWK() map[string]any {
	return map[string]any{"kty": "OKP", "crv": "Ed25519", "alg": "Ed25519", "x": rfc8037X}
}

func p256JWK(t testing.TB) (map[string]any, *ecdsa.PrivateKey) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	m, err := jose.PublicJWK(&k.PublicKey, "")
	if err != nil {
		t.Fatal(err)
	}
	return m, k
}

// with returns a copy of m with patch applied; a nil value deletes.
func with(m map[string]any, patch map[string]any) map[string]any {
	c := maps.Clone(m)
	for k, v := range patch {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// TestParsePublicJWKErrorClasses checks the classes and their order fixed by
// PS-REQUIREMENTS §2.2.1 step 10: structure and private members
// (invalid_key, PS-025) before alg (unsupported_algorithm, PS-024) before
// kty/crv agreement (invalid_key) before key decoding (invalid_key).
func TestParsePublicJWKErrorClasses(t *testing.T) {
	ec, _ := p256JWK(t)
	accept := aauth.SupportedAlgs
	cases := []struct {
		name string
		jwk  map[string]any
		want error
	}{
		// 1. Structure and private members: invalid_key, even when alg is also bad.
		{"empty", map[string]any{}, jose.ErrInvalidKey},
		{"no kty", with(okpJWK(), map[string]any{"kty": nil}), jose.ErrInvalidKey},
		{"empty kty", with(okpJWK(), map[string]any{"kty": ""}), jose.ErrInvalidKey},
		{"kty not a string", with(okpJWK(), map[string]any{"kty": 1}), jose.ErrInvalidKey},
		{"OKP without x", with(okpJWK(), map[string]any{"x": nil}), jose.ErrInvalidKey},
		{"OKP with empty x", with(okpJWK(), map[string]any{"x": ""}), jose.ErrInvalidKey},
		{"OKP x not a string", with(okpJWK(), map[string]any{"x": 5}), jose.ErrInvalidKey},
		{"OKP without crv", with(okpJWK(), map[string]any{"crv": nil}), jose.ErrInvalidKey},
		{"EC without y", with(ec, map[string]any{"y": nil}), jose.ErrInvalidKey},
		{"EC without x", with(ec, map[string]any{"x": nil}), jose.ErrInvalidKey},
		{"EC without crv", with(ec, map[string]any{"crv": nil}), jose.ErrInvalidKey},
		{"private d", with(okpJWK(), map[string]any{"d": rfc8037D}), jose.ErrInvalidKey},
		{"private d, empty", with(okpJWK(), map[string]any{"d": ""}), jose.ErrInvalidKey},
		{"private d on EC", with(ec, map[string]any{"d": "AAAA"}), jose.ErrInvalidKey},
		{"private p", with(okpJWK(), map[string]any{"p": "AAAA"}), jose.ErrInvalidKey},
		{"private k (oct)", map[string]any{"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"}, jose.ErrInvalidKey},
		{"private d beats missing alg", with(okpJWK(), map[string]any{"d": rfc8037D, "alg": nil}), jose.ErrInvalidKey},
		{"missing x beats EdDSA", with(okpJWK(), map[string]any{"x": nil, "alg": "EdDSA"}), jose.ErrInvalidKey},
		{"missing y beats ES384", with(ec, map[string]any{"y": nil, "alg": "ES384"}), jose.ErrInvalidKey},
		{"RSA without e", map[string]any{"kty": "RSA", "n": "AQAB", "alg": "RS256"}, jose.ErrInvalidKey},
		// 2. alg: unsupported_algorithm.
		{"alg missing", with(okpJWK(), map[string]any{"alg": nil}), jose.ErrUnsupportedAlgorithm},
		{"alg empty", with(okpJWK(), map[string]any{"alg": ""}), jose.ErrUnsupportedAlgorithm},
		{"alg not a string", with(okpJWK(), map[string]any{"alg": 1}), jose.ErrUnsupportedAlgorithm},
		{"alg EdDSA", with(okpJWK(), map[string]any{"alg": "EdDSA"}), jose.ErrUnsupportedAlgorithm},
		{"alg none", with(okpJWK(), map[string]any{"alg": "none"}), jose.ErrUnsupportedAlgorithm},
		{"alg HS256", with(okpJWK(), map[string]any{"alg": "HS256"}), jose.ErrUnsupportedAlgorithm},
		{"alg HS256 on oct without k", map[string]any{"kty": "oct", "alg": "HS256"}, jose.ErrUnsupportedAlgorithm},
		{"alg ed25519 (wrong case)", with(okpJWK(), map[string]any{"alg": "ed25519"}), jose.ErrUnsupportedAlgorithm},
		{"alg es256 (wrong case)", with(ec, map[string]any{"alg": "es256"}), jose.ErrUnsupportedAlgorithm},
		{"alg unknown", with(okpJWK(), map[string]any{"alg": "XYZ"}), jose.ErrUnsupportedAlgorithm},
		{"alg ES384 known but not accepted", with(ec, map[string]any{"alg": "ES384", "crv": "P-384"}), jose.ErrUnsupportedAlgorithm},
		{"alg Ed448 known but not accepted", with(okpJWK(), map[string]any{"alg": "Ed448", "crv": "Ed448"}), jose.ErrUnsupportedAlgorithm},
		{"alg RS256 not accepted", map[string]any{"kty": "RSA", "n": "AQAB", "e": "AQAB", "alg": "RS256"}, jose.ErrUnsupportedAlgorithm},
		{"alg ML-DSA-44 not accepted", map[string]any{"kty": "AKP", "pub": "AAAA", "alg": "ML-DSA-44"}, jose.ErrUnsupportedAlgorithm},
		{"unknown kty", map[string]any{"kty": "XYZ", "alg": "Ed25519", "x": rfc8037X}, jose.ErrUnsupportedAlgorithm},
		// 3. kty/crv disagreement with alg: invalid_key (PS-025).
		{"Ed25519 alg with EC kty", with(ec, map[string]any{"alg": "Ed25519"}), jose.ErrInvalidKey},
		{"ES256 alg with OKP kty", with(okpJWK(), map[string]any{"alg": "ES256"}), jose.ErrInvalidKey},
		{"ES256 with P-384", with(ec, map[string]any{"crv": "P-384"}), jose.ErrInvalidKey},
		{"ES256 with secp256k1", with(ec, map[string]any{"crv": "secp256k1"}), jose.ErrInvalidKey},
		{"Ed25519 with X25519", with(okpJWK(), map[string]any{"crv": "X25519"}), jose.ErrInvalidKey},
		{"Ed25519 with Ed448", with(okpJWK(), map[string]any{"crv": "Ed448"}), jose.ErrInvalidKey},
		{"Ed25519 with RSA kty", map[string]any{"kty": "RSA", "n": "AQAB", "e": "AQAB", "alg": "Ed25519"}, jose.ErrInvalidKey},
		// 4. Key material: invalid_key.
		{"x padded", with(okpJWK(), map[string]any{"x": rfc8037X + "="}), jose.ErrInvalidKey},
		{"x standard alphabet", with(okpJWK(), map[string]any{"x": base64.RawStdEncoding.EncodeToString(make([]byte, 31)) + "+/"}), jose.ErrInvalidKey},
		{"x with space", with(okpJWK(), map[string]any{"x": rfc8037X[:10] + " " + rfc8037X[10:]}), jose.ErrInvalidKey},
		{"x with non-zero trailing bits", with(okpJWK(), map[string]any{"x": rfc8037X[:len(rfc8037X)-1] + "p"}), jose.ErrInvalidKey},
		{"Ed25519 x of 31 bytes", with(okpJWK(), map[string]any{"x": b64(make([]byte, 31))}), jose.ErrInvalidKey},
		{"Ed25519 x of 33 bytes", with(okpJWK(), map[string]any{"x": b64(make([]byte, 33))}), jose.ErrInvalidKey},
		{"P-256 x of 31 bytes", with(ec, map[string]any{"x": b64(make([]byte, 31))}), jose.ErrInvalidKey},
		{"P-256 y of 33 bytes", with(ec, map[string]any{"y": b64(make([]byte, 33))}), jose.ErrInvalidKey},
		{"P-256 y not base64url", with(ec, map[string]any{"y": "***"}), jose.ErrInvalidKey},
		{"P-256 point not on the curve", with(ec, map[string]any{"x": b64(append(make([]byte, 31), 1)), "y": b64(append(make([]byte, 31), 1))}), jose.ErrInvalidKey},
		{"P-256 point at infinity (zeros)", with(ec, map[string]any{"x": b64(make([]byte, 32)), "y": b64(make([]byte, 32))}), jose.ErrInvalidKey},
		{"P-256 coordinate beyond p", with(ec, map[string]any{"x": b64(bytes32(0xff))}), jose.ErrInvalidKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := jose.ParsePublicJWK(c.jwk, accept)
			if !errors.Is(err, c.want) || k != nil {
				t.Fatalf("ParsePublicJWK(%v) = %v, %v; want %v", c.jwk, k, err, c.want)
			}
			other := jose.ErrInvalidKey
			if c.want == jose.ErrInvalidKey {
				other = jose.ErrUnsupportedAlgorithm
			}
			if errors.Is(err, other) {
				t.Fatalf("error %v matches both classes", err)
			}
		})
	}
}

func bytes32(b byte) []byte {
	out := make([]byte, 32)
	for i := range out {
		out[i] = b
	}
	return out
}

// TestParsePublicJWKAccepts: Ed25519 and ES256 keys are admitted (PS-026),
// extra members (kid, use, key_ops) are kept and do not matter.
func TestParsePublicJWKAccepts(t *testing.T) {
	k, err := jose.ParsePublicJWK(with(okpJWK(), map[string]any{"kid": "k1", "use": "sig", "ext": true}), aauth.SupportedAlgs)
	if err != nil {
		t.Fatal(err)
	}
	if k.Alg != aauth.AlgEd25519 || k.Thumbprint != rfc8037Thumbprint || k.Members["kid"] != "k1" {
		t.Fatalf("admitted %+v", k)
	}
	want, _ := base64.RawURLEncoding.DecodeString(rfc8037X)
	if pub, ok := k.Key.(ed25519.PublicKey); !ok || !pub.Equal(ed25519.PublicKey(want)) {
		t.Fatalf("key = %#v", k.Key)
	}

	ec, priv := p256JWK(t)
	k, err = jose.ParsePublicJWK(ec, aauth.SupportedAlgs)
	if err != nil {
		t.Fatal(err)
	}
	if pub, ok := k.Key.(*ecdsa.PublicKey); k.Alg != aauth.AlgES256 || !ok || !pub.Equal(&priv.PublicKey) {
		t.Fatalf("admitted %+v", k)
	}
	// The accept list decides: ES256 is refused where only Ed25519 is accepted.
	if _, err := jose.ParsePublicJWK(ec, []string{aauth.AlgEd25519}); !errors.Is(err, jose.ErrUnsupportedAlgorithm) {
		t.Fatalf("ES256 with accept=[Ed25519]: %v", err)
	}
	if _, err := jose.ParsePublicJWK(okpJWK(), nil); !errors.Is(err, jose.ErrUnsupportedAlgorithm) {
		t.Fatalf("empty accept list: %v", err)
	}
}

// TestThumbprintRFC8037: RFC 8037 Appendix A.3 (the RFC 7638 §3.1 example
// is RSA, which AAuth does not accept).
func TestThumbprintRFC8037(t *testing.T) {
	x, err := base64.RawURLEncoding.DecodeString(rfc8037X)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := jose.Thumbprint(ed25519.PublicKey(x))
	if err != nil || tp != rfc8037Thumbprint {
		t.Fatalf("Thumbprint = %q, %v; want %s", tp, err, rfc8037Thumbprint)
	}
	// The same from first principles: SHA-256 over the required members in
	// lexicographic order with no whitespace (RFC 7638 §3).
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + rfc8037X + `"}`))
	if b64(sum[:]) != rfc8037Thumbprint {
		t.Fatal("RFC 8037 A.3 vector does not match its own definition")
	}
	// The private key d of Appendix A.1 yields the public key x.
	d, _ := base64.RawURLEncoding.DecodeString(rfc8037D)
	if pub := ed25519.NewKeyFromSeed(d).Public().(ed25519.PublicKey); !pub.Equal(ed25519.PublicKey(x)) {
		t.Fatal("RFC 8037 d does not give x")
	}
}

func TestThumbprintP256(t *testing.T) {
	m, priv := p256JWK(t)
	tp, err := jose.Thumbprint(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + m["x"].(string) + `","y":"` + m["y"].(string) + `"}`))
	if tp != b64(sum[:]) {
		t.Fatalf("P-256 thumbprint %s, want %s", tp, b64(sum[:]))
	}
	if _, err := jose.Thumbprint("not a key"); err == nil {
		t.Fatal("Thumbprint of a string succeeded")
	}
}

// TestPublicJWKRoundTrip: PublicJWK renders the fully-specified form
// (PS-008: alg present, no private members) that ParsePublicJWK admits back
// to the same key and thumbprint.
func TestPublicJWKRoundTrip(t *testing.T) {
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ecPriv := p256JWK(t)
	for _, c := range []struct {
		pub                 any
		kty, crv, alg       string
		members             int
		equal               func(any) bool
		thumbprintFromKeyFn func() (string, error)
	}{
		{edPub, "OKP", "Ed25519", "Ed25519", 5, func(k any) bool { return edPub.Equal(k) }, func() (string, error) { return jose.Thumbprint(edPub) }},
		{&ecPriv.PublicKey, "EC", "P-256", "ES256", 6, func(k any) bool { return ecPriv.PublicKey.Equal(k) }, func() (string, error) { return jose.Thumbprint(&ecPriv.PublicKey) }},
	} {
		m, err := jose.PublicJWK(c.pub, "kid-1")
		if err != nil {
			t.Fatal(err)
		}
		if m["kty"] != c.kty || m["crv"] != c.crv || m["alg"] != c.alg || m["kid"] != "kid-1" || len(m) != c.members {
			t.Fatalf("PublicJWK = %v", m)
		}
		for _, p := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			if _, ok := m[p]; ok {
				t.Fatalf("PublicJWK has private member %s", p)
			}
		}
		k, err := jose.ParsePublicJWK(m, aauth.SupportedAlgs)
		if err != nil {
			t.Fatalf("round trip of %v: %v", m, err)
		}
		want, _ := c.thumbprintFromKeyFn()
		if !c.equal(k.Key) || k.Alg != c.alg || k.Thumbprint != want {
			t.Fatalf("round trip gave %+v", k)
		}
		noKid, err := jose.PublicJWK(c.pub, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := noKid["kid"]; ok {
			t.Fatal("empty kid rendered")
		}
	}
	// P-256 coordinates with leading zero bytes keep their 32-byte length.
	for range 200 {
		_, k := p256JWK(t)
		m, _ := jose.PublicJWK(&k.PublicKey, "")
		if len(m["x"].(string)) != 43 || len(m["y"].(string)) != 43 {
			t.Fatalf("coordinates not 32 bytes: %v", m)
		}
	}
}

func TestPublicJWKRefusesOtherKeys(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	for _, k := range []any{&p384.PublicKey, &rsaKey.PublicKey, edPriv, "x", nil} {
		if m, err := jose.PublicJWK(k, ""); err == nil {
			t.Errorf("PublicJWK(%T) = %v", k, m)
		}
	}
}
