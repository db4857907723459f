package account

import (
	"context"
	"errors"
	"time"
)

// A person's own email change answers "Email is taken." when the address
// is another account's: email addresses are unique, so a "Saved." would be
// false. What bounds using that answer to learn who has an account is a
// limit on email changes per person, counted whatever their outcome, and a
// log line for each refused one (docs/decisions.md, "Email changes are
// limited, not disguised").
const (
	MaxEmailChanges   = 5
	EmailChangeWindow = time.Hour
)

// UpdateOwnProfile is UpdatePerson for a change a person makes to their
// own profile. A change of the email address to another one counts
// against MaxEmailChanges per EmailChangeWindow (in login_attempts, under
// a per-person key, so the purge bounds it); past the limit it is a
// *RateLimitedError and nothing changes. Saving the same address again,
// or an invalid one, is not counted.
func (s *Service) UpdateOwnProfile(ctx context.Context, id string, u PersonUpdate) (*Person, error) {
	if u.Email != nil {
		cur, err := s.Person(ctx, id)
		if err != nil {
			return nil, err
		}
		if v, err := normalizeEmail(*u.Email); err == nil && v != cur.Email {
			now, key := s.now(), "email:"+id
			if err := s.checkRateIn(ctx, key, MaxEmailChanges, EmailChangeWindow, now); err != nil {
				s.log.Info("account: email changes throttled", "person", id)
				return nil, err
			}
			if err := s.recordFailure(ctx, now, key); err != nil {
				return nil, err
			}
		}
	}
	p, err := s.UpdatePerson(ctx, id, u)
	if errors.Is(err, ErrEmailTaken) {
		s.log.Info("account: email change refused, the address is another account's", "person", id)
	}
	return p, err
}
