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
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
)

// MaxSafeInteger is 2^53−1, the largest integer every JSON reader (and
// ECMAScript, whose number form JCS uses) holds exactly.
const MaxSafeInteger = 1<<53 - 1

// ErrNotCanonicalizable is input the anchors refuse: it has no single
// canonical form the design admits.
var ErrNotCanonicalizable = errors.New("anchor: input cannot be canonicalized")

// Canonical returns JCS(raw) after checking the design's restrictions.
func Canonical(raw []byte) ([]byte, error) {
	if err := check(raw); err != nil {
		return nil, err
	}
	out, err := jcs.Transform(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotCanonicalizable, err)
	}
	return out, nil
}

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
	if err := checkAt(raw, 1); err != nil {
		return nil, nil, err
	}
	if member, err = jcs.Transform(raw); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrNotCanonicalizable, err)
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
	slices.SortFunc(names, func(a, b string) int {
		return slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
	})
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

// check walks raw once: one JSON value, valid UTF-8, no lone surrogate
// escapes, no duplicate member names, integers only and within range.
func check(raw []byte) error { return checkAt(raw, 0) }

// checkAt is check for a value that sits depth levels deep in the
// document it will be hashed in, so the nesting bound counts from there.
func checkAt(raw []byte, depth int) error {
	if !utf8.Valid(raw) {
		return fmt.Errorf("%w: invalid UTF-8", ErrNotCanonicalizable)
	}
	if err := checkSurrogates(raw); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := walk(dec, depth); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data", ErrNotCanonicalizable)
	}
	return nil
}

func walk(dec *json.Decoder, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: nested deeper than %d", ErrNotCanonicalizable, maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotCanonicalizable, err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return fmt.Errorf("%w: %v", ErrNotCanonicalizable, err)
				}
				name, _ := k.(string)
				if seen[name] {
					return fmt.Errorf("%w: duplicate member %q", ErrNotCanonicalizable, name)
				}
				seen[name] = true
				if err := walk(dec, depth+1); err != nil {
					return err
				}
			}
		case '[':
			for dec.More() {
				if err := walk(dec, depth+1); err != nil {
					return err
				}
			}
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return fmt.Errorf("%w: %v", ErrNotCanonicalizable, err)
		}
	case json.Number:
		if _, err := SafeInteger(t); err != nil {
			return err
		}
	}
	return nil
}

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

// checkSurrogates finds \uD800–\uDFFF escapes inside string literals that
// are not a high surrogate followed at once by a low one; encoding/json
// would silently turn them into U+FFFD, changing what is hashed.
func checkSurrogates(raw []byte) error {
	inString := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if !inString {
			if c == '"' {
				inString = true
			}
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			if i+1 >= len(raw) {
				return nil // the decoder reports the syntax error
			}
			if raw[i+1] != 'u' {
				i++
				continue
			}
			r, ok := hex4(raw, i+2)
			if !ok {
				return nil
			}
			switch {
			case r >= 0xD800 && r <= 0xDBFF:
				lo, ok := hex4(raw, i+8)
				if i+7 >= len(raw) || raw[i+6] != '\\' || raw[i+7] != 'u' || !ok || lo < 0xDC00 || lo > 0xDFFF {
					return fmt.Errorf("%w: lone surrogate", ErrNotCanonicalizable)
				}
				i += 11
			case r >= 0xDC00 && r <= 0xDFFF:
				return fmt.Errorf("%w: lone surrogate", ErrNotCanonicalizable)
			default:
				i += 5
			}
		}
	}
	return nil
}

func hex4(raw []byte, at int) (rune, bool) {
	if at+4 > len(raw) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(raw[at:at+4]), 16, 32)
	return rune(v), err == nil
}
