package httpsig

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jws/jwsbb"
)

// The replay cache is keyed on what was signed (A-37, issue 15): the RFC
// 9421 signature base, not the signature. An ECDSA signature (r, s) and its
// twin (r, n−s) verify alike, and a signer may sign one base many times, so
// any key built from signature bytes lets the same signed request in twice.
//
// The base is the exact bytes httpsign verified. Rebuilding it here would be
// a second canonicalisation that can drift from the library's, and every
// drift (whitespace, header joining, path encoding) would be an input an
// attacker varies to mint a "new" key for an old request. httpsign hands the
// base to a jwx Verifier2 for foreign algorithms, so the verifier registered
// below under a private name checks the signature with the agent's admitted
// key and algorithm and records a digest of the base it was given. The name
// never reaches the wire: agent-token and key algorithms are checked against
// the allow-list (aauth.SupportedAlgs) before any lookup.
var signatureBaseAlg = jwa.NewSignatureAlgorithm("x-aauth-ps-observed-signature-base")

func init() {
	if err := jws.RegisterVerifier(signatureBaseAlg, baseObserver{}); err != nil {
		panic(fmt.Sprintf("httpsig: register the signature-base observer: %v", err))
	}
}

// observedKey is the key handed to httpsign for one verification: the
// admitted public key and its algorithm, and where the observer writes the
// digest of the base that verified.
type observedKey struct {
	alg string
	key any
	// baseDigest is SHA-256 of the signature base; set only when the
	// signature verified.
	baseDigest [sha256.Size]byte
	verified   bool
}

// baseObserver verifies with jwx's implementation of the key's algorithm
// and records what was signed.
type baseObserver struct{}

func (baseObserver) Verify(key any, base, signature []byte) error {
	k, ok := key.(*observedKey)
	if !ok {
		return errors.New("httpsig: the signature-base observer needs an *observedKey")
	}
	if err := jwsbb.Verify(k.key, k.alg, base, signature); err != nil {
		return err
	}
	k.baseDigest = sha256.Sum256(base)
	k.verified = true
	return nil
}
