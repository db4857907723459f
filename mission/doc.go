// Package mission is the AAuth mission layer's domain: proposals, the
// mission blob and its s256 identifier, references to a mission in
// requests (the -11 `mission_s256` and the April `mission: {approver, s256}`
// object), and the two-state lifecycle with termination reasons.
//
// The blob is serialized exactly once with the JSON Canonicalization
// Scheme (RFC 8785, github.com/gowebpki/jcs); those bytes are persisted,
// hashed and served verbatim forever after (P§mission-identifier).
//
// Implements draft-hardt-oauth-aauth-protocol-11 §Mission (creation,
// approval, identifier, update, completion, management, errors) with the
// readings of PS-REQUIREMENTS §2.4, A-05, A-10, A-39, A-47 and A-56. It
// imports no HTTP, database or template package.
package mission
