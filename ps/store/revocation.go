package store

import (
	"context"
	"errors"
	"time"
)

// RecordRevocation records that the token (iss, jti) is revoked until its
// exp. It is idempotent: recording the same (iss, jti) again keeps the first
// revoked_at and only ever extends exp.
func (s *Store) RecordRevocation(ctx context.Context, iss, jti string, exp, revokedAt time.Time) error {
	if iss == "" || jti == "" {
		return errors.New("store: record revocation: iss and jti are required")
	}
	err := s.db.WithContext(ctx).Exec(
		`INSERT INTO revoked_tokens (iss, jti, exp, revoked_at) VALUES (?, ?, ?, ?)
		 ON CONFLICT (iss, jti) DO UPDATE SET exp = excluded.exp
		 WHERE revoked_tokens.exp < excluded.exp`,
		iss, jti, exp.Unix(), revokedAt.Unix()).Error
	return wrap("record revocation", err)
}

// IsRevoked reports whether a revocation is recorded for (iss, jti).
func (s *Store) IsRevoked(ctx context.Context, iss, jti string) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Raw(
		`SELECT COUNT(*) FROM revoked_tokens WHERE iss = ? AND jti = ?`, iss, jti).Scan(&n).Error
	if err != nil {
		return false, wrap("look up revocation", err)
	}
	return n > 0, nil
}
