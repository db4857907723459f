package keys

import (
	"crypto/sha256"

	lru "github.com/hashicorp/golang-lru/v2"
)

// signedHereSize bounds the tokens a Manager remembers signing: 4 096
// SHA-256 digests, about 0.5 MB with the cache's own entries. A token
// comes back within minutes of its issuance (the load's exchange presents
// its person token at once), so older ones can go.
const signedHereSize = 4096

// signedHere remembers the digests of the tokens this process signed
// (issue 12): a token presented back to the PS whose bytes hash to one of
// them is exactly a token the PS signed, so its signature verifies by
// construction and need not be verified again (one Ed25519 verification
// per auth token request). Per process: another replica's token misses
// and is verified.
type signedHere struct {
	digests *lru.Cache[[sha256.Size]byte, struct{}]
}

func newSignedHere(size int) signedHere {
	c, err := lru.New[[sha256.Size]byte, struct{}](size)
	if err != nil {
		panic(err) // only for a size < 1
	}
	return signedHere{digests: c}
}

func (s signedHere) remember(token string) { s.digests.Add(sha256.Sum256([]byte(token)), struct{}{}) }

func (s signedHere) has(token string) bool { return s.digests.Contains(sha256.Sum256([]byte(token))) }

// SignedHere reports whether this Manager signed exactly token (and still
// remembers it). It proves who signed the token and nothing else: the
// caller still checks that the token's kid is published (PublicKey), its
// alg, and every claim.
func (m *Manager) SignedHere(token string) bool { return m.signed.has(token) }
