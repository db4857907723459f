package account_test

import (
	"context"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// twoSessions logs alice in twice (two browsers) and bob once.
type twoSessions struct {
	s                    *account.Service
	alice, bob           *account.Person
	current, other, bobs string
	currentSess          *account.Session
}

func newTwoSessions(t *testing.T, st *store.Store) (*twoSessions, *fakeClock) {
	t.Helper()
	s, clk := newTestService(t, st)
	ctx := t.Context()
	x := &twoSessions{s: s, alice: mustPerson(t, s, "alice", false), bob: mustPerson(t, s, "bob", false)}
	var err error
	x.current, x.currentSess, err = s.CreateSession(ctx, x.alice.ID, "ua", "192.0.2.1")
	require.NoError(t, err)
	x.other, _, err = s.CreateSession(ctx, x.alice.ID, "", "")
	require.NoError(t, err)
	x.bobs, _, err = s.CreateSession(ctx, x.bob.ID, "", "")
	require.NoError(t, err)
	clk.Advance(time.Hour)
	return x, clk
}

// assertReplaced: the change ended both of alice's old sessions, her new
// token works with the old session's lifetime, and bob's session lives on.
func (x *twoSessions) assertReplaced(t *testing.T, token string, sess *account.Session) {
	t.Helper()
	ctx := context.Background()
	for _, old := range []string{x.current, x.other} {
		_, _, err := x.s.Session(ctx, old)
		assert.ErrorIs(t, err, account.ErrNoSession, "a session from before the change still works")
	}
	got, p, err := x.s.Session(ctx, token)
	require.NoError(t, err)
	assert.Equal(t, x.alice.ID, p.ID)
	assert.Equal(t, sess, got)
	assert.NotEqual(t, x.currentSess.CSRFToken, sess.CSRFToken)
	assert.Equal(t, x.currentSess.CreatedAt, sess.CreatedAt)
	assert.Equal(t, x.currentSess.ExpiresAt, sess.ExpiresAt, "the replacement never outlives the session it replaces")
	_, _, err = x.s.Session(ctx, x.bobs)
	assert.NoError(t, err, "another person's session ended")
}

// assertUntouched: a refused change ended no session.
func (x *twoSessions) assertUntouched(t *testing.T) {
	t.Helper()
	for _, tok := range []string{x.current, x.other, x.bobs} {
		_, _, err := x.s.Session(context.Background(), tok)
		require.NoError(t, err, "a refused credential change ended a session")
	}
}

// TestChangePasswordEndsOtherSessions (issue 15 item 4): a new password
// ends every other session of the person and rotates the current one, in
// one transaction; a refused change ends nothing.
func TestChangePasswordEndsOtherSessions(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		x, _ := newTwoSessions(t, st)
		ctx := t.Context()

		_, _, err := x.s.ChangePassword(ctx, x.current, "short")
		assert.ErrorIs(t, err, account.ErrWeakPassword)
		_, _, err = x.s.ChangePassword(ctx, "garbage", "a brand new password")
		assert.ErrorIs(t, err, account.ErrNoSession)
		x.assertUntouched(t)
		_, err = x.s.Authenticate(ctx, "alice", goodPassword, "")
		require.NoError(t, err, "a refused change altered the password")

		token, sess, err := x.s.ChangePassword(ctx, x.current, "a brand new password")
		require.NoError(t, err)
		x.assertReplaced(t, token, sess)
		_, err = x.s.Authenticate(ctx, "alice", "a brand new password", "")
		require.NoError(t, err)
		_, err = x.s.Authenticate(ctx, "alice", goodPassword, "")
		assert.ErrorIs(t, err, account.ErrBadCredentials)
	})
}

// TestPasskeyChangesEndOtherSessions (issue 15 item 4): adding or removing
// a passkey ends the person's other sessions and rotates the current one;
// removing a passkey that is not theirs changes nothing.
func TestPasskeyChangesEndOtherSessions(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		x, _ := newTwoSessions(t, st)
		ctx := t.Context()
		a := newSoftAuthenticator(t)

		id, opts, err := x.s.BeginPasskeyRegistration(ctx, x.alice.ID)
		require.NoError(t, err)
		token, sess, err := x.s.RegisterPasskey(ctx, x.current, id, "phone", a.create(opts))
		require.NoError(t, err)
		x.assertReplaced(t, token, sess)
		keys, err := x.s.Passkeys(ctx, x.alice.ID)
		require.NoError(t, err)
		require.Len(t, keys, 1)

		// Two sessions again, from the replacement on.
		x.current, x.currentSess = token, sess
		x.other, _, err = x.s.CreateSession(ctx, x.alice.ID, "", "")
		require.NoError(t, err)

		bobs, _, err := x.s.CreateSession(ctx, x.bob.ID, "", "")
		require.NoError(t, err)
		_, _, err = x.s.RemovePasskey(ctx, bobs, keys[0].ID)
		assert.ErrorIs(t, err, account.ErrNotFound, "bob removed alice's passkey")
		x.assertUntouched(t)
		_, _, err = x.s.Session(ctx, bobs)
		require.NoError(t, err, "a refused removal ended the remover's session")

		token, sess, err = x.s.RemovePasskey(ctx, x.current, keys[0].ID)
		require.NoError(t, err)
		x.assertReplaced(t, token, sess)
		keys, err = x.s.Passkeys(ctx, x.alice.ID)
		require.NoError(t, err)
		assert.Empty(t, keys)
	})
}
