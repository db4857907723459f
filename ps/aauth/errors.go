package aauth

import (
	"errors"
	"fmt"
	"net/http"
)

// SigCode is a Signature-Error code (SK§error-codes, SK-09 revoked_jwt).
type SigCode string

const (
	SigInvalidSignature     SigCode = "invalid_signature"
	SigInvalidInput         SigCode = "invalid_input"
	SigUnsupportedScheme    SigCode = "unsupported_scheme"
	SigUnsupportedAlgorithm SigCode = "unsupported_algorithm"
	SigInvalidKey           SigCode = "invalid_key"
	SigUnknownKey           SigCode = "unknown_key"
	SigInvalidJWT           SigCode = "invalid_jwt"
	SigExpiredJWT           SigCode = "expired_jwt"
	SigRevokedJWT           SigCode = "revoked_jwt"
	SigClockSkew            SigCode = "clock_skew"
	SigIssuerMissing        SigCode = "issuer_missing"
	SigIssuerMismatch       SigCode = "issuer_mismatch"
)

// AllSigCodes lists every code the PS can emit in Signature-Error; metrics
// pre-register a series per code so dashboards see zeros, not gaps.
var AllSigCodes = []SigCode{
	SigInvalidSignature, SigInvalidInput, SigUnsupportedScheme, SigUnsupportedAlgorithm,
	SigInvalidKey, SigUnknownKey, SigInvalidJWT, SigExpiredJWT, SigRevokedJWT,
	SigClockSkew, SigIssuerMissing, SigIssuerMismatch,
}

// SignatureError is a failed signed-request verification. AAuth answers every
// one with 401 and a Signature-Error header (P§verification); it never
// appears on a 403.
type SignatureError struct {
	Code SigCode
	// RequiredInput is the `required_input` member sent with invalid_input.
	RequiredInput []string
	// AcceptSchemes is sent as Accept-Signature-Scheme with unsupported_scheme.
	AcceptSchemes []string
	// AcceptAlgs is sent as Accept-Signature-Alg with unsupported_algorithm.
	AcceptAlgs []string
	// Detail is a human-readable explanation; it must never contain a token or key.
	Detail string
	// Cause is kept for logs and errors.Is; it is never sent to the client.
	Cause error
}

func (e *SignatureError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("%s: %s", e.Code, e.Detail)
	}
	if e.Cause != nil {
		return fmt.Sprintf("%s: %v", e.Code, e.Cause)
	}
	return string(e.Code)
}

func (e *SignatureError) Unwrap() error { return e.Cause }

// SigErr builds a SignatureError with a detail message.
func SigErr(code SigCode, detail string) *SignatureError {
	return &SignatureError{Code: code, Detail: detail}
}

// SigErrf builds a SignatureError with a formatted detail message.
func SigErrf(code SigCode, format string, args ...any) *SignatureError {
	return &SignatureError{Code: code, Detail: fmt.Sprintf(format, args...)}
}

// Error codes carried in the `error` member of problem+json bodies
// (P§token-endpoint-error-codes, P§polling-error-codes, PS-REQUIREMENTS §2.7).
const (
	ErrInvalidRequest         = "invalid_request"
	ErrServerError            = "server_error"
	ErrTemporarilyUnavailable = "temporarily_unavailable"
	ErrNotImplemented         = "not_implemented"
	ErrNotFound               = "not_found"
	ErrMethodNotAllowed       = "method_not_allowed"
	ErrUserUnreachable        = "user_unreachable"
	ErrDenied                 = "denied"
	ErrAbandoned              = "abandoned"
	ErrExpired                = "expired"
	ErrRevoked                = "revoked"
	ErrInvalidCode            = "invalid_code"
	ErrSlowDown               = "slow_down"
	ErrRateLimited            = "rate_limited"
	ErrMissionNotFound        = "mission_not_found"
	ErrMissionTerminated      = "mission_terminated"
	ErrClockSkew              = "clock_skew"

	// Auth token endpoint (P§token-endpoint-error-codes): tokens carried
	// as request parameters.
	ErrInvalidResourceToken  = "invalid_resource_token"
	ErrExpiredResourceToken  = "expired_resource_token"
	ErrInvalidPresentedToken = "invalid_presented_token"
	ErrExpiredPresentedToken = "expired_presented_token"
	ErrRevokedPresentedToken = "revoked_presented_token"
	ErrRevokedResourceToken  = "revoked_resource_token"

	// Revocation endpoint (P§revocation-response).
	ErrUnsupportedIss = "unsupported_iss"
	// Terminal outcomes of a downstream revocation that did not succeed.
	RevocationUnsupported = "revocation_unsupported"
	RevocationUnavailable = "revocation_unavailable"

	// Call chaining and sub-agents (both token endpoints).
	ErrInvalidUpstreamToken = "invalid_upstream_token"
	ErrExpiredUpstreamToken = "expired_upstream_token"
	ErrRevokedUpstreamToken = "revoked_upstream_token"
	ErrInvalidSubagentToken = "invalid_subagent_token"
	ErrExpiredSubagentToken = "expired_subagent_token"
	ErrRevokedSubagentToken = "revoked_subagent_token"

	// Four-party (P§auth-token-delivery): no verifiable auth token could
	// be had from the access server (502).
	ErrASUnreachable = "as_unreachable"
)

// Problem is a non-signature protocol error: an HTTP status, an `error` code
// and optional detail, rendered as application/problem+json (RFC 9457).
type Problem struct {
	Status int
	Code   string
	Detail string
	// RetryAfter, when positive, is sent as Retry-After (seconds).
	RetryAfter int
	// Extra members merged into the JSON body (for example termination_reason).
	Extra map[string]any
	// Header fields added to the response (for example Allow on 405).
	Header http.Header
	Cause  error
}

func (p *Problem) Error() string {
	if p.Detail != "" {
		return fmt.Sprintf("%d %s: %s", p.Status, p.Code, p.Detail)
	}
	return fmt.Sprintf("%d %s", p.Status, p.Code)
}

func (p *Problem) Unwrap() error { return p.Cause }

// NewProblem builds a Problem.
func NewProblem(status int, code, detail string) *Problem {
	return &Problem{Status: status, Code: code, Detail: detail}
}

// BadRequest is the common `400 invalid_request`.
func BadRequest(detail string) *Problem {
	return NewProblem(http.StatusBadRequest, ErrInvalidRequest, detail)
}

// Unavailable is `503 temporarily_unavailable` with Retry-After (PS-250).
func Unavailable(detail string, retryAfter int) *Problem {
	p := NewProblem(http.StatusServiceUnavailable, ErrTemporarilyUnavailable, detail)
	p.RetryAfter = retryAfter
	return p
}

// AsSignatureError reports whether err is (or wraps) a SignatureError.
func AsSignatureError(err error) (*SignatureError, bool) {
	var se *SignatureError
	ok := errors.As(err, &se)
	return se, ok
}

// AsProblem reports whether err is (or wraps) a Problem.
func AsProblem(err error) (*Problem, bool) {
	var p *Problem
	ok := errors.As(err, &p)
	return p, ok
}

// Body is the problem+json document (RFC 9457) every error answer uses:
// `error`, `status`, `title`, `detail` when set, and the Extra members.
func (p *Problem) Body() map[string]any {
	body := make(map[string]any, len(p.Extra)+4)
	for k, v := range p.Extra {
		body[k] = v
	}
	body["error"] = p.Code
	body["status"] = p.Status
	if t := http.StatusText(p.Status); t != "" {
		body["title"] = t
	}
	if p.Detail != "" {
		body["detail"] = p.Detail
	}
	return body
}
