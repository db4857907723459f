// Package markwake is the cross-process Notifier of the pending engine on
// a database without LISTEN/NOTIFY (SQLite): a one-shot command beside the
// server (the CLI's `agents revoke`, …) moves a mark in the database after
// it changed pending requests (Announce), and the server, while long polls
// wait, reads that mark every Interval and wakes them all when it moved
// (Watch). The woken polls re-read their rows, so a wake-up that was not
// for them costs one read each. The server's own changes wake its polls
// in process, as MemoryNotifier does, and write no mark: nothing is added
// to the request path.
package markwake

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/pending"
)

// Interval is how often a watching server reads the mark while long polls
// wait: a command's change reaches them within about this long.
const Interval = 500 * time.Millisecond

// Marks is the mark in the database (ps/store).
type Marks interface {
	// PendingChangedAt reads the mark; it changes with every
	// MarkPendingChanged.
	PendingChangedAt(ctx context.Context) (int64, error)
	// MarkPendingChanged moves the mark (ms: now, in unix milliseconds).
	MarkPendingChanged(ctx context.Context, ms int64) error
}

// Notifier is the pending.Notifier of either side; see Watch and Announce.
type Notifier struct {
	local *pending.MemoryNotifier
	marks Marks
	log   *slog.Logger

	// Announce: Publish moves the mark.
	announce bool

	// Watch: the long polls subscribed, a nudge when the first arrives,
	// the mark last read (owned by run) and the loop's stop.
	waiting   atomic.Int64
	nudge     chan struct{}
	interval  time.Duration
	last      int64
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// Watch is the serving process's Notifier: local wake-ups, and a loop
// that, only while long polls wait, reads the mark every interval and
// wakes every waiting poll when it moved. ctx bounds the first read (the
// baseline). Close it when done.
func Watch(ctx context.Context, marks Marks, interval time.Duration, log *slog.Logger) *Notifier {
	n := newNotifier(marks, log)
	n.interval, n.nudge, n.done = interval, make(chan struct{}, 1), make(chan struct{})
	n.last, _ = marks.PendingChangedAt(ctx) // on error 0: the first change read wakes the polls once more
	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go n.run(runCtx)
	return n
}

// Announce is a one-shot command's Notifier: local wake-ups, and every
// Publish (after the change committed) moves the mark for the server.
func Announce(marks Marks, log *slog.Logger) *Notifier {
	n := newNotifier(marks, log)
	n.announce = true
	return n
}

func newNotifier(marks Marks, log *slog.Logger) *Notifier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Notifier{local: pending.NewMemoryNotifier(), marks: marks, log: log.With("component", "pending-notifier")}
}

// Subscribe implements pending.Notifier.
func (n *Notifier) Subscribe(id string) (<-chan struct{}, func()) {
	ch, cancel := n.local.Subscribe(id)
	if n.nudge == nil {
		return ch, cancel
	}
	if n.waiting.Add(1) == 1 {
		select {
		case n.nudge <- struct{}{}:
		default:
		}
	}
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			cancel()
			n.waiting.Add(-1)
		})
	}
}

// Publish implements pending.Notifier: it wakes local subscribers and,
// from a command (Announce), moves the mark.
func (n *Notifier) Publish(ctx context.Context, id string) error {
	_ = n.local.Publish(ctx, id)
	if !n.announce {
		return nil
	}
	if err := n.marks.MarkPendingChanged(ctx, time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("markwake: mark the change: %w", err)
	}
	return nil
}

// run reads the mark every interval while anyone waits; idle, it sleeps
// until the first subscriber arrives.
func (n *Notifier) run(ctx context.Context) {
	defer close(n.done)
	t := time.NewTicker(n.interval)
	defer t.Stop()
	failing := false
	for {
		if n.waiting.Load() == 0 {
			select {
			case <-ctx.Done():
				return
			case <-n.nudge:
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n.waiting.Load() == 0 {
			continue
		}
		mark, err := n.marks.PendingChangedAt(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				n.log.Warn("reading the mark of other processes' changes failed; their changes reach long polls when the waits end", "err", err)
			}
			failing = true
			continue
		case failing:
			n.log.Info("reading the mark of other processes' changes again")
			failing = false
		}
		if mark != n.last {
			n.last = mark
			n.local.WakeAll()
		}
	}
}

// Close stops a watching Notifier's loop; it is idempotent, and does
// nothing for an announcing one.
func (n *Notifier) Close() {
	n.closeOnce.Do(func() {
		if n.cancel != nil {
			n.cancel()
			<-n.done
		}
	})
}
