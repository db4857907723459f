package account

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDummyHashCostsAsMuchAndMatchesNothing (issue 12, PS-REQUIREMENTS
// login without an existence oracle): the hash unknown user names are
// verified against carries the configured cost, so they take as long as a
// known user; no password matches it; and building the service no longer
// runs argon2 (the production cost allocates 64 MiB, which stayed in the
// idle PS's resident set).
func TestDummyHashCostsAsMuchAndMatchesNothing(t *testing.T) {
	p := Argon2Params{Time: 2, MemoryKiB: 256, Threads: 1}
	h, err := dummyHash(p)
	require.NoError(t, err)
	parsed, err := parsePHC(h)
	require.NoError(t, err)
	assert.Equal(t, p, parsed.params, "the dummy's cost is the configured one")
	for _, pw := range []string{"", "password", randomToken()} {
		ok, _, err := verifyPassword(pw, h, p)
		assert.NoError(t, err)
		assert.False(t, ok, "a password matched the dummy hash")
	}
	other, err := dummyHash(p)
	require.NoError(t, err)
	assert.NotEqual(t, h, other, "each service gets its own random dummy")

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = New(noStore{}, nil, Options{Argon2: DefaultArgon2})
	require.NoError(t, err)
	runtime.ReadMemStats(&after)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(DefaultArgon2.MemoryKiB)<<10/8,
		"New allocated like an argon2 run at the production cost")
}

// BenchmarkNewService is what building the account service costs at the
// production argon2 parameters (issue 12: it was one 64 MiB hash).
func BenchmarkNewService(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(noStore{}, nil, Options{Argon2: DefaultArgon2}); err != nil {
			b.Fatal(err)
		}
	}
}
