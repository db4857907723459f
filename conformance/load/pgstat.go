package load

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// PGStats is what PostgreSQL's cumulative statistics say about the PS's
// database (pg_stat_database, pg_stat_user_tables). The difference of two
// snapshots around a phase says where PostgreSQL's time went: how many
// transactions (each an autocommit statement or a store.InTx) and rows
// one exchange costs, and which tables were read by sequential scans — a
// query that scans grows with the table, an index probe does not.
// Backends flush their counters at most once a second, so the figures of
// a phase are good to a second's worth of requests.
type PGStats struct {
	Xacts, TupReturned, TupFetched, Blocks int64
	// WALSyncs are the cluster's WAL flushes to disk (pg_stat_wal, every
	// database's and the WAL writer's: a quiet cluster is the PS's alone);
	// a synchronous commit waits for one; WALBytes is what was written
	// to it (full-page images included). -1 when not reported (before 14).
	WALSyncs, WALBytes int64
	// Tables are the per-table counters, by name.
	Tables map[string]TableStats
}

// TableStats are one table's scan counters.
type TableStats struct {
	SeqScan, SeqRead, IdxScan, IdxFetch int64
}

// PGSnapshot reads the counters of the database dbURL names.
func PGSnapshot(ctx context.Context, dbURL string) (*PGStats, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	s := &PGStats{Tables: map[string]TableStats{}}
	err = conn.QueryRow(ctx, `SELECT xact_commit + xact_rollback, tup_returned, tup_fetched, blks_hit + blks_read
		FROM pg_stat_database WHERE datname = current_database()`).Scan(&s.Xacts, &s.TupReturned, &s.TupFetched, &s.Blocks)
	if err != nil {
		return nil, err
	}
	if conn.QueryRow(ctx, `SELECT wal_sync, wal_bytes::bigint FROM pg_stat_wal`).Scan(&s.WALSyncs, &s.WALBytes) != nil {
		s.WALSyncs, s.WALBytes = -1, -1
	}
	rows, err := conn.Query(ctx, `SELECT relname, COALESCE(seq_scan, 0), COALESCE(seq_tup_read, 0),
		COALESCE(idx_scan, 0), COALESCE(idx_tup_fetch, 0) FROM pg_stat_user_tables`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var t TableStats
		if err := rows.Scan(&name, &t.SeqScan, &t.SeqRead, &t.IdxScan, &t.IdxFetch); err != nil {
			return nil, err
		}
		s.Tables[name] = t
	}
	return s, rows.Err()
}

// Sub is s − before: what happened between the two snapshots.
func (s *PGStats) Sub(before *PGStats) *PGStats {
	d := &PGStats{Xacts: s.Xacts - before.Xacts, TupReturned: s.TupReturned - before.TupReturned,
		TupFetched: s.TupFetched - before.TupFetched, Blocks: s.Blocks - before.Blocks, Tables: map[string]TableStats{},
		WALSyncs: s.WALSyncs - before.WALSyncs, WALBytes: s.WALBytes - before.WALBytes}
	if s.WALSyncs < 0 || before.WALSyncs < 0 {
		d.WALSyncs, d.WALBytes = -1, -1
	}
	for name, t := range s.Tables {
		b := before.Tables[name]
		dt := TableStats{SeqScan: t.SeqScan - b.SeqScan, SeqRead: t.SeqRead - b.SeqRead, IdxScan: t.IdxScan - b.IdxScan, IdxFetch: t.IdxFetch - b.IdxFetch}
		if dt != (TableStats{}) {
			d.Tables[name] = dt
		}
	}
	return d
}

