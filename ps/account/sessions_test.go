package account_test

import (
	"crypto/sha256"
	"encoding/hex"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

func TestSessionCreateAndLookup(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, clk := newTestService(t, st)
		ctx := t.Context()
		alice := mustPerson(t, s, "alice", false)

		tok, sess, err := s.CreateSession(ctx, alice.ID, strings.Repeat("u", 1000), "192.0.2.1")
		require.NoError(t, err)
		assert.True(t, account.WellFormedToken(tok), "256-bit base64url token")
		assert.True(t, account.WellFormedToken(sess.CSRFToken), "256-bit base64url CSRF token")
		assert.NotEqual(t, tok, sess.CSRFToken)
		sum := sha256.Sum256([]byte(tok))
		assert.Equal(t, hex.EncodeToString(sum[:]), sess.IDHash)
		assert.Equal(t, alice.ID, sess.PersonID)
		assert.Equal(t, clk.Now(), sess.CreatedAt)
		assert.Equal(t, clk.Now().Add(account.DefaultSessionAbsolute), sess.ExpiresAt)
		assert.Equal(t, clk.Now().Add(account.DefaultSessionIdle), sess.IdleExpiresAt)
		assert.Len(t, sess.UserAgent, account.MaxUserAgent)
		assert.Equal(t, "192.0.2.1", sess.IP)

		// The token itself is never stored.
		assert.Zero(t, countRows(t, st, "sessions", "id_hash = ? OR csrf_token = ?", tok, tok))

		got, p, err := s.Session(ctx, tok)
		require.NoError(t, err)
		assert.Equal(t, sess, got)
		assert.Equal(t, alice.ID, p.ID)

		tok2, sess2, err := s.CreateSession(ctx, alice.ID, "", "")
		require.NoError(t, err)
		assert.NotEqual(t, tok, tok2)
		assert.NotEqual(t, sess.CSRFToken, sess2.CSRFToken)

		for _, bad := range []string{"", "x", tok + "A", strings.ToUpper(tok), account.RandomToken(), tok[:42] + "!"} {
			_, _, err := s.Session(ctx, bad)
			assert.ErrorIs(t, err, account.ErrNoSession, "%q", bad)
		}

		_, _, err = s.CreateSession(ctx, "nope", "", "")
		assert.ErrorIs(t, err, account.ErrNotFound)
		dis := mustPerson(t, s, "bob", false)
		_, err = s.UpdatePerson(ctx, dis.ID, account.PersonUpdate{Disabled: ptr(true)})
		require.NoError(t, err)
		_, _, err = s.CreateSession(ctx, dis.ID, "", "")
		assert.ErrorIs(t, err, account.ErrNoSession)
	})
}

func TestSessionIdleSlideAndExpiry(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, clk := newTestService(t, st, func(o *account.Options) {
			o.SessionIdle = time.Hour
			o.SessionAbsolute = 3 * time.Hour
		})
		ctx := t.Context()
		alice := mustPerson(t, s, "alice", false)
		tok, created, err := s.CreateSession(ctx, alice.ID, "", "")
		require.NoError(t, err)

		// Within a minute: no write.
		clk.Advance(59 * time.Second)
		got, _, err := s.Session(ctx, tok)
		require.NoError(t, err)
		assert.Equal(t, created.LastSeenAt, got.LastSeenAt)
		assert.Equal(t, created.IdleExpiresAt, got.IdleExpiresAt)

		// After a minute: the idle expiry slides.
		clk.Advance(time.Second)
		got, _, err = s.Session(ctx, tok)
		require.NoError(t, err)
		assert.Equal(t, clk.Now(), got.LastSeenAt)
		assert.Equal(t, clk.Now().Add(time.Hour), got.IdleExpiresAt)
		again, _, err := s.Session(ctx, tok)
		require.NoError(t, err)
		assert.Equal(t, got, again, "stored")

		// Used every 50 minutes, it lives until the absolute expiry and
		// the idle expiry never passes it.
		for clk.Now().Add(50 * time.Minute).Before(created.ExpiresAt) {
			clk.Advance(50 * time.Minute)
			got, _, err = s.Session(ctx, tok)
			require.NoError(t, err)
			assert.False(t, got.IdleExpiresAt.After(created.ExpiresAt))
		}
		assert.Equal(t, created.ExpiresAt, got.IdleExpiresAt)
		clk.Advance(created.ExpiresAt.Sub(clk.Now()))
		_, _, err = s.Session(ctx, tok)
		assert.ErrorIs(t, err, account.ErrNoSession, "absolute expiry")
		assert.Zero(t, countRows(t, st, "sessions", "id_hash = ?", created.IDHash), "an expired session is deleted")

		// Idle expiry.
		tok, created, err = s.CreateSession(ctx, alice.ID, "", "")
		require.NoError(t, err)
		clk.Advance(time.Hour - time.Second)
		_, _, err = s.Session(ctx, tok)
		require.NoError(t, err, "one second before the idle expiry")
		clk.Advance(time.Hour)
		_, _, err = s.Session(ctx, tok)
		assert.ErrorIs(t, err, account.ErrNoSession, "idle for an hour")
		assert.Zero(t, countRows(t, st, "sessions", "id_hash = ?", created.IDHash))
	})
}

