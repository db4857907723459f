// Package migrations holds the database schema as numbered goose SQL
// migrations, one folder per dialect (postgres/, sqlite/), embedded into the
// binary. They are the only thing that creates or changes the schema: the
// store never uses gorm AutoMigrate. `aauth-ps migrate` and the server's
// start-up apply them through ps/store.
//
// Conventions: both dialects have the same file names and versions; every
// file has a `-- +goose Down` section that fully reverts its Up section;
// times that SQL compares (expiries) are BIGINT unix seconds, and so are the
// other timestamps, to keep the two dialects identical.
//
// 00001_init: signing_keys (the PS's own keys, P§jwks-discovery and
// PS-REQUIREMENTS §2.6 "Own keys", PS-008..PS-011), replay_cache (the
// RFC 9421 replay cache of P§freshness-and-replay, keyed) and
// revoked_tokens (P§token-revocation; consulted by verification,
// filled by the revocation endpoint).
package migrations
