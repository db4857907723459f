package load

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestScheduleFixedSpacesArrivalsEvenly(t *testing.T) {
	s := Schedule(100, time.Second, Fixed, nil)
	if len(s) != 100 {
		t.Fatalf("%d arrivals at 100/s for 1 s, want 100", len(s))
	}
	for i, off := range s {
		if want := time.Duration(i) * 10 * time.Millisecond; off != want {
			t.Fatalf("arrival %d at %s, want %s", i, off, want)
		}
	}
	if Schedule(0, time.Second, Fixed, nil) != nil || Schedule(10, 0, Fixed, nil) != nil {
		t.Fatal("no rate or no duration must schedule nothing")
	}
}

// A Poisson schedule has the rate's mean gap and exponential gaps (their
// standard deviation equals their mean), unlike the fixed one; a seed
// makes it repeatable, so these bounds are checked on a known draw.
func TestSchedulePoissonHasExponentialGaps(t *testing.T) {
	const rate, d = 1000.0, 20 * time.Second
	s := Schedule(rate, d, Poisson, rand.New(rand.NewPCG(1, 2)))
	if n := float64(len(s)); math.Abs(n-rate*d.Seconds()) > 0.03*rate*d.Seconds() {
		t.Fatalf("%d arrivals, want about %.0f", len(s), rate*d.Seconds())
	}
	var sum, sq float64
	prev := time.Duration(0)
	for i, off := range s {
		if off < prev || off >= d {
			t.Fatalf("arrival %d at %s after %s (run of %s)", i, off, prev, d)
		}
		g := float64(off - prev)
		sum, sq, prev = sum+g, sq+g*g, off
	}
	mean := sum / float64(len(s))
	sd := math.Sqrt(sq/float64(len(s)) - mean*mean)
	if want := float64(time.Second) / rate; math.Abs(mean-want) > 0.03*want || math.Abs(sd/mean-1) > 0.05 {
		t.Fatalf("gaps: mean %.0f ns (want %.0f), sd/mean %.2f (want 1)", mean, want, sd/mean)
	}
	again := Schedule(rate, d, Poisson, rand.New(rand.NewPCG(1, 2)))
	if len(again) != len(s) || again[len(s)/2] != s[len(s)/2] {
		t.Fatal("the same seed drew another schedule")
	}
}

// Latency is counted from the intended send time, so a client that sent
// late still charges its lateness to the latency, and an arrival that
// was not served ranks above every answered one.
func TestTallyOpenCountsFromTheIntendedStart(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	var arr []arrival
	for i := range 99 {
		intended := t0.Add(time.Duration(i) * time.Second)
		arr = append(arr, arrival{intended: intended, done: intended.Add(time.Duration(i+1) * time.Millisecond)})
	}
	arr = append(arr, arrival{intended: t0, dropped: true})
	s := tallyOpen(arr, time.Minute)
	if s.Arrivals != 100 || s.Ops != 99 || s.Dropped != 1 || s.Late != 0 || s.Errors != 0 {
		t.Fatalf("counts: %+v", s)
	}
	if s.P50 != 50*time.Millisecond || s.P95 != 95*time.Millisecond || s.P99 != 99*time.Millisecond {
		t.Fatalf("p50 %s p95 %s p99 %s, want 50, 95, 99 ms", s.P50, s.P95, s.P99)
	}
	// One more unserved arrival (late, failed) puts p99 on one of them.
	arr = append(arr, arrival{intended: t0, late: true}, arrival{intended: t0, err: context.DeadlineExceeded})
	s = tallyOpen(arr, time.Minute)
	if s.Late != 1 || s.Errors != 1 || s.FirstError == nil || s.P99 != Unserved || s.P95 == Unserved {
		t.Fatalf("with 3 of 101 unserved: %+v", s)
	}
}

// An arrival that finds every agent busy is dropped and counted, not
// queued in the client; sends still unanswered after the drain are
// cancelled and counted late.
func TestOpenLoopDropsArrivalsWithNoFreeAgent(t *testing.T) {
	var calls atomic.Int32
	o := OpenLoop{Agents: 2, Rate: 200, Duration: 50 * time.Millisecond, Arrivals: Fixed}
	s := o.Drive(t.Context(), func(ctx context.Context, agent int) error {
		calls.Add(1)
		<-ctx.Done() // never answers: both agents stay busy
		return ctx.Err()
	})
	if s.Arrivals != 10 || calls.Load() != 2 || s.Dropped != 8 || s.Late != 2 || s.Ops != 0 || s.Errors != 0 {
		t.Fatalf("2 agents that never answer, 10 arrivals: %d sent, %+v", calls.Load(), s)
	}
	if s.P50 != Unserved {
		t.Fatalf("p50 %s with nothing answered", s.P50)
	}
}

// Every arrival is sent with an agent of the pool, never two at once on
// one agent.
func TestOpenLoopUsesEachAgentOnceAtATime(t *testing.T) {
	var busy [3]atomic.Int32
	var overlap atomic.Bool
	o := OpenLoop{Agents: 3, Rate: 500, Duration: 40 * time.Millisecond, Arrivals: Poisson, Seed: 7, Drain: time.Minute}
	s := o.Drive(t.Context(), func(ctx context.Context, agent int) error {
		if busy[agent].Add(1) != 1 {
			overlap.Store(true)
		}
		defer busy[agent].Add(-1)
		return nil
	})
	if overlap.Load() {
		t.Fatal("an agent was given a second send while its first was in flight")
	}
	if s.Ops+s.Dropped != s.Arrivals || s.Arrivals == 0 || s.Late != 0 {
		t.Fatalf("every arrival is answered or dropped: %+v", s)
	}
}

