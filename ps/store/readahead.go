package store

import (
	"context"
	"sync"

	"github.com/aauth-ps/aauth-ps/mission"
)

// A token request that names a mission reads two things before its
// decision: the mission, by its owner key, and the agent's live binding
// with its person. They were two statements, and on PostgreSQL two round
// trips, on every such request (issue 12, finding 67). A request that
// will read both says so with ReadBindingAhead; its mission read then
// reads the binding and person in the same statement, and the request's
// BoundPerson answers from that once.
//
// The two answers are read together at the mission read instead of
// separately a moment later. Nothing relies on the binding being read
// after the mission: it is read outside the decision's transaction either
// way, and a revocation that commits after it cascades to what the
// transaction issues (tokens.RevocationGuard).

// bindingAheadKey is the context key of a request's bindingAhead.
type bindingAheadKey struct{}

// bindingAhead is one agent's live binding and person, read with its
// mission and taken once.
type bindingAhead struct {
	provider, agentID string

	mu    sync.Mutex
	read  bool // read and not yet taken
	found bool
	row   boundRow
}

// ReadBindingAhead returns ctx, which makes the first mission read by
// owner key outside a transaction (OwnedMission) also read the live
// binding of the agent provider/agentID and its person, and BoundPerson
// for that agent answer once from what it read.
func ReadBindingAhead(ctx context.Context, provider, agentID string) context.Context {
	return context.WithValue(ctx, bindingAheadKey{}, &bindingAhead{provider: provider, agentID: agentID})
}

// bindingAheadFor is ctx's bindingAhead when s should read it now: outside
// a transaction (inside one, reads see its writes and its snapshot, and
// the answer must not outlive it), and not read yet.
func (s *Store) bindingAheadFor(ctx context.Context) *bindingAhead {
	ahead, _ := ctx.Value(bindingAheadKey{}).(*bindingAhead)
	if ahead == nil || s.afterCommit != nil {
		return nil
	}
	ahead.mu.Lock()
	defer ahead.mu.Unlock()
	if ahead.read {
		return nil
	}
	return ahead
}

// takeBindingAhead is the binding and person read ahead for this agent,
// if any is waiting: ok is false when BoundPerson must read them itself.
// found is false when the agent had no live binding.
func (s *Store) takeBindingAhead(ctx context.Context, provider, agentID string) (row boundRow, found, ok bool) {
	ahead, _ := ctx.Value(bindingAheadKey{}).(*bindingAhead)
	if ahead == nil || s.afterCommit != nil || ahead.provider != provider || ahead.agentID != agentID {
		return boundRow{}, false, false
	}
	ahead.mu.Lock()
	defer ahead.mu.Unlock()
	if !ahead.read {
		return boundRow{}, false, false
	}
	ahead.read = false
	return ahead.row, ahead.found, true
}

// missionAndBindingQuery reads a mission's stamp by owner key (its columns
// prefixed m_) and an agent's live binding with its person, each or both
// absent as NULLs. Owner keys are unique and an agent has one live binding
// at most, so there is one row.
const missionAndBindingQuery = `SELECT m.s256 AS m_s256, m.version AS m_version, m.state AS m_state,
  m.approved_at_ms AS m_approved_at_ms, m.authority_set AS m_authority_set, m.authority_hash AS m_authority_hash,
  m.effective_authority_set AS m_effective_authority_set, m.effective_authority_hash AS m_effective_authority_hash,
  ` + boundPersonColumns + `
FROM (SELECT 1 AS one) AS one
  LEFT JOIN missions m ON m.owner_key = ?
  LEFT JOIN agent_bindings b ON b.provider = ? AND b.agent_id = ? AND b.` + liveBinding + `
  LEFT JOIN persons p ON p.id = b.person_id
LIMIT 1`

// missionAndBindingRow is a row of missionAndBindingQuery.
type missionAndBindingRow struct {
	Stamp missionStamp `gorm:"embedded;embeddedPrefix:m_"`
	Bound boundRow     `gorm:"embedded"`
}

// ownedMissionReadingAhead is OwnedMission, reading ahead's binding in the
// same statement.
func (s *Store) ownedMissionReadingAhead(ctx context.Context, ownerKey string, ahead *bindingAhead) (*mission.Record, error) {
	const op = "read mission"
	rows := make([]missionAndBindingRow, 0, 1)
	if err := s.stmt(ctx).Raw(missionAndBindingQuery, ownerKey, ahead.provider, ahead.agentID).Scan(&rows).Error; err != nil {
		return nil, wrap(op, err)
	}
	var r missionAndBindingRow
	if len(rows) > 0 {
		r = rows[0]
	}
	ahead.mu.Lock()
	// A binding whose person is gone is none, as BoundPerson's join has it.
	ahead.read, ahead.found, ahead.row = true, r.Bound.Binding.ID != "" && r.Bound.Person.ID != "", r.Bound
	ahead.mu.Unlock()
	if r.Stamp.S256 == "" {
		return nil, &Error{Op: op, Kind: ErrNotFound}
	}
	return s.stampedMission(ctx, op, r.Stamp)
}
