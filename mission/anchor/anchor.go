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
	obj, err := Marshal(v)
	if err != nil {
		return nil, nil, err
	}
	// One level deeper in the whole: the nesting bound counts from there.
	if member, err = canonicalAt(raw, 1); err != nil {
		return nil, nil, err
	}
	// obj is canonical: its values are kept as they are, byte for byte.
	var members map[string]json.RawMessage
	if err := json.Unmarshal(obj, &members); err != nil {
		return nil, nil, fmt.Errorf("%w: not an object: %v", ErrNotCanonicalizable, err)
	}
	if _, dup := members[name]; dup {
		return nil, nil, fmt.Errorf("%w: duplicate member %q", ErrNotCanonicalizable, name)
	}
	members[name] = member
	names := make([]string, 0, len(members))
	for k := range members {
		names = append(names, k)
	}
	// RFC 8785 §3.2.3: members sorted by their names' UTF-16 code units.
	slices.SortFunc(names, compareUTF16)
	var out bytes.Buffer
	out.Grow(len(obj) + len(name) + len(member) + 4)
	out.WriteByte('{')
	for i, k := range names {
		if i > 0 {
			out.WriteByte(',')
		}
		writeString(&out, k)
		out.WriteByte(':')
		out.Write(members[k])
	}
	out.WriteByte('}')
	return out.Bytes(), member, nil
}

// writeString writes s (valid UTF-8) as RFC 8785 §3.2.2.2 serialises a
// string: only the quote, the backslash and control characters escaped,
// the short forms where JSON has them, \u00xx (lower-case hex) otherwise.
func writeString(out *bytes.Buffer, s string) {
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
