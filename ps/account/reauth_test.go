package account_test

import (
	"errors"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// The proof a session holds (review rev2 #1, migration 00045), on both
// databases: a login records it, a bare session has none, it lapses after
// ReauthWindow, Reauthenticate renews it in a replacement session (the old
// token ends), and a credential change carries it over.
func TestSessionProofOfCredential(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, clk := newTestService(t, st)
		ctx := t.Context()
		alice := mustPerson(t, s, "alice", false)
		lookup := func(tok string) *account.Session {
			t.Helper()
			sess, _, err := s.Session(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			return sess
		}

		bare, _, err := s.CreateSession(ctx, alice.ID, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if s.RecentlyAuthenticated(lookup(bare)) || s.RecentlyAuthenticated(nil) {
			t.Fatal("a session without a login holds a proof")
		}
		login, _, err := s.StartSession(ctx, alice.ID, "", "")
		if err != nil {
			t.Fatal(err)
		}
		started := lookup(login)
		if !started.AuthenticatedAt.Equal(started.CreatedAt) || !s.RecentlyAuthenticated(started) {
			t.Fatalf("a login's session: %+v", started)
		}
		clk.Advance(account.ReauthWindow)
		if s.RecentlyAuthenticated(lookup(login)) {
			t.Fatal("the proof outlived ReauthWindow")
		}

		renewed, _, err := s.Reauthenticate(ctx, login)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Session(ctx, login); !errors.Is(err, account.ErrNoSession) {
			t.Fatalf("the token before re-authentication still works: %v", err)
		}
		sess := lookup(renewed)
		if !s.RecentlyAuthenticated(sess) || !sess.CreatedAt.Equal(started.CreatedAt) || !sess.ExpiresAt.Equal(started.ExpiresAt) {
			t.Fatalf("re-authenticated session: %+v (started %+v)", sess, started)
		}
		if _, _, err := s.Reauthenticate(ctx, login); !errors.Is(err, account.ErrNoSession) {
			t.Fatalf("re-authenticating an ended session: %v", err)
		}

		clk.Advance(time.Minute)
		changed, _, err := s.ChangePassword(ctx, renewed, "a long enough new password")
		if err != nil {
			t.Fatal(err)
		}
		if got := lookup(changed); !got.AuthenticatedAt.Equal(sess.AuthenticatedAt) {
			t.Fatalf("a credential change moved the proof: %v, want %v", got.AuthenticatedAt, sess.AuthenticatedAt)
		}
	})
}
