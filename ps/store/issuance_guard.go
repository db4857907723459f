package store

import (
	"context"

	"github.com/aauth-ps/aauth-ps/mission"
)

// Revocation and issuance serialise on one lock (issue 8): every
// revocation transaction holds it exclusively from before it records
// anything, and every issuing transaction holds it shared while it checks
// the revocations its token stands on and until it commits. So a
// revocation either commits before the issuance checks (and is seen), or
// waits for the issuance to commit (and its cascade then reads the new
// token's record). On SQLite every transaction already holds the database
// write lock from BEGIN (IMMEDIATE), which serialises the same way.

// RevocationLockKey is the PostgreSQL advisory lock of that serialisation
// (an arbitrary constant, unique in this database: "aauthrev").
const RevocationLockKey int64 = 0x6161757468726576

// LockRevocations holds the revocation lock exclusively until the
// transaction ends (revocation.Store).
func (s *Store) LockRevocations(ctx context.Context) error {
	if s.dialect != DialectPostgres {
		return nil
	}
	return wrap("lock revocations", s.stmt(ctx).Exec(`SELECT pg_advisory_xact_lock(?)`, RevocationLockKey).Error)
}

// ShareRevocationLock holds the revocation lock shared until the
// transaction ends (tokens.RevocationGuard). In a PostgreSQL transaction
// the lock is taken with the transaction's next statement, before it, in
// the same round trip: the guard's revocation read (finding 57). Nothing
// is read in between, so what is read after it still includes every
// revocation that committed, and the lock is held until the commit.
func (s *Store) ShareRevocationLock(ctx context.Context) error {
	if s.dialect != DialectPostgres {
		return nil
	}
	const lock = `SELECT pg_advisory_xact_lock_shared(?)`
	if t, ok := s.db.Statement.ConnPool.(*pgTx); ok && queueWrites {
		text, args := s.postgresText(lock, RevocationLockKey)
		t.ahead = append(t.ahead, queuedWrite{op: "share the revocation lock", sql: text, args: args})
		return nil
	}
	return wrap("share the revocation lock", s.stmt(pastQueue(ctx)).Exec(lock, RevocationLockKey).Error)
}

// LockMissionForIssuance reads a mission again, on PostgreSQL holding its
// row until the transaction ends (as AppendMissionLog does), so its state
// cannot change before an issuance under it commits; ErrNotFound when
// there is none (tokens.RevocationGuard). A mission this transaction
// already holds (LockMission) is answered as held, without a statement;
// otherwise it is LockMission: one statement, the read and the lock.
func (s *Store) LockMissionForIssuance(ctx context.Context, s256 string) (*mission.Record, error) {
	if m := s.heldMission(s256); m != nil {
		return m, nil
	}
	return s.LockMission(ctx, s256)
}
