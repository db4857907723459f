// Package aauth is the AAuth vocabulary: token types, metadata document
// names and shapes, algorithm identifiers, identifier syntax and the
// protocol's error codes as typed values.
//
// It imports nothing of ours, so every other package (verification,
// issuance, missions, federation, the conformance kit) speaks the same words.
//
// Implements draft-hardt-oauth-aauth-protocol-11 §Identifiers (server and
// agent identifiers), §Metadata Documents, §Common JWT Claims, §Error
// Responses, and the Signature-Error vocabulary of
// draft-hardt-httpbis-signature-key.
package aauth
