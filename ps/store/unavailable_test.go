package store

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/aauth-ps/aauth-ps/ps/dberr"
)

// TestUnreachableClassification: connection failures are ErrDatabase and
// dberr.ErrUnavailable (answered 503); a refused statement is only
// ErrDatabase (500), a conflict only ErrConflict.
func TestUnreachableClassification(t *testing.T) {
	for _, err := range []error{
		&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED},
		fmt.Errorf("read: %w", syscall.ECONNRESET),
		&pgconn.PgError{Code: "57P01"}, &pgconn.PgError{Code: "57P03"}, &pgconn.PgError{Code: "08006"},
		errors.New("conn closed"),
	} {
		w := wrap("op", err)
		if !errors.Is(w, dberr.ErrUnavailable) || !errors.Is(w, dberr.ErrDatabase) {
			t.Errorf("%v: not classified unavailable", err)
		}
	}
	for _, err := range []error{&pgconn.PgError{Code: "42P01"}, &pgconn.PgError{Code: "23505"}, errors.New("syntax")} {
		if w := wrap("op", err); errors.Is(w, dberr.ErrUnavailable) {
			t.Errorf("%v: classified unavailable", err)
		}
	}
}
