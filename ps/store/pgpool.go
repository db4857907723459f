package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"gorm.io/gorm"

	"github.com/aauth-ps/aauth-ps/ps/telemetry"
)

// pgPool is gorm's connection pool on PostgreSQL. Outside transactions it
// is the *sql.DB; a transaction it begins keeps its connection and can
// send the writes whose outcome nothing in the transaction reads before
// its next statement (writeLater) in one round trip.
//
// Why: on PostgreSQL every statement is a round trip, and the socket
// writes alone were 16 % of the PS's CPU under load; a decision's record
// writes (evidence, token record, grant use, mission log) went one by one
// (docs/performance.md, finding 37).
type pgPool struct {
	*sql.DB
}

// BeginTx begins the transaction on a connection of its own, which the
// batches go through. BEGIN itself waits for the transaction's first
// statement and goes with it, in the same round trip, and COMMIT goes
// with the writes still queued (finding 58): PostgreSQL takes a
// transaction's snapshot at its first statement, not at BEGIN, so the
// transaction reads what it read before.
func (p pgPool) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	begin, err := beginText(opts)
	if err != nil {
		return nil, err
	}
	conn, err := p.Conn(ctx)
	if err != nil {
		return nil, err
	}
	return &pgTx{conn: conn, ctx: ctx, db: p.DB, begin: begin}, nil
}

// beginText is the BEGIN statement for opts, as pgx's own BeginTx writes
// it.
func beginText(opts *sql.TxOptions) (string, error) {
	if opts == nil {
		return "begin", nil
	}
	text := "begin"
	switch opts.Isolation {
	case sql.LevelDefault:
	case sql.LevelReadUncommitted:
		text += " isolation level read uncommitted"
	case sql.LevelReadCommitted:
		text += " isolation level read committed"
	case sql.LevelRepeatableRead, sql.LevelSnapshot:
		text += " isolation level repeatable read"
	case sql.LevelSerializable:
		text += " isolation level serializable"
	default:
		return "", fmt.Errorf("store: unsupported isolation level %v", opts.Isolation)
	}
	if opts.ReadOnly {
		text += " read only"
	}
	return text, nil
}

// GetDBConn lets gorm's DB() find the *sql.DB.
func (p pgPool) GetDBConn() (*sql.DB, error) { return p.DB, nil }

// pgTx is a PostgreSQL transaction holding writes queued by writeLater.
// Every statement it runs, and its commit, sends the queue first, in
// order: the transaction reads its own writes as if they had run at once,
// and a savepoint's rollback undoes those queued after it.
//
// It runs BEGIN, COMMIT and ROLLBACK itself, as statements on its
// connection, rather than through database/sql's Tx, so that they can
// travel in a batch. What database/sql's Tx would otherwise guarantee:
// a statement or commit under an ended context fails (pgx checks the
// context), the transaction then rolls back (gorm calls Rollback on every
// failure and panic), and a connection that is still in a transaction
// when it goes back to the pool is closed, not reused (pgx's
// ResetSession).
type pgTx struct {
	conn *sql.Conn
	ctx  context.Context // BeginTx's, for the batch the commit sends
	db   *sql.DB

	begin string // the BEGIN statement, sent with the first statement
	begun bool   // BEGIN has been sent (or tried)

	queued   []queuedWrite
	queueErr error // a flush QueryRowContext could not return
	// ahead holds statements to run before the transaction's next
	// statement, queued writes or not (the shared revocation lock, sent
	// with the revocation read that follows it: finding 57).
	ahead      []queuedWrite
	batches    int // batches sent (tests)
	roundTrips int // round trips made, BEGIN and COMMIT included (tests)
}

type queuedWrite struct {
	op   string // the store operation, for its error
	sql  string
	args []any
}

func (t *pgTx) later(op, query string, args []any) {
	t.queued = append(t.queued, queuedWrite{op: op, sql: query, args: args})
}

// pending reports whether statements wait to go before the next one: BEGIN
// or those ahead (the queue aside).
func (t *pgTx) pending() bool { return !t.begun || len(t.ahead) > 0 }

// take returns what must go before the next statement, in order: BEGIN if
// it has not been sent, the statements ahead, and the queued writes when
// withQueue; they are then no longer pending. Nothing (nil) is the common
// case: every statement of a transaction asks.
func (t *pgTx) take(withQueue bool) []queuedWrite {
	n := len(t.ahead)
	if !t.begun {
		n++
	}
	if withQueue {
		n += len(t.queued)
	}
	if n == 0 {
		return nil
	}
	q := make([]queuedWrite, 0, n+1) // +1: the commit's
	if !t.begun {
		t.begun = true
		q = append(q, queuedWrite{op: "begin transaction", sql: t.begin})
	}
	q = append(q, t.ahead...)
	t.ahead = nil
	if withQueue {
		q = append(q, t.queued...)
		t.queued = nil
	}
	return q
}

