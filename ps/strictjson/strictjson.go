// Package strictjson decodes untrusted JSON the way AAuth endpoints need it:
// valid UTF-8, no duplicate member names at any depth (encoding/json would
// silently keep the last one, A-35), a top-level object, and unknown members
// kept rather than refused (PS-053).
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// ErrNotObject means the document is valid JSON but not an object.
var ErrNotObject = errors.New("JSON value is not an object")

// maxDepth bounds nesting so a hostile document cannot exhaust the stack.
const maxDepth = 64

// Check validates data as a single JSON object with valid UTF-8 and no
// duplicate member names.
func Check(data []byte) error {
	if !utf8.Valid(data) {
		return errors.New("body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		if err := skipRest(dec, tok, 0); err != nil {
			return err
		}
		return ErrNotObject
	}
	if err := walkObject(dec, 1); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("malformed JSON: trailing data after the object")
	}
	return nil
}

// DecodeObject checks data (see Check) and unmarshals it into a generic map
// whose numbers are json.Number.
func DecodeObject(data []byte) (map[string]any, error) {
	if err := Check(data); err != nil {
		return nil, err
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	return m, nil
}

// Unmarshal checks data (see Check) and then unmarshals it into v.
func Unmarshal(data []byte, v any) error {
	if err := Check(data); err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("member %q has the wrong JSON type (%s)", te.Field, te.Value)
		}
		return fmt.Errorf("malformed JSON: %w", err)
	}
	return nil
}

func walkObject(dec *json.Decoder, depth int) error {
	if depth > maxDepth {
		return errors.New("JSON nested too deeply")
	}
	seen := map[string]struct{}{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("malformed JSON: %w", err)
		}
		key, ok := tok.(string)
		if !ok {
			return errors.New("malformed JSON: object key is not a string")
		}
		if _, dup := seen[key]; dup {
			return fmt.Errorf("duplicate member %q", key)
		}
		seen[key] = struct{}{}
		if err := walkValue(dec, depth); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // closing '}'
		return fmt.Errorf("malformed JSON: %w", err)
	}
	return nil
}

func walkValue(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	return skipRest(dec, tok, depth)
}

// skipRest walks the remainder of a value whose first token is tok.
func skipRest(dec *json.Decoder, tok json.Token, depth int) error {
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		return walkObject(dec, depth+1)
	case '[':
		if depth+1 > maxDepth {
			return errors.New("JSON nested too deeply")
		}
		for dec.More() {
			if err := walkValue(dec, depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("malformed JSON: %w", err)
		}
	}
	return nil
}
