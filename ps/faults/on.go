//go:build aauthfaults

package faults

import "sync"

// Available reports whether this binary can inject faults.
const Available = true

var (
	mu     sync.RWMutex
	active = map[Fault]bool{}
)

// Set injects exactly the faults fs from now on (none clears them).
func Set(fs ...Fault) {
	mu.Lock()
	defer mu.Unlock()
	clear(active)
	for _, f := range fs {
		active[f] = true
	}
}

// On reports whether fault f is injected.
func On(f Fault) bool {
	mu.RLock()
	defer mu.RUnlock()
	return active[f]
}
