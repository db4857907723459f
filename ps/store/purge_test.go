package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestPurgesDeleteInBatches (issue 12, finding 46): the minute's purges of
// the tables every request grows delete every expired row and keep every
// live one. On SQLite they delete a bounded batch per statement, each in
// the writer turn as a transaction takes it, so a decision waits for one
// short batch instead of a whole minute's rows (66 000 replay keys held
// the lock for 106–132 ms).
func TestPurgesDeleteInBatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		st.SetPurgeBatch(4)
		now := time.Now()
		for i := range 10 {
			_, err := st.RememberSignature(ctx, fmt.Sprintf("old-%d", i), now.Add(-time.Minute))
			require.NoError(t, err)
			require.NoError(t, st.RememberAgentToken(ctx, "https://ap.example", fmt.Sprintf("old-%d", i), "aauth:a@ap.example", now.Add(-time.Hour)))
		}
		for i := range 2 {
			_, err := st.RememberSignature(ctx, fmt.Sprintf("live-%d", i), now.Add(time.Minute))
			require.NoError(t, err)
			require.NoError(t, st.RememberAgentToken(ctx, "https://ap.example", fmt.Sprintf("live-%d", i), "aauth:a@ap.example", now.Add(time.Hour)))
		}
		turns := st.WaitStats().WriterTurns

		n, err := st.PurgeExpired(ctx, now)
		require.NoError(t, err)
		require.EqualValues(t, 10, n)
		if st.Dialect() == store.DialectSQLite {
			// Replay keys in batches of 4, 4 and 2; revocations in one
			// (none): a turn each.
			require.EqualValues(t, 4, st.WaitStats().WriterTurns-turns, "writer turns taken by the purge")
		}
		n, err = st.PurgeRevocationState(ctx, now) // agent token records: a two-column key
		require.NoError(t, err)
		require.EqualValues(t, 10, n)

		left, err := st.CountRows(ctx, "replay_cache", "")
		require.NoError(t, err)
		require.EqualValues(t, 2, left, "live replay keys")
		left, err = st.CountRows(ctx, "agent_token_subs", "")
		require.NoError(t, err)
		require.EqualValues(t, 2, left, "live agent token records")
	})
}
