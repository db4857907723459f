package account_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/account"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, _ := newTestService(t, st)
		ctx := t.Context()
		alice := mustPerson(t, s, "alice", false)
		mustPerson(t, s, "admin", true)
		_, err := s.CreatePerson(ctx, account.NewPerson{Username: "nopass"})
		require.NoError(t, err)
		dis := mustPerson(t, s, "disabled", false)
		_, err = s.UpdatePerson(ctx, dis.ID, account.PersonUpdate{Disabled: ptr(true)})
		require.NoError(t, err)

		p, err := s.Authenticate(ctx, "alice", goodPassword, "192.0.2.1")
		require.NoError(t, err)
		assert.Equal(t, alice.ID, p.ID)
		p, err = s.Authenticate(ctx, " Alice ", goodPassword, "192.0.2.1")
		require.NoError(t, err, "usernames are case-insensitive")
		assert.Equal(t, alice.ID, p.ID)

		for name, tc := range map[string][2]string{
			"wrong password":   {"alice", goodPassword + "!"},
			"empty password":   {"alice", ""},
			"unknown user":     {"carol", goodPassword},
			"invalid username": {"no such user!", goodPassword},
			"no password":      {"nopass", goodPassword},
			"disabled":         {"disabled", goodPassword},
			"huge password":    {"alice", strings.Repeat("x", 10*account.MaxPasswordBytes)},
		} {
			p, err := s.Authenticate(ctx, tc[0], tc[1], "")
			assert.Nil(t, p, name)
			// One error for every failure, with one message.
			assert.True(t, errors.Is(err, account.ErrBadCredentials) && err.Error() == account.ErrBadCredentials.Error(), "%s: %v", name, err)
		}
	})
}

func TestAuthenticateRehashes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		old, _ := newTestService(t, st)
		ctx := t.Context()
		p := mustPerson(t, old, "alice", false)
		hash := func() string {
			var h string
			storetest.Scan(t, st, &h, `SELECT password_hash FROM persons WHERE id = ?`, p.ID)
			return h
		}
		before := hash()

		// Same parameters: no rewrite.
		_, err := old.Authenticate(ctx, "alice", goodPassword, "")
		require.NoError(t, err)
		assert.Equal(t, before, hash())

		stronger, _ := newTestService(t, st, func(o *account.Options) { o.Argon2 = account.Argon2Params{Time: 2, MemoryKiB: 128, Threads: 1} })
		_, err = stronger.Authenticate(ctx, "alice", "wrong password!", "")
		require.ErrorIs(t, err, account.ErrBadCredentials)
		assert.Equal(t, before, hash(), "no rehash on failure")
		_, err = stronger.Authenticate(ctx, "alice", goodPassword, "")
		require.NoError(t, err)
		after := hash()
		assert.True(t, strings.HasPrefix(after, "$argon2id$v=19$m=128,t=2,p=1$"), after)
		_, err = stronger.Authenticate(ctx, "alice", goodPassword, "")
		require.NoError(t, err, "the new hash verifies")
		_, err = old.Authenticate(ctx, "alice", goodPassword, "")
		require.NoError(t, err, "and so it does for a replica still on the old parameters")
	})
}

func TestRateLimitPerUser(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, clk := newTestService(t, st)
		ctx := t.Context()
		mustPerson(t, s, "alice", false)
		mustPerson(t, s, "bob", false)

		// Five failures, one a minute, from different addresses.
		for i := range account.DefaultMaxFailuresPerUser {
			_, err := s.Authenticate(ctx, "alice", "wrong password!", "192.0.2."+string(rune('1'+i)))
			require.ErrorIs(t, err, account.ErrBadCredentials, "failure %d", i+1)
			clk.Advance(time.Minute)
		}
		// t0+5m: the sixth attempt is refused before the password is looked
		// at, even the right one; the wait ends when the first failure
		// (t0) leaves the 15-minute window.
		_, err := s.Authenticate(ctx, "ALICE", goodPassword, "198.51.100.7")
		var rl *account.RateLimitedError
		require.ErrorAs(t, err, &rl)
		assert.ErrorIs(t, err, account.ErrRateLimited)
		assert.Equal(t, 10*time.Minute, rl.RetryAfter)
		assert.EqualValues(t, 5, countRows(t, st, "login_attempts", `"key" = ?`, account.UserAttemptKey("alice")),
			"refusals are not recorded")

		// Other users are unaffected.
		_, err = s.Authenticate(ctx, "bob", goodPassword, "198.51.100.7")
		require.NoError(t, err)

		// Sub-second clocks round the wait up.
		clk.Advance(9*time.Minute + 59*time.Second + 500*time.Millisecond)
		_, err = s.Authenticate(ctx, "alice", goodPassword, "")
		require.ErrorAs(t, err, &rl)
		assert.Equal(t, time.Second, rl.RetryAfter)

		// The window slides: at t0+15m the first failure has left it and one
		// attempt is allowed; failing it fills the window again.
		clk.Advance(500 * time.Millisecond)
		_, err = s.Authenticate(ctx, "alice", "wrong password!", "")
		require.ErrorIs(t, err, account.ErrBadCredentials)
		_, err = s.Authenticate(ctx, "alice", goodPassword, "")
		require.ErrorAs(t, err, &rl)
		assert.Equal(t, time.Minute, rl.RetryAfter, "the next oldest failure (t0+1m) leaves in a minute")

		clk.Advance(time.Minute)
		p, err := s.Authenticate(ctx, "alice", goodPassword, "")
		require.NoError(t, err)
		assert.Equal(t, "alice", p.Username)
		assert.Zero(t, countRows(t, st, "login_attempts", `"key" = ?`, account.UserAttemptKey("alice")),
			"success clears the user's failures")

		// Unknown usernames are limited alike (no enumeration by limits).
		for range account.DefaultMaxFailuresPerUser {
			_, err := s.Authenticate(ctx, "nobody", goodPassword, "")
			require.ErrorIs(t, err, account.ErrBadCredentials)
		}
		_, err = s.Authenticate(ctx, "nobody", goodPassword, "")
		require.ErrorIs(t, err, account.ErrRateLimited)
	})
}

