package store

import "context"

// pendingChanged is the housekeeping mark (migration 00035's table) that
// a one-shot command (the CLI) moves after it changed pending requests,
// so that a server on the same SQLite database, which has no
// LISTEN/NOTIFY, wakes its long polls (ps/pending/markwake).
const pendingChanged = "pending_changed"

// PendingChangedAt is the mark another process's change to pending
// requests left (unix ms, strictly increasing), 0 before the first.
func (s *Store) PendingChangedAt(ctx context.Context) (int64, error) {
	return s.SweepMark(ctx, pendingChanged)
}

// MarkPendingChanged moves the mark to ms, or one past it when it is
// there or beyond already: every call changes it.
func (s *Store) MarkPendingChanged(ctx context.Context, ms int64) error {
	return wrap("mark pending requests changed", s.stmt(ctx).Exec(`INSERT INTO housekeeping_marks (name, mark_ms) VALUES (?, ?)
	ON CONFLICT (name) DO UPDATE SET mark_ms = CASE WHEN excluded.mark_ms > housekeeping_marks.mark_ms
		THEN excluded.mark_ms ELSE housekeeping_marks.mark_ms + 1 END`, pendingChanged, ms).Error)
}
