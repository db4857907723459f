// Package anchor computes the integrity anchors of Mission composition
// (design §4): anchor(x) = base64url-nopad(sha256(JCS(x))), with JCS the
// JSON Canonicalization Scheme of RFC 8785 restricted as the design says:
// no duplicate member names, no lone surrogates or invalid UTF-8, and
// numbers only as integers within ±(2^53−1) (money in minor units, times
// as strings). The proposal_hash, authority_hash, effective_authority_hash,
// consent_rendering_hash, every evidence record_hash and the mission s256
// are all anchors of this one function, so a verifier needs nothing else.
package anchor

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxSafeInteger is 2^53−1, the largest integer every JSON reader (and
// ECMAScript, whose number form JCS uses) holds exactly.
const MaxSafeInteger = 1<<53 - 1

// ErrNotCanonicalizable is input the anchors refuse: it has no single
// canonical form the design admits.
var ErrNotCanonicalizable = errors.New("anchor: input cannot be canonicalized")

// Canonical returns JCS(raw) after checking the design's restrictions.
func Canonical(raw []byte) ([]byte, error) { return canonicalAt(raw, 0) }

// Marshal is Canonical(json.Marshal(v)): the bytes a PS persists and hashes.
func Marshal(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotCanonicalizable, err)
	}
	return Canonical(raw)
}

// MarshalMember is Marshal of the object v with one more top-level
// member, name, holding the JSON text raw: it returns the whole's
// canonical bytes (byte for byte what Marshal of the whole gives) and
// raw's canonical form. raw is canonicalised once, as a member (evidence
// records: the body, often the largest part, is not canonicalised twice).
// v must marshal to an object without a member name.
func MarshalMember(v any, name string, raw []byte) (whole, member []byte, err error) {
	obj, err := json.Marshal(v)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrNotCanonicalizable, err)
	}
	if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' {
		return nil, nil, fmt.Errorf("%w: not an object", ErrNotCanonicalizable)
	}
	key, err := json.Marshal(name)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrNotCanonicalizable, err)
	}
	// The whole as JSON text, raw spliced in as its last member, then
	// canonicalised in one pass (issue 12, finding 55: the object was
	// canonicalised, decoded into a map and merged with the member
	// canonicalised on its own). The canonicaliser checks that raw is
	// one value that ends the object, and the member's depth is one.
	w := workspaces.Get().(*workspace)
	defer w.keep()
	c := canonicaliser{hasLast: true, last: name, w: w}
	input := slices.Grow(w.input[:0], len(obj)+len(key)+len(raw)+2)
	input = append(input, obj[:len(obj)-1]...)
	if len(obj) > 2 {
		input = append(input, ',')
	}
	input = append(append(input, key...), ':')
	c.lastFrom = len(input)
	input = append(append(input, raw...), '}')
	w.input = input // scratch: the canonical form is written to c.out
	if !utf8.Valid(input) {
		return nil, nil, fmt.Errorf("%w: invalid UTF-8", ErrNotCanonicalizable)
	}
	c.raw = input
	c.out.Grow(len(input))
	if err := c.value(0); err != nil {
		return nil, nil, err
	}
	if c.i != len(input) || !c.lastSeen {
		return nil, nil, fmt.Errorf("%w: member %q is not one JSON value", ErrNotCanonicalizable, name)
	}
	out := c.out.Bytes()
	s, e := c.lastSpan[0], c.lastSpan[1]
	return out, out[s:e:e], nil
}

// writeString writes s (valid UTF-8) as RFC 8785 §3.2.2.2 serialises a
// string: only the quote, the backslash and control characters escaped,
// the short forms where JSON has them, \u00xx (lower-case hex) otherwise.
func writeString(out *bytes.Buffer, s []byte) {
	const hex = "0123456789abcdef"
	out.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			out.WriteByte('\\')
			out.WriteByte(c)
		case c == '\b':
			out.WriteString(`\b`)
		case c == '\t':
			out.WriteString(`\t`)
		case c == '\n':
			out.WriteString(`\n`)
		case c == '\f':
			out.WriteString(`\f`)
		case c == '\r':
			out.WriteString(`\r`)
		case c < 0x20:
			out.WriteString(`\u00`)
			out.WriteByte(hex[c>>4])
			out.WriteByte(hex[c&0xf])
		default:
			out.WriteByte(c)
		}
	}
	out.WriteByte('"')
}

// Of is anchor(v) for any value that marshals to JSON.
func Of(v any) (string, error) {
	canon, err := Marshal(v)
	if err != nil {
		return "", err
	}
	return S256(canon), nil
}

// OfJSON is anchor(x) for x given as JSON text (any formatting).
func OfJSON(raw []byte) (string, error) {
	canon, err := Canonical(raw)
	if err != nil {
		return "", err
	}
	return S256(canon), nil
}

// S256 is base64url-nopad(sha256(b)): the anchor of bytes already
// canonical, such as a persisted blob.
func S256(b []byte) string {
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Equal reports whether two JSON texts have the same canonical form
// (the R3 "JSON-equal operation" test); either failing to canonicalize
// makes them unequal, so the comparison fails closed.
func Equal(a, b []byte) bool {
	ca, err := Canonical(a)
	if err != nil {
		return false
	}
	cb, err := Canonical(b)
	if err != nil {
		return false
	}
	return bytes.Equal(ca, cb)
}

// maxDepth bounds nesting so hostile input cannot exhaust the stack of
// the canonicalizer.
const maxDepth = 64

// SafeInteger parses n as an integer within ±(2^53−1): the only numbers
// the anchored objects hold.
func SafeInteger(n json.Number) (int64, error) {
	s := string(n)
	if strings.ContainsAny(s, ".eE") {
		return 0, fmt.Errorf("%w: %s is not an integer", ErrNotCanonicalizable, s)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v > MaxSafeInteger || v < -MaxSafeInteger || s == "-0" {
		return 0, fmt.Errorf("%w: %s is outside ±(2^53−1)", ErrNotCanonicalizable, s)
	}
	return v, nil
}
