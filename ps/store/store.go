package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
)

// Dialect names returned by Store.Dialect; they are also the folder names in
// package migrations.
const (
	DialectPostgres = "postgres"
	DialectSQLite   = "sqlite"
)

// Connection pool sizes. SQLite serialises writers on the file lock (every
// transaction starts with BEGIN IMMEDIATE and waits up to busy_timeout), so
// a few connections let WAL readers proceed without starving a writer; with
// 4, most requests under load waited for a connection while the CPU idled
// (issue 12). PostgreSQL keeps every connection it opened: with 5 idle of
// 20, a busy PS closed and reopened backends (815 new sessions in 10 s at
// 16 agents), each new one parsing every statement again.
const (
	postgresMaxOpenConns = 20
	postgresMaxIdleConns = postgresMaxOpenConns
	sqliteMaxOpenConns   = 16
	sqliteBusyTimeoutMS  = 5000
	// sqliteCheckpointEvery is how often the WAL is checkpointed into
	// the database file (SQLite's own default, every 1 000 pages, comes
	// about as often under load).
	sqliteCheckpointEvery = time.Second
	// sqliteWALRestartFrames is the WAL length (frames, 256 MiB at
	// SQLite's default 4 KiB pages) past which a checkpoint also makes the
	// next commit write the WAL from its start (Checkpoint). Each restart
	// pauses the writers for 10–35 ms; under the heaviest load on two
	// cores this length is reached every 5–6 s, under less load more
	// rarely.
	sqliteWALRestartFrames = 65536
	// sqliteWALKeepBytes is the WAL file SQLite keeps when the WAL starts
	// over (journal_size_limit): a longer one is cut to it. Above what a
	// restart usually finds (the restart length and the writes of the
	// catch-up passes), so that no commit pays for the cut but after a
	// WAL that grew for another reason (a long read).
	sqliteWALKeepBytes = 512 << 20
	// sqliteRestartBusyMS bounds the restart's wait for readers to leave
	// the WAL, while it holds the writer turn; past it, the next tick tries
	// again.
	sqliteRestartBusyMS = 20
	// sqliteRestartConnWait bounds the restart's wait for a pooled
	// connection while it holds the turn.
	sqliteRestartConnWait = time.Second
	// sqliteCatchUpPasses bounds the PASSIVE checkpoints run before a
	// restart to copy what the previous one left, until fewer than
	// sqliteRestartResidue frames were committed during one.
	sqliteCatchUpPasses  = 4
	sqliteRestartResidue = 256
)

// Store is the PS's database: gorm over PostgreSQL or embedded SQLite.
//
// A Store returned by Open owns a connection pool. The *Store handed to an
// InTx callback runs every method inside that transaction; it cannot
// migrate, ping the pool or be closed.
type Store struct {
	db      *gorm.DB
	sqlDB   *sql.DB // nil inside a transaction
	dialect string
	log     *slog.Logger
	now     func() time.Time
	// afterCommit collects what AfterCommit defers; nil outside a
	// transaction. Savepoints share their outermost transaction's list.
	afterCommit *[]func()
	// writer admits one SQLite transaction of this process at a time
	// (nil on PostgreSQL); see InTx.
	writer chan struct{}
	// waits counts the time spent waiting for and holding the writer
	// turn (WaitStats); shared by every Store of one pool.
	waits *waitCounters
	// replays groups concurrent replay-cache writes into one writer
	// turn (SQLite; nil on PostgreSQL).
	replays *replayBatch
	// purgeBatch is the rows one purge statement deletes (0: the
	// default; tests set a small one).
	purgeBatch int
	// groups runs concurrent transactions with one commit (SQLite; nil
	// on PostgreSQL and inside a transaction); see txgroup.go.
	groups *txGroups
	// stopBG ends the pool's background work (the SQLite checkpoints);
	// nil when there is none.
	stopBG func()
	// held is the transaction's held missions (held.go); nil outside a
	// transaction, shared by its savepoints.
	held *heldMissions
	// pairwise caches committed directed subjects (pairwise.go); shared
	// by every Store of one pool.
	pairwise *pairwiseCache
	// seen keeps decoded mission rows (seenmissions.go); shared by every
	// Store of one pool.
	seen *seenMissions
	// stmts keeps SQLite's prepared statements (stmtpool.go); nil on
	// PostgreSQL and inside a transaction.
	stmts *stmtPool
	// walRestartFrames is sqliteWALRestartFrames (tests set a small one
	// while the checkpoint loop reads it); nil on PostgreSQL.
	walRestartFrames *atomic.Int64
	// sqlitePath is the SQLite database file ("" on PostgreSQL).
	sqlitePath string
}

