package store

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"gorm.io/gorm"
)

// maxTxGroup bounds how many transactions share one SQLite commit: the
// first of a group waits for the others' work before its commit.
const maxTxGroup = 8

// txGroups runs concurrent SQLite transactions of one process as groups
// that share one commit (issue 12, docs/performance.md finding 42).
//
// Why: SQLite has one writer at a time, and each decision paid a BEGIN, a
// commit (the WAL's frame writes, locks, the WAL index) and a hand-off of
// the writer turn while the other requests queued for it: commits were
// 12 % of the PS's CPU under load. A group pays them once, and writes a
// page its members share (a table's last leaf, an index page) once.
//
// How, as replayBatch does for the replay cache: a caller queues its
// transaction, then either takes the writer turn and runs the queued
// transactions (its own among them, up to maxTxGroup) in one SQLite
// transaction, each inside a savepoint of its own, and commits; or finds
// its transaction run by the caller that took the turn. A transaction whose
// function fails or panics is rolled back to its savepoint, and the others
// commit; a failed commit fails every transaction of the group, and commits
// nothing. Each caller gets the answer it would alone and runs its own
// AfterCommit hooks, after the commit, on its own goroutine, with the turn
// released: a hook that writes (a wake-up recording its delivery, a
// follow-up transaction) queues like any other caller.
//
// A transaction in a group sees its predecessors' writes, and a read
// outside it does not until the group commits: the same as a PostgreSQL
// transaction that began before another committed and read after it, which
// every flow already meets on PostgreSQL, where transactions run side by
// side.
type txGroups struct {
	mu      sync.Mutex
	pending []*groupedTx
	// fault, when set (tests), runs before each member's savepoint: a
	// panic there is the store's own, not a member's.
	fault func(member int)
}

// groupedTx is one InTx call waiting in, or run by, a group.
type groupedTx struct {
	s   *Store // the caller's (its clock)
	ctx context.Context
	fn  func(tx *Store) error

	hooks    []func()
	fnErr    error // fn's, unchanged
	err      error // the group's: begin, savepoint or commit
	panicked bool
	panicVal any
	done     chan struct{}
}

// inGroup is InTx on SQLite outside a transaction.
func (s *Store) inGroup(ctx context.Context, fn func(tx *Store) error) error {
	t := &groupedTx{s: s, ctx: ctx, fn: fn, done: make(chan struct{})}
	g := s.groups
	g.mu.Lock()
	g.pending = append(g.pending, t)
	g.mu.Unlock()
	start := time.Now()
	for {
		select {
		case <-t.done: // run by another caller's turn, or by ours below
			return t.result()
		default:
		}
		select {
		case <-t.done:
			s.waits.groupWaited(time.Since(start))
			return t.result()
		case s.writer <- struct{}{}:
			s.groupTurnFor(t, start)
			start = time.Now() // not in the batch taken (maxTxGroup): queue again
		case <-ctx.Done():
			if g.withdraw(t) {
				return wrap("transaction", ctx.Err())
			}
			<-t.done // taken by a group already: its outcome stands
			return t.result()
		}
	}
}

// groupTurn runs the oldest pending transactions as a group, holding the
// writer turn taken after waiting since queued; the turn is released even
// if the group panics.
func (s *Store) groupTurn(queued time.Time) {
	got := time.Now()
	s.waits.writerWaited(got.Sub(queued))
	defer func() {
		s.waits.writerHeld(time.Since(got))
		<-s.writer
	}()
	if batch := s.groups.take(); len(batch) > 0 {
		s.runGroup(batch)
	}
}

// groupTurnFor is groupTurn taken by t's caller. If the group panics
// (the store's own fault; a member's panic goes back to its caller) and t
// was not in it, t is withdrawn before the panic reaches its caller: a
// caller that got a panic must not have its transaction committed later
// by another group.
func (s *Store) groupTurnFor(t *groupedTx, queued time.Time) {
	defer func() {
		if p := recover(); p != nil {
			s.groups.withdraw(t)
			panic(p)
		}
	}()
	s.groupTurn(queued)
}

