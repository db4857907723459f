package load

import (
	"context"
	"fmt"
	"slices"
	"strings"

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
	// a synchronous commit waits for one. -1 when not reported (before 14).
	WALSyncs int64
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
	if conn.QueryRow(ctx, `SELECT wal_sync FROM pg_stat_wal`).Scan(&s.WALSyncs) != nil {
		s.WALSyncs = -1
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
		WALSyncs: s.WALSyncs - before.WALSyncs}
	if s.WALSyncs < 0 || before.WALSyncs < 0 {
		d.WALSyncs = -1
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
		fmt.Fprintf(&b, ", %.1f WAL flushes (the cluster's)", per(s.WALSyncs))
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
