package markwake_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/pending/markwake"
)

// marks is the mark in memory, counting its reads.
type marks struct {
	mu    sync.Mutex
	mark  int64
	reads int
	fail  bool
}

func (m *marks) PendingChangedAt(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	if m.fail {
		return 0, errors.New("database closed")
	}
	return m.mark, nil
}

func (m *marks) MarkPendingChanged(_ context.Context, ms int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mark = max(ms, m.mark+1)
	return nil
}

func (m *marks) readCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reads
}

func woken(ch <-chan struct{}, within time.Duration) bool {
	select {
	case <-ch:
		return true
	case <-time.After(within):
		return false
	}
}

// TestWatchWakesOnAnotherProcessesMark: a command's Publish moves the
// mark; the watching server wakes every waiting poll within its interval,
// reads the mark only while polls wait, and its own Publish writes none.
func TestWatchWakesOnAnotherProcessesMark(t *testing.T) {
	m := &marks{}
	server := markwake.Watch(t.Context(), m, 10*time.Millisecond, nil)
	defer server.Close()
	command := markwake.Announce(m, nil)
	defer command.Close()

	time.Sleep(50 * time.Millisecond)
	if n := m.readCount(); n != 1 {
		t.Fatalf("the mark was read %d times with no poll waiting, want 1 (the baseline)", n)
	}

	a, cancelA := server.Subscribe("a")
	b, cancelB := server.Subscribe("b")
	if woken(a, 50*time.Millisecond) {
		t.Fatal("woken with no change")
	}
	if err := server.Publish(context.Background(), "a"); err != nil || !woken(a, time.Second) || woken(b, 30*time.Millisecond) {
		t.Fatalf("the server's own Publish: %v, want only a woken at once", err)
	}
	if mark, _ := m.PendingChangedAt(context.Background()); mark != 0 {
		t.Fatalf("the server's Publish moved the mark to %d", mark)
	}

	if err := command.Publish(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	if !woken(a, time.Second) || !woken(b, time.Second) {
		t.Fatal("the command's change did not wake the waiting polls")
	}
	if woken(a, 50*time.Millisecond) {
		t.Fatal("woken twice for one change")
	}

	cancelA()
	cancelB()
	time.Sleep(30 * time.Millisecond)
	before := m.readCount()
	time.Sleep(80 * time.Millisecond)
	if n := m.readCount(); n != before {
		t.Fatalf("the mark was read %d more times after the last poll left", n-before)
	}

	// A read that fails wakes nothing; once it reads again, the change
	// made meanwhile wakes.
	m.mu.Lock()
	m.fail = true
	m.mu.Unlock()
	c, cancelC := server.Subscribe("c")
	defer cancelC()
	if err := command.Publish(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	if woken(c, 50*time.Millisecond) {
		t.Fatal("woken while the mark could not be read")
	}
	m.mu.Lock()
	m.fail = false
	m.mu.Unlock()
	if !woken(c, time.Second) {
		t.Fatal("the change made while the mark could not be read did not wake the poll")
	}
}
