package aauth

// Error codes of the PS's session-authenticated JSON surfaces: mission
// control and the web UI's passkey endpoints (IMPL: -11 leaves the
// mission_control_endpoint's interface to a companion specification).
// Their other errors use the draft's codes (invalid_request,
// mission_not_found, server_error).
const (
	// ErrLoginRequired (401): no valid web session; log in first.
	ErrLoginRequired = "login_required"
	// ErrInvalidCSRF (403): an unsafe method without the session's CSRF
	// token in X-CSRF-Token.
	ErrInvalidCSRF = "invalid_csrf"
	// ErrAdminRequired (403): an operation for administrators only.
	ErrAdminRequired = "admin_required"
	// ErrCrossOrigin (403): an unsafe request sent from another site.
	ErrCrossOrigin = "cross_origin"
	// ErrInvalidToken (401, RFC 6750): an Authorization header whose API
	// token is malformed, unknown, revoked or expired, or whose person is
	// disabled — one answer for all.
	ErrInvalidToken = "invalid_token"
	// ErrInsufficientScope (403, RFC 6750): the API token's scope does not
	// cover the request.
	ErrInsufficientScope = "insufficient_scope"
	// ErrReauthRequired (403): a credential change (a passkey added or
	// removed) from a session whose person has not proved a credential
	// recently; confirm it at /reauth first.
	ErrReauthRequired = "reauth_required"
)
