// Package storetest opens throw-away databases for tests: a SQLite file in
// t.TempDir() and a freshly created PostgreSQL database that is dropped when
// the test ends, for this package's storage suite and for other
// packages' tests (ps/keys, repositories, handlers) that need a real
// database: Each runs a subtest per backend.
//
// PostgreSQL is found at $AAUTH_PS_TEST_POSTGRES_URL, or at
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable. It must be
// reachable: a test that asks for it fails (never skips) when it is not.
package storetest
