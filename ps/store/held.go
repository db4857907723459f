package store

import "github.com/aauth-ps/aauth-ps/mission"

// heldMissions is what one transaction knows of the missions whose rows
// it holds: each mission as LockMission read it under its lock, kept
// current with this transaction's own writes to the row. Nobody else can
// change a held row before the transaction ends (PostgreSQL: FOR UPDATE;
// SQLite: the write lock from BEGIN), so re-reading it in the same
// transaction (the issuance guard after a decision, the mission log's
// lock) would only repeat a statement: the mission-bound exchange did it
// three times per request on PostgreSQL (issue 12). Savepoints share
// their transaction's; a savepoint that rolls back forgets everything
// (its locks and writes are undone with it).
type heldMissions struct {
	byS256 map[string]mission.Record
}

// hold remembers m as locked and current in s's transaction; outside a
// transaction it does nothing.
func (s *Store) hold(m *mission.Record) {
	if s.held == nil {
		return
	}
	if s.held.byS256 == nil {
		s.held.byS256 = map[string]mission.Record{}
	}
	s.held.byS256[m.S256] = *m
}

// heldMission is the mission with s256 as this transaction holds it (a
// copy), or nil when it does not hold it.
func (s *Store) heldMission(s256 string) *mission.Record {
	if s.held == nil {
		return nil
	}
	m, ok := s.held.byS256[s256]
	if !ok {
		return nil
	}
	return &m
}

// bumpHeld follows a version bump this transaction made to a held row.
func (s *Store) bumpHeld(s256 string) {
	if s.held == nil {
		return
	}
	if m, ok := s.held.byS256[s256]; ok {
		m.Version++
		s.held.byS256[s256] = m
	}
}

// forgetHeld drops a held mission after any other write to its row: the
// next read takes it from the database again (its lock is still held).
func (s *Store) forgetHeld(s256 string) {
	if s.held != nil {
		delete(s.held.byS256, s256)
	}
}

// forgetAllHeld is a rolled-back savepoint: what it locked is released
// and what it wrote undone.
func (s *Store) forgetAllHeld() {
	if s.held != nil {
		s.held.byS256 = nil
	}
}
