// Package keys owns the Person Server's own signing keys: generation
// (Ed25519 by default, ES256 optionally), sealing at rest, rotation,
// retirement and pruning, the decrypted active key used to sign person
// tokens, auth tokens and outbound HTTP message signatures, and the JWKS
// served at the PS's jwks_uri.
//
// Draft sections: P§jwks-discovery and P§signature-algorithms (every key
// has a kid and a fully-specified alg; no private members), P§keying-material
// (the kid the PS names in Signature-Key), and PS-REQUIREMENTS §2.6 "Own
// keys" with PS-008..PS-011: after rotation the old public key stays in the
// JWKS until every token it signed has expired, i.e. for MaxTokenLifetime
// (1 h) plus ClockSkew (5 m).
//
// kid is the key's RFC 7638 thumbprint. Private keys exist in the database
// only as PKCS#8 sealed by Sealer: AES-256-GCM under a key derived with
// HKDF-SHA256 from the operator's key-encryption secret, with the kid as
// additional authenticated data so sealed keys cannot be swapped between
// rows. A wrong secret yields ErrSecretMismatch ("key-encryption secret does
// not match the stored keys"), never a panic.
//
// Storage is the Store interface, satisfied by *store.Store; several
// replicas may share one database: at most one key is active (a partial
// unique index), Rotate is one transaction, and each Manager re-reads the
// active kid at most every RefreshInterval.
package keys
