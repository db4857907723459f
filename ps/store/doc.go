// Package store is the PS's database: gorm over PostgreSQL (pgx) or an
// embedded SQLite file (pure Go), selected by the database URL.
//
// It owns the connection pool, explicit transactions (InTx), and the schema
// lifecycle: the embedded goose migrations of package migrations are the
// only thing that creates tables (MigrateUp/Down/DownAll/Status); gorm
// AutoMigrate is never used.
//
// It is the only package that imports gorm or a database driver. Each
// domain package declares the small Store interface it needs; *Store
// implements all of them, one file per aggregate:
//   - accounts*.go: account.Store (persons, sessions, invitations, passkeys,
//     login failures);
//   - agents.go: agents.Store (providers, blocks, bindings);
//   - missions.go: missionflow.Store (missions and their log);
//   - tokens.go: tokens.Store (person-token records, directed subs,
//     consents);
//   - pending.go: pending.Store (deferred requests and their admission
//     bounds);
//   - replay.go: the replay cache shared by every replica
//     (P§freshness-and-replay, PS-027, keyed as A-37 reads in
//     docs/decisions.md);
//   - revocation.go: recorded token revocations (PS-046, PS-284);
//   - signingkeys.go: the PS's own sealed signing keys, used by ps/keys
//     (PS-008..PS-011).
//
// A decision and its effects commit together: flows run them in InTx and
// bind services to the transaction's *Store; AfterCommit defers what other
// processes observe (long-poll wake-ups) until the commit. raw.go offers
// raw SQL for tests and diagnostics only.
//
// Errors are *Error values whose kinds are ps/dberr's (ErrNotFound,
// ErrConflict, ErrDatabase), so domain packages test them without importing
// this package. Their messages carry no SQL, values or driver text;
// errors.Is(err, ErrDatabase) means "answer 500 server_error".
//
// The ps/store/storetest package opens throw-away databases of both kinds
// for tests of this and other packages.
package store
