package account_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestConcurrentDemotionsKeepAnAdmin: two administrators demote each other
// at the same moment; exactly one demotion wins and the other is
// ErrLastAdmin, so the PS never ends up without an enabled administrator
// (the store locks the administrators' rows on PostgreSQL; SQLite
// serialises the transactions).
func TestConcurrentDemotionsKeepAnAdmin(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		s, _ := newTestService(t, st)
		ctx := t.Context()
		survivor := ""
		for round := range 5 {
			a := mustPerson(t, s, fmt.Sprintf("admin-a%d", round), true)
			b := mustPerson(t, s, fmt.Sprintf("admin-b%d", round), true)
			// Only this round's two administrators remain.
			if survivor != "" {
				_, err := s.UpdatePerson(ctx, survivor, account.PersonUpdate{IsAdmin: ptr(false)})
				require.NoError(t, err)
			}
			start := make(chan struct{})
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, id := range []string{a.ID, b.ID} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, errs[i] = s.UpdatePerson(ctx, id, account.PersonUpdate{IsAdmin: ptr(false)})
				}()
			}
			close(start)
			wg.Wait()
			lost := 0
			for _, err := range errs {
				if err != nil {
					require.ErrorIs(t, err, account.ErrLastAdmin)
					lost++
				}
			}
			assert.Equal(t, 1, lost, "round %d: exactly one demotion must lose: %v", round, errs)
			ok, err := s.HasEnabledAdmin(ctx)
			require.NoError(t, err)
			require.True(t, ok, "round %d: no administrator left", round)
			survivor = a.ID
			if errs[1] != nil {
				survivor = b.ID
			}
		}
	})
}