// Open connects to databaseURL:
//
//   - "postgres://…" or "postgresql://…": PostgreSQL through pgx;
//   - "sqlite:PATH": an embedded SQLite file (pure Go). The parent directory
//     is created (0700); the database uses WAL, foreign keys and a 5 s busy
//     timeout.
//
// Open pings the database but does not migrate it (see MigrateUp). The URL's
// password is never logged nor put into errors.
func Open(ctx context.Context, databaseURL string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var (
		dialector gorm.Dialector
		dialect   string
		shown     string    // what may appear in logs and errors
		stmts     *stmtPool // SQLite's kept statements; nil on PostgreSQL
		pg        *sql.DB   // PostgreSQL's connections; nil on SQLite
		path      string    // the SQLite file; "" on PostgreSQL
	)
	switch {
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		u, err := url.Parse(databaseURL)
		if err != nil {
			// url.Error repeats the input, password included: do not wrap it.
			return nil, errors.New("store: the PostgreSQL database URL does not parse")
		}
		dialect, shown = DialectPostgres, u.Redacted()
		cfg, err := pgx.ParseConfig(databaseURL)
		if err != nil {
			return nil, &Error{Op: "open " + shown, Kind: ErrDatabase, Err: err}
		}
		pg = stdlib.OpenDB(*cfg)
		dialector = pgDialector{&postgres.Dialector{Config: &postgres.Config{DSN: databaseURL, Conn: pgPool{pg}}}}
	case strings.HasPrefix(databaseURL, "sqlite:"):
		path = strings.TrimPrefix(databaseURL, "sqlite:")
		dsn, err := sqliteDSN(path)
		if err != nil {
			return nil, err
		}
		dialect, shown = DialectSQLite, databaseURL
		conn, err := sql.Open(sqlite.DriverName, dsn)
		if err != nil {
			return nil, &Error{Op: "open " + shown, Kind: ErrDatabase, Err: err}
		}
		stmts = newStmtPool(conn)
		stmts.pinWriter()
		dialector = sqliteDialector{&sqlite.Dialector{DSN: dsn, Conn: stmts}}
	default:
		return nil, errors.New(`store: unsupported database URL: want "postgres://…", "postgresql://…" or "sqlite:PATH"`)
	}

	db, err := gorm.Open(dialector, &gorm.Config{
		Logger: quietTrace{Interface: logger.NewSlogLogger(log.With("component", "store"), logger.Config{
			SlowThreshold:             slowStatement,
			LogLevel:                  logger.Warn,
			IgnoreRecordNotFoundError: true,
			ParameterizedQueries:      true, // never log values (sealed keys, identifiers)
		}), level: logger.Warn},
		SkipDefaultTransaction: true,
		// Not gorm's PrepareStmt: pgx already caches each statement per
		// connection, and on SQLite stmtPool keeps them, inside
		// transactions too (stmtpool.go).
		PrepareStmt: false,
		NowFunc:     func() time.Time { return time.Now().UTC() },
	})
	// abandon undoes what Open opened when it fails from here on: the
	// statement pool's loop and the connections.
	abandon := func(sqlDB *sql.DB) {
		if stmts != nil {
			stmts.close()
			sqlDB = stmts.db
		}
		if pg != nil {
			sqlDB = pg
		}
		if sqlDB != nil {
			_ = sqlDB.Close()
		}
	}
	if err != nil {
		abandon(nil)
		return nil, &Error{Op: "open " + shown, Kind: ErrDatabase, Err: err}
	}
	sqlDB, err := db.DB()
	if err != nil {
		abandon(nil)
		return nil, &Error{Op: "open " + shown, Kind: ErrDatabase, Err: err}
	}
	switch dialect {
	case DialectPostgres:
		sqlDB.SetMaxOpenConns(postgresMaxOpenConns)
		sqlDB.SetMaxIdleConns(postgresMaxIdleConns)
		sqlDB.SetConnMaxLifetime(30 * time.Minute)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	case DialectSQLite:
		sqlDB.SetMaxOpenConns(sqliteMaxOpenConns)
		sqlDB.SetMaxIdleConns(sqliteMaxOpenConns)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		abandon(sqlDB)
		return nil, &Error{Op: "connect to " + shown, Kind: ErrDatabase, Err: err}
	}
	log.Info("database opened", "dialect", dialect, "url", shown)
	st := &Store{db: db, sqlDB: sqlDB, dialect: dialect, log: log, now: time.Now, waits: new(waitCounters), pairwise: newPairwiseCache(), seen: newSeenMissions(), stmts: stmts}
	if dialect == DialectSQLite {
		st.writer = make(chan struct{}, 1)
		stmts.turn = st.writeTurn
		st.replays = new(replayBatch)
		st.groups = new(txGroups)
		st.walRestartFrames, st.sqlitePath = new(atomic.Int64), path
		st.walRestartFrames.Store(sqliteWALRestartFrames)
		st.stopBG = st.checkpointLoop(sqliteCheckpointEvery)
	}
	return st, nil
}

