package store

import (
	"context"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/account"
)

// Sessions, login failures and the accounts' purge (see accounts.go).

type sessionRow struct {
	IDHash        string `gorm:"column:id_hash;primaryKey"`
	PersonID      string `gorm:"column:person_id"`
	CSRFToken     string `gorm:"column:csrf_token"`
	CreatedAt     int64  `gorm:"column:created_at"`
	LastSeenAt    int64  `gorm:"column:last_seen_at"`
	ExpiresAt     int64  `gorm:"column:expires_at"`
	IdleExpiresAt int64  `gorm:"column:idle_expires_at"`
	UserAgent     string `gorm:"column:user_agent"`
	IP            string `gorm:"column:ip"`
	// AuthenticatedAt is NULL when the session holds no proof.
	AuthenticatedAt *int64 `gorm:"column:authenticated_at"`
}

func (sessionRow) TableName() string { return "sessions" }

// InsertSession stores a session.
func (s *Store) InsertSession(ctx context.Context, se account.Session) error {
	r := sessionRow{IDHash: se.IDHash, PersonID: se.PersonID, CSRFToken: se.CSRFToken,
		CreatedAt: se.CreatedAt.Unix(), LastSeenAt: se.LastSeenAt.Unix(), ExpiresAt: se.ExpiresAt.Unix(),
		IdleExpiresAt: se.IdleExpiresAt.Unix(), UserAgent: se.UserAgent, IP: se.IP}
	if !se.AuthenticatedAt.IsZero() {
		at := se.AuthenticatedAt.Unix()
		r.AuthenticatedAt = &at
	}
	return wrap("create session", s.stmt(ctx).Create(&r).Error)
}

// SessionByHash returns a session, or ErrNotFound.
func (s *Store) SessionByHash(ctx context.Context, idHash string) (*account.Session, error) {
	var r sessionRow
	if err := s.stmt(ctx).Where("id_hash = ?", idHash).Take(&r).Error; err != nil {
		return nil, wrap("get session", err)
	}
	se := &account.Session{IDHash: r.IDHash, PersonID: r.PersonID, CSRFToken: r.CSRFToken,
		CreatedAt: unixTime(r.CreatedAt), LastSeenAt: unixTime(r.LastSeenAt), ExpiresAt: unixTime(r.ExpiresAt),
		IdleExpiresAt: unixTime(r.IdleExpiresAt), UserAgent: r.UserAgent, IP: r.IP}
	if r.AuthenticatedAt != nil {
		se.AuthenticatedAt = unixTime(*r.AuthenticatedAt)
	}
	return se, nil
}

// TouchSession records use of a session and slides its idle expiry.
func (s *Store) TouchSession(ctx context.Context, idHash string, lastSeen, idleExpires time.Time) error {
	return wrap("touch session", s.stmt(ctx).Exec(
		`UPDATE sessions SET last_seen_at = ?, idle_expires_at = ? WHERE id_hash = ?`,
		lastSeen.Unix(), idleExpires.Unix(), idHash).Error)
}

// DeleteSession ends a session; it reports whether it existed.
func (s *Store) DeleteSession(ctx context.Context, idHash string) (bool, error) {
	res := s.stmt(ctx).Exec(`DELETE FROM sessions WHERE id_hash = ?`, idHash)
	return res.RowsAffected == 1, wrap("end session", res.Error)
}

// DeletePersonSessions ends every session of a person.
func (s *Store) DeletePersonSessions(ctx context.Context, personID string) error {
	return wrap("end sessions", s.stmt(ctx).Exec(`DELETE FROM sessions WHERE person_id = ?`, personID).Error)
}

// RecentLoginFailures returns key's failures after since, newest first.
func (s *Store) RecentLoginFailures(ctx context.Context, key string, since time.Time, limit int) ([]time.Time, error) {
	var ats []int64
	err := s.stmt(ctx).Raw(`SELECT at FROM login_attempts WHERE "key" = ? AND at > ? ORDER BY at DESC LIMIT ?`,
		key, since.Unix(), limit).Scan(&ats).Error
	if err != nil {
		return nil, wrap("count login failures", err)
	}
	out := make([]time.Time, len(ats))
	for i, at := range ats {
		out[i] = unixTime(at)
	}
	return out, nil
}

// RecordLoginFailure counts one failure of key.
func (s *Store) RecordLoginFailure(ctx context.Context, key string, at time.Time) error {
	return wrap("record login failure", s.stmt(ctx).Exec(`INSERT INTO login_attempts ("key", at) VALUES (?, ?)`,
		key, at.Unix()).Error)
}

// ClearLoginFailures forgets key's failures.
func (s *Store) ClearLoginFailures(ctx context.Context, key string) error {
	return wrap("clear login failures", s.stmt(ctx).Exec(`DELETE FROM login_attempts WHERE "key" = ?`, key).Error)
}

// PurgeAccounts deletes expired sessions, ceremonies and invitations and
// old login failures.
func (s *Store) PurgeAccounts(ctx context.Context, now, failuresBefore time.Time) (int64, error) {
	stmts := []struct {
		op, sql string
		args    []any
	}{
		{"purge sessions", `DELETE FROM sessions WHERE expires_at <= ? OR idle_expires_at <= ?`, []any{now.Unix(), now.Unix()}},
		{"purge passkey ceremonies", `DELETE FROM webauthn_ceremonies WHERE expires_at <= ?`, []any{now.Unix()}},
		{"purge invites", `DELETE FROM invites WHERE expires_at <= ?`, []any{now.Unix()}},
		{"purge login failures", `DELETE FROM login_attempts WHERE at <= ?`, []any{failuresBefore.Unix()}},
	}
	var total int64
	for _, st := range stmts {
		res := s.stmt(ctx).Exec(st.sql, st.args...)
		if res.Error != nil {
			return total, wrap(st.op, res.Error)
		}
		total += res.RowsAffected
	}
	return total, nil
}