func TestSessionEndAndRotate(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, clk := newTestService(t, st)
		ctx := t.Context()
		alice := mustPerson(t, s, "alice", false)
		bob := mustPerson(t, s, "bob", false)

		t1, _, err := s.CreateSession(ctx, alice.ID, "ua", "192.0.2.1")
		require.NoError(t, err)
		t2, _, err := s.CreateSession(ctx, alice.ID, "", "")
		require.NoError(t, err)
		tb, _, err := s.CreateSession(ctx, bob.ID, "", "")
		require.NoError(t, err)

		require.NoError(t, s.EndSession(ctx, t1))
		_, _, err = s.Session(ctx, t1)
		assert.ErrorIs(t, err, account.ErrNoSession)
		require.NoError(t, s.EndSession(ctx, t1), "ending twice is fine")
		require.NoError(t, s.EndSession(ctx, "garbage"))
		_, _, err = s.Session(ctx, t2)
		require.NoError(t, err, "other sessions live on")

		// Rotation: new token and CSRF token, same lifetime.
		before, _, err := s.Session(ctx, t2)
		require.NoError(t, err)
		clk.Advance(time.Hour)
		t3, rotated, err := s.RotateSession(ctx, t2)
		require.NoError(t, err)
		assert.NotEqual(t, t2, t3)
		assert.NotEqual(t, before.CSRFToken, rotated.CSRFToken)
		assert.NotEqual(t, before.IDHash, rotated.IDHash)
		assert.Equal(t, before.CreatedAt, rotated.CreatedAt)
		assert.Equal(t, before.ExpiresAt, rotated.ExpiresAt, "rotation never extends a session")
		assert.Equal(t, clk.Now(), rotated.LastSeenAt)
		_, _, err = s.Session(ctx, t2)
		assert.ErrorIs(t, err, account.ErrNoSession, "the old token is dead")
		got, p, err := s.Session(ctx, t3)
		require.NoError(t, err)
		assert.Equal(t, alice.ID, p.ID)
		assert.Equal(t, rotated, got)
		_, _, err = s.RotateSession(ctx, t2)
		assert.ErrorIs(t, err, account.ErrNoSession)
		_, _, err = s.RotateSession(ctx, "garbage")
		assert.ErrorIs(t, err, account.ErrNoSession)

		// End all of alice's sessions; bob keeps his.
		_, _, err = s.CreateSession(ctx, alice.ID, "", "")
		require.NoError(t, err)
		require.NoError(t, s.EndSessionsOf(ctx, alice.ID))
		assert.Zero(t, countRows(t, st, "sessions", "person_id = ?", alice.ID))
		_, _, err = s.Session(ctx, t3)
		assert.ErrorIs(t, err, account.ErrNoSession)
		_, _, err = s.Session(ctx, tb)
		require.NoError(t, err)

		// A person disabled behind the service's back loses the session at
		// the next lookup.
		storetest.Exec(t, st, `UPDATE persons SET disabled_at = 1 WHERE id = ?`, bob.ID)
		_, _, err = s.Session(ctx, tb)
		assert.ErrorIs(t, err, account.ErrNoSession)
		assert.Zero(t, countRows(t, st, "sessions", "person_id = ?", bob.ID))
	})
}

func TestCheckCSRF(t *testing.T) {
	t.Parallel()
	sess := &account.Session{CSRFToken: account.RandomToken()}
	assert.True(t, account.CheckCSRF(sess, sess.CSRFToken))
	assert.False(t, account.CheckCSRF(sess, ""))
	assert.False(t, account.CheckCSRF(sess, sess.CSRFToken[:42]))
	assert.False(t, account.CheckCSRF(sess, sess.CSRFToken+"x"))
	assert.False(t, account.CheckCSRF(sess, account.RandomToken()))
	assert.False(t, account.CheckCSRF(nil, sess.CSRFToken))
	assert.False(t, account.CheckCSRF(&account.Session{}, ""))
}
