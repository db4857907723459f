package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"
)

// countingDriver wraps the SQLite driver and counts the statements it
// prepares. Its connections offer no Queryer or Execer, so database/sql
// prepares every statement it runs through them: the count is every parse.
type countingDriver struct {
	inner    driver.Driver
	prepares atomic.Int64
	live     atomic.Int64 // statements prepared and not yet closed
}

func (d *countingDriver) Open(name string) (driver.Conn, error) {
	c, err := d.inner.Open(name)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, d: d}, nil
}

type countingConn struct {
	driver.Conn
	d *countingDriver
}

func (c *countingConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *countingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	c.d.prepares.Add(1)
	st, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.d.live.Add(1)
	return &countedStmt{Stmt: st, d: c.d}, nil
}

// countedStmt counts its close in the driver's live statements.
type countedStmt struct {
	driver.Stmt
	d      *countingDriver
	closed bool
}

func (s *countedStmt) Close() error {
	if !s.closed {
		s.closed = true
		s.d.live.Add(-1)
	}
	return s.Stmt.Close()
}

func (s *countedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (s *countedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
}

func (c *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

// countedPool opens a one-connection SQLite database through the counting
// driver, with table t(n), and returns a stmtPool on it.
func countedPool(t *testing.T) (*stmtPool, *countingDriver) {
	t.Helper()
	return countedPoolOf(t, 1)
}

// countedPoolOf is countedPool with conns connections.
func countedPoolOf(t *testing.T, conns int) (*stmtPool, *countingDriver) {
	t.Helper()
	d := &countingDriver{}
	name := fmt.Sprintf("sqlite-counting-%p", d)
	probe, err := sql.Open("sqlite", ":memory:")
	require.NoError(t, err)
	d.inner = probe.Driver()
	require.NoError(t, probe.Close())
	sql.Register(name, d)

	db, err := sql.Open(name, filepath.Join(t.TempDir(), "pool.db"))
	require.NoError(t, err)
	db.SetMaxOpenConns(conns)
	t.Cleanup(func() { _ = db.Close() })
	_, err = db.Exec("CREATE TABLE t (n INTEGER NOT NULL)")
	require.NoError(t, err)
	p := newStmtPool(db)
	t.Cleanup(p.close)
	d.prepares.Store(0)
	return p, d
}

// Issue 12 (finding 35): once a text has run, running it again, in or out
// of a transaction, parses nothing. A transaction holding the only
// connection still runs a text it meets first (the pool prepares it later).
func TestStmtPoolParsesEachTextOnce(t *testing.T) {
	p, d := countedPool(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	const insert, count = "INSERT INTO t (n) VALUES (?)", "SELECT count(*) FROM t WHERE n >= ?"

	round := func(i int) {
		_, err := p.ExecContext(ctx, insert, i)
		require.NoError(t, err)
		tx, err := p.BeginTx(ctx, nil)
		require.NoError(t, err)
		_, err = tx.ExecContext(ctx, insert, 100+i)
		require.NoError(t, err)
		var n int
		require.NoError(t, tx.QueryRowContext(ctx, count, 100).Scan(&n))
		assert.Equal(t, i+1, n)
		rows, err := tx.QueryContext(ctx, count, 0)
		require.NoError(t, err)
		require.NoError(t, rows.Close())
		require.NoError(t, tx.(driver.Tx).Commit())
	}
	round(0) // the count text is met first inside the transaction
	require.Eventually(t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.order.Len() == 2
	}, 10*time.Second, 10*time.Millisecond, "the pool prepares the transaction's text beside it")

	d.prepares.Store(0)
	for i := 1; i < 10; i++ {
		round(i)
	}
	var n int
	require.NoError(t, p.QueryRowContext(ctx, count, 100).Scan(&n))
	assert.Equal(t, 10, n)
	assert.Zero(t, d.prepares.Load(), "statements already prepared were parsed again")
}

// A transaction reads its own writes through kept statements, and a
// rollback undoes them.
func TestStmtPoolTransactionSeesItsWritesAndRollsBack(t *testing.T) {
	p, _ := countedPool(t)
	ctx := t.Context()
	tx, err := p.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, "INSERT INTO t (n) VALUES (?)", 7)
	require.NoError(t, err)
	var n int
	require.NoError(t, tx.QueryRowContext(ctx, "SELECT count(*) FROM t WHERE n = ?", 7).Scan(&n))
	assert.Equal(t, 1, n)
	require.NoError(t, tx.(driver.Tx).Rollback())
	require.NoError(t, p.QueryRowContext(ctx, "SELECT count(*) FROM t WHERE n = ?", 7).Scan(&n))
	assert.Equal(t, 0, n)
}

// The pool is bounded; a statement evicted while its rows are open still
// finishes them.
func TestStmtPoolIsBounded(t *testing.T) {
	p, _ := countedPool(t)
	ctx := t.Context()
	_, err := p.ExecContext(ctx, "INSERT INTO t (n) VALUES (1), (2), (3)")
	require.NoError(t, err)

	rows, err := p.QueryContext(ctx, "SELECT n FROM t ORDER BY n")
	require.NoError(t, err)
	// The one connection is busy with rows: prepare the rest on a second.
	p.db.SetMaxOpenConns(2)
	for i := range stmtPoolSize + 10 {
		var n int
		require.NoError(t, p.QueryRowContext(ctx, fmt.Sprintf("SELECT %d + count(*) FROM t", i)).Scan(&n))
		assert.Equal(t, i+3, n)
	}
	assert.Equal(t, stmtPoolSize, p.order.Len())
	assert.Len(t, p.bySQL, stmtPoolSize)
	_, kept := p.bySQL["SELECT n FROM t ORDER BY n"]
	assert.False(t, kept, "the oldest text was evicted")

	var got []int
	for rows.Next() {
		var n int
		require.NoError(t, rows.Scan(&n))
		got = append(got, n)
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	assert.Equal(t, []int{1, 2, 3}, got)
}

// Savepoints, pragmas and DDL are not kept; a statement that does not
// prepare reports its own error.
func TestStmtPoolKeepsDataStatementsOnly(t *testing.T) {
	p, _ := countedPool(t)
	ctx := t.Context()
	tx, err := p.BeginTx(ctx, nil)
	require.NoError(t, err)
	for _, q := range []string{"SAVEPOINT sp1", "RELEASE SAVEPOINT sp1", "PRAGMA foreign_keys", "CREATE TABLE u (x)"} {
		_, err := tx.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	require.NoError(t, tx.(driver.Tx).Commit())
	assert.Equal(t, 0, p.order.Len())

	_, err = p.ExecContext(ctx, "DELETE FROM missing WHERE x = ?", 1)
	require.ErrorContains(t, err, "no such table: missing")
	var n int
	require.ErrorContains(t, p.QueryRowContext(ctx, "SELECT x FROM missing").Scan(&n), "no such table: missing")
	assert.Equal(t, 0, p.order.Len())

	for _, q := range []string{"select 1", "  (SELECT 1)", "WITH a AS (SELECT 1) SELECT * FROM a", "update t set n = 1"} {
		assert.True(t, cacheable(q), q)
	}
	for _, q := range []string{"", "SAVEPOINT x", "BEGIN", "PRAGMA wal_checkpoint(TRUNCATE)", "VACUUM"} {
		assert.False(t, cacheable(q), q)
	}
}

// Statements evicted while other goroutines take, run and give them back,
// in and out of transactions, never fail a caller ("statement is closed"):
// an evicted statement closes after its last user.
func TestStmtPoolEvictionUnderConcurrentUse(t *testing.T) {
	p, _ := countedPool(t)
	p.db.SetMaxOpenConns(4)
	p.size = 3 // statements are evicted while others still use them
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	_, err := p.ExecContext(ctx, "INSERT INTO t (n) VALUES (1)")
	require.NoError(t, err)

	const workers, rounds = 6, 120
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			errs <- func() error {
				for i := range rounds {
					// More distinct texts than the pool keeps, so
					// eviction runs all the time.
					q := fmt.Sprintf("SELECT %d + count(*) FROM t", (w+i)%5)
					var n int
					if i%3 == 0 {
						tx, err := p.BeginTx(ctx, nil)
						if err != nil {
							return err
						}
						if err := tx.QueryRowContext(ctx, q).Scan(&n); err != nil {
							_ = tx.(driver.Tx).Rollback()
							return err
						}
						if err := tx.(driver.Tx).Commit(); err != nil {
							return err
						}
						continue
					}
					rows, err := p.QueryContext(ctx, q)
					if err != nil {
						return err
					}
					for rows.Next() {
						if err := rows.Scan(&n); err != nil {
							_ = rows.Close()
							return err
						}
					}
					if err := rows.Close(); err != nil {
						return err
					}
				}
				return nil
			}()
		}()
	}
	for range workers {
		require.NoError(t, <-errs)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	assert.LessOrEqual(t, p.order.Len(), p.size)
}

// An Open that fails on SQLite stops the statement pool's loop and closes
// its connections: nothing keeps running.
func TestOpenSQLiteFailureLeavesNothingRunning(t *testing.T) {
	dir := t.TempDir() // a directory is no database file
	ctx := t.Context()
	before := runtime.NumGoroutine()
	for range 5 {
		_, err := Open(ctx, "sqlite:"+dir, nil)
		require.Error(t, err)
	}
	// Polled here, not with require.Eventually, whose own goroutines count.
	after := runtime.NumGoroutine()
	for deadline := time.Now().Add(5 * time.Second); after > before && time.Now().Before(deadline); after = runtime.NumGoroutine() {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, after, before, "goroutines still running after the failed Opens")
}

// Issue 12 (finding 41): on SQLite every transaction runs on one kept
// connection, whose page cache then stays valid from one transaction to
// the next; statements outside transactions never run on it. A TEMP table
// is private to the connection that made it, so it shows which one ran.
func TestSQLiteTransactionsRunOnTheWriterConnection(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "ps.db")
	s, err := Open(ctx, "sqlite:"+path, nil)
	require.NoError(t, err)
	require.NoError(t, s.InTx(ctx, func(tx *Store) error {
		return tx.ExecSQL(ctx, "CREATE TEMP TABLE writer_probe (x INTEGER)")
	}))
	for range 3 {
		require.NoError(t, s.InTx(ctx, func(tx *Store) error {
			return tx.ExecSQL(ctx, "INSERT INTO temp.writer_probe (x) VALUES (1)")
		}), "a later transaction ran on another connection")
	}
	var n int
	require.NoError(t, s.InTx(ctx, func(tx *Store) error {
		return tx.QuerySQL(ctx, &n, "SELECT count(*) FROM temp.writer_probe")
	}))
	assert.Equal(t, 3, n)
	for range 4 { // more than one pooled connection would be tried
		err := s.QuerySQL(ctx, &n, "SELECT count(*) FROM temp.writer_probe")
		var se *Error
		require.ErrorAs(t, err, &se, "a statement outside a transaction ran on the writer connection")
		assert.ErrorContains(t, se.Err, "no such table")
	}

	// Closing gives the writer connection back: the last connection to
	// close checkpoints the WAL into the database and removes it.
	require.NoError(t, s.ExecSQL(ctx, "CREATE TABLE kept (x INTEGER)"))
	require.NoError(t, s.InTx(ctx, func(tx *Store) error { return tx.ExecSQL(ctx, "INSERT INTO kept (x) VALUES (7)") }))
	require.NoError(t, s.Close())
	_, err = os.Stat(path + "-wal")
	assert.True(t, os.IsNotExist(err), "the WAL is still there after Close: a connection stayed open (%v)", err)
	s, err = Open(ctx, "sqlite:"+path, nil)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.QuerySQL(ctx, &n, "SELECT x FROM kept"))
	assert.Equal(t, 7, n)
}

