package agents_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/agents"
	"github.com/aauth-ps/aauth-ps/ps/httpsig"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestProviderPolicyCache (issue 12): Admit caches providers' statuses,
// yet an operator's change takes effect at once in the process that made
// it and within the cache's 10 s in another replica on the same database;
// allow-list admits a provider once it is allowed.
func TestProviderPolicyCache(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		now := time.Unix(1_800_000_000, 0)
		clock := func() time.Time { return now }
		const iss = "https://ap.example"
		refused := func(s *agents.Service) bool {
			t.Helper()
			err := s.Admit(ctx, iss)
			if err != nil && !errors.Is(err, httpsig.ErrProviderRefused) {
				t.Fatal(err)
			}
			return err != nil
		}
		a := agents.New(st, clock, agents.AllowAny)
		b := agents.New(st, clock, agents.AllowAny) // another replica
		if refused(a) || refused(b) {
			t.Fatal("an unknown provider is admitted under allow-any")
		}
		if err := a.SetProviderStatus(ctx, iss, agents.ProviderBlocked, "op"); err != nil {
			t.Fatal(err)
		}
		if !refused(a) {
			t.Fatal("blocked here, admitted here")
		}
		if refused(b) {
			t.Fatal("the other replica's cached status was not used")
		}
		now = now.Add(10 * time.Second)
		if !refused(b) {
			t.Fatal("the other replica still admits after the cache's lifetime")
		}
		if err := a.SetProviderStatus(ctx, iss, agents.ProviderSeen, "op"); err != nil {
			t.Fatal(err)
		}
		if refused(a) {
			t.Fatal("unblocked here, refused here")
		}

		l := agents.New(st, clock, agents.AllowList)
		const other = "https://other.example"
		if err := l.Admit(ctx, other); !errors.Is(err, httpsig.ErrProviderRefused) {
			t.Fatalf("allow-list, unknown provider: %v", err)
		}
		if err := l.SetProviderStatus(ctx, other, agents.ProviderAllowed, "op"); err != nil {
			t.Fatal(err)
		}
		if err := l.Admit(ctx, other); err != nil {
			t.Fatalf("allow-list, allowed provider: %v", err)
		}
	})
}
