package missionflow

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// The person's mission page (issue 10): what they consented to (the
// stored consent rendering) and the stages the mission waits for with
// what is recorded (the decisions are composition's list).

// MissionAuthority is a mission's composition as its page shows it.
type MissionAuthority struct {
	// Lines are the consent rendering's sentences, exactly as approved.
	Lines         []authority.Line
	RenderingHash string
	// Standing names the standing template a headless approval used.
	Standing string
	// Narrowed: later narrowing overlays changed the effective set.
	Narrowed    bool
	Checkpoints []CheckpointStatus
}

// CheckpointStatus is one checkpoint of the effective set and its record.
type CheckpointStatus struct {
	ID, Text string
	Kind     string // approval or attestation
	Recorded *time.Time
	Consumed bool
	// AgentAsserted: recorded on the agent's word (ordering only).
	AgentAsserted bool
	// CanRecord: the person may record it on the mission page now.
	CanRecord bool
}

// Authority reads what the page shows of m; nil for a mission approved
// without an Authority Set.
func (k *Kinds) Authority(ctx context.Context, m *mission.Record) (*MissionAuthority, error) {
	c := m.Composition
	if c == nil {
		return nil, nil
	}
	out := &MissionAuthority{RenderingHash: c.ConsentRenderingHash, Narrowed: c.EffectiveHash != c.AuthorityHash}
	var r authority.Rendering
	if err := json.Unmarshal(c.ConsentRendering, &r); err != nil {
		return nil, fmt.Errorf("missions: stored consent rendering: %w", err)
	}
	out.Lines, out.Standing = r.Lines, r.Standing
	set, err := effectiveSet(m, k.Flows.composition())
	if err != nil {
		return nil, err
	}
	snap, err := k.Flows.DB.MissionCounters(ctx, m.S256, m.Lineage())
	if err != nil {
		return nil, err
	}
	active, _ := m.State().Active(k.Now())
	for _, cp := range set.Checkpoints {
		st := CheckpointStatus{ID: cp.ID, Text: authority.Describe(set, cp.ID, k.Flows.composition().Catalog), Kind: cp.Kind}
		if rec, ok := snap.Checkpoints[cp.ID]; ok {
			at := rec.RecordedAt
			st.Recorded, st.Consumed, st.AgentAsserted = &at, rec.Consumed, rec.AgentAsserted
		}
		if active && personRecords(&cp) && (st.Recorded == nil || st.Consumed) {
			_, err := authority.RecordCheckpoint(set, snap.Checkpoints, cp.ID, authority.ViaControl, k.Now())
			st.CanRecord = err == nil
		}
		out.Checkpoints = append(out.Checkpoints, st)
	}
	return out, nil
}

// personRecords: the person (not an organisation role) records cp from
// the mission page.
func personRecords(cp *authority.Checkpoint) bool {
	return cp.Kind == authority.KindApproval && cp.Approver != nil && cp.Approver.Person && slices.Contains(cp.SatisfyVia, authority.ViaControl)
}

// effectiveSet parses a mission's effective set (checked again on load).
func effectiveSet(m *mission.Record, c *composition.Config) (*authority.Set, error) {
	raw := m.Composition.EffectiveSet
	if len(raw) == 0 {
		raw = m.Composition.AuthoritySet
	}
	p, err := authority.Parse(raw, c.Parse)
	if err != nil {
		return nil, fmt.Errorf("missions: stored Authority Set: %w", err)
	}
	return p.Set, nil
}

// RecordCheckpoint records checkpoint id of the person's own active
// mission from its page (satisfy_via "control"), with its evidence, in
// one transaction; what the page would not offer (no such checkpoint, an
// attestation, a role's approval, an earlier step missing, a mission that
// ended) is interact.ErrStage and changes nothing.
func (k *Kinds) RecordCheckpoint(ctx context.Context, s256 string, person *account.Person, id string) error {
	return k.Flows.DB.InTx(ctx, func(tx *store.Store) error {
		m, err := tx.LockMission(ctx, s256)
		if err != nil {
			return err
		}
		if m.PersonID != person.ID || m.Composition == nil {
			return ErrNotFound
		}
		if active, _ := m.State().Active(k.Now()); !active {
			return errEdit("the mission has ended")
		}
		set, err := effectiveSet(m, k.Flows.composition())
		if err != nil {
			return err
		}
		cp := set.Checkpoint(id)
		if cp == nil || !personRecords(cp) {
			return errEdit("there is no such step for you to record")
		}
		snap, err := tx.MissionCounters(ctx, m.S256, m.Lineage())
		if err != nil {
			return err
		}
		now := k.Now()
		if _, err := authority.RecordCheckpoint(set, snap.Checkpoints, id, authority.ViaControl, now); err != nil {
			return errEdit("this step waits for an earlier one")
		}
		return k.recordStep(ctx, tx, m, id, now,
			map[string]any{"checkpoint": id, "via": authority.ViaControl, "agent_asserted": false},
			mission.Entry{Kind: "checkpoint", Actor: "person", At: now, Summary: "You recorded the step " + id + "."}, person)
	})
}

// effectiveAnchor is effective_authority_hash when narrowing moved it.
func effectiveAnchor(c *mission.Composition) string {
	if c.EffectiveHash == c.AuthorityHash {
		return ""
	}
	return c.EffectiveHash
}