func TestRateLimitPerIP(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, clk := newTestService(t, st, func(o *account.Options) { o.MaxFailuresPerIP = 3 })
		ctx := t.Context()
		mustPerson(t, s, "alice", false)

		// Three different usernames from one address.
		for _, u := range []string{"u1", "u2", "u3"} {
			_, err := s.Authenticate(ctx, u, "wrong password!", "203.0.113.9")
			require.ErrorIs(t, err, account.ErrBadCredentials)
		}
		_, err := s.Authenticate(ctx, "alice", goodPassword, "203.0.113.9")
		var rl *account.RateLimitedError
		require.ErrorAs(t, err, &rl)
		assert.Equal(t, 15*time.Minute, rl.RetryAfter)

		// Another address, or none, is fine; alice's own count is untouched.
		_, err = s.Authenticate(ctx, "alice", goodPassword, "203.0.113.10")
		require.NoError(t, err)
		_, err = s.Authenticate(ctx, "alice", goodPassword, "")
		require.NoError(t, err)
		_, err = s.Authenticate(ctx, "alice", goodPassword, "203.0.113.9")
		require.ErrorIs(t, err, account.ErrRateLimited, "a success elsewhere does not clear the address")

		// IPv6 addresses count per /64.
		for _, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"} {
			_, err := s.Authenticate(ctx, "u9", "wrong password!", ip)
			require.ErrorIs(t, err, account.ErrBadCredentials)
		}
		_, err = s.Authenticate(ctx, "alice", goodPassword, "2001:db8:1:2::77")
		require.ErrorIs(t, err, account.ErrRateLimited)
		_, err = s.Authenticate(ctx, "alice", goodPassword, "2001:db8:1:3::1")
		require.NoError(t, err)

		clk.Advance(15 * time.Minute)
		_, err = s.Authenticate(ctx, "alice", goodPassword, "203.0.113.9")
		require.NoError(t, err, "the window has passed")
	})
}

func TestAttemptKeys(t *testing.T) {
	t.Parallel()
	assert.Equal(t, account.UserAttemptKey("Alice "), account.UserAttemptKey("alice"))
	assert.NotContains(t, account.UserAttemptKey("hunter2-typed-as-username"), "hunter2")
	assert.Len(t, account.UserAttemptKey("x"), len("user:")+32)
	for in, want := range map[string]string{
		"":                  "",
		"192.0.2.1":         "ip:192.0.2.1",
		"::ffff:192.0.2.1":  "ip:192.0.2.1",
		"2001:db8::1":       "ip:2001:db8::/64",
		"2001:db8:0:0:1::1": "ip:2001:db8::/64",
		"not-an-ip":         "ip:not-an-ip",
	} {
		assert.Equal(t, want, account.IPAttemptKey(in), in)
	}
}

// TestConcurrentLoginsHashAtMostK (issue 12): many logins at once run at
// most the gate's number of argon2 computations at a time (each holds its
// whole memory cost, 64 MiB by default), every one of them still answers
// as alone, a hash that others queue behind has its block collected for
// the next one, and the end of the burst gives the memory back. The first K
// hashes wait for each other inside the gate, so the bound is reached,
// not just respected by chance.
func TestConcurrentLoginsHashAtMostK(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		const k, good, unknown = 2, 12, 4
		base, _ := newTestService(t, st)
		alice := mustPerson(t, base, "alice", false)
		var cur, peak atomic.Int64
		full := make(chan struct{})
		var once sync.Once
		s, collected, released := account.WithHashGate(base, k, func() func() {
			n := cur.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			if n == k {
				once.Do(func() { close(full) })
			}
			<-full
			return func() { cur.Add(-1) }
		})
		ctx := t.Context()
		var wg sync.WaitGroup
		errs := make(chan error, good+unknown)
		for i := range good + unknown {
			wg.Go(func() {
				if i < good {
					p, err := s.Authenticate(ctx, "alice", goodPassword, "")
					if err == nil && p.ID != alice.ID {
						err = errors.New("another person")
					}
					errs <- err
					return
				}
				_, err := s.Authenticate(ctx, fmt.Sprintf("nobody%d", i), goodPassword, "")
				if errors.Is(err, account.ErrBadCredentials) {
					err = nil
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		assert.EqualValues(t, k, peak.Load(), "hashes at once")
		assert.GreaterOrEqual(t, released(), int64(1), "the burst's memory was given back")
		// Every hash ends either with others queued behind it, which
		// collects its block for the next one, or as the burst's last,
		// which gives the memory back.
		assert.GreaterOrEqual(t, collected(), int64(1), "queued hashes reuse the block of the one before")
		assert.EqualValues(t, good+unknown, collected()+released(), "collections and returns, one per hash")
	})
}
