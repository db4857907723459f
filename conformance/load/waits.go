package load

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Waits are the PS's own counters over a phase (its /metrics): how long
// requests spent in the server, and how much of it waiting for a pooled
// connection or the SQLite writer turn (issue 12: where p99 goes).
type Waits struct {
	// ServerTime is the time requests spent in the PS's handlers,
	// Requests how many it served.
	ServerTime time.Duration
	Requests   int64
	// PoolWait is the time queries waited for a connection, PoolWaits
	// how many waited.
	PoolWait  time.Duration
	PoolWaits int64
	// WriterWait and WriterHeld are the time SQLite writer turns waited
	// and were held; WriterTurns how many were taken.
	WriterWait, WriterHeld time.Duration
	WriterTurns            int64
	// WALRestarts counts the checkpoints that started the SQLite WAL over;
	// WALFrames is the WAL's length at the last checkpoint (a reading, not
	// a sum: Sub keeps the later one).
	WALRestarts, WALFrames int64
}

// waitSeries are the /metrics series Waits adds up (over every label).
var waitSeries = []string{
	"aauth_ps_http_request_duration_seconds_sum", "aauth_ps_http_request_duration_seconds_count",
	"go_sql_wait_duration_seconds_total", "go_sql_wait_count_total",
	"aauth_ps_store_writer_wait_seconds_total", "aauth_ps_store_writer_held_seconds_total", "aauth_ps_store_writer_turns_total",
	"aauth_ps_store_sqlite_wal_restarts_total", "aauth_ps_store_sqlite_wal_frames",
}

// ScrapeWaits reads the PS's /metrics; nil when it cannot.
func (t *Target) ScrapeWaits(ctx context.Context) *Waits {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.Issuer+"/metrics", nil)
	if err != nil {
		return nil
	}
	res, err := t.Client.Do(req)
	if err != nil {
		return nil
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil
	}
	sums := map[string]float64{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, _ := strings.Cut(line, " ")
		if i := strings.IndexByte(line, '{'); i >= 0 {
			name = line[:i]
			_, rest, _ = strings.Cut(line[strings.LastIndexByte(line, '}')+1:], " ")
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64); err == nil {
			sums[name] += v
		}
	}
	sec := func(n string) time.Duration { return time.Duration(sums[n] * float64(time.Second)) }
	return &Waits{
		ServerTime: sec(waitSeries[0]), Requests: int64(sums[waitSeries[1]]),
		PoolWait: sec(waitSeries[2]), PoolWaits: int64(sums[waitSeries[3]]),
		WriterWait: sec(waitSeries[4]), WriterHeld: sec(waitSeries[5]), WriterTurns: int64(sums[waitSeries[6]]),
		WALRestarts: int64(sums[waitSeries[7]]), WALFrames: int64(sums[waitSeries[8]]),
	}
}

// Sub is w minus an earlier reading.
func (w *Waits) Sub(old *Waits) *Waits {
	return &Waits{
		ServerTime: w.ServerTime - old.ServerTime, Requests: w.Requests - old.Requests,
		PoolWait: w.PoolWait - old.PoolWait, PoolWaits: w.PoolWaits - old.PoolWaits,
		WriterWait: w.WriterWait - old.WriterWait, WriterHeld: w.WriterHeld - old.WriterHeld,
		WriterTurns: w.WriterTurns - old.WriterTurns,
		WALRestarts: w.WALRestarts - old.WALRestarts, WALFrames: w.WALFrames,
	}
}

// Summary is the breakdown per operation of a phase with ops operations,
// beside the mean latency the clients saw and
// what Little's law makes of agents in a closed loop.
func (w *Waits) Summary(ops, agents int, perSecond float64) string {
	if ops == 0 {
		return "no operations"
	}
	per := func(d time.Duration) string { return ms(d / time.Duration(ops)) }
	s := fmt.Sprintf("per exchange: in the PS's handlers %s (%d requests), waiting for a pooled connection %s (%.1f waits), for the SQLite writer turn %s (%.1f turns, held %s)",
		per(w.ServerTime), w.Requests, per(w.PoolWait), float64(w.PoolWaits)/float64(ops),
		per(w.WriterWait), float64(w.WriterTurns)/float64(ops), per(w.WriterHeld))
	if w.WALFrames > 0 || w.WALRestarts > 0 { // SQLite
		s += fmt.Sprintf(", the WAL started over %d times (%d pages at the last checkpoint)", w.WALRestarts, w.WALFrames)
	}
	if perSecond > 0 {
		// A closed loop: each agent sends its next exchange when the last
		// one is answered, so the mean latency is agents / throughput
		// whatever the server does with its time.
		s += fmt.Sprintf("; closed loop: %d agents / %.0f exchanges/s = %s mean latency; p99 < 25 ms at %d agents needs ≥ %.0f exchanges/s",
			agents, perSecond, ms(time.Duration(float64(agents)/perSecond*float64(time.Second))), agents, float64(agents)/0.025)
	}
	return s
}
