package pending

import (
	"context"
	"sync"
)

// Notifier wakes long polls when a pending request changes. The engine
// publishes after every state change; a waiting poll subscribes to the
// request's id and re-reads the database when woken, so a notifier may
// coalesce, duplicate or (rarely) lose wake-ups without harming
// correctness: a lost one only delays the answer to the end of the wait.
type Notifier interface {
	// Subscribe returns a channel that receives a value after the request
	// id changes (buffered: wake-ups coalesce), and a cancel function that
	// must be called when the subscriber stops waiting.
	Subscribe(id string) (ch <-chan struct{}, cancel func())
	// Publish wakes every subscriber of id (on every replica for a
	// cross-process notifier).
	Publish(ctx context.Context, id string) error
}

// MemoryNotifier is the in-process Notifier: enough for a single process
// (the SQLite deployment), and the local fan-out of a cross-process
// notifier (pgnotify.Notifier).
type MemoryNotifier struct {
	mu   sync.Mutex
	subs map[string]map[*subscription]struct{}
}

type subscription struct{ ch chan struct{} }

// NewMemoryNotifier returns an empty MemoryNotifier.
func NewMemoryNotifier() *MemoryNotifier {
	return &MemoryNotifier{subs: map[string]map[*subscription]struct{}{}}
}

// Subscribe implements Notifier.
func (m *MemoryNotifier) Subscribe(id string) (<-chan struct{}, func()) {
	s := &subscription{ch: make(chan struct{}, 1)}
	m.mu.Lock()
	set := m.subs[id]
	if set == nil {
		set = map[*subscription]struct{}{}
		m.subs[id] = set
	}
	set[s] = struct{}{}
	m.mu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			if set := m.subs[id]; set != nil {
				delete(set, s)
				if len(set) == 0 {
					delete(m.subs, id)
				}
			}
		})
	}
}

// Publish implements Notifier; it never blocks and never fails.
func (m *MemoryNotifier) Publish(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for s := range m.subs[id] {
		wake(s.ch)
	}
	return nil
}

// WakeAll wakes every subscriber (after a cross-process listener
// reconnects, when notifications may have been missed).
func (m *MemoryNotifier) WakeAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, set := range m.subs {
		for s := range set {
			wake(s.ch)
		}
	}
}

// Subscribers counts the live subscriptions (tests and metrics).
func (m *MemoryNotifier) Subscribers() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, set := range m.subs {
		n += len(set)
	}
	return n
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default: // a wake-up is already pending
	}
}
