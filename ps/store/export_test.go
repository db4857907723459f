package store

import "context"

// RememberAsyncPostgresSQL is the replay write's PostgreSQL statement, for
// the test that it changes its own transaction only.
const RememberAsyncPostgresSQL = rememberAsyncPostgres

// EvidenceHeadsDueSQL is the head-signing sweep's statement, for the test
// of its plan.
const EvidenceHeadsDueSQL = evidenceHeadsDueSQL

// MissionAndBindingSQL is the statement that reads a mission with its
// agent's binding (ReadBindingAhead), for the test of its plan.
func MissionAndBindingSQL(dialect string) string { return missionAndBindingQueries[dialect][0][0] }

// MissionBindingRevocationsAndScopesSQL reads two tokens' revocation and
// a grant's scopes as well.
func MissionBindingRevocationsAndScopesSQL(dialect string) string {
	return missionAndBindingQueries[dialect][2][1]
}

// LimitConnections caps the pool, so that a test's statements share one
// session.
func (s *Store) LimitConnections(n int) { s.sqlDB.SetMaxOpenConns(n) }

// QueuedWrites and SentBatches report, inside a PostgreSQL transaction, the
// writes writeLater queued and the batches that carried them (0, 0
// elsewhere).
func (s *Store) QueuedWrites() int {
	if t, ok := s.db.Statement.ConnPool.(*pgTx); ok {
		return len(t.queued)
	}
	return 0
}

func (s *Store) SentBatches() int {
	if t, ok := s.db.Statement.ConnPool.(*pgTx); ok {
		return t.batches
	}
	return 0
}

// ObserveTransactions calls f with the round trips of every PostgreSQL
// transaction begun with a context f accepts, BEGIN and COMMIT included,
// as it ends; the returned func stops it.
func ObserveTransactions(f func(ctx context.Context, roundTrips int)) (stop func()) {
	observeTx.Store(&f)
	return func() { observeTx.Store(nil) }
}

// QueueWrites turns writeLater's queue on or off (the benchmark's
// comparison); it returns the previous setting.
func QueueWrites(on bool) bool {
	was := queueWrites
	queueWrites = on
	return was
}

// SetPurgeBatch makes each purge statement delete at most n rows.
func (s *Store) SetPurgeBatch(n int) { s.purgeBatch = n }

// IssuedFromSQL is IssuedFrom's query; its arguments are now, the parent
// jti, now, the parent jti twice, the limit.
var IssuedFromSQL = issuedSQL(issuedFromPersonWhere, issuedFromAuthWhere)

// IssuedUnderMissionSQL is IssuedUnderMission's query; its arguments are
// now, the mission's s256, now, the s256, the limit.
var IssuedUnderMissionSQL = issuedSQL(issuedUnderMissionWhere, issuedUnderMissionWhere)

// WideMissionReads counts the whole mission rows this pool has read
// (the rest came from its kept rows, seenmissions.go).
func (s *Store) WideMissionReads() int64 { return s.seen.wide.Load() }

// SetWALRestartFrames sets the WAL length past which Checkpoint starts
// the WAL over (sqliteWALRestartFrames).
func (s *Store) SetWALRestartFrames(n int64) { s.walRestartFrames.Store(n) }

// ClaimRetriesSQL is the claim of due revocation retries, for the test of
// its plan.
func ClaimRetriesSQL(dialect string) string { return claimRetriesSQL(dialect) }
