// Package dberr holds the kinds of storage failure that domain packages
// test for with errors.Is. It imports nothing, so a domain package can name
// "not found" or "conflict" without importing the database layer (ps/store,
// which implements every domain Store interface and returns these kinds).
package dberr

import "errors"

// Everything the database reports that is not a conflict or a missing row
// is ErrDatabase: callers answer it with 500 server_error and never show the
// cause to a client.
var (
	// ErrDatabase: the database failed or refused the operation.
	ErrDatabase = errors.New("database error")
	// ErrConflict: a unique constraint refused the write.
	ErrConflict = errors.New("conflict")
	// ErrNotFound: no such row.
	ErrNotFound = errors.New("not found")
)

// ErrUnavailable marks, beside ErrDatabase, a failure to reach the database
// at all (connection refused or lost, the server shutting down or not yet
// accepting connections, a busy SQLite file): the request may succeed
// later, so it is answered 503 temporarily_unavailable with Retry-After,
// never with an answer that pretends to know (issue 12).
var ErrUnavailable = errors.New("database unavailable")
