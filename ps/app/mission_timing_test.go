package app_test

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestMissionExistenceOracleTiming: PS-196 (P§mission-endpoint-errors,
// An agent POSTing to a mission URL must not learn from the
// latency whether the mission exists and belongs to another agent or does
// not exist at all.
//
// Samples: after a warm-up, rounds of 60 requests for unknown missions and 60 for
// another agent's mission, interleaved (the order inside each pair
// alternates) so load on the machine hits both paths alike. Each latency
// is one signed POST over a kept-alive HTTPS connection, measured from
// sending to the last byte of the 404.
//
// Criteria, both required:
//   - the two-sample Kolmogorov–Smirnov statistic D = sup|F_u − F_o| is
//     below the critical value at alpha = 0.001,
//     c(α)·sqrt((n+m)/(n·m)) with c(0.001) = 1.949, i.e. 0.356 for
//     n = m = 60;
//   - the medians differ by less than 5 ms (the IMPL criterion of PS-196).
//
// A path that does one extra database query with a 20 ms sleep separates
// the distributions completely (D = 1, median gap ≈ 20 ms) and fails both;
// this was checked by hand by adding such a query to the not-owned branch
// of missions.Service.Owned.
func TestMissionExistenceOracleTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	// Not parallel: the samples are taken while no other test of this
	// package runs.
	w, _, _ := missionWorld(t, pstest.Options{})
	bob := w.person(t, "bob", false)
	a3 := w.newAgent(t, "aauth:a3@ap.test")
	w.bind(t, a3, bob)
	other := w.approveMission(t, a3, bob, `{"description":"Bob's","capabilities":["interaction"]}`, nil)

	seq := 0
	sample := func(s256 string) time.Duration {
		t.Helper()
		seq++
		if seq%10 == 0 {
			// Stay under the rate limit on repeated misses (PS-208): move
			// the PS clock past its one-minute window now and then.
			w.clock.Advance(61 * time.Second)
		}
		body := []byte(`{"action":"update","description":"probe ` + strconv.Itoa(seq) + `"}`)
		req := signed(t, w.agent, http.MethodPost, w.ps.URL("/mission/"+s256), body, conformance.WithCreatedOffset(w.clock.Offset()))
		start := time.Now()
		res, err := w.env.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		d := time.Since(start)
		if res.StatusCode != http.StatusNotFound {
			t.Fatalf("status %d, want 404", res.StatusCode)
		}
		return d
	}
	for range 20 { // warm up: connections, caches, the JIT of the database
		sample(randomS256())
		sample(other.s256)
	}
	const n = 60
	crit := 1.949 * math.Sqrt(float64(2*n)/float64(n*n))
	// Two rounds, failing only when both do, as the suite's own check
	// does: a burst of load elsewhere on a shared machine (CI runs the
	// browser and conformance packages beside this one) can skew one
	// round, while a path that differs skews every round.
	var failures []string
	for round := 1; round <= 2; round++ {
		var unknown, notOwned []time.Duration
		for i := range n {
			if i%2 == 0 {
				unknown = append(unknown, sample(randomS256()))
				notOwned = append(notOwned, sample(other.s256))
			} else {
				notOwned = append(notOwned, sample(other.s256))
				unknown = append(unknown, sample(randomS256()))
			}
		}
		d := ksStatistic(unknown, notOwned)
		mu, mo := median(unknown), median(notOwned)
		gap := mu - mo
		if gap < 0 {
			gap = -gap
		}
		t.Logf("round %d: unknown: median %v, not owned: median %v, gap %v; KS D = %.3f (critical %.3f at alpha 0.001)", round, mu, mo, gap, d, crit)
		failures = failures[:0]
		if d >= crit {
			failures = append(failures, fmt.Sprintf("latency distributions differ: KS D = %.3f ≥ %.3f (PS-196)", d, crit))
		}
		if gap >= 5*time.Millisecond {
			failures = append(failures, fmt.Sprintf("medians differ by %v ≥ 5 ms (PS-196)", gap))
		}
		if len(failures) == 0 {
			return
		}
	}
	for _, f := range failures {
		t.Errorf("in both rounds; the second: %s", f)
	}
}

// ksStatistic is the two-sample Kolmogorov–Smirnov statistic: the largest
// distance between the two empirical distribution functions.
func ksStatistic(a, b []time.Duration) float64 {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	var i, j int
	var d float64
	for i < len(a) && j < len(b) {
		x := min(a[i], b[j])
		for i < len(a) && a[i] == x {
			i++
		}
		for j < len(b) && b[j] == x {
			j++
		}
		d = max(d, math.Abs(float64(i)/float64(len(a))-float64(j)/float64(len(b))))
	}
	return d
}

func median(s []time.Duration) time.Duration {
	s = slices.Clone(s)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// The statistic itself: identical samples give 0, disjoint ones 1, and a
// hand-computed case.
func TestKSStatistic(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	if d := ksStatistic(ms(1, 2, 3), ms(3, 2, 1)); d != 0 {
		t.Fatalf("identical: %v", d)
	}
	if d := ksStatistic(ms(1, 2, 3), ms(10, 11, 12)); d != 1 {
		t.Fatalf("disjoint: %v", d)
	}
	// F_a after 1,2 is 2/4; F_b after 1,2 is 0 (b = 3,4,5,6): D = 0.5.
	if d := ksStatistic(ms(1, 2, 5, 6), ms(3, 4, 5, 6)); d != 0.5 {
		t.Fatalf("hand case: %v", d)
	}
	if m := median(ms(5, 1, 3, 7)); m != 4*time.Millisecond {
		t.Fatalf("median %v", m)
	}
}
