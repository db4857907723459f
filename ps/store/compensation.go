package store

import (
	"context"
	"time"

	"github.com/aauth-ps/aauth-ps/mission/authority"
)

// RevertMissionEffects undoes the consumable part of an issue decision's
// effects (ApplyMissionEffects) when what it permitted was never delivered
// (four-party: the access server refused, or its token failed a delivery
// check): the checkpoints it consumed are unconsumed, its grant counts and
// budget reservations given back, never below zero. Consent memory and
// checkpoints the decision recorded stay: the person's answers stand. The
// mission's version moves, so a decision read before this one conflicts.
// Call it inside store.InTx after LockMission.
func (s *Store) RevertMissionEffects(ctx context.Context, s256, lineage string, e authority.Effects) error {
	db := s.db.WithContext(ctx)
	if err := db.Exec(`UPDATE missions SET version = version + 1 WHERE s256 = ?`, s256).Error; err != nil {
		return wrap("revert mission effects", err)
	}
	s.bumpHeld(s256)
	for _, c := range e.ConsumeCheckpoints {
		if err := db.Exec(`UPDATE mission_checkpoints SET consumed = ? WHERE mission_s256 = ? AND checkpoint = ?`, false, s256, c).Error; err != nil {
			return wrap("unconsume checkpoint", err)
		}
	}
	for _, entry := range e.CountGrants {
		if err := db.Exec(`UPDATE mission_grant_counts SET granted = granted - 1 WHERE mission_s256 = ? AND entry = ? AND granted > 0`,
			s256, entry).Error; err != nil {
			return wrap("uncount grant", err)
		}
	}
	for _, r := range e.Reserve {
		if err := db.Exec(`UPDATE mission_budgets SET spent = CASE WHEN spent > ? THEN spent - ? ELSE 0 END WHERE lineage = ? AND budget_key = ?`,
			r.Amount, r.Amount, lineage, r.Key).Error; err != nil {
			return wrap("release budget", err)
		}
	}
	return nil
}

// ClaimSettlement records, in the settlement's transaction, that decision
// (of mission s256) is settled, and reports whether this call did: false
// when it was settled before (a poll loop and the expiry sweep raced).
// One primary-key insert: the settle-once check reads nothing else.
func (s *Store) ClaimSettlement(ctx context.Context, s256, decision string, at time.Time) (bool, error) {
	res := s.stmt(ctx).Exec(`INSERT INTO mission_settlements (decision, mission_s256, at_ms) VALUES (?, ?, ?)
		 ON CONFLICT (decision) DO NOTHING`, decision, s256, at.UnixMilli())
	return res.RowsAffected > 0, wrap("claim settlement", res.Error)
}
