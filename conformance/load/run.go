package load

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// Stats are the figures of one timed run.
type Stats struct {
	// Ops counts the operations that succeeded, Errors the rest.
	Ops, Errors int
	Elapsed     time.Duration
	// P50, P95, P99 are latencies of successful operations.
	P50, P95, P99 time.Duration
	// FirstError is the first failure, for the report.
	FirstError error
	// Open loop only (OpenLoop): the arrivals scheduled, those dropped
	// (no free agent at their intended time) and those still unanswered
	// at the end of the drain.
	Arrivals, Dropped, Late int
}

// PerSecond is successful operations per second.
func (s Stats) PerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Ops) / s.Elapsed.Seconds()
}

// Drive runs op for each of n workers in a loop until d has passed and
// returns the counts and latency percentiles. op gets its worker index.
func Drive(ctx context.Context, n int, d time.Duration, op func(ctx context.Context, worker int) error) Stats {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	deadline := time.Now().Add(d)
	type tally struct {
		lat    []time.Duration
		errs   int
		first  error
		firstT time.Time
	}
	tallies := make([]tally, n)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range n {
		wg.Go(func() {
			t := &tallies[w]
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				if err := op(ctx, w); err != nil {
					if errors.Is(err, context.Canceled) {
						return
					}
					t.errs++
					if t.first == nil {
						t.first, t.firstT = err, t0
					}
					continue
				}
				t.lat = append(t.lat, time.Since(t0))
			}
		})
	}
	wg.Wait()
	s := Stats{Elapsed: time.Since(start)}
	var all []time.Duration
	var firstT time.Time
	for _, t := range tallies {
		all = append(all, t.lat...)
		s.Errors += t.errs
		if t.first != nil && (s.FirstError == nil || t.firstT.Before(firstT)) {
			s.FirstError, firstT = t.first, t.firstT
		}
	}
	s.Ops = len(all)
	slices.Sort(all)
	s.P50, s.P95, s.P99 = percentile(all, 50), percentile(all, 95), percentile(all, 99)
	return s
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}
