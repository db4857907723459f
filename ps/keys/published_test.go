package keys_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/ps/jose"
	"github.com/aauth-ps/aauth-ps/ps/keys"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestPublicKeyFollowsThePublishedJWKS: PublicKey, which verifies the
// tokens this PS issued when they are presented back (PS-009, PS-011), is
// cached (issue 12) yet answers exactly what the JWKS publishes: the
// active key, a retired key until its publish_until and not a second
// after, another replica's new key at its first token, and no unknown kid.
func TestPublicKeyFollowsThePublishedJWKS(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, url string) {
		c := newClock()
		m1, m2 := twoReplicas(t, url, c)
		k1, err := m1.Active(t.Context())
		require.NoError(t, err)
		verify := func(m *keys.Manager, k *keys.SigningKey) error {
			tok, err := jose.ParseCompact(signJWT(t, k))
			require.NoError(t, err)
			pk, err := m.PublicKey(t.Context(), k.KID)
			if err != nil {
				return err
			}
			require.Equal(t, k.Alg, pk.Alg)
			return tok.VerifySignature(pk)
		}
		require.NoError(t, verify(m1, k1))
		require.NoError(t, verify(m2, k1))
		_, err = m1.PublicKey(t.Context(), "no-such-kid")
		require.ErrorIs(t, err, keys.ErrUnknownKID)

		// m2 rotates: m1, which cached the table a moment ago, verifies
		// the new key's tokens at once (an unknown kid re-reads the
		// table, at most once a second), and the old key's too.
		c.Add(2 * time.Second)
		_, err = m2.Rotate(t.Context(), "")
		require.NoError(t, err)
		k2, err := m2.Active(t.Context())
		require.NoError(t, err)
		require.NoError(t, verify(m1, k2))
		require.NoError(t, verify(m1, k1))

		// The retired key verifies until its publish_until and not after,
		// whatever the cache holds.
		c.Add(m1.RetentionAfterRetirement() - 3*time.Second)
		require.NoError(t, verify(m1, k1))
		c.Add(2 * time.Second)
		require.NoError(t, verify(m1, k1))
		c.Add(2 * time.Second)
		if err := verify(m1, k1); !errors.Is(err, keys.ErrUnknownKID) {
			t.Fatalf("a key past its publish_until verified: %v", err)
		}
		require.NoError(t, verify(m1, k2))
	})
}
