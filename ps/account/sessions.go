package account

import (
	"context"
	"crypto/subtle"
	"errors"
	"time"

	"gorm.io/gorm"

	"github.com/aauth-ps/aauth-ps/ps/store"
)

// Bounds on what a session row keeps of the request that created it.
const (
	maxUserAgent = 512
	maxIP        = 64
)

// Session is a browser session. The cookie token is not part of it: only
// its hash is stored, and CreateSession/RotateSession return the token once.
type Session struct {
	IDHash        string // hex SHA-256 of the cookie token
	PersonID      string
	CSRFToken     string // echo in forms / X-CSRF-Token; check with CheckCSRF
	CreatedAt     time.Time
	LastSeenAt    time.Time
	ExpiresAt     time.Time // absolute end
	IdleExpiresAt time.Time // end if unused; slides, never past ExpiresAt
	UserAgent     string
	IP            string
}

type sessionModel struct {
	IDHash      string `gorm:"column:id_hash;primaryKey"`
	PersonID    string `gorm:"column:person_id"`
	CSRFToken   string `gorm:"column:csrf_token"`
	Created     int64  `gorm:"column:created_at"`
	LastSeen    int64  `gorm:"column:last_seen_at"`
	Expires     int64  `gorm:"column:expires_at"`
	IdleExpires int64  `gorm:"column:idle_expires_at"`
	UserAgent   string `gorm:"column:user_agent"`
	IP          string `gorm:"column:ip"`
}

func (sessionModel) TableName() string { return "sessions" }

func (m *sessionModel) session() *Session {
	return &Session{
		IDHash: m.IDHash, PersonID: m.PersonID, CSRFToken: m.CSRFToken,
		CreatedAt: fromUnix(m.Created), LastSeenAt: fromUnix(m.LastSeen),
		ExpiresAt: fromUnix(m.Expires), IdleExpiresAt: fromUnix(m.IdleExpires),
		UserAgent: m.UserAgent, IP: m.IP,
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// keep valid UTF-8: back off to a rune start
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// CreateSession starts a session for an enabled person and returns its
// cookie token (256-bit random, base64url; shown once, stored hashed) and
// the session, whose CSRF token is an independent 256-bit random value.
// ErrNotFound for an unknown person, ErrNoSession for a disabled one.
func (s *Service) CreateSession(ctx context.Context, personID, userAgent, ip string) (string, *Session, error) {
	m, err := s.personRow(ctx, "create session", "id = ?", personID)
	if err != nil {
		return "", nil, err
	}
	if m.DisabledAt != nil {
		return "", nil, ErrNoSession
	}
	now := s.now()
	token, row := s.newSessionRow(personID, now.Unix(), now.Add(s.opts.SessionAbsolute).Unix(), userAgent, ip)
	if err := s.db(ctx).Create(row).Error; err != nil {
		return "", nil, dbErr("create session", err)
	}
	return token, row.session(), nil
}

// newSessionRow makes a token and its row, created now, ending at expires.
func (s *Service) newSessionRow(personID string, now, expires int64, userAgent, ip string) (string, *sessionModel) {
	token := randomToken()
	return token, &sessionModel{
		IDHash: tokenHash(token), PersonID: personID, CSRFToken: randomToken(),
		Created: now, LastSeen: now, Expires: expires,
		IdleExpires: min(now+int64(s.opts.SessionIdle/time.Second), expires),
		UserAgent:   truncate(userAgent, maxUserAgent), IP: truncate(ip, maxIP),
	}
}

// Session looks up a cookie token and returns the session and its person.
// ErrNoSession when the token is malformed or unknown, the session is past
// its absolute or idle expiry, or the person is disabled (the row is then
// deleted). A valid lookup slides the idle expiry, writing at most once a
// minute per session.
func (s *Service) Session(ctx context.Context, token string) (*Session, *Person, error) {
	if !wellFormedToken(token) {
		return nil, nil, ErrNoSession
	}
	idHash := tokenHash(token)
	var sm sessionModel
	if err := s.db(ctx).Where("id_hash = ?", idHash).Take(&sm).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, nil, ErrNoSession
		}
		return nil, nil, dbErr("get session", err)
	}
	pm, err := s.personRow(ctx, "get session", "id = ?", sm.PersonID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, nil, err
	}
	now := s.now().Unix()
	if pm == nil || pm.DisabledAt != nil || now >= sm.Expires || now >= sm.IdleExpires {
		if err := s.db(ctx).Exec(`DELETE FROM sessions WHERE id_hash = ?`, idHash).Error; err != nil {
			return nil, nil, dbErr("end session", err)
		}
		return nil, nil, ErrNoSession
	}
	if now-sm.LastSeen >= int64(sessionTouchInterval/time.Second) {
		idle := min(now+int64(s.opts.SessionIdle/time.Second), sm.Expires)
		err := s.db(ctx).Exec(`UPDATE sessions SET last_seen_at = ?, idle_expires_at = ? WHERE id_hash = ?`,
			now, idle, idHash).Error
		if err != nil {
			return nil, nil, dbErr("touch session", err)
		}
		sm.LastSeen, sm.IdleExpires = now, idle
	}
	return sm.session(), pm.person(), nil
}

