package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"gorm.io/gorm"
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
	fresh, _, err = s.remember(ctx, replayReq{key: key, exp: expiresAt.Unix()})
	return fresh, err
}

// RememberAgentSignature is RememberSignature for a request signed under an
// agent token (iss, jti): the same statement writes the key only if no
// revocation is recorded for the token, and revoked says so (the key is
// then not written, and fresh is false). When nothing was written, a
// second statement tells a revocation from a replay (finding 60: the
// verifier's revocation read was a statement of its own in every signed
// request).
func (s *Store) RememberAgentSignature(ctx context.Context, key string, expiresAt time.Time, iss, jti string) (fresh, revoked bool, err error) {
	if iss == "" || jti == "" {
		return false, false, errors.New("store: remember signature: the agent token's iss and jti are required")
	}
	return s.remember(ctx, replayReq{key: key, exp: expiresAt.Unix(), iss: iss, jti: jti})
}

func (s *Store) remember(ctx context.Context, r replayReq) (fresh, revoked bool, err error) {
	if r.key == "" || len(r.key) > MaxReplayKeyLength {
		return false, false, errors.New("store: remember signature: key must be 1 to 128 bytes")
	}
	r.now = s.now().Unix()
	if s.replays != nil && s.afterCommit == nil {
		return s.replays.remember(ctx, s, r)
	}
	if s.dialect == DialectPostgres && s.afterCommit == nil {
		return r.write(s.stmt(ctx), true)
	}
	return r.write(s.stmt(ctx), false)
}

const rememberSQL = `INSERT INTO replay_cache ("key", expires_at) VALUES (?, ?)
 ON CONFLICT ("key") DO UPDATE SET expires_at = excluded.expires_at
 WHERE replay_cache.expires_at <= ?`

// rememberUnlessRevokedSQL is rememberSQL writing nothing when the agent
// token is revoked; its arguments are the key, exp, iss, jti, now.
const rememberUnlessRevokedSQL = `INSERT INTO replay_cache ("key", expires_at)
 SELECT ?, ? WHERE NOT EXISTS (SELECT 1 FROM revoked_tokens WHERE iss = ? AND jti = ?)
 ON CONFLICT ("key") DO UPDATE SET expires_at = excluded.expires_at
 WHERE replay_cache.expires_at <= ?`

// rememberAsyncPostgres is rememberSQL committed without waiting for its
// WAL flush (set_config(…, true) lasts until the statement's own implicit
// transaction ends, so the pooled session keeps synchronous_commit on).
// Waiting for that flush was one of the four per exchange that made half of
// PostgreSQL's latency (issue 12, finding L10). Nothing is lost by it that
// matters: WAL is one sequence, so the request's own durable write after
// this (an issuance, a pending request) flushes this row first, and the
// replay is refused at once either way, the row being visible on commit.
// Only a PostgreSQL crash within ~0.6 s (3 × wal_writer_delay) of a request
// that wrote nothing durable can forget its key (docs/decisions.md).
const rememberAsyncPostgres = `INSERT INTO replay_cache ("key", expires_at)
 SELECT ?::text, ?::bigint FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
 ON CONFLICT ("key") DO UPDATE SET expires_at = excluded.expires_at
 WHERE replay_cache.expires_at <= ?`

// rememberAsyncPostgresUnlessRevoked is rememberAsyncPostgres writing
// nothing when the agent token is revoked (arguments as
// rememberUnlessRevokedSQL's).
const rememberAsyncPostgresUnlessRevoked = `INSERT INTO replay_cache ("key", expires_at)
 SELECT ?::text, ?::bigint FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
 WHERE NOT EXISTS (SELECT 1 FROM revoked_tokens WHERE iss = ? AND jti = ?)
 ON CONFLICT ("key") DO UPDATE SET expires_at = excluded.expires_at
 WHERE replay_cache.expires_at <= ?`