// sqliteDSN validates PATH, creates its parent directory and returns the
// driver DSN with the connection pragmas.
func sqliteDSN(path string) (string, error) {
	switch {
	case path == "":
		return "", errors.New("store: sqlite URL without a path (want sqlite:PATH)")
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		return "", errors.New("store: sqlite URL must name a file (in-memory and URI forms are not supported)")
	case strings.ContainsAny(path, "?#"):
		return "", errors.New("store: sqlite path must not contain '?' or '#'")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("store: create the sqlite directory: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeoutMS))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// No checkpoint inside a commit: the committing request would pay
	// the checkpoint's page copies and fsyncs while holding the writer
	// turn every other writer queues for. checkpointLoop does it beside
	// the requests (issue 12).
	q.Add("_pragma", "wal_autocheckpoint(0)")
	// Checkpoint starts the WAL over once it is long; a WAL that grew
	// longer than this meanwhile is cut back to it then.
	q.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", sqliteWALKeepBytes))
	// A savepoint (one per transaction of a commit group, txgroup.go)
	// copies each page before its first change inside it to a
	// sub-journal, a temporary file by default: 7 % of the PS's CPU in
	// system calls under load. In memory it is a copy.
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Set("_txlock", "immediate") // take the write lock at BEGIN: no upgrade deadlocks
	return path + "?" + q.Encode(), nil
}

// WithClock returns a Store sharing s's connections whose notion of "now"
// (used to decide whether a replay-cache row has expired) is now. Closing
// either closes the shared pool.
func (s *Store) WithClock(now func() time.Time) *Store {
	c := *s
	c.now = now
	return &c
}

// Dialect returns "postgres" or "sqlite".
func (s *Store) Dialect() string { return s.dialect }

// inTx reports whether s is bound to a transaction.
func (s *Store) inTx() bool { return s.sqlDB == nil }

// Ping checks the connection (inside a transaction: that the transaction is
// still usable).
func (s *Store) Ping(ctx context.Context) error {
	if s.inTx() {
		return wrap("ping", s.stmt(ctx).Exec("SELECT 1").Error)
	}
	return wrap("ping", s.sqlDB.PingContext(ctx))
}

// Close closes the connection pool. It fails on a transaction's Store.
func (s *Store) Close() error {
	if s.inTx() {
		return ErrInTx
	}
	if s.stopBG != nil {
		s.stopBG()
	}
	if s.stmts != nil {
		s.stmts.close()
	}
	return wrap("close", s.sqlDB.Close())
}

// InTx runs fn in a transaction and commits if fn returns nil; otherwise
// (or if fn panics) it rolls back. fn's error is returned unchanged. The
// *Store passed to fn has the same methods, all bound to the transaction;
// calling InTx on it opens a savepoint.
//
// On SQLite, one writer at a time: the transaction waits for this
// process's writer turn holding no connection (waiting inside SQLite held
// pooled connections for up to busy_timeout while the holder waited for
// one itself: "database is locked" after 5 s, issue 12), and transactions
// that wait together share one commit (txgroup.go). On PostgreSQL, and for
// a savepoint, it begins at once.
func (s *Store) InTx(ctx context.Context, fn func(tx *Store) error) error {
	if s.groups != nil && s.afterCommit == nil {
		return s.inGroup(ctx, fn)
	}
	hooks := new([]func()) // this transaction's (or savepoint's) own
	held := s.held
	if held == nil {
		held = new(heldMissions)
	}
	var fnErr error
	err := s.db.WithContext(ctx).Transaction(func(gtx *gorm.DB) error {
		fnErr = fn(s.boundTo(gtx, hooks, held))
		return fnErr
	})
	if fnErr != nil || err != nil {
		s.forgetAllHeld() // a savepoint rolled back (outside one, s.held is nil)
	}
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return wrap("transaction", err)
	}
	if s.afterCommit != nil { // a savepoint: its hooks wait for the outer commit
		*s.afterCommit = append(*s.afterCommit, *hooks...)
		return nil
	}
	for _, f := range *hooks {
		f()
	}
	return nil
}

// stmt is a gorm handle for one statement chain under ctx (never kept,
// never the base of two chains: its chain methods change it in place).
// gorm's WithContext copies the whole statement twice, in its Session and
// again at the chain's first call; this starts from the new, empty
// statement that first call would have built (finding 59: the copies were
// 8 % of the PS's allocated bytes under load).
func (s *Store) stmt(ctx context.Context) *gorm.DB {
	db := &gorm.DB{Config: s.db.Config, Error: s.db.Error}
	db.Statement = &gorm.Statement{DB: db, ConnPool: s.db.Statement.ConnPool, Context: ctx,
		Clauses: map[string]clause.Clause{}, Vars: make([]any, 0, 8), SkipHooks: s.db.Statement.SkipHooks}
	return db
}

// boundTo is s's Store for a transaction (or savepoint) on db: its hooks
// and held missions, the pool's shared parts.
func (s *Store) boundTo(db *gorm.DB, hooks *[]func(), held *heldMissions) *Store {
	return &Store{db: db, dialect: s.dialect, log: s.log, now: s.now, afterCommit: hooks, writer: s.writer, waits: s.waits,
		held: held, pairwise: s.pairwise, seen: s.seen}
}

// writerTurnHeld marks a context whose caller holds the process's SQLite
// writer turn (queueWriter), so that its statements do not take it again.
type writerTurnHeld struct{}

// queueWriter waits for this process's SQLite writer turn (see InTx) and
// returns ctx marked as holding it, for work outside a transaction that
// must hold the turn across statements or over a statement that returns
// rows (a single write takes it by itself: writeTurn). Inside a
// transaction, and on PostgreSQL, it returns at once.
func (s *Store) queueWriter(ctx context.Context) (context.Context, func(), error) {
	release, err := s.writeTurn(ctx)
	if err != nil {
		return ctx, nil, err
	}
	return context.WithValue(ctx, writerTurnHeld{}, true), release, nil
}

// writeTurn waits for the writer turn for one write outside a
// transaction, unless ctx holds it already. Every such write on SQLite
// comes here, from the statement pool (stmtPool.turn): waiting for
// SQLite's file lock instead, in the engine's busy handler, it polled with
// sleeps of up to 100 ms while the transaction groups handed the lock to
// each other without a gap, and under load each such write stalled its
// request for 0.5–0.8 s (docs/performance.md, finding 70).
func (s *Store) writeTurn(ctx context.Context) (release func(), err error) {
	if s.writer == nil || s.afterCommit != nil || ctx.Value(writerTurnHeld{}) != nil {
		return func() {}, nil
	}
	start := time.Now()
	// Bounded as SQLite's own wait was (busy_timeout): a write through the
	// outer store by a flow that holds the turn in a transaction fails
	// as it did then, rather than waiting for itself.
	timeout := time.NewTimer(sqliteBusyTimeoutMS * time.Millisecond)
	defer timeout.Stop()
	select {
	case s.writer <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-timeout.C:
		return nil, errWriterTurnTimeout
	}
	got := time.Now()
	s.waits.writerWaited(got.Sub(start))
	return func() {
		s.waits.writerHeld(time.Since(got))
		<-s.writer
	}, nil
}

var errWriterTurnTimeout = fmt.Errorf("store: no SQLite writer turn within %d ms (busy_timeout)", sqliteBusyTimeoutMS)

// AfterCommit runs f once the transaction s belongs to has committed, and
// never if it rolls back; outside a transaction it runs f at once. It is
// how a side effect that other processes observe (a wake-up, a
// notification) waits for the write it announces.
// A savepoint's hooks wait for the outermost commit and are dropped if the
// savepoint rolls back.
func (s *Store) AfterCommit(f func()) {
	if s.afterCommit == nil {
		f()
		return
	}
	*s.afterCommit = append(*s.afterCommit, f)
}

// checkpointLoop checkpoints the SQLite WAL every interval on a pooled
// connection, outside any writer turn, until the returned stop is called
// (Close). PASSIVE: it copies what no reader still needs and never waits
// for a lock, so it delays no request; the last connection to close
// checkpoints the rest.
func (s *Store) checkpointLoop(every time.Duration) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := s.Checkpoint(context.Background()); err != nil {
					s.log.Warn("sqlite checkpoint", "err", err)
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(done); <-finished })
	}
}

