package account_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// A person's own email changes are limited (review rev2 #4), on both
// databases: every change to another address counts, a taken one too;
// the same address again or an invalid one does not; past the limit
// nothing changes; the purge keeps the count for its hour; another
// person has their own count.
func TestOwnEmailChangesLimited(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, clk := newTestService(t, st)
		ctx := t.Context()
		alice, bob := mustPerson(t, s, "alice", false), mustPerson(t, s, "bob", false)
		email := func(id, v string) error {
			_, err := s.UpdateOwnProfile(ctx, id, account.PersonUpdate{Email: &v})
			return err
		}
		if err := email(bob.ID, "bob@example.com"); err != nil {
			t.Fatal(err)
		}
		if err := email(alice.ID, "bob@example.com"); !errors.Is(err, account.ErrEmailTaken) {
			t.Fatalf("a taken address: %v", err)
		}
		for i := 1; i < account.MaxEmailChanges; i++ {
			if err := email(alice.ID, fmt.Sprintf("alice%d@example.com", i)); err != nil {
				t.Fatal(err)
			}
		}
		var rl *account.RateLimitedError
		for _, v := range []string{"alice4@example.com", "not an address", "alice4@example.com"} {
			if err := email(alice.ID, v); errors.As(err, &rl) {
				t.Fatalf("%q was counted: %v", v, err)
			}
		}
		clk.Advance(account.DefaultFailureWindow + time.Minute)
		if _, err := s.Purge(ctx); err != nil {
			t.Fatal(err)
		}
		if err := email(alice.ID, "alice-new@example.com"); !errors.As(err, &rl) || rl.RetryAfter <= 0 {
			t.Fatalf("a change past the limit: %v", err)
		}
		if p, _ := s.Person(ctx, alice.ID); p.Email != "alice4@example.com" {
			t.Fatalf("a refused change changed the address to %q", p.Email)
		}
		if err := email(bob.ID, "bob2@example.com"); err != nil {
			t.Fatalf("alice's limit holds bob: %v", err)
		}
		clk.Advance(account.EmailChangeWindow)
		if err := email(alice.ID, "alice-new@example.com"); err != nil {
			t.Fatalf("after the window: %v", err)
		}
	})
}
