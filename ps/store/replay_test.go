package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestPostgresReplayWriteCommitsAsynchronously (issue 12, PS-027): on
// PostgreSQL the replay-cache write outside a transaction does not wait for
// its WAL flush, yet its answer is unchanged (fresh, then a replay), and the
// pooled session keeps synchronous_commit on for whatever runs on it next
// (an issuance must stay durable). Inside one explicit transaction the
// statement's setting is visible: it is what that transaction's commit reads.
func TestPostgresReplayWriteCommitsAsynchronously(t *testing.T) {
	st := storetest.OpenURL(t, storetest.NewMigratedPostgresURL(t), true)
	st.LimitConnections(1) // every statement below runs on the one session
	ctx := t.Context()
	show := func(s *store.Store) string {
		t.Helper()
		var v string
		require.NoError(t, s.QuerySQL(ctx, &v, "SHOW synchronous_commit"))
		return v
	}
	require.Equal(t, "on", show(st))
	exp := time.Now().Add(time.Minute)
	fresh, err := st.RememberSignature(ctx, "async-key", exp)
	require.NoError(t, err)
	require.True(t, fresh, "a new key is fresh")
	fresh, err = st.RememberSignature(ctx, "async-key", exp)
	require.NoError(t, err)
	require.False(t, fresh, "the same key again is a replay")
	require.Equal(t, "on", show(st), "the replay write left synchronous_commit off on the pooled session")

	require.NoError(t, st.InTx(ctx, func(tx *store.Store) error {
		if err := tx.ExecSQL(ctx, store.RememberAsyncPostgresSQL, "async-key-2", exp.Unix(), time.Now().Unix()); err != nil {
			return err
		}
		require.Equal(t, "off", show(tx), "the statement does not set its transaction's commit asynchronous")
		return nil
	}))
	require.Equal(t, "on", show(st), "the setting outlived its transaction")
}
