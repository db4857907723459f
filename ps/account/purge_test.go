package account_test

import (
	"github.com/aauth-ps/aauth-ps/ps/account"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

func TestPurge(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, clk := newTestService(t, st, func(o *account.Options) {
			o.SessionIdle = time.Hour
			o.SessionAbsolute = 2 * time.Hour
			o.InviteTTL = 3 * time.Hour
		})
		ctx := t.Context()
		alice := mustPerson(t, s, "alice", false)

		// Expiring at t0+1h (idle), t0+1h (ceremony at +55m), t0+3h (invite),
		// failure at t0 (window 15m).
		idleTok, _, err := s.CreateSession(ctx, alice.ID, "", "")
		require.NoError(t, err)
		_, err = s.Authenticate(ctx, "alice", "wrong password!", "192.0.2.1")
		require.ErrorIs(t, err, account.ErrBadCredentials)
		_, _, err = s.CreateInvite(ctx, alice.ID, "", false)
		require.NoError(t, err)
		clk.Advance(55 * time.Minute)
		_, _, err = s.BeginPasskeyLogin(ctx)
		require.NoError(t, err)
		liveTok, _, err := s.CreateSession(ctx, alice.ID, "", "")
		require.NoError(t, err)

		// The failures left their 15-minute window, but login_attempts
		// also counts email changes, kept for EmailChangeWindow (1 h).
		n, err := s.Purge(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, 0, n, "the login failures are kept for the email changes' hour")

		clk.Advance(5 * time.Minute) // t0+1h: idle session and ceremony expire, and the two failures (user and address)
		n, err = s.Purge(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, 4, n)
		_, _, err = s.Session(ctx, idleTok)
		assert.ErrorIs(t, err, account.ErrNoSession)
		_, _, err = s.Session(ctx, liveTok)
		require.NoError(t, err)

		clk.Advance(2 * time.Hour) // t0+3h: the invite and (absolute) the live session
		n, err = s.Purge(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, 2, n)
		for _, tb := range []string{"sessions", "invites", "webauthn_ceremonies", "login_attempts"} {
			assert.Zero(t, countRows(t, st, tb, ""), tb)
		}
		n, err = s.Purge(ctx)
		require.NoError(t, err)
		assert.Zero(t, n)
		_, err = s.Person(ctx, alice.ID)
		require.NoError(t, err, "persons are never purged")
	})
}
