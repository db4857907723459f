package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
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
// batches go through.
func (p pgPool) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	conn, err := p.Conn(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := conn.BeginTx(ctx, opts)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return &pgTx{Tx: tx, conn: conn, ctx: ctx, db: p.DB}, nil
}

// GetDBConn lets gorm's DB() find the *sql.DB.
func (p pgPool) GetDBConn() (*sql.DB, error) { return p.DB, nil }

// pgTx is a PostgreSQL transaction holding writes queued by writeLater.
// Every statement it runs, and its commit, sends the queue first, in
// order: the transaction reads its own writes as if they had run at once,
// and a savepoint's rollback undoes those queued after it.
type pgTx struct {
	*sql.Tx
	conn *sql.Conn
	ctx  context.Context // BeginTx's, for the batch the commit sends
	db   *sql.DB

	queued   []queuedWrite
	queueErr error // a flush QueryRowContext could not return
	// ahead holds statements to run before the transaction's next
	// statement, queued writes or not (the shared revocation lock, sent
	// with the revocation read that follows it: finding 57).
	ahead   []queuedWrite
	batches int // batches sent (tests)
}

type queuedWrite struct {
	op   string // the store operation, for its error
	sql  string
	args []any
}

func (t *pgTx) later(op, query string, args []any) {
	t.queued = append(t.queued, queuedWrite{op: op, sql: query, args: args})
}

// flush sends the queued writes: one alone as a statement, more as one
// pgx batch on the transaction's connection. The first that fails is
// returned as its operation's error.
func (t *pgTx) flush(ctx context.Context) error {
	q := append(t.ahead, t.queued...)
	t.ahead, t.queued = nil, nil
	switch len(q) {
	case 0:
		return nil
	case 1:
		_, err := t.Tx.ExecContext(ctx, q[0].sql, q[0].args...)
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
	q := append(t.ahead, t.queued...)
	t.ahead, t.queued = nil, nil
	return t.send(ctx, q, reads)
}

// readPastQueue is readBatch for reads no queued write can change
// (pastQueue): the statements ahead go with them, the queue stays.
func (t *pgTx) readPastQueue(ctx context.Context, reads ...batchRead) error {
	q := t.ahead
	t.ahead = nil
	return t.send(ctx, q, reads)
}

// send sends writes then reads as one pgx batch on the transaction's
// connection; the first that fails is returned as its operation's error.
func (t *pgTx) send(ctx context.Context, writes []queuedWrite, reads []batchRead) error {
	t.batches++
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
			if _, err := res.Exec(); err != nil {
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
// marked to run past it (pastQueue).
func (t *pgTx) before(ctx context.Context) error {
	if ctx.Value(pastQueueKey{}) != nil {
		q := t.ahead
		t.ahead = nil
		for _, w := range q {
			if _, err := t.Tx.ExecContext(ctx, w.sql, w.args...); err != nil {
				return wrap(w.op, err)
			}
		}
		return nil
	}
	return t.flush(ctx)
}

func (t *pgTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := t.before(ctx); err != nil {
		return nil, err
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

func (t *pgTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := t.before(ctx); err != nil {
		return nil, err
	}
	return t.Tx.QueryContext(ctx, query, args...)
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
	if err := t.before(ctx); err != nil {
		t.queueErr = errors.Join(t.queueErr, err)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}

func (t *pgTx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	if err := t.before(ctx); err != nil {
		return nil, err
	}
	return t.Tx.PrepareContext(ctx, query)
}

// Commit sends what is queued, then commits; the connection goes back to
// the pool either way.
func (t *pgTx) Commit() error {
	defer t.conn.Close()
	err := t.flush(t.ctx)
	if err == nil {
		err = t.queueErr
	}
	if err != nil {
		_ = t.Tx.Rollback()
		return err
	}
	return t.Tx.Commit()
}

// Rollback drops what is queued.
func (t *pgTx) Rollback() error {
	defer t.conn.Close()
	t.ahead, t.queued = nil, nil
	return t.Tx.Rollback()
}

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
		return wrap(op, build(s.db.WithContext(ctx)).Error)
	}
	st := build(s.db.Session(&gorm.Session{DryRun: true, NewDB: true, Context: ctx})).Statement
	if st.Error != nil {
		return wrap(op, st.Error)
	}
	t.later(op, st.SQL.String(), st.Vars)
	return nil
}
