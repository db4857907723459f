// Package server is the PS's HTTP surface on gin: the route table, the
// signed-request middleware (verify first, then handle), the one error
// renderer, metadata and JWKS, health, readiness and metrics.
//
// Handlers return errors; renderError turns *aauth.SignatureError into 401
// with Signature-Error (and Accept-Signature-* where the draft asks), and
// *aauth.Problem into its status with application/problem+json. Nothing is
// passed through gin.Context values: a signed handler receives the verified
// agent as an argument.
//
// Implements draft-hardt-oauth-aauth-protocol-11 §Person Server Metadata,
// §Error Responses, §Verification (Server) as wiring, and PS-REQUIREMENTS
// §2.3 E1/E2, §3.1, §3.4.
package server
