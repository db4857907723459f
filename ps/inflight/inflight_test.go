package inflight

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestWaitWithNothingInFlight(t *testing.T) {
	var g Group
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // even an ended ctx: nothing to wait for
	if !g.Wait(ctx) {
		t.Fatal("Wait with nothing in flight reported false")
	}
	g.Add()
	g.Done()
	if !g.Wait(ctx) {
		t.Fatal("Wait after the last Done reported false")
	}
}

func TestWaitEndsWithTheLastDone(t *testing.T) {
	var g Group
	g.Add()
	g.Add()
	woke := make(chan bool, 3)
	for range 3 {
		go func() { woke <- g.Wait(context.Background()) }()
	}
	g.Done()
	select {
	case <-woke:
		t.Fatal("Wait returned with one piece still in flight")
	case <-time.After(20 * time.Millisecond):
	}
	g.Done()
	for range 3 {
		select {
		case ok := <-woke:
			if !ok {
				t.Fatal("Wait reported false without a cancelled ctx")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Wait not woken by the last Done")
		}
	}
}

func TestWaitCancelled(t *testing.T) {
	var g Group
	g.Add()
	defer g.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if g.Wait(ctx) {
		t.Fatal("Wait reported idle with work in flight")
	}
}

func TestTryAddLimit(t *testing.T) {
	var g Group
	for i := range 2 {
		if !g.TryAdd(2) {
			t.Fatalf("TryAdd %d refused under the limit", i)
		}
	}
	if g.TryAdd(2) {
		t.Fatal("TryAdd counted a third piece over the limit of 2")
	}
	g.Done()
	if !g.TryAdd(2) {
		t.Fatal("TryAdd refused after a Done made room")
	}
	g.Done()
	g.Done()
	if !g.Wait(context.Background()) {
		t.Fatal("not idle after every Done")
	}
}

func TestDoneWithoutAddPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Done without Add did not panic")
		}
	}()
	var g Group
	g.Done()
}

// TestConcurrent runs Adds, Dones and Waits at once (go test -race): a
// Wait that returns true saw a moment with nothing in flight.
func TestConcurrent(t *testing.T) {
	var g Group
	var running atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				g.Add()
				running.Add(1)
				go func() {
					running.Add(-1)
					g.Done()
				}()
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for range 50 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
				g.Wait(ctx)
				cancel()
			}
		})
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if !g.Wait(ctx) {
		t.Fatal("work still in flight after every Done")
	}
	if n := running.Load(); n != 0 {
		t.Fatalf("Wait returned with %d pieces running", n)
	}
}
