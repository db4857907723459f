package store

import (
	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
)

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
	// heads are the mission chains' heads (nil: an empty chain) as read
	// with a held mission's counters and moved by this transaction's own
	// appends: every append to a mission's chains locks the mission
	// first, so no one else can move them either (issue 12: the head was
	// a statement of its own in every decision).
	heads map[string]*evidence.Link
}

// hold remembers m as locked and current in s's transaction; outside a
// transaction it does nothing.
func (s *Store) hold(m *mission.Record) {
	if s.held == nil {
		return
	}
	if len(s.held.byS256) == 0 {
		s.keepHeldAfterCommit()
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
		s.held.byS256, s.held.heads = nil, nil
	}
}

// holds reports whether this transaction holds mission s256's row.
func (s *Store) holds(s256 string) bool {
	if s.held == nil {
		return false
	}
	_, ok := s.held.byS256[s256]
	return ok
}

// rememberHead records chain's head as this transaction knows it.
func (s *Store) rememberHead(chain string, head *evidence.Link) {
	if s.held.heads == nil {
		s.held.heads = map[string]*evidence.Link{}
	}
	s.held.heads[chain] = head
}

// heldHead is chain's head as this transaction knows it (ok false when
// it does not): a copy, nil for an empty chain.
func (s *Store) heldHead(chain string) (head *evidence.Link, ok bool) {
	if s.held == nil {
		return nil, false
	}
	h, ok := s.held.heads[chain]
	if !ok || h == nil {
		return nil, ok
	}
	c := *h
	return &c, true
}

// movedHead follows this transaction's append to a chain whose head it
// knows.
func (s *Store) movedHead(to evidence.Link) {
	if s.held == nil {
		return
	}
	if _, ok := s.held.heads[to.Chain]; ok {
		s.held.heads[to.Chain] = &to
	}
}
