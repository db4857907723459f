package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
)

// SignJWT signs claims as a compact JWS with a fully-specified alg
// (Ed25519 or ES256), the given typ and kid. key is an ed25519.PrivateKey
// or an *ecdsa.PrivateKey (P-256) or a crypto.Signer of one; jwx produces
// the raw r‖s form for ES256.
//
// It is built from jwx's building blocks (jwsbb: the signing input and the
// signature) rather than jws.Sign, whose header object,
// option processing and merging cost more than the Ed25519 signature itself
// (issue 12, finding 54). The protected header is exactly
// {"alg","kid","typ"}, members in that (sorted) order, as jws.Sign wrote it.
func SignJWT(alg, kid, typ string, key crypto.Signer, claims map[string]any) (string, error) {
	switch alg {
	case "Ed25519":
		if _, ok := key.Public().(ed25519.PublicKey); !ok {
			return "", fmt.Errorf("jose: cannot sign %s with a %T", alg, key.Public())
		}
	case "ES256":
		if pub, ok := key.Public().(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
			return "", fmt.Errorf("jose: cannot sign %s with a %T that is not on P-256", alg, key.Public())
		}
	default:
		return "", fmt.Errorf("jose: cannot sign with %q", alg)
	}
	hdr, err := json.Marshal(protectedHeader{Alg: alg, KID: kid, Typ: typ})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := jwsbb.SignBuffer(nil, hdr, payload, base64.RawURLEncoding, true)
	sig, err := jwsbb.Sign(key, alg, input, nil)
	if err != nil {
		return "", fmt.Errorf("jose: sign: %w", err)
	}
	// Not jwsbb.AppendSignature: in jwx v3.3.0 it drops the signing input
	// when the buffer has no room for the signature (SignBuffer leaves none).
	return string(base64.RawURLEncoding.AppendEncode(append(input, '.'), sig)), nil
}

// protectedHeader is a signed token's JOSE header.
type protectedHeader struct {
	Alg string `json:"alg"`
	KID string `json:"kid"`
	Typ string `json:"typ"`
}
