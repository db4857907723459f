//go:build !aauthfaults

package faults

// Available reports whether this binary can inject faults.
const Available = false

// On reports whether fault f is injected: never, in this build.
func On(Fault) bool { return false }
