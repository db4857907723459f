package store

import (
	"container/list"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	"gorm.io/gorm"
)

// stmtPoolSize bounds how many SQL texts keep a prepared statement. The PS
// runs about a hundred distinct texts; one beyond the bound (an IN list of
// a new length, say) evicts the least recently used.
const stmtPoolSize = 256

// stmtPool is gorm's connection pool on SQLite: each SQL text is prepared
// once per connection and kept, in and out of transactions.
//
// Why not gorm's PrepareStmt: a statement it first meets inside a
// transaction is prepared on that transaction, closed when it ends, and
// prepared again the next time, so the statements of a decision (all of
// them in InTx) were parsed on every request (docs/performance.md,
// finding 35). Here every statement is prepared on the pool; a transaction
// binds it with Tx.StmtContext, which database/sql serves from the
// connection's own prepared copy.
type stmtPool struct {
	db   *sql.DB
	size int // texts kept: stmtPoolSize (tests shrink it)

	mu    sync.Mutex
	order *list.List // of *pooledStmt, most recently used first
	bySQL map[string]*list.Element

	// wanted takes the texts a transaction met first: it cannot prepare
	// them on the pool itself (that needs a second connection while it
	// holds one, and the pool may have none to give), so prepareLoop
	// does, holding nothing until it gets a connection.
	wanted  chan string
	stop    context.CancelFunc
	stopped chan struct{}

	// writer is the connection transactions run on, kept out of the
	// pool (pinWriter). SQLite drops a connection's whole page cache
	// when it begins a read and finds the database changed by another
	// connection; with every transaction on the one connection that made
	// the last change, its cache stays warm, and a decision reads its
	// B-tree pages from memory instead of the file (docs/performance.md,
	// finding 41). writerMu is held from BeginTx to Commit or Rollback: a
	// transaction that finds it held (none should: InTx's writer turn
	// comes first) begins on the pool instead.
	pin      bool
	writerMu sync.Mutex
	writer   *sql.Conn
	// evictions counts statements evicted (under mu); writerEvictions is
	// the count when the writer connection was last given back (under
	// writerMu). A statement a transaction bound on the writer is
	// prepared on that connection too, and database/sql closes that copy
	// only when the connection goes back to the pool, which a kept one
	// never does: the writer is given back after a transaction when
	// statements were evicted since (found by review: one driver
	// statement leaked per eviction, for the life of the process).
	evictions, writerEvictions int

	// turn, when set (SQLite), takes the process's writer turn for a
	// write outside a transaction (Store.writeTurn), as InTx's
	// transactions take it.
	turn func(ctx context.Context) (release func(), err error)
}

type pooledStmt struct {
	query string
	stmt  *sql.Stmt
	// users counts the calls between take and give; an evicted statement
	// is closed by the last of them, never under a caller about to run it.
	users   int
	evicted bool
}

func newStmtPool(db *sql.DB) *stmtPool {
	ctx, stop := context.WithCancel(context.Background())
	p := &stmtPool{db: db, size: stmtPoolSize, order: list.New(), bySQL: make(map[string]*list.Element),
		wanted: make(chan string, 64), stop: stop, stopped: make(chan struct{})}
	go p.prepareLoop(ctx)
	return p
}

// prepareLoop prepares the texts transactions asked for.
func (p *stmtPool) prepareLoop(ctx context.Context) {
	defer close(p.stopped)
	for {
		select {
		case <-ctx.Done():
			return
		case q := <-p.wanted:
			// Kept already, or prepared now. An error is the
			// statement's own: the transaction that ran it plainly
			// has reported it.
			if ps := p.forPool(ctx, q); ps != nil {
				p.give(ps)
			}
		}
	}
}

// cacheable reports whether query is worth keeping: data statements only.
// Savepoint names, pragmas and the like run as they are.
func cacheable(query string) bool {
	return startsWith(query, "SELECT", "INSERT", "UPDATE", "DELETE", "WITH")
}

// startsWith reports whether query's first word (past blanks and opening
// parentheses) is one of words, in any case.
func startsWith(query string, words ...string) bool {
	q := strings.TrimLeft(query, " \t\r\n(")
	if i := strings.IndexAny(q, " \t\r\n("); i >= 0 {
		q = q[:i]
	}
	for _, w := range words {
		if strings.EqualFold(q, w) {
			return true
		}
	}
	return false
}

// take returns query's kept statement for one use (give it back), or nil.
func (p *stmtPool) take(query string) *pooledStmt {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.useLocked(query)
}

// useLocked is take with p.mu held.
func (p *stmtPool) useLocked(query string) *pooledStmt {
	el, ok := p.bySQL[query]
	if !ok {
		return nil
	}
	p.order.MoveToFront(el)
	ps := el.Value.(*pooledStmt)
	ps.users++
	return ps
}

// give ends a use begun by take or prepare.
func (p *stmtPool) give(ps *pooledStmt) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ps.users--
	if ps.evicted && ps.users == 0 {
		// Rows still open keep it alive: database/sql finalises it
		// once the last of them closes.
		_ = ps.stmt.Close()
	}
}