// Summary is the phase's statistics per operation, for the report: the
// transactions and rows, then the tables read by sequential scans, most
// rows first.
func (s *PGStats) Summary(ops int) string {
	if ops == 0 {
		return ""
	}
	per := func(n int64) float64 { return float64(n) / float64(ops) }
	var b strings.Builder
	fmt.Fprintf(&b, "%.1f transactions, %.0f rows returned, %.0f fetched, %.0f buffers per exchange",
		per(s.Xacts), per(s.TupReturned), per(s.TupFetched), per(s.Blocks))
	if s.WALSyncs >= 0 {
		fmt.Fprintf(&b, ", %.1f WAL flushes and %.1f kB of WAL (the cluster's)", per(s.WALSyncs), per(s.WALBytes)/1000)
	}
	names := make([]string, 0, len(s.Tables))
	for n, t := range s.Tables {
		if t.SeqScan > 0 {
			names = append(names, n)
		}
	}
	slices.SortFunc(names, func(a, b string) int { return int(s.Tables[b].SeqRead - s.Tables[a].SeqRead) })
	if len(names) == 0 {
		b.WriteString("; no sequential scans")
		return b.String()
	}
	b.WriteString("; sequential scans per exchange:")
	for i, n := range names {
		if i == 6 {
			fmt.Fprintf(&b, " (+%d tables)", len(names)-i)
			break
		}
		t := s.Tables[n]
		fmt.Fprintf(&b, " %s %.2f (%.0f rows)", n, per(t.SeqScan), per(t.SeqRead))
	}
	return b.String()
}

// PGWaits is what the PS's PostgreSQL backends were seen waiting for,
// sampled from pg_stat_activity during a phase: the cumulative statistics
// count work, not waiting, and a lock wait or a commit's WAL flush costs
// latency without CPU. "idle in transaction" is a backend holding a
// transaction open while it waits for the PS.
type PGWaits struct {
	Samples int
	Every   time.Duration
	// Seen counts, per "type:event", the backends seen in it, summed over
	// the samples.
	Seen map[string]int
}

// SamplePGWaits samples the backends of the database dbURL names every
// interval until the returned stop is called, from a connection to the
// cluster's postgres database (so its own work is not counted as the
// PS's database's). When it cannot connect, or its query fails, it stops
// sampling: stop then returns nil, or the samples taken so far.
func SamplePGWaits(ctx context.Context, dbURL string, every time.Duration) (stop func() *PGWaits) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return func() *PGWaits { return nil }
	}
	db := strings.TrimPrefix(u.Path, "/")
	u.Path = "/postgres"
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return func() *PGWaits { return nil }
	}
	w := &PGWaits{Every: every, Seen: map[string]int{}}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		defer conn.Close(context.WithoutCancel(ctx))
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			rows, err := conn.Query(ctx, `SELECT CASE WHEN state = 'idle in transaction' THEN 'idle in transaction'
				ELSE wait_event_type || ':' || wait_event END
				FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'
				AND (state = 'idle in transaction' OR (state = 'active' AND wait_event IS NOT NULL))`, db)
			if err != nil {
				return
			}
			for rows.Next() {
				var k string
				if rows.Scan(&k) == nil {
					w.Seen[k]++
				}
			}
			rows.Close()
			w.Samples++
		}
	}()
	return func() *PGWaits {
		close(done)
		<-finished
		return w
	}
}

// Summary is the time per operation spent in each wait, largest first
// (at most five), estimated as backends seen × the sampling interval.
func (w *PGWaits) Summary(ops int) string {
	if w == nil || ops == 0 {
		return ""
	}
	keys := make([]string, 0, len(w.Seen))
	for k := range w.Seen {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(w.Seen[b]-w.Seen[a], strings.Compare(a, b)) })
	var b strings.Builder
	fmt.Fprintf(&b, "%d samples every %s", w.Samples, w.Every)
	if len(keys) == 0 {
		b.WriteString(", no backend waiting")
	}
	for i, k := range keys {
		if i == 5 {
			fmt.Fprintf(&b, " (+%d more)", len(keys)-i)
			break
		}
		per := time.Duration(w.Seen[k]) * w.Every / time.Duration(ops)
		fmt.Fprintf(&b, "; %s %.2f ms", k, float64(per)/float64(time.Millisecond))
	}
	return b.String()
}
