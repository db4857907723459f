package keys_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/jose"
	"github.com/aauth-ps/aauth-ps/ps/keys"
	"github.com/aauth-ps/aauth-ps/ps/resourcetoken"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestOwnTokensVerifiedByTheirBytes (issue 12; PS-261's verification of a
// presented token this PS issued): a token the Manager signed is known by
// its bytes, so its signature is not verified again; the token must still
// name a published key, so a retired key's token is refused after its
// publish_until even though its bytes are remembered. Another replica,
// which did not sign it, verifies the signature, and a changed byte is
// verified and refused everywhere.
func TestOwnTokensVerifiedByTheirBytes(t *testing.T) {
	const issuer = "https://ps.test"
	storetest.EachURL(t, func(t *testing.T, url string) {
		c := newClock()
		m1, m2 := twoReplicas(t, url, c)
		sign := func(jti string) string {
			tok, err := m1.SignJWT(t.Context(), aauth.TypPersonToken, map[string]any{"iss": issuer,
				"dwk": aauth.DWKPerson, "sub": "person", "jti": jti, "iat": c.Now().Unix(), "exp": c.Now().Add(time.Hour).Unix()})
			require.NoError(t, err)
			return tok
		}
		verify := func(m *keys.Manager, tok string) error {
			parsed, err := jose.ParseCompact(tok)
			require.NoError(t, err)
			_, err = resourcetoken.Signers{Issuer: issuer, Own: m}.Verify(t.Context(), parsed, aauth.TypPersonToken,
				"the presented token", []string{aauth.AlgEd25519, aauth.AlgES256})
			return err
		}
		tok := sign("first")
		tampered := tok[:len(tok)-2] + map[bool]string{true: "AA", false: "BA"}[tok[len(tok)-2:] != "AA"]

		require.True(t, m1.SignedHere(tok), "the signer remembers its token")
		require.False(t, m2.SignedHere(tok), "another replica did not sign it")
		require.False(t, m1.SignedHere(tampered), "a changed byte is another token")
		require.NoError(t, verify(m1, tok))
		require.NoError(t, verify(m2, tok), "verified by its signature on the other replica")
		for _, m := range []*keys.Manager{m1, m2} {
			require.ErrorContains(t, verify(m, tampered), "signature does not verify")
		}

		// Retired and past its publish_until: refused by the key check,
		// whatever the signer remembers.
		_, err := m1.Rotate(t.Context(), "")
		require.NoError(t, err)
		c.Add(m1.RetentionAfterRetirement() + time.Second)
		require.True(t, m1.SignedHere(tok))
		require.ErrorContains(t, verify(m1, tok), "is not a key of this person server")

		// Bounded: the oldest digests go first.
		oldest := sign("oldest")
		for i := range keys.SignedHereSize {
			sign(string(rune('a'+i%26)) + time.Duration(i).String())
		}
		require.False(t, m1.SignedHere(oldest), "beyond the bound the oldest token is forgotten")
		require.NoError(t, verify(m1, oldest), "and verified by its signature")
	})
}
