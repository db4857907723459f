package pending

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"
)

// Interaction codes (P§interaction-code-format, PS-160..PS-163).
const (
	// CodeAlphabet is Crockford base32.
	CodeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	// CodeLength is the number of symbols (50 bits of entropy).
	CodeLength = 10
	// codeGroup is where the display form has its hyphen.
	codeGroup = 5
)

// idBytes is the number of random bytes in a pending id (PS-147: ≥ 128 bits).
const idBytes = 16

// newID returns 128 random bits, base64url without padding (22 characters).
func newID() string {
	b := make([]byte, idBytes)
	if _, err := rand.Read(b); err != nil {
		panic("pending: crypto/rand failed: " + err.Error()) // unreachable on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// wellFormedID reports whether id has the shape newID produces.
func wellFormedID(id string) bool {
	if len(id) != base64.RawURLEncoding.EncodedLen(idBytes) {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// NewCode returns a fresh interaction code in display form, XXXXX-XXXXX,
// drawn from crypto/rand (each symbol is 5 uniform bits: 256 is a multiple
// of 32, so masking a random byte has no bias).
func NewCode() string {
	b := make([]byte, CodeLength)
	if _, err := rand.Read(b); err != nil {
		panic("pending: crypto/rand failed: " + err.Error())
	}
	out := make([]byte, 0, CodeLength+1)
	for i, c := range b {
		if i == codeGroup {
			out = append(out, '-')
		}
		out = append(out, CodeAlphabet[c&31])
	}
	return string(out)
}

// NormalizeCode turns what a person typed into the canonical code value:
// surrounding white space and every hyphen removed, ASCII letters
// upper-cased, and the Crockford decode aliases folded (I and L → 1, O → 0).
// ok is false unless the result is exactly CodeLength symbols of
// CodeAlphabet. Non-ASCII input is refused rather than case-folded, so no
// Unicode letter can turn into an alias. NormalizeCode is idempotent.
func NormalizeCode(s string) (norm string, ok bool) {
	s = strings.TrimSpace(s)
	if len(s) > 4*CodeLength { // bound the work on hostile input
		return "", false
	}
	out := make([]byte, 0, CodeLength)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-':
			continue
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		}
		switch c {
		case 'I', 'L':
			c = '1'
		case 'O':
			c = '0'
		}
		if strings.IndexByte(CodeAlphabet, c) < 0 {
			return "", false
		}
		out = append(out, c)
	}
	if len(out) != CodeLength {
		return "", false
	}
	return string(out), true
}

// DisplayCode is s, as entered, in the display form NewCode gives the
// agent (normalized, one hyphen after codeGroup symbols), so a person can
// compare it with what their agent shows them; "" when s is not a code.
func DisplayCode(s string) string {
	n, ok := NormalizeCode(s)
	if !ok {
		return ""
	}
	return n[:codeGroup] + "-" + n[codeGroup:]
}

// CodesEqual reports whether two entered or displayed codes denote the same
// value after normalization; the comparison of the normalized values takes
// constant time. Invalid codes are never equal to anything.
func CodesEqual(a, b string) bool {
	na, okA := NormalizeCode(a)
	nb, okB := NormalizeCode(b)
	if !okA || !okB {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(na), []byte(nb)) == 1
}

// codeHash is what is stored for a code: SHA-256 over a domain label, the
// pending id (a per-request salt, so no table precomputes codes) and the
// normalized code.
func codeHash(id, normalized string) []byte {
	h := sha256.New()
	h.Write([]byte("aauth-ps pending interaction code\x00"))
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write([]byte(normalized))
	return h.Sum(nil)
}

// codeMatches compares entered against the stored hash in constant time.
// It always hashes, so a malformed entry costs the same as a wrong one.
func codeMatches(id, entered string, stored []byte) bool {
	norm, ok := NormalizeCode(entered)
	got := codeHash(id, norm)
	eq := subtle.ConstantTimeCompare(got, stored) == 1
	return ok && eq && len(stored) == sha256.Size
}