// SetPoolSize caps the PostgreSQL pool at n connections, idle ones
// included (--database-max-conns); SQLite keeps its own pool, sized for
// its single writer.
func (s *Store) SetPoolSize(n int) {
	if s.dialect != DialectPostgres || n <= 0 || s.sqlDB == nil {
		return
	}
	s.sqlDB.SetMaxOpenConns(n)
	s.sqlDB.SetMaxIdleConns(n)
}

// PoolSize is the pool's cap on open connections.
func (s *Store) PoolSize() int {
	if s.sqlDB == nil {
		return 0 // a transaction holds one connection
	}
	return s.sqlDB.Stats().MaxOpenConnections
}

// Checkpoint copies the SQLite WAL's committed pages into the database
// file (PASSIVE) and, once the WAL is longer than walRestartFrames, has the
// next commit write it from its start (restartWAL); a no-op on PostgreSQL.
//
// Why both (issue 12, finding 61): a PASSIVE checkpoint copies pages but
// never starts the WAL over, and under steady load SQLite itself never
// does either. A commit starts the WAL over only when it began while the
// whole WAL was already copied and no reader was still reading it, and
// with requests always in flight that moment never came: the WAL grew by
// every commit's pages, 1.7 GB in 30 s of load, until the load stopped.
func (s *Store) Checkpoint(ctx context.Context) error {
	if s.dialect != DialectSQLite {
		return nil
	}
	frames, err := s.passiveCheckpoint(ctx)
	if err != nil || frames <= s.walRestartFrames.Load() {
		return err
	}
	// Copy what was committed during the last pass, again outside the
	// turn, while that is much: the restart holds the turn for its own
	// copy and the two syncs of the files, and the less it has to copy,
	// the shorter those are.
	for range sqliteCatchUpPasses {
		before := frames
		if frames, err = s.passiveCheckpoint(ctx); err != nil {
			return err
		}
		if frames-before <= sqliteRestartResidue {
			break
		}
	}
	if err := s.syncDatabaseFile(); err != nil {
		return wrap("restart the WAL", err)
	}
	return s.restartWAL(ctx)
}

