package keys_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/ps/keys"
)

func secret(fill byte) []byte { return bytes.Repeat([]byte{fill}, 32) }

func newSealer(t *testing.T, fill byte) *keys.Sealer {
	t.Helper()
	s, err := keys.NewSealer(secret(fill))
	require.NoError(t, err)
	return s
}

func TestNewSealerRefusesShortSecrets(t *testing.T) {
	for _, n := range []int{0, 1, 16, 31} {
		_, err := keys.NewSealer(bytes.Repeat([]byte{7}, n))
		assert.Error(t, err, "%d bytes", n)
	}
	_, err := keys.NewSealer(bytes.Repeat([]byte{7}, 64))
	assert.NoError(t, err)
}

func TestSealerRoundTrip(t *testing.T) {
	s := newSealer(t, 1)
	pt := []byte("a PKCS#8 private key, in practice")
	a, err := s.Seal("kid-1", pt)
	require.NoError(t, err)
	b, err := s.Seal("kid-1", pt)
	require.NoError(t, err)
	assert.NotEqual(t, a, b, "a fresh nonce every time")
	assert.False(t, bytes.Contains(a, pt), "no plaintext in the sealed form")

	got, err := s.Open("kid-1", a)
	require.NoError(t, err)
	assert.Equal(t, pt, got)

	// The same secret in another Sealer (another replica, a restart) opens it.
	got, err = newSealer(t, 1).Open("kid-1", b)
	require.NoError(t, err)
	assert.Equal(t, pt, got)

	_, err = s.Seal("", pt)
	assert.Error(t, err, "a kid is required")
}

func TestSealerDetectsTampering(t *testing.T) {
	s := newSealer(t, 1)
	sealed, err := s.Seal("kid-1", []byte("private key bytes"))
	require.NoError(t, err)

	for i := range sealed {
		c := bytes.Clone(sealed)
		c[i] ^= 0x01
		_, err := s.Open("kid-1", c)
		want := keys.ErrSealedKeyCorrupt
		if i >= 1 && i <= 8 { // the secret check: indistinguishable from another secret
			want = keys.ErrSecretMismatch
		}
		assert.ErrorIs(t, err, want, "flipped byte %d", i)
	}
	for n := range len(sealed) {
		_, err := s.Open("kid-1", sealed[:n])
		assert.ErrorIs(t, err, keys.ErrSealedKeyCorrupt, "truncated to %d", n)
	}
	_, err = s.Open("kid-1", append(bytes.Clone(sealed), 0))
	assert.ErrorIs(t, err, keys.ErrSealedKeyCorrupt, "extended")

	// Swapped rows: the kid is authenticated data.
	_, err = s.Open("kid-2", sealed)
	assert.ErrorIs(t, err, keys.ErrSealedKeyCorrupt)
	_, err = s.Open("", sealed)
	assert.ErrorIs(t, err, keys.ErrSealedKeyCorrupt)
}

func TestSealerWrongSecret(t *testing.T) {
	sealed, err := newSealer(t, 1).Seal("kid-1", []byte("private key bytes"))
	require.NoError(t, err)
	_, err = newSealer(t, 2).Open("kid-1", sealed)
	assert.ErrorIs(t, err, keys.ErrSecretMismatch)
	assert.True(t, strings.Contains(err.Error(), "key-encryption secret does not match the stored keys"))
}
