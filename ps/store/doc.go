// Package store is the PS's database: gorm over PostgreSQL (pgx) or an
// embedded SQLite file (pure Go), selected by the database URL.
//
// It owns the connection pool, explicit transactions (InTx), and the schema
// lifecycle: the embedded goose migrations of package migrations are the
// only thing that creates tables (MigrateUp/Down/DownAll/Status); gorm
// AutoMigrate is never used.
//
// Repositories so far:
//   - the replay cache shared by every replica (RememberSignature,
//     PurgeExpired): P§freshness-and-replay, keyed on (label, signature
//     bytes) per PS-REQUIREMENTS A-37 (PS-027);
//   - recorded token revocations (RecordRevocation, IsRevoked):
//     P§token-revocation, P§presenting-a-revoked-token (PS-046, PS-284);
//   - the PS's own signing keys, sealed (InsertSigningKey, ListSigningKeys,
//     RetireActiveKeys, DeleteSigningKey), used by ps/keys:
//     P§jwks-discovery and §2.6 "Own keys" (PS-008..PS-011).
//
// Errors are *Error values whose message carries no SQL, values or driver
// text; errors.Is(err, ErrDatabase) means "answer 500 server_error".
//
// The ps/store/storetest package opens throw-away databases of both kinds
// for tests of this and other packages.
package store
