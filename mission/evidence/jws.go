package evidence

import (
	"crypto"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// HeadType is the JWS typ of a signed chain head.
const HeadType = "aauth-mm-chain-head+jws"

// JWSSigner signs chain heads with a PS key (Ed25519 or ES256) as a
// compact JWS carrying kid and typ.
type JWSSigner struct {
	Alg string // "Ed25519" or "ES256"
	Kid string
	Key crypto.Signer
}

// SignChainHead implements Signer.
func (s JWSSigner) SignChainHead(payload []byte) (string, error) {
	a, ok := jwa.LookupSignatureAlgorithm(s.Alg)
	if !ok || (s.Alg != "Ed25519" && s.Alg != "ES256") {
		return "", fmt.Errorf("evidence: cannot sign with %q", s.Alg)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.TypeKey, HeadType); err != nil {
		return "", err
	}
	if err := hdr.Set(jws.KeyIDKey, s.Kid); err != nil {
		return "", err
	}
	out, err := jws.Sign(payload, jws.WithKey(a, s.Key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", err
	}
	return string(out), nil
}

// JWSVerifier verifies chain heads against the PS's public keys by kid
// (the keys published at jwks_uri, kept by the auditor).
type JWSVerifier struct {
	Alg  string
	Keys map[string]crypto.PublicKey
}

// VerifyChainHead implements HeadVerifier: the typ must be HeadType and
// the kid one of Keys.
func (v JWSVerifier) VerifyChainHead(compact string) ([]byte, error) {
	a, ok := jwa.LookupSignatureAlgorithm(v.Alg)
	if !ok {
		return nil, fmt.Errorf("evidence: unknown algorithm %q", v.Alg)
	}
	kid, err := headKID(compact)
	if err != nil {
		return nil, err
	}
	key, ok := v.Keys[kid]
	if !ok {
		return nil, fmt.Errorf("evidence: chain head signed by unknown kid %q", kid)
	}
	return jws.Verify([]byte(compact), jws.WithKey(a, key))
}

// headKID reads a compact chain-head JWS: one signature, typ HeadType;
// it returns the kid (the signature is the caller's to verify).
func headKID(compact string) (string, error) {
	msg, err := jws.Parse([]byte(compact))
	if err != nil || len(msg.Signatures()) != 1 {
		return "", fmt.Errorf("evidence: not a compact JWS")
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	typ, _ := h.Type()
	kid, _ := h.KeyID()
	if typ != HeadType {
		return "", fmt.Errorf("evidence: chain head has typ %q", typ)
	}
	return kid, nil
}
