package store

import (
	"context"
	"time"
)

// HoldsDue lists, oldest hold first and at most limit, the active
// missions whose suspension hold ended at or before now: the lifecycle
// terminates each (design §5, hold timeout → terminated administrative).
func (s *Store) HoldsDue(ctx context.Context, now time.Time, limit int) ([]string, error) {
	var ids []string
	err := s.stmt(ctx).Raw(`SELECT s256 FROM missions
		WHERE state = 'active' AND hold_until IS NOT NULL AND hold_until <= ? ORDER BY hold_until, s256 LIMIT ?`,
		now.UnixMilli(), limit).Scan(&ids).Error
	return ids, wrap("list due mission holds", err)
}