// EndSession ends the session of token (logout). Ending an unknown or
// already ended session is not an error.
func (s *Service) EndSession(ctx context.Context, token string) error {
	if !wellFormedToken(token) {
		return nil
	}
	return dbErr("end session", s.db(ctx).Exec(`DELETE FROM sessions WHERE id_hash = ?`, tokenHash(token)).Error)
}

// EndSessionsOf ends every session of the person (after a password change,
// on "log out everywhere").
func (s *Service) EndSessionsOf(ctx context.Context, personID string) error {
	return dbErr("end sessions", s.db(ctx).Exec(`DELETE FROM sessions WHERE person_id = ?`, personID).Error)
}

// RotateSession replaces a valid session by a new one for the same person
// (new cookie token, new CSRF token; same creation time and absolute
// expiry, so rotating never extends a session), ending the old one: call it
// on privilege changes to defeat session fixation. ErrNoSession when
// oldToken is not a valid session.
func (s *Service) RotateSession(ctx context.Context, oldToken string) (string, *Session, error) {
	return s.replaceInTx(ctx, oldToken, func(tx *store.Store, _ *Service, old *Session) error {
		res := tx.DB().WithContext(ctx).Exec(`DELETE FROM sessions WHERE id_hash = ?`, old.IDHash)
		if res.Error != nil {
			return dbErr("rotate session", res.Error)
		}
		if res.RowsAffected != 1 { // a concurrent rotation or logout won
			return ErrNoSession
		}
		return nil
	})
}

// replaceInTx looks token's session up inside a transaction, runs end (which
// must end that session, and may do more), and stores the session's
// replacement (replaceSession), all or nothing.
func (s *Service) replaceInTx(ctx context.Context, token string, end func(tx *store.Store, ts *Service, cur *Session) error) (string, *Session, error) {
	var (
		newToken string
		out      *Session
	)
	err := s.st.InTx(ctx, func(tx *store.Store) error {
		ts := s.WithStore(tx)
		cur, _, err := ts.Session(ctx, token)
		if err != nil {
			return err
		}
		if err := end(tx, ts, cur); err != nil {
			return err
		}
		newToken, out, err = ts.replaceSession(ctx, cur)
		return err
	})
	if err != nil {
		return "", nil, err
	}
	return newToken, out, nil
}

// replaceSession stores a new session in place of old (already ended): new
// cookie and CSRF tokens, old's creation time, absolute expiry, user agent
// and address.
func (s *Service) replaceSession(ctx context.Context, old *Session) (string, *Session, error) {
	token, row := s.newSessionRow(old.PersonID, s.now().Unix(), old.ExpiresAt.Unix(), old.UserAgent, old.IP)
	row.Created = old.CreatedAt.Unix()
	if err := s.db(ctx).Create(row).Error; err != nil {
		return "", nil, dbErr("rotate session", err)
	}
	return token, row.session(), nil
}

// CheckCSRF reports, in constant time, whether submitted is the session's
// CSRF token. A nil session or an empty token never matches.
func CheckCSRF(sess *Session, submitted string) bool {
	if sess == nil || sess.CSRFToken == "" || submitted == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(sess.CSRFToken), []byte(submitted)) == 1
}