// prepare prepares query on the pool and keeps it, for one use (give it
// back). Two first uses may both prepare; the second keeps the first's.
func (p *stmtPool) prepare(ctx context.Context, query string) (*pooledStmt, error) {
	// Outside the lock: preparing waits for a connection.
	s, err := p.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if ps := p.useLocked(query); ps != nil {
		_ = s.Close()
		return ps, nil
	}
	ps := &pooledStmt{query: query, stmt: s, users: 1}
	p.bySQL[query] = p.order.PushFront(ps)
	for p.order.Len() > p.size {
		old := p.order.Remove(p.order.Back()).(*pooledStmt)
		delete(p.bySQL, old.query)
		old.evicted = true
		p.evictions++
		if old.users == 0 {
			_ = old.stmt.Close()
		}
	}
	return ps, nil
}

// forPool returns query's statement for a caller holding no connection,
// preparing it on first use; nil (run it plainly) when it is not kept or
// does not prepare, so the plain run reports the statement's own error.
func (p *stmtPool) forPool(ctx context.Context, query string) *pooledStmt {
	if !cacheable(query) {
		return nil
	}
	if ps := p.take(query); ps != nil {
		return ps
	}
	ps, err := p.prepare(ctx, query)
	if err != nil {
		return nil
	}
	return ps
}

// forTx returns query's kept statement for a transaction, or nil: the
// transaction then runs it plainly and prepareLoop prepares it beside.
func (p *stmtPool) forTx(query string) *pooledStmt {
	if !cacheable(query) {
		return nil
	}
	if ps := p.take(query); ps != nil {
		return ps
	}
	select {
	case p.wanted <- query:
	default: // the loop is behind; a later use asks again
	}
	return nil
}

// close stops the loop and closes every kept statement (before the pool's
// *sql.DB closes).
func (p *stmtPool) close() {
	p.stop()
	<-p.stopped
	p.writerMu.Lock() // a transaction still open ends first
	if p.writer != nil {
		_ = p.writer.Close() // back to the pool, which closes it
		p.writer = nil
	}
	p.writerMu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	for el := p.order.Front(); el != nil; el = el.Next() {
		_ = el.Value.(*pooledStmt).stmt.Close()
	}
	p.order.Init()
	clear(p.bySQL)
}

func (p *stmtPool) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return p.db.PrepareContext(ctx, query)
}

// errWriteReturningRows refuses a write that returns rows outside a
// transaction without the writer turn (queueWriter): the pool cannot hold
// the turn until its caller has read the rows.
var errWriteReturningRows = errors.New("store: a write that returns rows outside a transaction must hold the writer turn (queueWriter)")

// writes reports whether query changes rows, by its first keyword; a
// statement of a WITH clause is taken as a read (the store writes with
// none).
func writes(query string) bool { return startsWith(query, "INSERT", "UPDATE", "DELETE", "REPLACE") }

func (p *stmtPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if p.turn != nil && writes(query) {
		release, err := p.turn(ctx)
		if err != nil {
			return nil, err
		}
		defer release()
	}
	if ps := p.forPool(ctx, query); ps != nil {
		defer p.give(ps)
		return ps.stmt.ExecContext(ctx, args...)
	}
	return p.db.ExecContext(ctx, query, args...)
}

func (p *stmtPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if p.turn != nil && writes(query) && ctx.Value(writerTurnHeld{}) == nil {
		return nil, errWriteReturningRows
	}
	if ps := p.forPool(ctx, query); ps != nil {
		defer p.give(ps)
		return ps.stmt.QueryContext(ctx, args...)
	}
	return p.db.QueryContext(ctx, query, args...)
}

func (p *stmtPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if ps := p.forPool(ctx, query); ps != nil {
		defer p.give(ps)
		return ps.stmt.QueryRowContext(ctx, args...)
	}
	return p.db.QueryRowContext(ctx, query, args...)
}

// pinWriter makes transactions run on one connection kept for them (see
// writer). Only for a pool of more than one connection: the kept one is
// never free for statements outside transactions.
func (p *stmtPool) pinWriter() { p.pin = true }

// BeginTx makes gorm's transactions use the kept statements too, on the
// writer connection when it is free.
func (p *stmtPool) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	if p.pin && p.writerMu.TryLock() {
		tx, err := p.beginOnWriter(ctx, opts)
		if err != nil {
			p.writerMu.Unlock()
			return nil, err
		}
		return &stmtTx{Tx: tx, pool: p, unpin: p.writerMu.Unlock}, nil
	}
	tx, err := p.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &stmtTx{Tx: tx, pool: p}, nil
}

