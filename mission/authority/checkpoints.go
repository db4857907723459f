package authority

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrCheckpoint is a checkpoint that cannot be recorded this way now.
var ErrCheckpoint = errors.New("authority: checkpoint cannot be recorded")

// RecordCheckpoint checks that checkpoint id may be recorded via `via`
// (inline, permission, control or audit) at now: it exists, lists the
// way, and every checkpoint it comes after is recorded (design §2
// "Stages"). It returns the record to store; attestations are marked
// agent-asserted (ordering only, never proof). A single-use checkpoint
// recorded again becomes fresh (unconsumed).
func RecordCheckpoint(s *Set, recs map[string]CheckpointRecord, id, via string, now time.Time) (CheckpointRecord, error) {
	cp := s.Checkpoint(id)
	if cp == nil {
		return CheckpointRecord{}, fmt.Errorf("%w: no checkpoint %q", ErrCheckpoint, id)
	}
	if !slices.Contains(cp.SatisfyVia, via) {
		return CheckpointRecord{}, fmt.Errorf("%w: %q is not satisfied via %s", ErrCheckpoint, id, via)
	}
	if !afterMet(s, cp, recs, now) {
		return CheckpointRecord{}, fmt.Errorf("%w: %q comes after a checkpoint not yet recorded", ErrCheckpoint, id)
	}
	return CheckpointRecord{RecordedAt: now, AgentAsserted: cp.Kind == KindAttestation}, nil
}

// Attestations are the attestation checkpoints an audit record with
// action satisfies (audit_action equal to the action).
func Attestations(s *Set, action string) []string {
	var out []string
	for _, c := range s.Checkpoints {
		if c.Kind == KindAttestation && c.AuditAction == action && slices.Contains(c.SatisfyVia, ViaAudit) {
			out = append(out, c.ID)
		}
	}
	return out
}
