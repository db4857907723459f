package evidence

import (
	"crypto"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// KeySet verifies chain heads against a JWKS (the PS's public keys as the
// export bundle carries them): each key by its kid, with the algorithm
// its JWK names, so heads signed before and after a key rotation (Ed25519
// then ES256, say) verify against one set.
type KeySet struct {
	keys map[string]keyAlg
}

type keyAlg struct {
	alg string
	key crypto.PublicKey
}

// ErrKeySet is a JWKS the verifier cannot use.
var ErrKeySet = errors.New("evidence: unusable JWKS")

// ParseKeySet reads a JWKS ({"keys":[…]}). Only public Ed25519 and ES256
// keys with a kid and an alg are kept; a set with none is refused.
func ParseKeySet(raw []byte) (*KeySet, error) {
	set, err := jwk.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeySet, err)
	}
	ks := &KeySet{keys: map[string]keyAlg{}}
	for i := range set.Len() {
		k, _ := set.Key(i)
		kid, ok := k.KeyID()
		if !ok || kid == "" {
			continue
		}
		alg, ok := k.Algorithm()
		if !ok || (alg.String() != "Ed25519" && alg.String() != "ES256") {
			continue
		}
		pub, err := k.PublicKey()
		if err != nil {
			continue
		}
		var raw any
		if err := jwk.Export(pub, &raw); err != nil {
			continue
		}
		ks.keys[kid] = keyAlg{alg: alg.String(), key: raw}
	}
	if len(ks.keys) == 0 {
		return nil, fmt.Errorf("%w: no Ed25519 or ES256 key with a kid", ErrKeySet)
	}
	return ks, nil
}

// VerifyChainHead implements HeadVerifier: typ must be HeadType, the kid
// one of the set, and the signature verify under that key's algorithm.
func (s *KeySet) VerifyChainHead(compact string) ([]byte, error) {
	kid, err := headKID(compact)
	if err != nil {
		return nil, err
	}
	ka, ok := s.keys[kid]
	if !ok {
		return nil, fmt.Errorf("evidence: chain head signed by unknown kid %q", kid)
	}
	return JWSVerifier{Alg: ka.alg, Keys: map[string]crypto.PublicKey{kid: ka.key}}.VerifyChainHead(compact)
}