// A transaction that finds the writer connection busy (none should: the
// writer turn comes first) begins on the pool instead of waiting for it,
// and a writer connection that has gone is replaced.
func TestStmtPoolWriterBusyOrGone(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "pool.db"))
	require.NoError(t, err)
	db.SetMaxOpenConns(3)
	t.Cleanup(func() { _ = db.Close() })
	p := newStmtPool(db)
	p.pinWriter()
	t.Cleanup(p.close)
	probe := func(tx gorm.ConnPool) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO temp.writer_probe (x) VALUES (1)")
		return err
	}

	first, err := p.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = first.ExecContext(ctx, "CREATE TEMP TABLE writer_probe (x INTEGER)")
	require.NoError(t, err)
	second, err := p.BeginTx(ctx, nil) // deferred: both may be open at once
	require.NoError(t, err)
	assert.Error(t, probe(second), "the second transaction shared the busy writer connection")
	require.NoError(t, second.(driver.Tx).Rollback())
	require.NoError(t, first.(driver.Tx).Commit())
	// gorm rolls back after a failed commit; that frees nothing twice.
	require.ErrorIs(t, first.(driver.Tx).Rollback(), sql.ErrTxDone)

	again, err := p.BeginTx(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, probe(again), "the writer connection was not kept")
	require.NoError(t, again.(driver.Tx).Commit())

	// The driver reports the connection bad: database/sql closes it.
	require.ErrorIs(t, p.writer.Raw(func(any) error { return driver.ErrBadConn }), driver.ErrBadConn)
	replaced, err := p.BeginTx(ctx, nil)
	require.NoError(t, err)
	assert.Error(t, probe(replaced), "the TEMP table of a closed connection survived")
	require.NoError(t, replaced.(driver.Tx).Commit())
}
