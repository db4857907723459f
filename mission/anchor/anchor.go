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
	"strconv"
	"strings"
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
func check(raw []byte) error {
	if !utf8.Valid(raw) {
		return fmt.Errorf("%w: invalid UTF-8", ErrNotCanonicalizable)
	}
	if err := checkSurrogates(raw); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := walk(dec, 0); err != nil {
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
