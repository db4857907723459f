package store

import (
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A member whose statement makes SQLite roll back the whole transaction
// (here ON CONFLICT ROLLBACK; in production SQLITE_FULL, IOERR, NOMEM do
// the same): ROLLBACK TO its savepoint then fails. glebarez/sqlite's
// SavePoint and RollbackTo dropped that error, so the group went on: the
// earlier members' writes were gone, yet they were told they had
// committed and their hooks ran. Now every member is told what happened to
// its own write, and a hook runs only with a commit.
func TestSQLiteGroupMemberThatEndsTheTransactionFailsTheGroup(t *testing.T) {
	s := groupStore(t)
	ctx := t.Context()
	stmts := []string{
		"INSERT INTO g (n) VALUES (1)",
		"INSERT OR ROLLBACK INTO g (n) VALUES (NULL)", // NOT NULL: rolls back the whole transaction
		"INSERT INTO g (n) VALUES (3)",
	}
	var hooks [3]atomic.Int32
	errs, _ := queueBehindHolder(t, s, len(stmts), func(i int, tx *Store) error {
		tx.AfterCommit(func() { hooks[i].Add(1) })
		return tx.ExecSQL(ctx, stmts[i])
	})
	t.Logf("errs: %v", errs)
	t.Logf("hooks: %d %d %d", hooks[0].Load(), hooks[1].Load(), hooks[2].Load())
	t.Logf("rows n=1: %d, n=3: %d", countG(t, s, "n = 1"), countG(t, s, "n = 3"))
	for _, i := range []int{0, 2} {
		committed := countG(t, s, "n = ?", i+1) == 1
		assert.Equal(t, errs[i] == nil, committed, "member %d: told nil=%v but committed=%v", i, errs[i] == nil, committed)
		assert.Equal(t, committed, hooks[i].Load() == 1, "member %d: hook ran=%v but committed=%v", i, hooks[i].Load() == 1, committed)
	}
}

// The same with a full disk (SQLITE_FULL, simulated by max_page_count on
// the writer connection): SQLite rolls back the whole transaction.
func TestSQLiteGroupMemberOnAFullDiskFailsTheGroup(t *testing.T) {
	s := groupStore(t)
	ctx := t.Context()
	var hooks [3]atomic.Int32
	errs, _ := queueBehindHolder(t, s, 3, func(i int, tx *Store) error {
		tx.AfterCommit(func() { hooks[i].Add(1) })
		switch i {
		case 1:
			var pages int64
			if err := tx.QuerySQL(ctx, &pages, "PRAGMA page_count"); err != nil {
				return err
			}
			if err := tx.ExecSQL(ctx, "PRAGMA max_page_count = "+itoa(pages)); err != nil {
				return err
			}
			err := tx.ExecSQL(ctx, "INSERT INTO g (n) VALUES (zeroblob(200000))")
			_ = tx.ExecSQL(ctx, "PRAGMA max_page_count = 1073741823")
			return err
		default:
			return tx.ExecSQL(ctx, "INSERT INTO g (n) VALUES (?)", i+1)
		}
	})
	t.Logf("errs: %v", errs)
	t.Logf("hooks: %d %d %d", hooks[0].Load(), hooks[1].Load(), hooks[2].Load())
	committed := countG(t, s, "n = 1") == 1
	t.Logf("member 0 row committed: %v", committed)
	assert.Equal(t, errs[0] == nil, committed, "member 0 told nil=%v, committed=%v", errs[0] == nil, committed)
	assert.Equal(t, committed, hooks[0].Load() == 1, "member 0's hook ran without a commit")
}

func itoa(n int64) string { return fmtInt(n) }

func fmtInt(n int64) string { return strconv.FormatInt(n, 10) }

// A panic of the store's own in a group run by a caller whose own
// transaction was not in the batch (more than maxTxGroup queued before
// it) left that transaction queued: the caller panicked out of InTx, yet
// a later group ran its function and committed it. It is withdrawn.
func TestSQLiteStorePanicWithdrawsTheTurnTakersTransaction(t *testing.T) {
	s := groupStore(t)
	ctx := t.Context()
	release := holdTurn(t, s)
	// maxTxGroup transactions queued ahead, whose callers do not compete
	// for the turn (so the next caller is the one that takes it).
	ahead := make([]*groupedTx, maxTxGroup)
	for i := range ahead {
		ahead[i] = &groupedTx{s: s, ctx: ctx, done: make(chan struct{}), fn: func(tx *Store) error {
			return tx.ExecSQL(ctx, "INSERT INTO g (n) VALUES (?)", 1000+i)
		}}
	}
	s.groups.mu.Lock()
	s.groups.pending = append(s.groups.pending, ahead...)
	s.groups.mu.Unlock()
	var faulted atomic.Bool
	s.groups.fault = func(int) {
		if faulted.CompareAndSwap(false, true) {
			panic("store fault")
		}
	}
	got := make(chan any, 1)
	go func() {
		defer func() { got <- recover() }()
		_ = s.InTx(ctx, func(tx *Store) error {
			return tx.ExecSQL(ctx, "INSERT INTO g (n) VALUES (77)")
		})
	}()
	waitQueued(t, s, maxTxGroup+1)
	release()
	p := <-got
	t.Logf("caller came back with panic %v; still queued: %d", p, s.groups.queued())
	assert.Equal(t, "store fault", p)
	// Any later transaction runs the queue.
	assert.NoError(t, s.InTx(ctx, func(tx *Store) error { return tx.ExecSQL(ctx, "INSERT INTO g (n) VALUES (78)") }))
	assert.Zero(t, countG(t, s, "n = 77"), "the transaction of a caller that got a panic ran and committed later")
}

// The same in a nested InTx (a savepoint): after the whole transaction
// was rolled back under it, its caller, which handled the nested error,
// kept writing, and those writes committed one by one although its InTx
// failed. The transaction is now lost: its later statements and its
// commit fail, and nothing of it stands.
func TestSQLiteNestedSavepointThatCannotRollBackFailsTheTransaction(t *testing.T) {
	s := groupStore(t)
	ctx := t.Context()
	err := s.InTx(ctx, func(tx *Store) error {
		if err := tx.ExecSQL(ctx, "INSERT INTO g (n) VALUES (1)"); err != nil {
			return err
		}
		nested := tx.InTx(ctx, func(sp *Store) error {
			return sp.ExecSQL(ctx, "INSERT OR ROLLBACK INTO g (n) VALUES (NULL)")
		})
		t.Logf("nested: %v", nested)
		return tx.ExecSQL(ctx, "INSERT INTO g (n) VALUES (2)") // carries on after a refused step
	})
	t.Logf("InTx: %v; rows n=1: %d, n=2: %d", err, countG(t, s, "n = 1"), countG(t, s, "n = 2"))
	assert.Error(t, err)
	assert.Zero(t, countG(t, s, "n = 1")+countG(t, s, "n = 2"), "a failed transaction left a write committed")
}

// A panic of the store's own inside the replay cache's batch (found by
// review): the batch took the writer turn and the queued callers' keys,
// and a panic skipped both the turn's release and their answers, so every
// SQLite writer of the process waited for good. The caller that ran the
// batch gets the panic, the other gets an error, and writes go on.
func TestSQLiteReplayBatchPanicReleasesTheTurn(t *testing.T) {
	s := groupStore(t)
	ctx := t.Context()
	require.NoError(t, s.ExecSQL(ctx, `CREATE TABLE replay_cache ("key" TEXT PRIMARY KEY, expires_at BIGINT NOT NULL)`))
	var faulted atomic.Bool
	s.replays.fault = func() {
		if faulted.CompareAndSwap(false, true) {
			panic("replay fault")
		}
	}
	release := holdTurn(t, s)
	type outcome struct {
		err      error
		panicked any
	}
	got := make(chan outcome, 2)
	for i := range 2 {
		go func() {
			var o outcome
			defer func() { o.panicked = recover(); got <- o }()
			_, o.err = s.RememberSignature(ctx, "replay-key-"+strconv.Itoa(i), time.Now().Add(time.Minute))
		}()
	}
	assert.Eventually(t, func() bool {
		s.replays.mu.Lock()
		defer s.replays.mu.Unlock()
		return len(s.replays.pending) == 2
	}, 10*time.Second, time.Millisecond)
	release()
	var panics, errs int
	for range 2 {
		select {
		case o := <-got:
			if o.panicked != nil {
				panics++
			} else if o.err != nil {
				errs++
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a caller of the panicked batch never got an answer")
		}
	}
	assert.Equal(t, 1, panics, "the caller that ran the batch gets the panic")
	assert.Equal(t, 1, errs, "the other caller gets an error")
	done := make(chan error, 1)
	go func() {
		fresh, err := s.RememberSignature(ctx, "replay-key-after", time.Now().Add(time.Minute))
		if err == nil && !fresh {
			err = errors.New("a new key was not fresh")
		}
		done <- err
	}()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the writer turn was never released")
	}
}
