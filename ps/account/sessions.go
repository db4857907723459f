package account

import (
	"context"
	"crypto/subtle"
	"errors"
	"time"
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
	// AuthenticatedAt is when the person last proved a credential in this
	// session (zero: never); see RecentlyAuthenticated.
	AuthenticatedAt time.Time
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
//
// The session holds no proof of a credential (RecentlyAuthenticated is
// false): a login uses StartSession.
func (s *Service) CreateSession(ctx context.Context, personID, userAgent, ip string) (string, *Session, error) {
	return s.createSession(ctx, personID, userAgent, ip, false)
}

func (s *Service) createSession(ctx context.Context, personID, userAgent, ip string, proved bool) (string, *Session, error) {
	r, err := s.record(ctx, personID)
	if err != nil {
		return "", nil, err
	}
	if r.Disabled {
		return "", nil, ErrNoSession
	}
	now := s.now()
	token, sess := s.newSession(personID, now, now.Add(s.opts.SessionAbsolute), userAgent, ip)
	if proved {
		sess.AuthenticatedAt = sess.CreatedAt
	}
	if err := s.st.InsertSession(ctx, *sess); err != nil {
		return "", nil, err
	}
	return token, sess, nil
}

// StartSession is CreateSession for a person who has just proved a
// credential (logged in with a password or passkey, signed up, redeemed
// an invitation): the session records the proof, so credential changes
// need no re-authentication for ReauthWindow.
func (s *Service) StartSession(ctx context.Context, personID, userAgent, ip string) (string, *Session, error) {
	return s.createSession(ctx, personID, userAgent, ip, true)
}

// ReauthWindow is how long a proof of a credential lets the session's
// person add or remove a passkey, or set a password without giving a
// current one: a stolen session cookie alone changes no credential
// (docs/decisions.md, "Credential changes need a recent proof").
const ReauthWindow = 5 * time.Minute

// RecentlyAuthenticated reports whether sess's person proved a credential
// within ReauthWindow.
func (s *Service) RecentlyAuthenticated(sess *Session) bool {
	return sess != nil && !sess.AuthenticatedAt.IsZero() && s.now().Sub(sess.AuthenticatedAt) < ReauthWindow
}

// Reauthenticate records, for a session whose person has just proved a
// credential again (the caller checked it), that proof: the session is
// replaced (new cookie and CSRF tokens, as on any privilege change) by one
// authenticated now. ErrNoSession when token is not a valid session.
func (s *Service) Reauthenticate(ctx context.Context, token string) (string, *Session, error) {
	return s.replaceInTx(ctx, token, func(ts *Service, old *Session) error {
		if err := endForReplacement(ctx, ts, old); err != nil {
			return err
		}
		old.AuthenticatedAt = s.now().Truncate(time.Second).UTC() // what replaceSession carries over
		return nil
	})
}

// newSession makes a token and its session, created now, ending at
// expires (times in whole seconds, as stored).
func (s *Service) newSession(personID string, now, expires time.Time, userAgent, ip string) (string, *Session) {
	token := randomToken()
	now, expires = now.Truncate(time.Second).UTC(), expires.Truncate(time.Second).UTC()
	return token, &Session{
		IDHash: tokenHash(token), PersonID: personID, CSRFToken: randomToken(),
		CreatedAt: now, LastSeenAt: now, ExpiresAt: expires,
		IdleExpiresAt: earliest(now.Add(s.opts.SessionIdle).Truncate(time.Second), expires),
		UserAgent:     truncate(userAgent, maxUserAgent), IP: truncate(ip, maxIP),
	}
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
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
	sess, err := s.st.SessionByHash(ctx, idHash)
	if err != nil {
		return nil, nil, notFound(err, ErrNoSession)
	}
	r, err := s.record(ctx, sess.PersonID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, nil, err
	}
	now := s.now().Truncate(time.Second).UTC()
	if r == nil || r.Disabled || !now.Before(sess.ExpiresAt) || !now.Before(sess.IdleExpiresAt) {
		if _, err := s.st.DeleteSession(ctx, idHash); err != nil {
			return nil, nil, err
		}
		return nil, nil, ErrNoSession
	}
	if now.Sub(sess.LastSeenAt) >= sessionTouchInterval {
		idle := earliest(now.Add(s.opts.SessionIdle), sess.ExpiresAt)
		if err := s.st.TouchSession(ctx, idHash, now, idle); err != nil {
			return nil, nil, err
		}
		sess.LastSeenAt, sess.IdleExpiresAt = now, idle
	}
	return sess, &r.Person, nil
}

// EndSession ends the session of token (logout). Ending an unknown or
// already ended session is not an error.
func (s *Service) EndSession(ctx context.Context, token string) error {
	if !wellFormedToken(token) {
		return nil
	}
	_, err := s.st.DeleteSession(ctx, tokenHash(token))
	return err
}

// EndSessionsOf ends every session of the person (after a password change,
// on "log out everywhere").
func (s *Service) EndSessionsOf(ctx context.Context, personID string) error {
	return s.st.DeletePersonSessions(ctx, personID)
}

// RotateSession replaces a valid session by a new one for the same person
// (new cookie token, new CSRF token; same creation time and absolute
// expiry, so rotating never extends a session), ending the old one: call it
// on privilege changes to defeat session fixation. ErrNoSession when
// oldToken is not a valid session.
func (s *Service) RotateSession(ctx context.Context, oldToken string) (string, *Session, error) {
	return s.replaceInTx(ctx, oldToken, func(ts *Service, old *Session) error {
		return endForReplacement(ctx, ts, old)
	})
}

// endForReplacement ends old so that it can be replaced; ErrNoSession when
// a concurrent rotation or logout ended it first.
func endForReplacement(ctx context.Context, ts *Service, old *Session) error {
	ended, err := ts.st.DeleteSession(ctx, old.IDHash)
	if err != nil {
		return err
	}
	if !ended {
		return ErrNoSession
	}
	return nil
}

// replaceInTx looks token's session up inside a transaction, runs end (which
// must end that session, and may do more), and stores the session's
// replacement (replaceSession), all or nothing.
func (s *Service) replaceInTx(ctx context.Context, token string, end func(ts *Service, cur *Session) error) (string, *Session, error) {
	var (
		newToken string
		out      *Session
	)
	err := s.st.InAccountTx(ctx, func(tx Store) error {
		ts := s.WithStore(tx)
		cur, _, err := ts.Session(ctx, token)
		if err != nil {
			return err
		}
		if err := end(ts, cur); err != nil {
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
// cookie and CSRF tokens, old's creation time, absolute expiry, user agent,
// address and proof of a credential.
func (s *Service) replaceSession(ctx context.Context, old *Session) (string, *Session, error) {
	token, sess := s.newSession(old.PersonID, s.now(), old.ExpiresAt, old.UserAgent, old.IP)
	sess.CreatedAt, sess.AuthenticatedAt = old.CreatedAt, old.AuthenticatedAt
	if err := s.st.InsertSession(ctx, *sess); err != nil {
		return "", nil, err
	}
	return token, sess, nil
}

// CheckCSRF reports, in constant time, whether submitted is the session's
// CSRF token. A nil session or an empty token never matches.
func CheckCSRF(sess *Session, submitted string) bool {
	if sess == nil || sess.CSRFToken == "" || submitted == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(sess.CSRFToken), []byte(submitted)) == 1
}
