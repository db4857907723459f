package store

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// waitCounters add up the SQLite writer turns of one pool (issue 12: where
// a request's latency goes under load). Zero on PostgreSQL.
type waitCounters struct {
	turns, waitNS, heldNS, groupedTx atomic.Int64
	// walFrames is the SQLite WAL's length at the last checkpoint and
	// walRestarts the checkpoints that started it over (Checkpoint).
	walFrames, walRestarts atomic.Int64
}

// grouped counts transactions committed in another's turn (txgroup.go).
func (w *waitCounters) grouped(n int) {
	if w != nil {
		w.groupedTx.Add(int64(n))
	}
}

func (w *waitCounters) writerWaited(d time.Duration) {
	if w != nil {
		w.turns.Add(1)
		w.waitNS.Add(int64(d))
	}
}

// groupWaited counts the wait of a transaction another's turn committed
// (txgroup.go): queued until its group committed, without a turn.
func (w *waitCounters) groupWaited(d time.Duration) {
	if w != nil {
		w.waitNS.Add(int64(d))
	}
}

func (w *waitCounters) writerHeld(d time.Duration) {
	if w != nil {
		w.heldNS.Add(int64(d))
	}
}

// WaitStats is where the store's callers waited since Open.
type WaitStats struct {
	// WriterTurns counts SQLite writer turns (transactions and single
	// writes); WriterWait is the time they waited for their turn (and
	// grouped transactions for their group's commit) and WriterHeld the
	// time turns were held.
	WriterTurns            int64
	WriterWait, WriterHeld time.Duration
	// GroupedTransactions counts SQLite transactions that committed in
	// another's writer turn, with its commit (txgroup.go).
	GroupedTransactions int64
	// WALFrames is the SQLite WAL's length in frames (pages) at the last
	// checkpoint, and WALRestarts the checkpoints that had the next
	// commit write it from its start.
	WALFrames, WALRestarts int64
	// PoolWaits counts the queries that waited for a pooled connection,
	// PoolWait for how long in all; OpenConns and InUse are the pool now.
	PoolWaits        int64
	PoolWait         time.Duration
	OpenConns, InUse int
}

// WaitStats reports the waits of s's pool (zero inside a transaction).
func (s *Store) WaitStats() WaitStats {
	var ws WaitStats
	if s.waits != nil {
		ws.WriterTurns = s.waits.turns.Load()
		ws.WriterWait = time.Duration(s.waits.waitNS.Load())
		ws.WriterHeld = time.Duration(s.waits.heldNS.Load())
		ws.GroupedTransactions = s.waits.groupedTx.Load()
		ws.WALFrames, ws.WALRestarts = s.waits.walFrames.Load(), s.waits.walRestarts.Load()
	}
	if s.sqlDB != nil {
		st := s.sqlDB.Stats()
		ws.PoolWaits, ws.PoolWait, ws.OpenConns, ws.InUse = st.WaitCount, st.WaitDuration, st.OpenConnections, st.InUse
	}
	return ws
}

// Collectors are the store's Prometheus series: the connection pool
// (go_sql_*{db_name="ps"}) and the SQLite writer turns
// (aauth_ps_store_writer_*), for /metrics and the load run's wait
// breakdown. None inside a transaction.
func (s *Store) Collectors() []prometheus.Collector {
	if s.sqlDB == nil {
		return nil
	}
	return []prometheus.Collector{collectors.NewDBStatsCollector(s.sqlDB, "ps"), writerCollector{s}}
}

var (
	writerTurnsDesc = prometheus.NewDesc("aauth_ps_store_writer_turns_total",
		"SQLite writer turns taken (transactions and single writes; 0 on PostgreSQL).", nil, nil)
	writerWaitDesc = prometheus.NewDesc("aauth_ps_store_writer_wait_seconds_total",
		"Time spent waiting for the SQLite writer turn.", nil, nil)
	writerHeldDesc = prometheus.NewDesc("aauth_ps_store_writer_held_seconds_total",
		"Time the SQLite writer turn was held.", nil, nil)
	groupedTxDesc = prometheus.NewDesc("aauth_ps_store_grouped_transactions_total",
		"SQLite transactions committed with another's, in its writer turn (0 on PostgreSQL).", nil, nil)
	walFramesDesc = prometheus.NewDesc("aauth_ps_store_sqlite_wal_frames",
		"Pages in the SQLite WAL at the last checkpoint (0 on PostgreSQL).", nil, nil)
	walRestartsDesc = prometheus.NewDesc("aauth_ps_store_sqlite_wal_restarts_total",
		"SQLite checkpoints after which the WAL was written from its start again (0 on PostgreSQL).", nil, nil)
)

type writerCollector struct{ s *Store }

func (writerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- writerTurnsDesc
	ch <- writerWaitDesc
	ch <- writerHeldDesc
	ch <- groupedTxDesc
	ch <- walFramesDesc
	ch <- walRestartsDesc
}

func (c writerCollector) Collect(ch chan<- prometheus.Metric) {
	ws := c.s.WaitStats()
	ch <- prometheus.MustNewConstMetric(writerTurnsDesc, prometheus.CounterValue, float64(ws.WriterTurns))
	ch <- prometheus.MustNewConstMetric(writerWaitDesc, prometheus.CounterValue, ws.WriterWait.Seconds())
	ch <- prometheus.MustNewConstMetric(writerHeldDesc, prometheus.CounterValue, ws.WriterHeld.Seconds())
	ch <- prometheus.MustNewConstMetric(groupedTxDesc, prometheus.CounterValue, float64(ws.GroupedTransactions))
	ch <- prometheus.MustNewConstMetric(walFramesDesc, prometheus.GaugeValue, float64(ws.WALFrames))
	ch <- prometheus.MustNewConstMetric(walRestartsDesc, prometheus.CounterValue, float64(ws.WALRestarts))
}