// flush sends what waits before the next statement, the queued writes
// included; see run.
func (t *pgTx) flush(ctx context.Context) error { return t.run(ctx, t.take(true)) }

// run sends q: one alone as a statement, more as one pgx batch on the
// transaction's connection. The first that fails is returned as its
// operation's error.
func (t *pgTx) run(ctx context.Context, q []queuedWrite) error {
	switch len(q) {
	case 0:
		return nil
	case 1:
		t.roundTrips++
		_, err := t.conn.ExecContext(ctx, q[0].sql, q[0].args...)
		return wrap(q[0].op, err)
	}
	return t.send(ctx, q, nil)
}

// batchRead is one query readBatch sends: its text and arguments as gorm
// built them for PostgreSQL, and what reads its rows.
type batchRead struct {
	op   string
	sql  string
	args []any
	scan func(pgx.Rows) error
}

// readBatch sends the queued writes, then the reads, in one round trip.
// PostgreSQL runs a batch's statements one after another, each with a
// snapshot of its own (READ COMMITTED), exactly as if they had been sent
// one by one: a row lock one of them takes is held before the next reads
// (LockSeenMission's lock and counters, finding 56).
func (t *pgTx) readBatch(ctx context.Context, reads ...batchRead) error {
	if t.queueErr != nil {
		return t.queueErr
	}
	return t.unsent(t.send(ctx, t.take(true), reads))
}

// readPastQueue is readBatch for reads no queued write can change
// (pastQueue): BEGIN and the statements ahead go with them, the queue
// stays.
func (t *pgTx) readPastQueue(ctx context.Context, reads ...batchRead) error {
	if t.queueErr != nil {
		return t.queueErr
	}
	return t.unsent(t.send(ctx, t.take(false), reads))
}

// send sends writes then reads as one pgx batch on the transaction's
// connection; the first that fails is returned as its operation's error.
func (t *pgTx) send(ctx context.Context, writes []queuedWrite, reads []batchRead) error {
	t.batches++
	t.roundTrips++
	texts := make([]string, 0, len(writes)+len(reads))
	for _, w := range writes {
		texts = append(texts, w.sql)
	}
	for _, r := range reads {
		texts = append(texts, r.sql)
	}
	ctx, span := telemetry.Start(ctx, "db.batch", semconv.DBSystemNamePostgreSQL, semconv.DBOperationBatchSize(len(texts)),
		semconv.DBQueryText(strings.Join(texts, ";\n")))
	err := t.conn.Raw(func(driverConn any) error {
		c, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("store: PostgreSQL connection of type %T", driverConn)
		}
		b := &pgx.Batch{}
		for _, w := range writes {
			b.Queue(w.sql, w.args...)
		}
		for _, r := range reads {
			b.Queue(r.sql, r.args...)
		}
		res := c.Conn().SendBatch(ctx, b)
		fail := func(op string, err error) error {
			_ = res.Close()
			return wrap(op, err)
		}
		for _, w := range writes {
			tag, err := res.Exec()
			if err == nil && w.op == commitOp && tag.String() == "ROLLBACK" {
				// COMMIT of a transaction a failed statement aborted:
				// PostgreSQL rolls it back and says so only in the tag.
				err = pgx.ErrTxCommitRollback
			}
			if err != nil {
				return fail(w.op, err)
			}
		}
		for _, r := range reads {
			rows, err := res.Query()
			if err != nil {
				return fail(r.op, err)
			}
			err = r.scan(rows)
			rows.Close()
			if err == nil {
				err = rows.Err()
			}
			if err != nil {
				return fail(r.op, err)
			}
		}
		return wrap("send queued writes", res.Close())
	})
	telemetry.End(span, err)
	return err
}

// before sends the queue ahead of a statement, unless the statement is
// marked to run past it (pastQueue): then BEGIN and the statements ahead
// go alone.
func (t *pgTx) before(ctx context.Context) error {
	if t.queueErr != nil {
		return t.queueErr
	}
	if ctx.Value(pastQueueKey{}) != nil {
		return t.unsent(t.run(ctx, t.take(false)))
	}
	return t.unsent(t.flush(ctx))
}

// unsent keeps err as the transaction's own when it did not come from
// PostgreSQL: what was taken to go (BEGIN, the statements ahead, queued
// writes) may never have reached the server, which then has nothing to
// abort. Every later statement and the commit fail with it: otherwise the
// transaction would commit without those writes, or, BEGIN lost, run its
// statements each on its own. An error from PostgreSQL has aborted the
// transaction there, and a savepoint's rollback may still recover it.
func (t *pgTx) unsent(err error) error {
	var pgErr *pgconn.PgError
	if err != nil && !errors.As(err, &pgErr) {
		t.queueErr = errors.Join(t.queueErr, err)
	}
	return err
}