// write runs r's statement on db (async: PostgreSQL outside a transaction)
// and, when it wrote nothing for an agent token, reads whether the token
// is revoked.
func (r *replayReq) write(db *gorm.DB, async bool) (fresh, revoked bool, err error) {
	var res *gorm.DB
	switch {
	case r.jti == "" && async:
		res = db.Exec(rememberAsyncPostgres, r.key, r.exp, r.now)
	case r.jti == "":
		res = db.Exec(rememberSQL, r.key, r.exp, r.now)
	case async:
		res = db.Exec(rememberAsyncPostgresUnlessRevoked, r.key, r.exp, r.iss, r.jti, r.now)
	default:
		res = db.Exec(rememberUnlessRevokedSQL, r.key, r.exp, r.iss, r.jti, r.now)
	}
	if res.Error != nil {
		return false, false, wrap("remember signature", res.Error)
	}
	if res.RowsAffected == 1 || r.jti == "" {
		return res.RowsAffected == 1, false, nil
	}
	err = db.Session(&gorm.Session{NewDB: true}).Raw(isRevokedSQL, r.iss, r.jti).Scan(&revoked).Error
	return false, revoked, wrap("look up revocation", err)
}

// replayBatch groups the replay-cache writes of concurrent requests on
// SQLite (issue 12): every signed request writes one row, and each took a
// writer turn of its own, half the turns of an exchange, while the turn
// was what 64 agents queued for (97 % of their latency). A caller queues
// its key and then either gets the turn, and writes every queued key in
// one transaction, or finds its key written by the caller that got it.
// Each key is still its own INSERT … ON CONFLICT statement, so the answer
// per key is the one it had alone.
type replayBatch struct {
	mu      sync.Mutex
	pending []*replayReq
	// fault, when set (tests), runs inside the batch's transaction: a
	// panic there is the store's own.
	fault func()
}

type replayReq struct {
	key      string
	exp, now int64
	iss, jti string // the agent token, for RememberAgentSignature
	fresh    bool
	revoked  bool
	err      error
	done     chan struct{}
}

func (b *replayBatch) remember(ctx context.Context, s *Store, r replayReq) (fresh, revoked bool, err error) {
	start := time.Now()
	r.done = make(chan struct{})
	b.mu.Lock()
	b.pending = append(b.pending, &r)
	b.mu.Unlock()
	select {
	case <-r.done: // another caller's turn wrote it
		return r.fresh, r.revoked, r.err
	case s.writer <- struct{}{}:
	case <-ctx.Done():
		// Still queued: a later turn may write it; this request has
		// failed anyway, and a retry signs anew.
		return false, false, wrap("remember signature", ctx.Err())
	}
	got := time.Now()
	s.waits.writerWaited(got.Sub(start))
	b.mu.Lock()
	batch := b.pending
	b.pending = nil
	b.mu.Unlock()
	answered := false
	defer func() {
		// A panic of the store's own (the driver's, gorm's) still
		// answers every caller whose key the batch took and releases the
		// writer turn: otherwise every SQLite writer of the process would
		// wait for it for good.
		if p := recover(); p != nil {
			if !answered {
				for _, q := range batch {
					q.fresh, q.revoked, q.err = false, false, wrap("remember signature", fmt.Errorf("the batch ended by a panic: %v", p))
					close(q.done)
				}
			}
			s.waits.writerHeld(time.Since(got))
			<-s.writer
			panic(p)
		}
	}()
	if len(batch) > 0 {
		// Not the caller's context: the batch writes others' keys too.
		err := s.db.WithContext(context.WithoutCancel(ctx)).Transaction(func(tx *gorm.DB) error {
			if b.fault != nil {
				b.fault()
			}
			for _, q := range batch {
				if q.fresh, q.revoked, q.err = q.write(tx, false); q.err != nil {
					return q.err // already wrapped, its cause kept
				}
			}
			return nil
		})
		var se *Error
		if err != nil && !errors.As(err, &se) {
			err = wrap("remember signature", err) // BEGIN or COMMIT failed
		}
		answered = true
		for _, q := range batch {
			if err != nil {
				q.fresh, q.revoked, q.err = false, false, err
			}
			close(q.done)
		}
	}
	s.waits.writerHeld(time.Since(got))
	<-s.writer
	<-r.done // written by this turn or, had another got its batch first, by that one
	return r.fresh, r.revoked, r.err
}

// PurgeExpired deletes replay-cache rows that expired at or before now and
// revocations whose token exp is more than RevocationPurgeGrace before now.
// It returns the number of rows deleted.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time) (int64, error) {
	n1, err := s.purge(ctx, "purge replay cache", "replay_cache", `"key"`, `expires_at <= ?`, now.Unix())
	if err != nil {
		return n1, err
	}
	n2, err := s.purge(ctx, "purge revocations", "revoked_tokens", "iss, jti", `exp < ?`, now.Add(-RevocationPurgeGrace).Unix())
	return n1 + n2, err
}
