package missionflow

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// Role approvals (issue 10): a checkpoint whose approver is
// {"role": R} is recorded by a person an administrator gave the approver
// role R (migration 00031), from their "Steps for your roles" page — the
// PS's own UI, so the checkpoint must list satisfy_via "control". The
// evidence names the recorder and the role.

// roleInboxLimit bounds the missions the role page reads.
const roleInboxLimit = 500

// ErrNoRoleStep is what a person is told about a role step they may not
// record: there is no such mission or step, the step is another role's,
// it waits for an earlier one, or the mission ended. One error for all, so
// the answer is no oracle of which missions exist.
var ErrNoRoleStep = errors.New("missionflow: no such step for your roles")

// RoleStep is a checkpoint waiting for one of a person's roles.
type RoleStep struct {
	S256, Mission, Agent string
	// PersonID is the mission's person (whose requests wait for it).
	PersonID       string
	ID, Text, Role string
	// Consumed: recorded before and used; recording again allows one more use.
	Consumed bool
}

// roleStep reports whether cp is an approval a holder of roles records
// from the PS's UI, and which of the roles it is.
func roleStep(cp *authority.Checkpoint, roles []string) (string, bool) {
	if cp.Kind != authority.KindApproval || cp.Approver == nil || cp.Approver.Role == "" ||
		!slices.Contains(cp.SatisfyVia, authority.ViaControl) || !slices.Contains(roles, cp.Approver.Role) {
		return "", false
	}
	return cp.Approver.Role, true
}

// RoleSteps lists the steps person may record now with their approver
// roles: every active mission's role checkpoints they hold the role of,
// not yet recorded (or used), whose earlier steps are recorded.
func (k *Kinds) RoleSteps(ctx context.Context, person *account.Person) ([]RoleStep, error) {
	db := k.Flows.DB
	roles, err := db.PersonRoles(ctx, person.ID)
	if err != nil || len(roles) == 0 {
		return nil, err
	}
	ms, err := db.RoleCheckpointMissions(ctx, roleInboxLimit)
	if err != nil {
		return nil, err
	}
	now := k.Now()
	var out []RoleStep
	for _, m := range ms {
		if active, _ := m.State().Active(now); !active || m.Composition == nil {
			continue
		}
		set, err := effectiveSet(m, k.Flows.composition())
		if err != nil {
			continue // fails closed: a set that does not check offers nothing
		}
		var snap authority.Snapshot
		loaded := false
		for i := range set.Checkpoints {
			cp := &set.Checkpoints[i]
			role, ok := roleStep(cp, roles)
			if !ok {
				continue
			}
			if !loaded {
				if snap, err = db.MissionCounters(ctx, m.S256, m.Lineage()); err != nil {
					return nil, err
				}
				loaded = true
			}
			rec, recorded := snap.Checkpoints[cp.ID]
			if recorded && !rec.Consumed {
				continue
			}
			if _, err := authority.RecordCheckpoint(set, snap.Checkpoints, cp.ID, authority.ViaControl, now); err != nil {
				continue
			}
			b, _ := m.Parsed()
			desc := ""
			if b != nil {
				desc = b.Description
			}
			out = append(out, RoleStep{S256: m.S256, Mission: desc, Agent: m.AgentSub, PersonID: m.PersonID, ID: cp.ID,
				Text: authority.Describe(set, cp.ID, k.Flows.composition().Catalog), Role: role, Consumed: recorded})
		}
	}
	return out, nil
}

// RecordRoleStep records checkpoint id of mission s256 for person, who
// must hold its approver role now (read in the recording transaction, so
// a role removed meanwhile refuses), with its evidence (actor: the
// person; body: the role) and a line in the mission's log, in one
// transaction. Anything the person may not record is ErrNoRoleStep and
// changes nothing.
func (k *Kinds) RecordRoleStep(ctx context.Context, s256 string, person *account.Person, id string) (role string, err error) {
	err = k.Flows.DB.InTx(ctx, func(tx *store.Store) error {
		m, err := tx.LockMission(ctx, s256)
		if errors.Is(err, ErrNotFound) {
			return ErrNoRoleStep
		}
		if err != nil {
			return err
		}
		now := k.Now()
		if active, _ := m.State().Active(now); !active || m.Composition == nil {
			return ErrNoRoleStep
		}
		roles, err := tx.PersonRoles(ctx, person.ID)
		if err != nil {
			return err
		}
		set, err := effectiveSet(m, k.Flows.composition())
		if err != nil {
			return ErrNoRoleStep
		}
		cp := set.Checkpoint(id)
		if cp == nil {
			return ErrNoRoleStep
		}
		var ok bool
		if role, ok = roleStep(cp, roles); !ok {
			return ErrNoRoleStep
		}
		snap, err := tx.MissionCounters(ctx, m.S256, m.Lineage())
		if err != nil {
			return err
		}
		if rec, done := snap.Checkpoints[id]; done && !rec.Consumed {
			return ErrNoRoleStep // recorded and unused: nothing to record
		}
		if _, err := authority.RecordCheckpoint(set, snap.Checkpoints, id, authority.ViaControl, now); err != nil {
			return ErrNoRoleStep
		}
		return k.recordStep(ctx, tx, m, id, now,
			map[string]any{"checkpoint": id, "via": authority.ViaControl, "agent_asserted": false, "role": role, "recorded_by": person.ID},
			mission.Entry{Kind: "checkpoint", Actor: "role", At: now,
				Summary: person.Username + " recorded the step " + id + " as " + role + "."}, person)
	})
	return role, err
}

// recordStep records checkpoint id of m (locked in tx) and writes its
// checkpoint_recorded evidence (the person as actor, body as given) and
// the mission log's entry; once tx commits, the requests waiting for the
// step are decided again (composition.Point.StepsRecorded).
func (k *Kinds) recordStep(ctx context.Context, tx *store.Store, m *mission.Record, id string, now time.Time,
	body map[string]any, entry mission.Entry, person *account.Person) error {
	issuer := k.Issuer
	if err := tx.RecordCheckpoint(ctx, m.S256, id, false, now); err != nil {
		return err
	}
	b, err := evidence.Body(body)
	if err != nil {
		return err
	}
	c := m.Composition
	_, err = composition.AppendEvidence(ctx, tx, m.S256, m.S256, evidence.Record{
		Mission: evidence.MissionRef{Origin: issuer, ID: m.S256}, Type: evidence.CheckpointRecorded,
		Actor: evidence.Actor{Kind: "person", ID: person.ID},
		Anchors: evidence.Anchors{ProposalHash: c.ProposalHash, AuthorityHash: c.AuthorityHash,
			ConsentRenderingHash: c.ConsentRenderingHash, EffectiveAuthorityHash: effectiveAnchor(c)},
		Body: b}, now)
	if err != nil {
		return err
	}
	k.Flows.Decisions.StepsRecorded(tx, m, []string{id})
	return tx.AppendMissionLog(ctx, m.S256, entry)
}
