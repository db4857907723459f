// Package httpsig verifies signed AAuth requests: RFC 9421 HTTP Message
// Signatures whose key comes from the Signature-Key header
// (draft-hardt-httpbis-signature-key), under the AAuth profile.
//
// It turns a received request into a verified principal (an Agent: the
// agent token's claims and the proven signing key) or a
// *aauth.SignatureError that the server renders as 401 with Signature-Error.
// Handlers never see unverified input.
//
// Implements draft-hardt-oauth-aauth-protocol-11 §HTTP Message Signatures
// Profile (covered components, signature parameters, verification steps
// 1–7, scheme rejection, freshness and replay), §Agent Token Verification,
// §Common JWT Verification and §JWKS Discovery and Caching (through the
// KeyDiscovery boundary), with the readings of PS-REQUIREMENTS §2.2.1 and
// §2.5 (A-17 Content-Digest, A-20 clock skew, A-28 `ps`, A-29 agent domain,
// A-30 typ, A-31 header alg, A-37 replay key).
//
// The RFC 9421 signature base and cryptographic check come from
// github.com/yaronf/httpsign; structured fields from github.com/dunglas/httpsfv.
package httpsig
