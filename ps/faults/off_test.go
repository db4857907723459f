//go:build !aauthfaults

package faults

import "testing"

// TestOffInOrdinaryBuilds: without the aauthfaults tag no fault is ever on.
func TestOffInOrdinaryBuilds(t *testing.T) {
	for _, f := range All() {
		if On(f) || Available {
			t.Fatalf("fault %s is on in an ordinary build", f)
		}
	}
}
