package account

import (
	"errors"
	"fmt"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/dberr"
)

// Errors. Test with errors.Is. Their messages may be shown to the person
// (they name no secret and no SQL); a failure of the database is
// dberr.ErrDatabase instead (answer 500).
var (
	// ErrNotFound: no such person, or no such passkey of that person.
	ErrNotFound = errors.New("account: not found")
	// ErrUsernameTaken: another person has this username (compared in
	// lowercase).
	ErrUsernameTaken = errors.New("account: username is taken")
	// ErrEmailTaken: another person has this email (compared in lowercase).
	ErrEmailTaken = errors.New("account: email is taken")
	// ErrInvalidUsername: not 3 to 64 characters of [a-z0-9._-] after
	// lowercasing.
	ErrInvalidUsername = errors.New("account: a username is 3 to 64 characters: letters, digits, '.', '_' or '-'")
	// ErrInvalidEmail: not a bare email address of at most 254 bytes.
	ErrInvalidEmail = errors.New("account: invalid email address")
	// ErrInvalidField: a name, tenant, group or role is too long or holds
	// control characters (the wrapping message says which).
	ErrInvalidField = errors.New("account: invalid field")
	// ErrWeakPassword: the password breaks the policy (the wrapping
	// message says how; it never repeats the password).
	ErrWeakPassword = errors.New("account: password too weak")
	// ErrLastAdmin: the change would leave no enabled administrator.
	ErrLastAdmin = errors.New("account: the last enabled administrator cannot be demoted or disabled")
	// ErrBadCredentials: unknown username, wrong password, disabled person
	// or a person without a password. One error for all, by design.
	ErrBadCredentials = errors.New("account: wrong username or password")
	// ErrRateLimited: too many failed logins; errors.As a
	// *RateLimitedError for RetryAfter.
	ErrRateLimited = errors.New("account: too many failed logins")
	// ErrNoSession: the session token is unknown, expired (absolutely or
	// idle) or belongs to a disabled person.
	ErrNoSession = errors.New("account: no valid session")
	// ErrInviteInvalid: the invite is unknown, expired or already redeemed.
	// One error for all, by design.
	ErrInviteInvalid = errors.New("account: invite is invalid or expired")
	// ErrPasskeysDisabled: Options.RPID is empty, so WebAuthn is off.
	ErrPasskeysDisabled = errors.New("account: passkeys are not configured")
	// ErrCeremonyInvalid: the WebAuthn ceremony is unknown, expired, of the
	// other kind, for another person, or already used (ceremonies are
	// single use).
	ErrCeremonyInvalid = errors.New("account: passkey ceremony is invalid or expired")
	// ErrPasskeyRejected: the authenticator's response did not verify
	// (wrong challenge or origin, bad signature, unknown credential, a
	// sign count that went backwards, a disabled person, …).
	ErrPasskeyRejected = errors.New("account: passkey rejected")
)

// RateLimitedError is returned by Authenticate when the username or the
// client address has too many recent failures. errors.Is(err,
// ErrRateLimited) holds.
type RateLimitedError struct {
	// RetryAfter is when the oldest counted failure leaves the window (at
	// least one second): the value for a Retry-After header.
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("%s: retry after %d s", ErrRateLimited.Error(), int64(e.RetryAfter/time.Second))
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitedError) Is(target error) bool { return target == ErrRateLimited }

// notFound turns the store's dberr.ErrNotFound into the domain's as; other
// errors (and nil) pass unchanged.
func notFound(err, as error) error {
	if errors.Is(err, dberr.ErrNotFound) {
		return as
	}
	return err
}
