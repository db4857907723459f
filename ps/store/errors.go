package store

import (
	"context"
	"errors"
	"log/slog"

	"github.com/aauth-ps/aauth-ps/ps/dberr"

	"gorm.io/gorm"
)

// Error kinds (the same values as package dberr, which domain packages
// use). Test with errors.Is. Everything the database reports that is
// not a conflict or a missing row is ErrDatabase: callers answer it with a
// 500 server_error and never show the cause to a client.
var (
	// ErrDatabase: the database failed or refused the operation.
	ErrDatabase = dberr.ErrDatabase
	// ErrConflict: a unique constraint refused the write (for signing keys:
	// the kid exists, or another key is already active).
	ErrConflict = dberr.ErrConflict
	// ErrNotFound: no such row.
	ErrNotFound = dberr.ErrNotFound
	// ErrInTx: the operation is not available on a transaction's Store.
	ErrInTx = errors.New("store: not available inside a transaction")
)

// Error is a store failure. Its message names the operation and the kind
// only, never SQL text, values or the driver's message; the driver's error
// is kept for errors.Is/As and for server-side logs (Cause, LogValue).
type Error struct {
	Op   string // e.g. "remember signature"
	Kind error  // ErrDatabase, ErrConflict or ErrNotFound
	Err  error  // the driver's error; may be nil
	// Unreachable: the database could not be reached (ErrDatabase and
	// dberr.ErrUnavailable both match).
	Unreachable bool
}

func (e *Error) Error() string { return "store: " + e.Op + ": " + e.Kind.Error() }

// Unwrap exposes both the kind and the cause (so errors.Is(err,
// context.Canceled) works too).
func (e *Error) Unwrap() []error {
	errs := []error{e.Kind}
	if e.Unreachable {
		errs = append(errs, dberr.ErrUnavailable)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// Cause returns the driver's message, for server-side logs only.
func (e *Error) Cause() string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Error()
}

// LogValue makes slog record the operation and the driver's message.
func (e *Error) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("op", e.Op),
		slog.String("kind", e.Kind.Error()),
		slog.String("cause", e.Cause()),
	)
}

// wrap classifies a driver/gorm error; nil stays nil. A store error (a
// queued write's, sent by a later statement or the commit: pgpool.go)
// passes as it is: it already names its operation and kind.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if se := (*Error)(nil); errors.As(err, &se) {
		return err
	}
	kind := ErrDatabase
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		kind = ErrNotFound
	case isUniqueViolation(err):
		kind = ErrConflict
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// still ErrDatabase; the cause keeps the context error for errors.Is.
	}
	return &Error{Op: op, Kind: kind, Err: err, Unreachable: kind == ErrDatabase && unreachable(err)}
}

// isUniqueViolation recognises unique/primary-key violations from pgx
// (SQLSTATE 23505) and from the SQLite driver (extended codes 2067 and 1555)
// without importing either driver's error type.
func isUniqueViolation(err error) bool {
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return true
	}
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) && pg.SQLState() == "23505" {
		return true
	}
	var lite interface{ Code() int }
	if errors.As(err, &lite) {
		switch lite.Code() {
		case 2067, 1555: // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
			return true
		}
	}
	return false
}

// Wrap classifies a gorm/driver error as a *store.Error for the operation
// op; nil stays nil. Repositories in other packages use it so that no SQL
// text ever reaches a client.
func Wrap(op string, err error) error {
	var se *Error
	if errors.As(err, &se) {
		return err // already classified (for example by InTx)
	}
	return wrap(op, err)
}
