// Package mission is the AAuth mission layer's domain: proposals, the
// person's edits and the approval they make, the mission blob and its
// s256 identifier (with approved_at unique per PS), references to a
// mission in requests (the -11 `mission_s256` and the April
// `mission: {approver, s256}` object), the stored mission record with its
// two-state lifecycle and termination reasons, the mission log entry, and
// the rate limit on requests for missions that do not exist.
//
// The blob is serialized exactly once with the JSON Canonicalization
// Scheme (RFC 8785, github.com/gowebpki/jcs); those bytes are persisted,
// hashed and served verbatim forever after (P§mission-identifier).
//
// Implements draft-hardt-oauth-aauth-protocol-11 §Mission (creation,
// approval, identifier, update, completion, management, errors) with the
// readings of PS-REQUIREMENTS §2.4, A-05, A-10, A-39, A-47, A-56 and
// PS-185, PS-208. It imports no HTTP, database or template package (a test
// checks it); ps/missionflow runs these rules against the store.
//
// Mission composition (issue 10) lives in sub-packages: mission/anchor
// (JCS and the integrity anchors), mission/authority (the Authority Set,
// Evaluate, derivation, the consent rendering), mission/governance (holds,
// termination, narrowing overlays, successors) and mission/evidence (the
// hash chain and its offline verifier); see docs/mission-composition.md.
package mission
