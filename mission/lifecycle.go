package mission

import "time"

// Reason is why a mission terminated (P§mission-management). The set is
// open; unknown reasons are kept as opaque audit values.
type Reason string

const (
	ReasonCompleted      Reason = "completed"
	ReasonRevoked        Reason = "revoked"
	ReasonExpired        Reason = "expired"
	ReasonSuperseded     Reason = "superseded"
	ReasonAdministrative Reason = "administrative"
)

// minRemaining: a mission with less validity left than this counts as
// expired, so no token is clamped to a useless lifetime.
const minRemaining = 5 * time.Second

// State is a mission's stored state plus its expiry.
type State struct {
	Terminated bool
	Reason     Reason
	ExpiresAt  *time.Time
	// HoldUntil is the end of a suspension in progress: at or after it
	// the mission has ended (administrative), observed or not (design §5).
	HoldUntil *time.Time
}

// Active evaluates the mission at now: terminated when stored so, or when
// expires_at is at most 5 s away (every decision path calls this, so no
// background job is needed, PS-211), or when a suspension's hold ran out
// (administrative). The reason is reported with it.
func (s State) Active(now time.Time) (bool, Reason) {
	if s.Terminated {
		return false, s.Reason
	}
	if s.ExpiresAt != nil && !now.Add(minRemaining).Before(*s.ExpiresAt) {
		return false, ReasonExpired
	}
	if s.HoldUntil != nil && !now.Before(*s.HoldUntil) {
		return false, ReasonAdministrative
	}
	return true, ""
}

// Cap bounds a token expiry by the mission's expires_at.
func (s State) Cap(exp time.Time) time.Time {
	if s.ExpiresAt != nil && s.ExpiresAt.Before(exp) {
		return *s.ExpiresAt
	}
	return exp
}
