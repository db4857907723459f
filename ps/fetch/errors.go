package fetch

import (
	"errors"
	"fmt"
	"time"
)

// Errors of the egress-guarded client.
var (
	// ErrEgressDenied means egress admission refused the request before any
	// connection was made: scheme, userinfo, malformed URL or a destination
	// address outside the policy.
	ErrEgressDenied = errors.New("fetch: egress denied")
	// ErrTooLarge means the response body exceeded Config.MaxBytes.
	ErrTooLarge = errors.New("fetch: response too large")
	// ErrRedirect means the server redirected cross-origin, or more than
	// three times.
	ErrRedirect = errors.New("fetch: redirect refused")
	// ErrTLS means the peer's certificate was rejected (unknown authority,
	// wrong name, expired) or TLS could not be negotiated (for instance no
	// TLS 1.2 or later). It is permanent, unlike a connection failure.
	ErrTLS = errors.New("fetch: TLS failure")
)

// TransientError reports a failure that may succeed later: a timeout, a
// refused or reset connection, a DNS failure, a truncated response.
type TransientError struct {
	URL string
	Err error
}

func (e *TransientError) Error() string {
	return fmt.Sprintf("fetch: transient failure for %s: %v", e.URL, e.Err)
}

func (e *TransientError) Unwrap() error { return e.Err }

// Errors of the discovery layer.
var (
	// ErrIssuerMissing: the metadata document has no string issuer member
	// (Signature-Error issuer_missing).
	ErrIssuerMissing = errors.New("fetch: metadata has no issuer")
	// ErrIssuerMismatch: the metadata issuer differs, byte for byte, from
	// the issuer it was fetched for (Signature-Error issuer_mismatch).
	ErrIssuerMismatch = errors.New("fetch: metadata issuer mismatch")
	// ErrUnknownKey: no JWKS member has the kid, even after the one refresh
	// the floor permits, or the floor forbids that refresh.
	ErrUnknownKey = errors.New("fetch: unknown key")
	// ErrBadMetadata: a definitive failure of a metadata or JWKS fetch: a
	// 4xx status, a wrong content type, not a JSON object, a missing or
	// unacceptable jwks_uri, a JWKS without a keys array, an ambiguous kid,
	// or a TLS, size or redirect failure (those also match ErrTLS,
	// ErrTooLarge and ErrRedirect).
	ErrBadMetadata = errors.New("fetch: unusable metadata or JWKS")
	// ErrUnavailable: a transient failure (timeout, connection error, 5xx,
	// 429) with nothing cached to fall back on. The error is an
	// *UnavailableError carrying a suggested retry delay.
	ErrUnavailable = errors.New("fetch: temporarily unavailable")
)

// UnavailableError is the concrete form of ErrUnavailable.
type UnavailableError struct {
	// RetryAfter is when a new fetch attempt will be permitted (at least 1s).
	RetryAfter time.Duration
	// Err is the underlying cause, if known.
	Err error
}

func (e *UnavailableError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("%v (retry after %s)", ErrUnavailable, e.RetryAfter)
	}
	return fmt.Sprintf("%v: %v (retry after %s)", ErrUnavailable, e.Err, e.RetryAfter)
}

// Is makes errors.Is(err, ErrUnavailable) hold.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

func (e *UnavailableError) Unwrap() error { return e.Err }

// RetryAfterSeconds is RetryAfter rounded up to whole seconds, at least 1,
// ready for a Retry-After header.
func (e *UnavailableError) RetryAfterSeconds() int {
	s := int((e.RetryAfter + time.Second - 1) / time.Second)
	return max(s, 1)
}