func (t *pgTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if startsWith(query, "ROLLBACK") { // TO SAVEPOINT: pgTx ends itself with its own ROLLBACK
		// Every SAVEPOINT sends the queue first, so what is queued or
		// ahead now was queued inside the savepoint being rolled back to
		// (or one nested in it): it is undone without being sent. Sent, a
		// failing write of it would abort the transaction before the
		// rollback could run.
		t.queued, t.ahead = nil, nil
	}
	if err := t.before(ctx); err != nil {
		return nil, err
	}
	t.roundTrips++
	return t.conn.ExecContext(ctx, query, args...)
}

func (t *pgTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := t.before(ctx); err != nil {
		return nil, err
	}
	t.roundTrips++
	return t.conn.QueryContext(ctx, query, args...)
}

type pastQueueKey struct{}

// pastQueue marks a statement whose outcome no queued write can change
// (writeLater's callers write the token records, the mission log, the
// evidence and the grants' last use): it runs without sending the queue
// first, so that the issuance guard (the revocation lock and read) between
// a decision's evidence and its token record does not split their batch.
func pastQueue(ctx context.Context) context.Context {
	return context.WithValue(ctx, pastQueueKey{}, true)
}

// QueryRowContext cannot return flush's error as a *sql.Row; it runs the
// query after a failed flush on an aborted transaction, which fails it,
// and the commit reports the write's error (queueErr).
func (t *pgTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if err := t.before(ctx); err != nil && t.queueErr == nil {
		t.queueErr = err
	}
	t.roundTrips++
	return t.conn.QueryRowContext(ctx, query, args...)
}

func (t *pgTx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	if err := t.before(ctx); err != nil {
		return nil, err
	}
	return t.conn.PrepareContext(ctx, query)
}

// commitOp names the COMMIT in a batch, whose tag send checks.
const commitOp = "commit transaction"

// Commit sends what is queued and COMMIT in one round trip (a transaction
// that only wrote goes whole: BEGIN, its writes, COMMIT). A transaction
// that ran nothing has nothing to commit. The connection goes back to the
// pool either way.
func (t *pgTx) Commit() error {
	defer t.release()
	if t.queueErr != nil {
		t.rollback()
		return t.queueErr
	}
	if t.begun || len(t.queued) > 0 || len(t.ahead) > 0 {
		q := append(t.take(true), queuedWrite{op: commitOp, sql: "commit"})
		if err := t.send(t.ctx, q, nil); err != nil {
			t.rollback()
			return err
		}
	}
	return nil
}

// Rollback drops what is queued and rolls back what was sent.
func (t *pgTx) Rollback() error {
	defer t.release()
	t.ahead, t.queued = nil, nil
	return t.rollback()
}

// rollbackTimeout bounds a ROLLBACK on a connection that may be gone.
const rollbackTimeout = 10 * time.Second

// rollback ends the transaction on its connection, whatever the context
// of the request that began it: that context may be why it failed. If the
// ROLLBACK cannot be sent the connection is left in its transaction, and
// pgx's ResetSession closes it rather than hand it out again.
func (t *pgTx) rollback() error {
	if !t.begun {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), rollbackTimeout)
	defer cancel()
	t.roundTrips++
	_, err := t.conn.ExecContext(ctx, "rollback")
	return err
}

// release gives the connection back to the pool.
func (t *pgTx) release() {
	if f := observeTx.Load(); f != nil {
		(*f)(t.ctx, t.roundTrips)
	}
	_ = t.conn.Close()
}

// observeTx, when set (tests), is told the round trips of every
// transaction that ends, with the context it began with.
var observeTx atomic.Pointer[func(ctx context.Context, roundTrips int)]

// GetDBConn lets gorm's DB() find the *sql.DB inside a transaction.
func (t *pgTx) GetDBConn() (*sql.DB, error) { return t.db, nil }

// queueWrites is false only in the benchmark that measures the queue
// against the writes one by one.
var queueWrites = true

// writeLater runs the write build makes (Exec, Create, …) where nothing
// in the transaction needs its outcome before its next statement. In a
// PostgreSQL transaction it is queued and sent with the next statement or
// the commit, with the others queued meanwhile in one round trip; its
// error, then, is the transaction's. Elsewhere it runs at once.
func (s *Store) writeLater(ctx context.Context, op string, build func(*gorm.DB) *gorm.DB) error {
	t, ok := s.db.Statement.ConnPool.(*pgTx)
	if !ok || !queueWrites {
		return wrap(op, build(s.stmt(ctx)).Error)
	}
	st := build(s.db.Session(&gorm.Session{DryRun: true, NewDB: true, Context: ctx})).Statement
	if st.Error != nil {
		return wrap(op, st.Error)
	}
	t.later(op, st.SQL.String(), st.Vars)
	return nil
}