// beginOnWriter begins on the writer connection, taking one from the pool
// first (or again, if the one kept has gone bad). p.writerMu is held.
func (p *stmtPool) beginOnWriter(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error) {
	if p.writer != nil {
		tx, err := p.writer.BeginTx(ctx, opts)
		if !errors.Is(err, sql.ErrConnDone) {
			return tx, err
		}
		_ = p.writer.Close()
		p.writer = nil
	}
	conn, err := p.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	p.writer = conn
	return conn.BeginTx(ctx, opts)
}

// GetDBConn lets gorm's DB() find the *sql.DB.
func (p *stmtPool) GetDBConn() (*sql.DB, error) { return p.db, nil }

// stmtTx is a transaction running the pool's statements on its connection.
type stmtTx struct {
	*sql.Tx
	pool *stmtPool
	// unpin frees the writer connection (nil for a transaction on the
	// pool); once, though gorm may roll back after a failed commit.
	unpin func()
	// lost is why SQLite may have ended the transaction under it (see
	// endsTransaction): every later statement and the commit fail with
	// it, since after such an error each statement would run, and
	// commit, on its own.
	lost error
}

// endsTransaction reports whether a statement's err may have ended
// SQLite's whole transaction, not only the statement: a full disk, an I/O
// error, memory exhausted (SQLite's "may or may not be rolled back
// automatically"), or a savepoint statement that failed, which leaves the
// transaction in no known state.
func endsTransaction(query string, err error) bool {
	var lite interface{ Code() int }
	if errors.As(err, &lite) {
		switch lite.Code() & 0xff {
		case 7, 10, 13: // SQLITE_NOMEM, SQLITE_IOERR, SQLITE_FULL
			return true
		}
	}
	return startsWith(query, "SAVEPOINT", "ROLLBACK", "RELEASE") // in a transaction, ROLLBACK runs as TO a savepoint
}

// failed records err of query's statement as lost when it may have ended
// the transaction.
func (t *stmtTx) failed(query string, err error) error {
	if err != nil && t.lost == nil && endsTransaction(query, err) {
		t.lost = fmt.Errorf("store: the SQLite transaction may have ended: %w", err)
	}
	return err
}

// Commit commits. (A COMMIT that SQLite refuses leaves its transaction
// open; the driver rolls it back, so the kept connection is usable after:
// TestSQLiteGroupCommitFailureFailsEveryMember.) A lost transaction is
// rolled back and its error returned.
func (t *stmtTx) Commit() error {
	defer t.release()
	if t.lost != nil {
		_ = t.Tx.Rollback()
		return t.lost
	}
	return t.Tx.Commit()
}

func (t *stmtTx) Rollback() error {
	defer t.release()
	return t.Tx.Rollback()
}

func (t *stmtTx) release() {
	if t.unpin != nil {
		t.pool.giveBackStaleWriter()
		t.unpin()
		t.unpin = nil
	}
}

// giveBackStaleWriter gives the writer connection back to the pool if
// statements were evicted since it last was, so that database/sql closes
// their copies on it; the next transaction takes a connection again
// (database/sql hands back the one freed last). p.writerMu is held.
func (p *stmtPool) giveBackStaleWriter() {
	p.mu.Lock()
	n := p.evictions
	p.mu.Unlock()
	if n != p.writerEvictions && p.writer != nil {
		_ = p.writer.Close()
		p.writer = nil
	}
	p.writerEvictions = n
}

// A transaction's statements run to their end whatever their caller's
// context: SQLite answers a write interrupted inside a transaction by
// rolling back the whole transaction, after which further statements would
// each commit on their own, and in a commit group (txgroup.go) the
// transaction holds other callers' work too.
func uncancelled(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

func (t *stmtTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if t.lost != nil {
		return nil, t.lost
	}
	ctx = uncancelled(ctx)
	if ps := t.pool.forTx(query); ps != nil {
		defer t.pool.give(ps)
		res, err := t.Tx.StmtContext(ctx, ps.stmt).ExecContext(ctx, args...)
		return res, t.failed(query, err)
	}
	res, err := t.Tx.ExecContext(ctx, query, args...)
	return res, t.failed(query, err)
}

// QueryContext's rows run their statement as they are read: an error
// there that ends the transaction is caught when the savepoint around the
// work is released or rolled back to (txgroup.go, InTx), which fails then.
func (t *stmtTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if t.lost != nil {
		return nil, t.lost
	}
	ctx = uncancelled(ctx)
	if ps := t.pool.forTx(query); ps != nil {
		defer t.pool.give(ps)
		rows, err := t.Tx.StmtContext(ctx, ps.stmt).QueryContext(ctx, args...)
		return rows, t.failed(query, err)
	}
	rows, err := t.Tx.QueryContext(ctx, query, args...)
	return rows, t.failed(query, err)
}

func (t *stmtTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = uncancelled(ctx)
	if ps := t.pool.forTx(query); ps != nil {
		defer t.pool.give(ps)
		return t.Tx.StmtContext(ctx, ps.stmt).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}

// GetDBConn lets gorm's DB() find the *sql.DB inside a transaction.
func (t *stmtTx) GetDBConn() (*sql.DB, error) { return t.pool.db, nil }
