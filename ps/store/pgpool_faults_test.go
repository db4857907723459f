package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// A savepoint that rolls back undoes everything queued inside it without
// sending it, including a queued write that would have failed: the outer
// transaction then goes on and commits, as it does when the write runs at
// once. Sent first, the failing write aborted the transaction before the
// rollback could run, and the error was blamed on the next write.
func TestPostgresSavepointRollbackDropsItsQueuedWrites(t *testing.T) {
	for _, mode := range writeModes {
		t.Run(mode.name, func(t *testing.T) {
			defer store.QueueWrites(store.QueueWrites(mode.queued))
			st := storetest.OpenURL(t, storetest.NewMigratedPostgresURL(t), true)
			ctx := t.Context()
			require.NoError(t, st.RecordPersonToken(ctx, tokenRecord("taken")))
			inner := errors.New("the inner step fails")
			err := st.InTx(ctx, func(tx *store.Store) error {
				require.NoError(t, tx.RecordPersonToken(ctx, tokenRecord("before")))
				spErr := tx.InTx(ctx, func(sp *store.Store) error {
					if err := sp.RecordPersonToken(ctx, tokenRecord("taken")); err != nil {
						return err // at once (one by one): a conflict
					}
					return inner // queued: the step fails for another reason
				})
				require.Error(t, spErr)
				return tx.RecordPersonToken(ctx, tokenRecord("after"))
			})
			var se *store.Error
			if errors.As(err, &se) {
				t.Logf("InTx: %v (cause: %s)", err, se.Cause())
			}
			require.NoError(t, err, "the savepoint rolled back; the transaction commits")
			require.ElementsMatch(t, []string{"taken", "before", "after"}, recordedJTIs(t, st))
		})
	}
}

// A queued write whose batch never reached PostgreSQL (the statement that
// was to carry it ran under an ended context) was dropped, its error given
// to that statement's caller. Even when that caller ignores it, the
// transaction does not commit without the write: it commits nothing.
func TestPostgresUnsentQueuedWritesFailTheTransaction(t *testing.T) {
	st := storetest.OpenURL(t, storetest.NewMigratedPostgresURL(t), true)
	ctx := t.Context()
	err := st.InTx(ctx, func(tx *store.Store) error {
		require.NoError(t, tx.RecordPersonToken(ctx, tokenRecord("first")))
		_, err := tx.PersonTokenRecords(ctx, "") // BEGIN and the write sent now
		require.NoError(t, err)
		require.NoError(t, tx.RecordPersonToken(ctx, tokenRecord("lost")), "queued: its error comes later")
		require.NoError(t, tx.RecordPersonToken(ctx, tokenRecord("lost2")), "queued: the two go as a batch")
		ended, cancel := context.WithCancel(ctx)
		cancel()
		require.Error(t, tx.ExecSQL(ended, `SELECT 1`)) // a best-effort step; its caller ignores the error
		_, err = tx.PersonTokenRecords(ctx, "")
		require.Error(t, err, "a statement after writes that never went")
		return nil
	})
	require.Error(t, err, "the transaction lost writes that returned nil: it must not commit")
	require.Empty(t, recordedJTIs(t, st))
}

// The batched lock's counters are read after the lock is granted: a
// checkpoint recorded (no version move) by the holder is seen (finding 56).
func TestPostgresBatchedCountersReadAfterTheLock(t *testing.T) {
	st := storetest.OpenURL(t, storetest.NewMigratedPostgresURL(t), true)
	ctx := t.Context()
	seen := seenTestMission(t, st)
	m := seen
	locked, done := make(chan struct{}), make(chan error, 1)
	go func() {
		done <- st.InTx(ctx, func(tx *store.Store) error {
			if _, err := tx.LockMission(ctx, m.S256); err != nil {
				return err
			}
			close(locked)
			time.Sleep(300 * time.Millisecond)
			return tx.RecordCheckpoint(ctx, m.S256, "cp1", false, time.Now())
		})
	}()
	<-locked
	require.NoError(t, st.InTx(ctx, func(tx *store.Store) error {
		require.NoError(t, tx.RecordPersonToken(ctx, tokenRecord("x1")))
		got, snap, err := tx.LockSeenMission(ctx, seen)
		require.NoError(t, err)
		require.Equal(t, seen.Version, got.Version)
		require.Contains(t, snap.Checkpoints, "cp1")
		return nil
	}))
	require.NoError(t, <-done)
}

// A batch carrying BEGIN that never reached PostgreSQL left the
// transaction marked begun: the statements after it ran outside any
// transaction, each committed alone, and the rollback undid none of them.
// They now fail, and nothing of the transaction stands.
func TestPostgresUnsentBeginFailsTheTransaction(t *testing.T) {
	st := storetest.OpenURL(t, storetest.NewMigratedPostgresURL(t), true)
	ctx := t.Context()
	failed := errors.New("the transaction fails")
	err := st.InTx(ctx, func(tx *store.Store) error {
		require.NoError(t, tx.RecordPersonToken(ctx, tokenRecord("q1")), "queued with BEGIN")
		ended, cancel := context.WithCancel(ctx)
		cancel()
		require.Error(t, tx.ExecSQL(ended, `SELECT 1`)) // ignored by its caller
		_ = tx.RecordPersonToken(ctx, tokenRecord("q2"))
		_, err := tx.PersonTokenRecords(ctx, "")
		require.Error(t, err, "a statement after a BEGIN that never went")
		return failed
	})
	require.ErrorIs(t, err, failed)
	require.Empty(t, recordedJTIs(t, st), "the transaction rolled back: nothing of it stands")
}
