package account

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestPHCRoundTrip(t *testing.T) {
	t.Parallel()
	h, err := hashPassword(goodPassword, tinyArgon2)
	require.NoError(t, err)
	assert.Regexp(t, phcRE, h)

	h2, err := hashPassword(goodPassword, tinyArgon2)
	require.NoError(t, err)
	assert.NotEqual(t, h, h2, "fresh salt per hash")

	ok, rehash, err := verifyPassword(goodPassword, h, tinyArgon2)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.False(t, rehash, "same parameters")

	ok, rehash, err = verifyPassword("correct horse battery!", h, tinyArgon2)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.False(t, rehash, "never rehash on a failure")

	ok, rehash, err = verifyPassword(goodPassword, h, Argon2Params{Time: 2, MemoryKiB: 64, Threads: 1})
	require.NoError(t, err)
	assert.True(t, ok, "the stored parameters verify, whatever the configured ones")
	assert.True(t, rehash, "other configured parameters ask for a rehash")

	parsed, err := parsePHC(h)
	require.NoError(t, err)
	assert.Equal(t, tinyArgon2, parsed.params)
	assert.Len(t, parsed.salt, argon2SaltLen)
	assert.Len(t, parsed.hash, argon2KeyLen)
}

func TestPHCKnownVector(t *testing.T) {
	t.Parallel()
	// A hash produced by the reference argon2 CLI:
	// echo -n password | argon2 somesalt -id -t 2 -m 16 -p 4 -l 32 -e
	// (Debian package argon2, the reference implementation).
	const ref = "$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo"
	ok, _, err := verifyPassword("password", ref, DefaultArgon2)
	require.NoError(t, err)
	assert.True(t, ok)
}

func TestParsePHCRejects(t *testing.T) {
	t.Parallel()
	good, err := hashPassword(goodPassword, tinyArgon2)
	require.NoError(t, err)
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	for name, s := range map[string]string{
		"empty":         "",
		"argon2i":       "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"bcrypt":        "$2b$10$abcdefghijklmnopqrstuu",
		"old version":   "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key,
		"missing p":     "$argon2id$v=19$m=64,t=1$" + salt + "$" + key,
		"extra param":   "$argon2id$v=19$m=64,t=1,p=1,x=2$" + salt + "$" + key,
		"zero time":     "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,
		"huge memory":   "$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key,
		"memory<8p":     "$argon2id$v=19$m=8,t=1,p=4$" + salt + "$" + key,
		"padded salt":   "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key,
		"short hash":    "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$AAAA",
		"short salt":    "$argon2id$v=19$m=64,t=1,p=1$AAAA$" + key,
		"too many $":    good + "$x",
		"no leading $":  strings.TrimPrefix(good, "$"),
		"non-numeric m": "$argon2id$v=19$m=x,t=1,p=1$" + salt + "$" + key,
	} {
		_, err := parsePHC(s)
		assert.Error(t, err, name)
		_, _, err = verifyPassword(goodPassword, s, tinyArgon2)
		assert.Error(t, err, name)
	}
}

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pw, user, email string
		ok              bool
	}{
		{"correct horse battery", "alice", "", true},
		{"ünïcödé-pässwörd", "alice", "", true},
		{"123456789", "alice", "", false},         // short
		{"ninechars", "alice", "", false},         // 9 < 10
		{"1234567890", "alice", "", false},        // common
		{"QwertyUIOP", "alice", "", false},        // common, any case
		{"password123", "alice", "", false},       // common
		{"alice.smith", "alice.smith", "", false}, // = username
		{"Alice.Smith", "alice.smith", "", false}, // = username, any case
		{"a@example.org", "alice", "a@example.org", false},
		{strings.Repeat("x", MaxPasswordBytes+1), "alice", "", false},
		{strings.Repeat("x", MaxPasswordBytes), "alice", "", true},
		{"bad utf8 \xff\xfe\xfd", "alice", "", false},
	} {
		err := checkPassword(tc.pw, tc.user, tc.email)
		if tc.ok {
			assert.NoError(t, err, "%.20q", tc.pw)
			continue
		}
		require.ErrorIs(t, err, ErrWeakPassword, "%.20q", tc.pw)
		if len(tc.pw) < 100 {
			assert.NotContains(t, err.Error(), tc.pw, "the message never repeats the password")
		}
	}
	assert.Len(t, commonPasswords, 20)
}

// noStore is a Store for tests that never reach the database: New only
// needs a non-nil one (any call would panic).
type noStore struct{ Store }

func TestNewValidatesOptions(t *testing.T) {
	t.Parallel()
	var st Store = noStore{}
	for name, o := range map[string]Options{
		"idle > absolute":   {SessionIdle: 8 * 24 * time.Hour},
		"negative window":   {FailureWindow: -time.Second},
		"negative limit":    {MaxFailuresPerUser: -1},
		"argon2 no threads": {Argon2: Argon2Params{Time: 1, MemoryKiB: 64}},
		"origins, no rpid":  {RPOrigins: []string{testOrigin}},
		"rpid, no origins":  {RPID: testRPID},
	} {
		_, err := New(st, nil, o)
		assert.Error(t, err, name)
	}
	_, err := New(nil, nil, Options{})
	assert.Error(t, err)

	s, err := New(st, nil, Options{Argon2: tinyArgon2})
	require.NoError(t, err)
	assert.Equal(t, DefaultSessionIdle, s.opts.SessionIdle)
	assert.Equal(t, DefaultSessionAbsolute, s.opts.SessionAbsolute)
	assert.Equal(t, DefaultInviteTTL, s.opts.InviteTTL)
	assert.Equal(t, DefaultMaxFailuresPerUser, s.opts.MaxFailuresPerUser)
	assert.Equal(t, DefaultMaxFailuresPerIP, s.opts.MaxFailuresPerIP)
	assert.Equal(t, DefaultFailureWindow, s.opts.FailureWindow)
	assert.Nil(t, s.wa, "passkeys off without RPID")
	_, err = parsePHC(s.dummy)
	assert.NoError(t, err, "the dummy hash is a real PHC string")

	d, err := New(st, nil, Options{})
	require.NoError(t, err)
	assert.Equal(t, DefaultArgon2, d.opts.Argon2)
}

func TestErrorsAreClassified(t *testing.T) {
	t.Parallel()
	var rl error = &RateLimitedError{RetryAfter: 90 * time.Second}
	assert.ErrorIs(t, rl, ErrRateLimited)
	assert.Equal(t, "account: too many failed logins: retry after 90 s", rl.Error())
}
