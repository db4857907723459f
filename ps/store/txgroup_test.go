package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// groupStore opens a SQLite store with table g(n) and a deferred foreign
// key from child_g to parent_g (checked only at COMMIT).
func groupStore(t *testing.T) *Store {
	t.Helper()
	ctx := t.Context()
	s, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "ps.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, s.ExecSQL(ctx, "CREATE TABLE g (n INTEGER NOT NULL)"))
	require.NoError(t, s.ExecSQL(ctx, "CREATE TABLE parent_g (id INTEGER PRIMARY KEY)"))
	require.NoError(t, s.ExecSQL(ctx, "CREATE TABLE child_g (pid INTEGER REFERENCES parent_g (id) DEFERRABLE INITIALLY DEFERRED)"))
	return s
}

func (g *txGroups) queued() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.pending)
}

// holdTurn starts a transaction that keeps the writer turn until the
// returned function is called, and waits until it has the turn.
func holdTurn(t *testing.T, s *Store) (release func()) {
	t.Helper()
	running, stop, ended := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		ended <- s.InTx(context.Background(), func(tx *Store) error {
			close(running)
			<-stop
			return tx.ExecSQL(context.Background(), "INSERT INTO g (n) VALUES (-1)")
		})
	}()
	<-running
	return func() {
		close(stop)
		require.NoError(t, <-ended)
	}
}

// waitQueued waits until n transactions queue behind the turn's holder.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return s.groups.queued() == n }, 10*time.Second, time.Millisecond)
}

// queueBehindHolder holds the writer turn, queues n transactions in order
// behind it (the i-th runs fn(i, tx)), releases the turn and waits for
// them all: each one's error, or the panic it came back with.
func queueBehindHolder(t *testing.T, s *Store, n int, fn func(i int, tx *Store) error) (errs []error, panics []any) {
	t.Helper()
	release := holdTurn(t, s)
	errs, panics = make([]error, n), make([]any, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			defer func() { panics[i] = recover() }()
			errs[i] = s.InTx(t.Context(), func(tx *Store) error { return fn(i, tx) })
		})
		waitQueued(t, s, i+1)
	}
	release()
	wg.Wait()
	return errs, panics
}

func countG(t *testing.T, s *Store, where string, args ...any) int64 {
	t.Helper()
	n, err := s.CountRows(t.Context(), "g", where, args...)
	require.NoError(t, err)
	return n
}

// Issue 12 (finding 42): SQLite transactions that queue together commit
// together, and each caller still gets the answer it would alone: its
// function's error or panic (its writes rolled back, the others' kept), or
// nil once its writes are committed, its AfterCommit hooks run.
func TestSQLiteTransactionsShareCommits(t *testing.T) {
	s := groupStore(t)
	ctx := t.Context()
	errRefused := errors.New("refused")
	const n = 47
	grouped := s.WaitStats().GroupedTransactions

	var hooks [n]atomic.Int32
	errs, panics := queueBehindHolder(t, s, n, func(i int, tx *Store) error {
		if err := tx.ExecSQL(ctx, "INSERT INTO g (n) VALUES (?)", i); err != nil {
			return err
		}
		var mine int
		if err := tx.QuerySQL(ctx, &mine, "SELECT count(*) FROM g WHERE n = ?", i); err != nil {
			return err
		}
		if mine != 1 {
			return fmt.Errorf("transaction %d reads %d rows of its own", i, mine)
		}
		tx.AfterCommit(func() { hooks[i].Add(1) })
		switch i % 5 {
		case 1:
			return errRefused
		case 2:
			panic(fmt.Sprintf("panic %d", i))
		}
		return nil
	})

	for i := range n {
		switch i % 5 {
		case 1:
			assert.ErrorIs(t, errs[i], errRefused, "transaction %d", i)
			assert.Nil(t, panics[i])
		case 2:
			assert.Equal(t, fmt.Sprintf("panic %d", i), panics[i], "the panic comes back to its caller")
		default:
			assert.NoError(t, errs[i], "transaction %d", i)
			assert.Nil(t, panics[i])
		}
		committed := i%5 != 1 && i%5 != 2
		assert.Equal(t, committed, countG(t, s, "n = ?", i) == 1, "transaction %d's row", i)
		want := int32(0)
		if committed {
			want = 1
		}
		assert.Equal(t, want, hooks[i].Load(), "transaction %d's hooks", i)
	}
	// 47 queued behind the holder, taken 8 at a time: 6 commits for 47.
	assert.Equal(t, int64(n-6), s.WaitStats().GroupedTransactions-grouped)
}

