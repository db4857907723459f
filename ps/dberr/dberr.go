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
