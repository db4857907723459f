// Package sqlite stands in for github.com/glebarez/go-sqlite under the
// gorm dialector github.com/glebarez/sqlite (go.mod replaces it with this
// directory).
//
// glebarez/go-sqlite is a 2023 fork of modernc.org/sqlite's database/sql
// layer; its statements parse their SQL again on every execution, which
// was a fifth of the PS's CPU on SQLite (issue 12, docs/performance.md
// findings 4, 31 and 35). modernc.org/sqlite, which it forked and whose
// SQLite it already ran, keeps a prepared statement's handle. Both register
// the driver name "sqlite", so they cannot be linked side by side: this
// module registers the upstream driver under that name and gives the
// dialector the one type it uses.
package sqlite

import msqlite "modernc.org/sqlite"

// Error is the driver's error; the dialector reads its Code.
type Error = msqlite.Error