func TestWithRowsAddsToItsOwnTable(t *testing.T) {
	doc := "# P\n\n" + RowHeader + "\n| a |\n\ntext\n\n" + OpenRowHeader + "\n| b |\n"
	got := withRows(doc, RowHeader, []string{"| c |"})
	if want := "# P\n\n" + RowHeader + "\n| a |\n| c |\n\ntext\n\n" + OpenRowHeader + "\n| b |\n"; got != want {
		t.Fatalf("closed row:\n%s", got)
	}
	got = withRows(got, OpenRowHeader, []string{"| d |", "| e |"})
	if !strings.HasSuffix(got, OpenRowHeader+"\n| b |\n| d |\n| e |\n") {
		t.Fatalf("open rows:\n%s", got)
	}
	if got := withRows("# P", OpenRowHeader, []string{"| f |"}); got != "# P\n\n"+OpenRowHeader+"\n| f |\n" {
		t.Fatalf("new table:\n%s", got)
	}
}

// TestPGWaitsSummary: the sampled waits per exchange are backends seen ×
// the interval ÷ exchanges, largest first, at most five named.
func TestPGWaitsSummary(t *testing.T) {
	w := &PGWaits{Samples: 500, Every: 20 * time.Millisecond, Seen: map[string]int{
		"Lock:tuple": 50, "IO:WALSync": 10, "idle in transaction": 25, "LWLock:WALWrite": 5, "Lock:transactionid": 4, "IPC:SyncRep": 1}}
	got := w.Summary(100)
	want := "500 samples every 20ms; Lock:tuple 10.00 ms; idle in transaction 5.00 ms; IO:WALSync 2.00 ms; LWLock:WALWrite 1.00 ms; Lock:transactionid 0.80 ms (+1 more)"
	if got != want {
		t.Fatalf("Summary = %q\nwant      %q", got, want)
	}
	if got := (&PGWaits{Samples: 3, Every: time.Second, Seen: map[string]int{}}).Summary(10); got != "3 samples every 1s, no backend waiting" {
		t.Fatalf("no waits: %q", got)
	}
	var none *PGWaits
	if none.Summary(10) != "" {
		t.Fatal("a run without samples printed waits")
	}
}

// TestPSBudgetIsWhatTheLoadGeneratorLeaves (issue 12): 5× a peer measured
// at 1 000 req/s is 5 000 req/s, 400 µs of 2 cores per request; the load
// generator spending 300 µs of it leaves the PS 100 µs, and the report
// sets that beside the person token request's crypto floor.
func TestPSBudgetIsWhatTheLoadGeneratorLeaves(t *testing.T) {
	phase := func(ops int, load time.Duration) *Phase {
		return &Phase{Stats: Stats{Ops: ops, Elapsed: 10 * time.Second}, PerOp: 1, CPU: time.Duration(ops) * 700 * time.Microsecond, LoadCPU: load}
	}
	r := &Report{Floor: Floor{Cores: 2, Verify: 50 * time.Microsecond, Sign: 20 * time.Microsecond}, Agents: 16,
		PersonPS:    phase(10_000, 4*time.Second),
		PersonPlain: phase(15_000, 4500*time.Millisecond), // 300 µs per request
		PersonPeer:  phase(10_000, 2*time.Second),
	}
	if got, ok := r.PSBudget(PeerTarget); !ok || got != 100*time.Microsecond {
		t.Fatalf("PSBudget = %v, %v; want 100 µs (2 cores ÷ 5 000 req/s − 300 µs)", got, ok)
	}
	text := r.Text()
	for _, want := range []string{"(300 µs without a mission)", "5× mockin is 5000 req/s: on 2 cores that leaves the PS 100 µs",
		"against a crypto floor of 120 µs (2 verifications, 1 signature)"} {
		if !strings.Contains(text, want) {
			t.Errorf("the report lacks %q:\n%s", want, text)
		}
	}
	r.PersonPlain.LoadCPU = 0 // not measured: no budget claimed
	if _, ok := r.PSBudget(PeerTarget); ok || strings.Contains(r.Text(), "leaves the PS") {
		t.Errorf("a budget from an unmeasured load generator:\n%s", r.Text())
	}
}

// The PostgreSQL statistics of a phase are per exchange, WAL written
// included; a server that does not report its WAL says nothing of it.
func TestPGStatsSummaryPerExchange(t *testing.T) {
	before := &PGStats{Xacts: 10, TupReturned: 100, WALSyncs: 5, WALBytes: 1_000, Tables: map[string]TableStats{}}
	after := &PGStats{Xacts: 30, TupReturned: 300, WALSyncs: 9, WALBytes: 41_000, Tables: map[string]TableStats{}}
	want := "2.0 transactions, 20 rows returned, 0 fetched, 0 buffers per exchange, 0.4 WAL flushes and 4.0 kB of WAL (the cluster's); no sequential scans"
	if got := after.Sub(before).Summary(10); got != want {
		t.Fatalf("summary %q, want %q", got, want)
	}
	unreported := &PGStats{Xacts: 30, WALSyncs: -1, WALBytes: -1, Tables: map[string]TableStats{}}
	if got := unreported.Sub(before).Summary(10); strings.Contains(got, "WAL") {
		t.Fatalf("summary %q reports WAL the server did not", got)
	}
}
