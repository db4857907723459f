package load

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// An open loop sends at a fixed rate whatever the server does, so its
// latency is not bounded by the number of agents as a closed loop's is
// (Little's law). Latency is measured from each arrival's intended send
// time, not from when a worker got round to it: a client that falls
// behind, or an arrival that finds every agent busy, cannot hide the
// server's delay (coordinated omission).

// Arrivals are how the open loop spaces its sends.
type Arrivals string

const (
	// Fixed sends every 1/rate seconds.
	Fixed Arrivals = "fixed"
	// Poisson sends with exponentially distributed gaps of mean 1/rate,
	// as independent clients would.
	Poisson Arrivals = "poisson"
)

// ParseArrivals checks a -arrivals flag.
func ParseArrivals(s string) (Arrivals, error) {
	switch a := Arrivals(s); a {
	case Fixed, Poisson:
		return a, nil
	}
	return "", errors.New("arrivals: want fixed or poisson")
}

// Schedule is the intended send times, as offsets from the start, of an
// open loop at rate per second for d: every offset is below d, in
// increasing order. Fixed spaces them 1/rate apart from 0; Poisson draws
// the gaps from rng.
func Schedule(rate float64, d time.Duration, a Arrivals, rng *rand.Rand) []time.Duration {
	if rate <= 0 || d <= 0 {
		return nil
	}
	mean := float64(time.Second) / rate
	out := make([]time.Duration, 0, int(rate*d.Seconds())+1)
	var t float64
	for i := 0; ; i++ {
		if a == Poisson {
			t += rng.ExpFloat64() * mean
		} else {
			t = float64(i) * mean
		}
		if t >= float64(d) {
			return out
		}
		out = append(out, time.Duration(t))
	}
}

// arrival is what became of one intended send.
type arrival struct {
	// intended is the scheduled send time; done when the answer was in
	// (zero when it never was).
	intended, done time.Time
	// dropped: no agent was free at the intended time, so nothing was sent.
	dropped bool
	// late: sent, but still unanswered when the run's drain ended.
	late bool
	err  error
}

// tallyOpen turns the arrivals into Stats. Latency is done − intended.
// The percentiles rank every arrival: a dropped, late or failed one ranks
// above any answered one (it was not served in time), so a run that
// drops more than 1 % of its arrivals has no finite p99 (Unserved).
func tallyOpen(arr []arrival, elapsed time.Duration) Stats {
	s := Stats{Elapsed: elapsed, Arrivals: len(arr)}
	lat := make([]time.Duration, 0, len(arr))
	for _, a := range arr {
		switch {
		case a.dropped:
			s.Dropped++
		case a.late:
			s.Late++
		case a.err != nil:
			s.Errors++
			if s.FirstError == nil {
				s.FirstError = a.err
			}
		default:
			lat = append(lat, a.done.Sub(a.intended))
		}
	}
	s.Ops = len(lat)
	slices.Sort(lat)
	for range len(arr) - len(lat) {
		lat = append(lat, Unserved)
	}
	s.P50, s.P95, s.P99 = percentile(lat, 50), percentile(lat, 95), percentile(lat, 99)
	return s
}

// Unserved is the latency a percentile reports when it falls on an
// arrival that was dropped, late or failed.
const Unserved = time.Duration(math.MaxInt64)

// OpenLoop drives op at rate per second for d with a pool of agents:
// each arrival takes a free agent at its intended time, or is dropped
// (counted, never queued in the client). After the last arrival, the
// sends still in flight get drain to answer; then they are cancelled and
// counted late. op gets the agent's index.
type OpenLoop struct {
	Agents   int
	Rate     float64
	Duration time.Duration
	Arrivals Arrivals
	Drain    time.Duration
	// Seed makes a Poisson schedule repeatable (0: random).
	Seed uint64
}

// Drive runs the open loop.
func (o OpenLoop) Drive(ctx context.Context, op func(ctx context.Context, agent int) error) Stats {
	seed := o.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	sched := Schedule(o.Rate, o.Duration, o.Arrivals, rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)))
	free := make(chan int, o.Agents)
	for i := range o.Agents {
		free <- i
	}
	opCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	arr := make([]arrival, len(sched))
	var wg sync.WaitGroup
	start := time.Now()
	for i, off := range sched {
		a := &arr[i]
		a.intended = start.Add(off)
		if !sleepUntil(ctx, a.intended) {
			arr = arr[:i]
			break
		}
		select {
		case w := <-free:
			wg.Go(func() {
				err := op(opCtx, w)
				if opCtx.Err() != nil {
					a.late = true // cancelled at the end of the drain
				} else {
					a.done, a.err = time.Now(), err
				}
				free <- w
			})
		default:
			a.dropped = true
		}
	}
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(max(o.Duration-time.Since(start), 0) + o.Drain):
		cancel()
		<-drained
	}
	return tallyOpen(arr, time.Since(start))
}

// sleepUntil waits for t; false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}
