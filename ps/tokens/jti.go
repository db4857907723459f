package tokens

import (
	"crypto/rand"
	"encoding/base64"
	"time"
)

// jtiEncoding is base64url's 64 characters in ASCII order: a jti's text
// sorts as its bytes do.
var jtiEncoding = base64.NewEncoding("-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz").WithPadding(base64.NoPadding)

// newJTI identifies a token issued at at: the instant in milliseconds
// (6 bytes, big-endian) and then 80 random bits, 22 characters. The
// draft asks only that a jti be unique; one that sorts by issuance puts
// each new token record at the end of the jti indexes, where the last
// ones are, instead of on a random page of each: on SQLite a random jti
// wrote a page of WAL per index per record (docs/performance.md,
// finding 49). The instant it tells is the token's iat.
func newJTI(at time.Time) string {
	var b [16]byte
	ms := uint64(max(at.UnixMilli(), 0))
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	if _, err := rand.Read(b[6:]); err != nil {
		panic(err)
	}
	return jtiEncoding.EncodeToString(b[:])
}
