// Package pgnotify is the cross-process Notifier of the pending engine for
// replicas sharing one PostgreSQL database: PostgreSQL LISTEN/NOTIFY on
// channel "aauth_pending". It is an adapter (it imports pgx); package
// pending itself knows only the Notifier interface.
package pgnotify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aauth-ps/aauth-ps/ps/pending"
)

// Channel is the LISTEN/NOTIFY channel; the payload is a pending id.
const Channel = "aauth_pending"

// Reconnect back-off of the listener.
const (
	listenBackoffMin = 100 * time.Millisecond
	listenBackoffMax = 5 * time.Second
)

// Notifier is the pending.Notifier for replicas sharing one PostgreSQL
// database: Publish sends pg_notify(Channel, id) (and wakes local
// subscribers at once); one dedicated connection LISTENs and fans every
// notification out to this process's subscribers. If that connection
// drops, it reconnects with exponential back-off (100 ms to 5 s) and then
// wakes every local subscriber, since notifications may have been missed
// (the woken polls re-read the database).
type Notifier struct {
	local *pending.MemoryNotifier
	pool  *pgxpool.Pool // publishes
	cfg   *pgx.ConnConfig
	log   *slog.Logger

	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once

	mu   sync.Mutex
	conn *pgx.Conn // the listener, owned by run
	pid  uint32    // its backend pid (tests terminate it)
}

// New connects the listener to databaseURL (the same
// database the Store uses) and starts listening. ctx bounds the initial
// connection only. Close it when done.
func New(ctx context.Context, databaseURL string, log *slog.Logger) (*Notifier, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		// The parse error may repeat the URL, password included.
		return nil, errors.New("pgnotify: the PostgreSQL database URL does not parse")
	}
	poolCfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, errors.New("pgnotify: the PostgreSQL database URL does not parse")
	}
	poolCfg.MaxConns = 2
	poolCfg.MaxConnIdleTime = time.Minute
	n := &Notifier{local: pending.NewMemoryNotifier(), cfg: cfg, log: log.With("component", "pending-notifier"), done: make(chan struct{})}
	conn, err := n.listen(ctx)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(context.WithoutCancel(ctx), poolCfg)
	if err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("pgnotify: notifier publish pool: %w", err)
	}
	n.pool = pool
	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go n.run(runCtx, conn)
	return n, nil
}

// listen opens a connection and LISTENs on Channel.
func (n *Notifier) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, n.cfg)
	if err != nil {
		return nil, fmt.Errorf("pgnotify: notifier listener: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("pgnotify: notifier LISTEN: %w", err)
	}
	n.mu.Lock()
	n.conn, n.pid = conn, conn.PgConn().PID()
	n.mu.Unlock()
	return conn, nil
}

func (n *Notifier) run(ctx context.Context, conn *pgx.Conn) {
	defer close(n.done)
	defer func() {
		if conn != nil {
			_ = conn.Close(context.Background())
		}
	}()
	for {
		note, err := conn.WaitForNotification(ctx)
		if err == nil {
			_ = n.local.Publish(ctx, note.Payload)
			continue
		}
		if ctx.Err() != nil {
			return
		}
		n.log.Warn("listener connection lost; reconnecting", "err", err)
		_ = conn.Close(context.Background())
		conn = nil
		for backoff := listenBackoffMin; conn == nil; backoff = min(2*backoff, listenBackoffMax) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			c, err := n.listen(ctx)
			if err != nil {
				n.log.Warn("listener reconnect failed", "err", err, "retry_in", min(2*backoff, listenBackoffMax))
				continue
			}
			conn = c
		}
		n.log.Info("listener reconnected")
		n.local.WakeAll()
	}
}

// Subscribe implements pending.Notifier.
func (n *Notifier) Subscribe(id string) (<-chan struct{}, func()) {
	return n.local.Subscribe(id)
}

// Publish implements pending.Notifier: it wakes local subscribers at once and
// notifies every replica (this one included) through PostgreSQL.
func (n *Notifier) Publish(ctx context.Context, id string) error {
	_ = n.local.Publish(ctx, id)
	if _, err := n.pool.Exec(ctx, "SELECT pg_notify($1, $2)", Channel, id); err != nil {
		return fmt.Errorf("pgnotify: pg_notify: %w", err)
	}
	return nil
}

// Close stops the listener and closes both connections. It is idempotent.
func (n *Notifier) Close() {
	n.closeOnce.Do(func() {
		n.cancel()
		<-n.done
		n.pool.Close()
	})
}

// listenerPID returns the backend pid of the current listener connection.
func (n *Notifier) listenerPID() uint32 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pid
}