// take removes the oldest pending transactions, at most maxTxGroup.
func (g *txGroups) take() []*groupedTx {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := min(len(g.pending), maxTxGroup)
	batch := make([]*groupedTx, n)
	copy(batch, g.pending)
	g.pending = append(g.pending[:0:0], g.pending[n:]...)
	return batch
}

// withdraw removes t if no group has taken it yet.
func (g *txGroups) withdraw(t *groupedTx) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, p := range g.pending {
		if p == t {
			g.pending = append(g.pending[:i:i], g.pending[i+1:]...)
			return true
		}
	}
	return false
}

// runGroup runs batch in one transaction, holding the writer turn. Every
// member's statements run with its caller's context values but never
// cancelled by it: an interrupted write rolls back SQLite's whole
// transaction, the other members' work with it.
func (s *Store) runGroup(batch []*groupedTx) {
	var gtx *gorm.DB // open until committed or rolled back
	defer func() {
		if gtx != nil { // a panic of the store's own, not a member's
			_ = gtx.Rollback()
			failAll(batch, wrap("transaction", errors.New("group ended by a panic")))
		}
		for _, t := range batch {
			close(t.done)
		}
	}()
	if len(batch) > 1 {
		s.waits.grouped(len(batch) - 1)
	}
	begun := s.db.WithContext(context.WithoutCancel(batch[0].ctx)).Begin()
	if begun.Error != nil {
		failAll(batch, wrap("transaction", begun.Error))
		return
	}
	gtx = begun
	abandon := func(err error) {
		// The transaction is in no known state: none of it stands.
		_ = gtx.Rollback()
		gtx = nil
		failAll(batch, wrap("transaction", err))
	}
	for i, t := range batch {
		if s.groups.fault != nil {
			s.groups.fault(i)
		}
		savepoint := "aauth_group_" + strconv.Itoa(i)
		if err := gtx.SavePoint(savepoint).Error; err != nil {
			abandon(err)
			return
		}
		t.run(gtx)
		if t.fnErr != nil || t.panicked {
			if err := gtx.RollbackTo(savepoint).Error; err != nil {
				abandon(err)
				return
			}
			continue
		}
		// Released only if the transaction still stands: a member that
		// met an error which ended SQLite's whole transaction, and went on,
		// would otherwise leave the group to commit what is left as if
		// nothing had happened.
		if err := gtx.Exec("RELEASE SAVEPOINT " + savepoint).Error; err != nil {
			abandon(err)
			return
		}
	}
	err := gtx.Commit().Error
	gtx = nil
	if err != nil {
		failAll(batch, wrap("transaction", err))
	}
}

// run calls t's function on gtx, recovering a panic for its caller.
func (t *groupedTx) run(gtx *gorm.DB) {
	defer func() {
		if p := recover(); p != nil {
			t.panicked, t.panicVal = true, p
		}
	}()
	t.fnErr = t.fn(t.s.boundTo(gtx.WithContext(context.WithoutCancel(t.ctx)), &t.hooks, new(heldMissions)))
}

// failAll gives err to every member whose function did not fail itself:
// their writes are not committed.
func failAll(batch []*groupedTx, err error) {
	for _, t := range batch {
		t.hooks = nil
		if t.fnErr == nil && !t.panicked {
			t.err = err
		}
	}
}

// result is what InTx returns to t's caller, on its own goroutine: fn's
// panic again, fn's error, the group's error, or nil after running t's
// hooks.
func (t *groupedTx) result() error {
	switch {
	case t.panicked:
		panic(t.panicVal)
	case t.fnErr != nil:
		return t.fnErr
	case t.err != nil:
		return t.err
	}
	for _, f := range t.hooks {
		f()
	}
	return nil
}
