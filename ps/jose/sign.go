package jose

import (
	"crypto"
	"encoding/json"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// SignJWT signs claims as a compact JWS with a fully-specified alg
// (Ed25519 or ES256), the given typ and kid. key is an ed25519.PrivateKey
// or an *ecdsa.PrivateKey; jwx produces the raw r‖s form for ES256.
func SignJWT(alg, kid, typ string, key crypto.Signer, claims map[string]any) (string, error) {
	a, ok := jwa.LookupSignatureAlgorithm(alg)
	if !ok || (alg != "Ed25519" && alg != "ES256") {
		return "", fmt.Errorf("jose: cannot sign with %q", alg)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.TypeKey, typ); err != nil {
		return "", err
	}
	if err := hdr.Set(jws.KeyIDKey, kid); err != nil {
		return "", err
	}
	out, err := jws.Sign(payload, jws.WithKey(a, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("jose: sign: %w", err)
	}
	return string(out), nil
}