// syncDatabaseFile flushes the pages the PASSIVE checkpoints copied into
// the database file. SQLite syncs that file only after a checkpoint that
// copied the whole WAL, and under load only the restart is one: it then
// flushed, holding the writer turn, every page copied since the last such
// sync (28 ms of a 50 ms pause, in a system call trace). Flushed first,
// outside the turn, the restart's sync has only its own pages left. An
// extra sync changes nothing SQLite relies on: written pages are durable
// sooner.
func (s *Store) syncDatabaseFile() error {
	f, err := os.Open(s.sqlitePath)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// passiveCheckpoint runs a PASSIVE checkpoint and returns the WAL's
// length in frames.
func (s *Store) passiveCheckpoint(ctx context.Context) (frames int64, err error) {
	// Straight on the pool, not through gorm: the loop starts in Open,
	// before the app registers its tracing callbacks (Trace), and gorm's
	// callback table may not be read while it is being written.
	var busy, copied int64
	if err := s.sqlDB.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
		return 0, wrap("checkpoint", err)
	}
	if frames >= 0 { // -1: it did not run (another checkpoint was)
		s.waits.walFrames.Store(frames)
	}
	return frames, nil
}

// restartWAL runs a RESTART checkpoint holding the writer turn: it copies
// the pages committed since the PASSIVE one and waits, at most
// sqliteRestartBusyMS, for readers still reading the WAL to finish, so
// that the next commit writes the WAL from its start (and cuts the file
// to sqliteWALKeepBytes). Holding the turn, it waits for no writer and
// no writer waits inside SQLite for it; the copy left to it is small, as
// the PASSIVE checkpoint just ran.
func (s *Store) restartWAL(ctx context.Context) error {
	ctx, release, err := s.queueWriter(ctx)
	if err != nil {
		return wrap("restart the WAL", err)
	}
	defer release()
	// Never hold the turn long waiting for a connection: the next tick
	// tries again.
	connCtx, cancel := context.WithTimeout(ctx, sqliteRestartConnWait)
	conn, err := s.sqlDB.Conn(connCtx)
	cancel()
	if err != nil {
		return wrap("restart the WAL", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", sqliteRestartBusyMS)); err != nil {
		return wrap("restart the WAL", err)
	}
	var busy, frames, copied int64
	err = conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &frames, &copied)
	if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("PRAGMA busy_timeout = %d", sqliteBusyTimeoutMS)); rerr != nil {
		// Never back in the pool with the short wait.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	if err != nil {
		return wrap("restart the WAL", err)
	}
	if busy == 0 {
		s.waits.walRestarts.Add(1)
	}
	return nil
}

// settleTimeout bounds a settled statement.
const settleTimeout = 5 * time.Second

// settled is the context for a statement whose caller must know its
// outcome even when ctx is cancelled meanwhile: pgx returns a cancelled
// statement at once while PostgreSQL may still commit it, so a caller
// that then undoes it (a poll lease released, a long-poll mark ended)
// could run first and leave it standing. The statement runs to
// completion, bounded by settleTimeout (TestFederationStopMidLeaseLeavesNoLease,
// TestLongPollLeftMidMarkLeavesNoMark).
func settled(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
}
