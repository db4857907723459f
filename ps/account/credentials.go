package account

import (
	"context"
	"net/http"
)

// A credential change (a new password, a passkey added or removed) ends
// every session of the person but the one that made it, and rotates that
// one, in the transaction of the change: whoever held a stolen session or
// password is out, and a session fixed before the change is worth nothing.
// Each method takes the cookie token of the session making the change and
// returns its replacement (token shown once, and the session); the old
// token no longer works. ErrNoSession when sessionToken is not a valid
// session.

// ChangePassword sets the session's person's password (policy:
// ErrWeakPassword). The caller checks the current password first.
func (s *Service) ChangePassword(ctx context.Context, sessionToken, newPassword string) (string, *Session, error) {
	sess, _, err := s.Session(ctx, sessionToken)
	if err != nil {
		return "", nil, err
	}
	h, err := s.newPasswordHash(ctx, sess.PersonID, newPassword)
	if err != nil {
		return "", nil, err
	}
	return s.changeCredentials(ctx, sessionToken, sess.PersonID, func(ts *Service) error {
		return ts.storePasswordHash(ctx, sess.PersonID, h)
	})
}

// RegisterPasskey is FinishPasskeyRegistration for the session's person.
func (s *Service) RegisterPasskey(ctx context.Context, sessionToken, ceremonyID, name string, r *http.Request) (string, *Session, error) {
	sess, _, err := s.Session(ctx, sessionToken)
	if err != nil {
		return "", nil, err
	}
	m, err := s.verifyRegistration(ctx, sess.PersonID, ceremonyID, name, r)
	if err != nil {
		return "", nil, err
	}
	return s.changeCredentials(ctx, sessionToken, sess.PersonID, func(ts *Service) error {
		return ts.insertCredential(ctx, m)
	})
}

// RemovePasskey removes the session's person's passkey credID (ErrNotFound
// when they have none such, and nothing changes).
func (s *Service) RemovePasskey(ctx context.Context, sessionToken, credID string) (string, *Session, error) {
	sess, _, err := s.Session(ctx, sessionToken)
	if err != nil {
		return "", nil, err
	}
	return s.changeCredentials(ctx, sessionToken, sess.PersonID, func(ts *Service) error {
		return ts.DeletePasskey(ctx, sess.PersonID, credID)
	})
}

// changeCredentials runs change in a transaction that then ends every
// session of personID and puts a replacement for sessionToken's session in
// its place. The session is looked up again inside the transaction, so a
// logout that raced the change wins.
func (s *Service) changeCredentials(ctx context.Context, sessionToken, personID string, change func(ts *Service) error) (string, *Session, error) {
	return s.replaceInTx(ctx, sessionToken, func(ts *Service, cur *Session) error {
		if cur.PersonID != personID {
			return ErrNoSession
		}
		if err := change(ts); err != nil {
			return err
		}
		return ts.EndSessionsOf(ctx, personID)
	})
}
