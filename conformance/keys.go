package conformance

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"fmt"
	"math/big"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/jose"
)

// AgentKey is an asymmetric signing key with a fully-specified JOSE
// algorithm: Ed25519 or ES256. Agents sign requests with it; agent providers
// sign agent tokens with it.
type AgentKey struct {
	alg    string
	signer crypto.Signer
	jwk    map[string]any
	thumb  string
}

// NewAgentKey generates a key for alg (aauth.AlgEd25519 or aauth.AlgES256).
func NewAgentKey(alg string) (*AgentKey, error) {
	switch alg {
	case aauth.AlgEd25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		return NewAgentKeyFromSigner(priv)
	case aauth.AlgES256:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		return NewAgentKeyFromSigner(priv)
	}
	return nil, fmt.Errorf("conformance: unsupported key algorithm %q (want %s or %s)", alg, aauth.AlgEd25519, aauth.AlgES256)
}

// mustAgentKey is NewAgentKey for algorithms known to be supported; key
// generation from crypto/rand does not fail.
func mustAgentKey(alg string) *AgentKey {
	k, err := NewAgentKey(alg)
	if err != nil {
		panic(err)
	}
	return k
}

// NewAgentKeyFromSigner wraps an existing Ed25519 or P-256 private key (for
// example the RFC 8037 test key). The algorithm follows from the key type.
func NewAgentKeyFromSigner(s crypto.Signer) (*AgentKey, error) {
	alg, err := algForPublic(s.Public())
	if err != nil {
		return nil, err
	}
	jwk, err := jose.PublicJWK(s.Public(), "")
	if err != nil {
		return nil, err
	}
	tp, err := jose.Thumbprint(s.Public())
	if err != nil {
		return nil, err
	}
	return &AgentKey{alg: alg, signer: s, jwk: jwk, thumb: tp}, nil
}

func algForPublic(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return aauth.AlgEd25519, nil
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return aauth.AlgES256, nil
		}
	}
	return "", fmt.Errorf("conformance: unsupported key type %T (want Ed25519 or P-256)", pub)
}

// Alg is the key's fully-specified JOSE algorithm.
func (k *AgentKey) Alg() string { return k.alg }

// Public returns the public key (ed25519.PublicKey or *ecdsa.PublicKey).
func (k *AgentKey) Public() crypto.PublicKey { return k.signer.Public() }

// Signer returns the private key.
func (k *AgentKey) Signer() crypto.Signer { return k.signer }

// PublicJWK returns a fresh copy of the public JWK, with `alg` and no `kid`.
func (k *AgentKey) PublicJWK() map[string]any { return cloneMap(k.jwk) }

// Thumbprint is the RFC 7638 SHA-256 thumbprint, base64url without padding.
func (k *AgentKey) Thumbprint() string { return k.thumb }

// Sign signs msg: a 64-byte Ed25519 signature, or for ES256 the SHA-256
// ECDSA signature as raw r‖s (32 bytes each), the JWS/RFC 9421 form.
func (k *AgentKey) Sign(msg []byte) ([]byte, error) { return signRaw(k.signer, k.alg, msg) }

// signRaw signs msg with any crypto.Signer under alg.
func signRaw(s crypto.Signer, alg string, msg []byte) ([]byte, error) {
	switch alg {
	case aauth.AlgEd25519:
		return s.Sign(rand.Reader, msg, crypto.Hash(0))
	case aauth.AlgES256:
		sum := sha256.Sum256(msg)
		der, err := s.Sign(rand.Reader, sum[:], crypto.SHA256)
		if err != nil {
			return nil, err
		}
		var rs struct{ R, S *big.Int }
		if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) != 0 {
			return nil, fmt.Errorf("conformance: ECDSA signer returned a malformed signature")
		}
		out := make([]byte, 64)
		rs.R.FillBytes(out[:32])
		rs.S.FillBytes(out[32:])
		return out, nil
	}
	return nil, fmt.Errorf("conformance: cannot sign with algorithm %q", alg)
}

// cloneMap deep-copies JSON-like maps and slices.
func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return cloneMap(x)
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = cloneValue(x[i])
		}
		return out
	}
	return v
}

// Patch returns a deep copy of m with patch applied: each member of patch
// replaces m's member of the same name, and a nil value deletes it. It is
// the vocabulary for malformed keys and tokens, for example
//
//	Patch(agent.PublicJWK(), map[string]any{"alg": "EdDSA"})
//	Patch(agent.PublicJWK(), map[string]any{"x": nil})
func Patch(m, patch map[string]any) map[string]any {
	out := cloneMap(m)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range patch {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = cloneValue(v)
		}
	}
	return out
}

// ECDSATwin is the other valid ES256 signature of the same message: r‖s
// becomes r‖(n−s) (ECDSA signatures are malleable). Both verify under the
// same key, so a verifier that tells requests apart by their signature
// bytes takes the twin for a new request (PS-027, A-37).
func ECDSATwin(sig []byte) ([]byte, error) {
	if len(sig) != 64 {
		return nil, fmt.Errorf("conformance: an ES256 signature is 64 bytes, got %d", len(sig))
	}
	n := elliptic.P256().Params().N
	s := new(big.Int).Sub(n, new(big.Int).SetBytes(sig[32:]))
	out := make([]byte, 64)
	copy(out[:32], sig[:32])
	s.FillBytes(out[32:])
	return out, nil
}
