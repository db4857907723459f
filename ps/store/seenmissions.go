package store

import (
	"context"
	"sync/atomic"

	"github.com/aauth-ps/aauth-ps/mission"

	lru "github.com/hashicorp/golang-lru/v2"
)

// seenMissionsSize bounds the mission rows kept decoded, and
// seenMissionMaxBytes the size of one kept row (its blob, proposal,
// consent rendering and overlays; the sets are not kept): with both, the
// cache holds at most 16 MiB whatever the number of stored missions. A
// larger row is read whole every time.
const (
	seenMissionsSize    = 1024
	seenMissionMaxBytes = 16 << 10
)

// seenMissions keeps decoded mission rows between transactions, each at
// the version it was read or committed at. A kept row is used only after
// the database confirms it: every read of a mission first reads the row's
// stamp (its version, its state and its approval instant), and the kept
// row stands in for the wide one only when the stamp is equal. Every
// write to a mission row moves its version or ends it
// (TestEveryMissionWriteMovesVersionOrState) and approved_at_ms is unique
// per PS, so an equal stamp means an equal row, whichever replica
// wrote it. The Authority Sets and their hashes are read with the stamp
// and always taken from it, never from the kept row: a decision loads its
// set only through a path that checks the stored bytes against their
// hash (design §3 step 4), so a set changed in the database behind the
// PS is still refused (TestCachedSetStillChecksIntegrity). Each
// mission-bound request read and decoded the whole row (the blob, the
// proposal, the consent rendering, the capabilities): 7.7 % of the PS's
// CPU on SQLite under load (issue 12).
//
// Only committed rows enter it: a row read outside a transaction is as
// the database had it, and a transaction's held missions (held.go, kept
// current with its own writes) are added after it commits.
type seenMissions struct {
	rows *lru.Cache[string, mission.Record] // s256 → row
	// wide counts the whole rows read (tests).
	wide atomic.Int64
}

func newSeenMissions() *seenMissions {
	rows, _ := lru.New[string, mission.Record](seenMissionsSize)
	return &seenMissions{rows: rows}
}

// missionStamp is what identifies a mission row's content, and the
// Authority Sets a decision must read from the database each time.
type missionStamp struct {
	S256                   string  `gorm:"column:s256"`
	Version                int64   `gorm:"column:version"`
	State                  string  `gorm:"column:state"`
	ApprovedAtMS           int64   `gorm:"column:approved_at_ms"`
	AuthoritySet           *string `gorm:"column:authority_set"`
	AuthorityHash          *string `gorm:"column:authority_hash"`
	EffectiveAuthoritySet  *string `gorm:"column:effective_authority_set"`
	EffectiveAuthorityHash *string `gorm:"column:effective_authority_hash"`
}

// stampSQL reads a row's stamp by a column; stampSQL's text is built once
// (gorm's query builder was a sixth of the read's CPU).
func stampSQL(column string, lock bool) string {
	q := `SELECT s256, version, state, approved_at_ms, authority_set, authority_hash,
		effective_authority_set, effective_authority_hash FROM missions WHERE ` + column + ` = ?`
	if lock {
		q += ` FOR UPDATE`
	}
	return q
}

var (
	stampByS256     = stampSQL("s256", false)
	stampByOwnerKey = stampSQL("owner_key", false)
	stampLocked     = stampSQL("s256", true) // PostgreSQL's LockMission
)

// seenStampLocked reads what LockSeenMission compares on PostgreSQL: the
// row's identity, not its sets (the request read them already). SQLite
// reads the same columns as the first row of seenStampCountersSQL.
const seenStampLocked = `SELECT s256, version, state, approved_at_ms FROM missions WHERE s256 = ? FOR UPDATE`

// sameRow reports whether m is the row stamped st (its sets aside).
func (st missionStamp) sameRow(m *mission.Record) bool {
	return m.S256 == st.S256 && m.Version == st.Version && m.Terminated == (st.State == "terminated") &&
		m.ApprovedAt.UnixMilli() == st.ApprovedAtMS
}

// apply is m (a copy) if m is the row stamped st, with st's sets; nil
// otherwise.
func (st missionStamp) apply(m *mission.Record) *mission.Record {
	if !st.sameRow(m) || (m.Composition == nil) != (st.AuthoritySet == nil) {
		return nil
	}
	out := *m
	if m.Composition != nil {
		c := *m.Composition
		c.AuthoritySet, c.AuthorityHash = rawOf(st.AuthoritySet), strOf(st.AuthorityHash)
		c.EffectiveSet, c.EffectiveHash = rawOf(st.EffectiveAuthoritySet), strOf(st.EffectiveAuthorityHash)
		out.Composition = &c
	}
	return &out
}

// get is the kept row stamped st (a copy, with st's sets), or nil.
func (c *seenMissions) get(st missionStamp) *mission.Record {
	m, ok := c.rows.Get(st.S256)
	if !ok {
		return nil
	}
	return st.apply(&m)
}

// put keeps m without its sets (a hit takes them from the stamp), unless
// the rest is too large to keep.
func (c *seenMissions) put(m *mission.Record) {
	kept := *m
	size := len(m.Blob)
	if x := m.Composition; x != nil {
		size += len(x.Overlays) + len(x.Proposal) + len(x.ConsentRendering)
		y := *x
		y.AuthoritySet, y.AuthorityHash, y.EffectiveSet, y.EffectiveHash = nil, "", nil, ""
		kept.Composition = &y
	}
	if size > seenMissionMaxBytes {
		c.rows.Remove(m.S256)
		return
	}
	c.rows.Add(m.S256, kept)
}

// readMission reads the mission whose stamp stampQuery reads with value,
// or ErrNotFound: its stamp, then the whole row only when no kept row has
// that stamp.
func (s *Store) readMission(ctx context.Context, op, stampQuery, value string) (*mission.Record, error) {
	stamps := make([]missionStamp, 0, 1) // gorm makes room for 20 in a nil slice (finding 62)
	if err := s.stmt(ctx).Raw(stampQuery, value).Scan(&stamps).Error; err != nil {
		return nil, wrap(op, err)
	}
	if len(stamps) == 0 {
		return nil, &Error{Op: op, Kind: ErrNotFound}
	}
	return s.stampedMission(ctx, op, stamps[0])
}

// stampedMission is the mission row stamped st: the kept row when it has
// that stamp, else the whole row read.
func (s *Store) stampedMission(ctx context.Context, op string, st missionStamp) (*mission.Record, error) {
	if m := s.seen.get(st); m != nil {
		return m, nil
	}
	s.seen.wide.Add(1)
	var r missionRow
	if err := s.stmt(ctx).Where("s256 = ?", st.S256).Limit(1).Find(&r).Error; err != nil {
		return nil, wrap(op, err)
	}
	if r.S256 == "" { // gone between the two reads (outside a transaction)
		return nil, &Error{Op: op, Kind: ErrNotFound}
	}
	m := r.record()
	if s.afterCommit == nil {
		s.seen.put(m) // committed: read outside any transaction
	}
	return m, nil
}

// keepHeldAfterCommit adds s's transaction's held missions to the kept
// rows once it commits, as its own writes left them (held.go). hold
// registers it when the held set gains its first mission; a savepoint
// that rolls back drops its registration with its hooks and empties the
// held set, so the next hold registers it again.
func (s *Store) keepHeldAfterCommit() {
	held, seen := s.held, s.seen
	s.AfterCommit(func() {
		for _, m := range held.byS256 {
			seen.put(&m)
		}
	})
}
