package store

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// unreachable reports whether err means the database could not be
// reached or dropped the connection, rather than refusing the statement:
// the kind a later retry may cure (dberr.ErrUnavailable).
func unreachable(err error) bool {
	var connect *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connect), errors.As(err, &netErr),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) {
		switch s := pg.SQLState(); {
		case strings.HasPrefix(s, "08"), // connection exception
			s == "57P01", s == "57P02", s == "57P03", // admin or crash shutdown, cannot connect now
			s == "53300": // too many connections
			return true
		}
		return false
	}
	var lite interface{ Code() int }
	if errors.As(err, &lite) {
		switch lite.Code() & 0xff {
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED: the busy timeout ran out
			return true
		}
		return false
	}
	// pgx reports a connection it closed after a failure by message only.
	return strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "conn busy")
}