// A commit SQLite refuses fails every transaction of its group, and
// commits none of them; the writer connection is left usable.
func TestSQLiteGroupCommitFailureFailsEveryMember(t *testing.T) {
	s := groupStore(t)
	ctx := t.Context()
	stmts := []string{
		"INSERT INTO g (n) VALUES (1)",
		"INSERT INTO child_g (pid) VALUES (999)", // no parent: refused at COMMIT
		"INSERT INTO g (n) VALUES (3)",
	}
	var hooks atomic.Int32
	errs, _ := queueBehindHolder(t, s, len(stmts), func(i int, tx *Store) error {
		tx.AfterCommit(func() { hooks.Add(1) })
		return tx.ExecSQL(ctx, stmts[i])
	})
	for i, err := range errs {
		var se *Error
		require.ErrorAs(t, err, &se, "member %d", i)
		assert.ErrorContains(t, se.Err, "FOREIGN KEY", "member %d", i)
	}
	assert.Zero(t, hooks.Load(), "a hook ran for a transaction that did not commit")
	assert.Zero(t, countG(t, s, "n > 0"), "a member of the failed group committed")
	n, err := s.CountRows(ctx, "child_g", "")
	require.NoError(t, err)
	assert.Zero(t, n)

	require.NoError(t, s.InTx(ctx, func(tx *Store) error {
		return tx.ExecSQL(ctx, "INSERT INTO g (n) VALUES (4)")
	}), "the next transaction could not begin")
	assert.EqualValues(t, 1, countG(t, s, "n = 4"))
}

// A caller whose context ends while its transaction is still queued gets
// its context's error, and its function never runs.
func TestSQLiteQueuedTransactionWithdrawsOnCancel(t *testing.T) {
	s := groupStore(t)
	release := holdTurn(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	var ran atomic.Bool
	done := make(chan error, 1)
	go func() {
		done <- s.InTx(ctx, func(tx *Store) error {
			ran.Store(true)
			return tx.ExecSQL(ctx, "INSERT INTO g (n) VALUES (5)")
		})
	}()
	waitQueued(t, s, 1)
	cancel()
	err := <-done
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, s.groups.queued())
	release()
	assert.False(t, ran.Load(), "the withdrawn transaction ran")
	assert.Zero(t, countG(t, s, "n = 5"))
}

// A transaction's statements are not cut short by their caller's context:
// SQLite rolls back the whole transaction when a write is interrupted,
// and further statements would then each commit alone, other members'
// with them. The caller's function decides, by its error, what stands.
func TestSQLiteTransactionStatementsOutliveTheirContext(t *testing.T) {
	s := groupStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	require.NoError(t, s.InTx(ctx, func(tx *Store) error {
		if err := tx.ExecSQL(ctx, "INSERT INTO g (n) VALUES (8)"); err != nil {
			return err
		}
		cancel()
		return tx.ExecSQL(ctx, "INSERT INTO g (n) VALUES (9)")
	}))
	assert.EqualValues(t, 2, countG(t, s, "n IN (8, 9)"))
}

// A panic of the store's own while it runs a group (here injected before
// the third member's savepoint; a member's panic is its own and tested
// above) rolls the whole group back: every member that did not run it
// gets an error, nothing of the group is committed, and the writer turn
// is released. The goroutine that ran the group panics with it.
func TestSQLiteGroupStorePanicFailsEveryMember(t *testing.T) {
	s := groupStore(t)
	ctx := t.Context()
	s.groups.fault = func(member int) { // the holder's group has one member
		if member == 2 {
			panic("store fault")
		}
	}
	const n = 4
	errs, panics := queueBehindHolder(t, s, n, func(i int, tx *Store) error {
		return tx.ExecSQL(ctx, "INSERT INTO g (n) VALUES (?)", i)
	})

	ran := 0
	for i := range n {
		if panics[i] != nil {
			assert.Equal(t, "store fault", panics[i])
			ran++
			continue
		}
		var se *Error
		if assert.ErrorAs(t, errs[i], &se, "transaction %d", i) {
			assert.ErrorContains(t, se.Err, "group ended by a panic", "transaction %d", i)
		}
	}
	assert.Equal(t, 1, ran, "the goroutine that ran the group, and only it, panics")
	assert.Equal(t, int64(0), countG(t, s, "n >= 0"), "nothing of the group is committed")

	s.groups.fault = nil
	done := make(chan error, 1)
	go func() {
		done <- s.InTx(ctx, func(tx *Store) error { return tx.ExecSQL(ctx, "INSERT INTO g (n) VALUES (100)") })
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the writer turn was not released")
	}
	assert.Equal(t, int64(1), countG(t, s, "n = 100"))
}
