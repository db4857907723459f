package store

import (
	"context"
	"errors"
	"time"
)

// MaxReplayKeyLength bounds a replay-cache key (a hex hash is 64 bytes).
const MaxReplayKeyLength = 128

// RevocationPurgeGrace is how long past its exp a revocation is kept before
// PurgeExpired deletes it (the verifier's clock-skew allowance).
const RevocationPurgeGrace = 300 * time.Second

// RememberSignature records a replay-cache key (A-37: httpsig.ReplayKey, a
// hash of the signing key and the signature base) until expiresAt. fresh is true when the key was
// not present, or was present but expired (the row is then replaced); it is
// false when the key is present and unexpired, i.e. a replay.
//
// The check and the write are one statement (INSERT … ON CONFLICT DO UPDATE
// … WHERE expired), so concurrent callers in any number of processes
// sharing the database get exactly one fresh=true per live key.
func (s *Store) RememberSignature(ctx context.Context, key string, expiresAt time.Time) (fresh bool, err error) {
	if key == "" || len(key) > MaxReplayKeyLength {
		return false, errors.New("store: remember signature: key must be 1 to 128 bytes")
	}
	release, err := s.queueWriter(ctx) // every signed request writes here
	if err != nil {
		return false, wrap("remember signature", err)
	}
	defer release()
	res := s.db.WithContext(ctx).Exec(
		`INSERT INTO replay_cache ("key", expires_at) VALUES (?, ?)
		 ON CONFLICT ("key") DO UPDATE SET expires_at = excluded.expires_at
		 WHERE replay_cache.expires_at <= ?`,
		key, expiresAt.Unix(), s.now().Unix())
	if res.Error != nil {
		return false, wrap("remember signature", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// PurgeExpired deletes replay-cache rows that expired at or before now and
// revocations whose token exp is more than RevocationPurgeGrace before now.
// It returns the number of rows deleted.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time) (int64, error) {
	db := s.db.WithContext(ctx)
	r1 := db.Exec(`DELETE FROM replay_cache WHERE expires_at <= ?`, now.Unix())
	if r1.Error != nil {
		return 0, wrap("purge replay cache", r1.Error)
	}
	r2 := db.Exec(`DELETE FROM revoked_tokens WHERE exp < ?`, now.Add(-RevocationPurgeGrace).Unix())
	if r2.Error != nil {
		return r1.RowsAffected, wrap("purge revocations", r2.Error)
	}
	return r1.RowsAffected + r2.RowsAffected, nil
}
