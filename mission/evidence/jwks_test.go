package evidence

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

func publicJWK(t *testing.T, pub any, kid, alg string) json.RawMessage {
	t.Helper()
	k, err := jwk.Import(pub)
	if err != nil {
		t.Fatal(err)
	}
	_ = k.Set(jwk.KeyIDKey, kid)
	_ = k.Set(jwk.AlgorithmKey, alg)
	raw, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestKeySetVerifiesAcrossRotation: a bundle's JWKS verifies heads signed
// by an Ed25519 key and, after a rotation, by an ES256 key, each with its
// own algorithm; an unknown kid, a wrong typ, another key and a JWKS
// without usable keys are refused.
func TestKeySetVerifiesAcrossRotation(t *testing.T) {
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	set, _ := json.Marshal(map[string]any{"keys": []json.RawMessage{
		publicJWK(t, edPub, "ed-1", "Ed25519"), publicJWK(t, &ecPriv.PublicKey, "ec-2", "ES256")}})
	ks, err := ParseKeySet(set)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"object":"aauth-mm/chain-head/v1"}`)
	for _, s := range []JWSSigner{{Alg: "Ed25519", Kid: "ed-1", Key: edPriv}, {Alg: "ES256", Kid: "ec-2", Key: ecPriv}} {
		jws, err := s.SignChainHead(payload)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := ks.VerifyChainHead(jws); err != nil || string(got) != string(payload) {
			t.Fatalf("%s head: %q %v", s.Alg, got, err)
		}
	}
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	forged, _ := JWSSigner{Alg: "Ed25519", Kid: "ed-1", Key: otherPriv}.SignChainHead(payload)
	unknown, _ := JWSSigner{Alg: "Ed25519", Kid: "nope", Key: edPriv}.SignChainHead(payload)
	for name, jws := range map[string]string{"another key": forged, "unknown kid": unknown, "not a JWS": "x.y"} {
		if _, err := ks.VerifyChainHead(jws); err == nil {
			t.Fatalf("%s verified", name)
		}
	}
	for _, bad := range []string{`{"keys":[]}`, `not json`, `{"keys":[{"kty":"oct","k":"AAAA","kid":"s","alg":"HS256"}]}`} {
		if _, err := ParseKeySet([]byte(bad)); !errors.Is(err, ErrKeySet) {
			t.Fatalf("ParseKeySet(%s) = %v", bad, err)
		}
	}
}
