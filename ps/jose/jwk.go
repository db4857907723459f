// Package jose holds the JOSE pieces AAuth needs with AAuth's stricter
// rules: public JWK admission under Algorithm Determination
// (SK§algorithm-determination, P§signature-algorithms), RFC 7638
// thumbprints, and compact JWT parsing and signature checks with the
// algorithm taken from the key, never from the token.
//
// Cryptography and thumbprints come from lestrrat-go/jwx v3; this package
// adds the admission rules jwx does not enforce (required `alg`, no
// polymorphic `EdDSA`, kty/crv agreement, no private members).
package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// ErrInvalidKey means the JWK is structurally unusable, carries private
// material, or its kty/crv disagree with its alg (maps to invalid_key).
var ErrInvalidKey = errors.New("invalid key")

// ErrUnsupportedAlgorithm means the JWK's alg is absent, polymorphic,
// prohibited, or not one the verifier implements, or its kty is unknown
// (maps to unsupported_algorithm).
var ErrUnsupportedAlgorithm = errors.New("unsupported algorithm")

// PublicKey is an admitted public JWK.
type PublicKey struct {
	Alg string
	// Key is ed25519.PublicKey or *ecdsa.PublicKey.
	Key crypto.PublicKey
	// Thumbprint is the RFC 7638 SHA-256 thumbprint, base64url without padding.
	Thumbprint string
	// Members is the JWK as received.
	Members map[string]any
}

// algSpec is what a fully-specified algorithm implies about its key.
type algSpec struct{ kty, crv string }

// knownAlgs maps fully-specified JOSE signature algorithms to the key type
// and curve they imply. Only some are implemented (see the accept list).
var knownAlgs = map[string]algSpec{
	"Ed25519": {"OKP", "Ed25519"},
	"Ed448":   {"OKP", "Ed448"},
	"ES256":   {"EC", "P-256"},
	"ES384":   {"EC", "P-384"},
	"ES512":   {"EC", "P-521"},
	"RS256":   {"RSA", ""}, "RS384": {"RSA", ""}, "RS512": {"RSA", ""},
	"PS256": {"RSA", ""}, "PS384": {"RSA", ""}, "PS512": {"RSA", ""},
	"ML-DSA-44": {"AKP", ""}, "ML-DSA-65": {"AKP", ""}, "ML-DSA-87": {"AKP", ""},
}

// requiredMembers lists the public members each key type must carry.
var requiredMembers = map[string][]string{
	"OKP": {"crv", "x"},
	"EC":  {"crv", "x", "y"},
	"RSA": {"n", "e"},
	"AKP": {"pub"},
}

// privateMembers must never appear in a public key.
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth", "priv"}

// ParsePublicJWK admits a JWK for signature verification with an algorithm
// from accept, in the order PS-REQUIREMENTS §2.2.1 step 10 fixes:
// structure and private members (ErrInvalidKey), then alg
// (ErrUnsupportedAlgorithm), then kty/crv agreement (ErrInvalidKey), then
// decoding of the key material (ErrInvalidKey).
func ParsePublicJWK(m map[string]any, accept []string) (*PublicKey, error) {
	kty, ok := m["kty"].(string)
	if !ok || kty == "" {
		return nil, fmt.Errorf("%w: kty missing", ErrInvalidKey)
	}
	for _, p := range privateMembers {
		if _, has := m[p]; has {
			return nil, fmt.Errorf("%w: private member %q present", ErrInvalidKey, p)
		}
	}
	if req, known := requiredMembers[kty]; known {
		for _, r := range req {
			if s, ok := m[r].(string); !ok || s == "" {
				return nil, fmt.Errorf("%w: %s key without %q", ErrInvalidKey, kty, r)
			}
		}
	}
	alg, ok := m["alg"].(string)
	if !ok || alg == "" {
		return nil, fmt.Errorf("%w: alg missing", ErrUnsupportedAlgorithm)
	}
	spec, known := knownAlgs[alg]
	if !known || !slices.Contains(accept, alg) {
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedAlgorithm, alg)
	}
	if _, known := requiredMembers[kty]; !known {
		return nil, fmt.Errorf("%w: key type %q", ErrUnsupportedAlgorithm, kty)
	}
	if kty != spec.kty {
		return nil, fmt.Errorf("%w: kty %q disagrees with alg %q", ErrInvalidKey, kty, alg)
	}
	if crv, has := m["crv"]; has || spec.crv != "" {
		if c, _ := crv.(string); c != spec.crv {
			return nil, fmt.Errorf("%w: crv %v disagrees with alg %q", ErrInvalidKey, crv, alg)
		}
	}
	pub, err := decodeKey(alg, m)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	tp, err := Thumbprint(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return &PublicKey{Alg: alg, Key: pub, Thumbprint: tp, Members: m}, nil
}

func b64member(m map[string]any, name string) ([]byte, error) {
	s, _ := m[name].(string)
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("member %q is not base64url: %v", name, err)
	}
	return b, nil
}

func decodeKey(alg string, m map[string]any) (crypto.PublicKey, error) {
	switch alg {
	case "Ed25519":
		x, err := b64member(m, "x")
		if err != nil {
			return nil, err
		}
		if len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("Ed25519 x must be %d bytes", ed25519.PublicKeySize)
		}
		return ed25519.PublicKey(x), nil
	case "ES256":
		x, err := b64member(m, "x")
		if err != nil {
			return nil, err
		}
		y, err := b64member(m, "y")
		if err != nil {
			return nil, err
		}
		if len(x) != 32 || len(y) != 32 {
			return nil, errors.New("P-256 coordinates must be 32 bytes")
		}
		// 0x04 || X || Y is the SEC 1 uncompressed point; ParseUncompressedPublicKey
		// checks that it lies on the curve.
		point := append(append([]byte{4}, x...), y...)
		return ecdsa.ParseUncompressedPublicKey(elliptic256(), point)
	}
	return nil, fmt.Errorf("no decoder for %q", alg)
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of a public key,
// base64url without padding.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	k, err := jwk.Import(pub)
	if err != nil {
		return "", err
	}
	sum, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// PublicJWK renders a public key as a JWK object with a fully-specified alg
// (and kid when non-empty), the form AAuth requires everywhere a key is
// conveyed (P§jwks-discovery, P§common-claims `cnf`).
func PublicJWK(pub crypto.PublicKey, kid string) (map[string]any, error) {
	m := map[string]any{}
	switch k := pub.(type) {
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["alg"] = "OKP", "Ed25519", "Ed25519"
		m["x"] = base64.RawURLEncoding.EncodeToString(k)
	case *ecdsa.PublicKey:
		if k.Curve != elliptic256() {
			return nil, errors.New("only P-256 EC keys are supported")
		}
		raw, err := k.Bytes()
		if err != nil {
			return nil, err
		}
		m["kty"], m["crv"], m["alg"] = "EC", "P-256", "ES256"
		m["x"] = base64.RawURLEncoding.EncodeToString(raw[1:33])
		m["y"] = base64.RawURLEncoding.EncodeToString(raw[33:65])
	default:
		return nil, fmt.Errorf("unsupported public key type %T", pub)
	}
	if kid != "" {
		m["kid"] = kid
	}
	return m, nil
}
