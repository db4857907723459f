// Package inflight counts the background work a process started after a
// commit (downstream revocations, time-stamp requests), so that a caller
// can wait until none is left: a command before it exits, an export for
// the time-stamp of the head it signed, a test before it counts rows.
package inflight

import (
	"context"
	"sync"
)

// Group counts work in flight. Its zero value is ready to use; it must
// not be copied after first use.
type Group struct {
	mu sync.Mutex
	n  int
	// idle is closed when n drops to 0, waking every Wait at once; nil
	// while nothing is in flight.
	idle chan struct{}
}

// Add counts one more piece of work; Done ends it.
func (g *Group) Add() { g.TryAdd(0) }

// TryAdd is Add unless limit (> 0) pieces are in flight already: then it
// counts nothing and reports false, and the caller leaves the work to
// someone else (a sweep).
func (g *Group) TryAdd(limit int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if limit > 0 && g.n >= limit {
		return false
	}
	if g.n == 0 {
		g.idle = make(chan struct{})
	}
	g.n++
	return true
}

// Done ends one piece of work counted by Add or TryAdd.
func (g *Group) Done() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n == 0 {
		panic("inflight: Done without Add")
	}
	if g.n--; g.n == 0 {
		close(g.idle)
		g.idle = nil
	}
}

// Wait waits until nothing is in flight (at once when nothing is), or
// ctx ends first (false). Work added while it waits is waited for too,
// unless the count touched zero in between.
func (g *Group) Wait(ctx context.Context) bool {
	g.mu.Lock()
	idle := g.idle
	g.mu.Unlock()
	if idle == nil {
		return true
	}
	select {
	case <-idle:
		return true
	case <-ctx.Done():
		return false
	}
}
