// Package httperr is the one problem renderer: every JSON error the PS
// sends (agent API, mission control, the web UI's JSON endpoints) is
// written here, from the protocol's error values in ps/aauth.
//
// A *aauth.SignatureError becomes 401 with the Signature-Error dictionary
// (SK§signature-error) and a problem+json body; a *aauth.Problem becomes
// its status with an application/problem+json body carrying `error`,
// `status`, `title` and `detail` (P§error-response-format, RFC 9457); any
// other error is 500 server_error and its text never leaves the server.
// Logging and metrics stay with the callers, which know their route.
package httperr
