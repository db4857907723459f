package composition

import (
	"context"
	"encoding/json"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
)

// Store is what Mission composition needs from the database; ps/store
// implements it. Calls made inside one store.InTx commit together.
type Store interface {
	// LockMission reads a mission and holds its row until the transaction
	// ends (PostgreSQL FOR UPDATE; SQLite transactions hold the write lock).
	LockMission(ctx context.Context, s256 string) (*mission.Record, error)
	// LockSeenMission is LockMission for a mission the caller has read
	// (seen): seen itself when the row's version and state are still
	// seen's, the row read whole otherwise; with its MissionCounters read
	// under the lock.
	LockSeenMission(ctx context.Context, seen *mission.Record) (*mission.Record, authority.Snapshot, error)
	// MissionCounters fills the snapshot's Consent, Checkpoints, Grants
	// and Spent (budgets by lineage).
	MissionCounters(ctx context.Context, s256, lineage string) (authority.Snapshot, error)
	// ApplyMissionEffects commits effects if the mission is at version
	// (dberr.ErrConflict otherwise) and bumps the version.
	ApplyMissionEffects(ctx context.Context, s256, lineage string, version int64, e authority.Effects, at time.Time) error
	// TerminateMission ends an active mission and logs entry with it.
	TerminateMission(ctx context.Context, s256 string, reason mission.Reason, by string, at time.Time, entry mission.Entry) (bool, error)
	// RecordCheckpoint records a checkpoint (agentAsserted: ordering only).
	RecordCheckpoint(ctx context.Context, s256, checkpoint string, agentAsserted bool, at time.Time) error
	// SetMissionHold sets or clears the suspension hold at version.
	SetMissionHold(ctx context.Context, s256 string, version int64, hold *mission.Hold) (bool, error)
	// SetEffectiveAuthority stores accepted narrowing overlays at version.
	SetEffectiveAuthority(ctx context.Context, s256 string, version int64, overlays, set json.RawMessage, hash string) (bool, error)
	EvidenceHead(ctx context.Context, chain string) (*evidence.Stored, error)
	// EvidenceLink is the head's chain, seq and hash (nil for an empty
	// chain): all that appending needs of it.
	EvidenceLink(ctx context.Context, chain string) (*evidence.Link, error)
	InsertEvidence(ctx context.Context, s256 string, st evidence.Stored) error
	Evidence(ctx context.Context, chain string) ([]evidence.Stored, error)
	MissionEvidence(ctx context.Context, s256, typ string, limit int) ([]evidence.Stored, error)
	// AfterCommit runs f once the transaction commits (at once outside one).
	AfterCommit(f func())
}
