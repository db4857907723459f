// Package dberr holds the kinds of storage failure that domain packages
// test for with errors.Is. It imports nothing, so a domain package can name
// "not found" or "conflict" without importing the database layer (ps/store,
// which implements every domain Store interface and returns these kinds).
package dberr

import "errors"

// Everything the database reports that is not a conflict or a missing row
// is Database: callers answer it with 500 server_error and never show the
// cause to a client.
var (
	// Database: the database failed or refused the operation.
	Database = errors.New("database error")
	// Conflict: a unique constraint refused the write.
	Conflict = errors.New("conflict")
	// NotFound: no such row.
	NotFound = errors.New("not found")
)
