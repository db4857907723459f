// Package cputime reads this process's CPU time, for the benchmarks'
// cpu-ns/op and the load generator's own share.
package cputime

import (
	"syscall"
	"time"
)

// Self is the user + system CPU time of this process so far.
func Self() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		// RUSAGE_SELF with a valid pointer cannot fail.
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
