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
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// ErrNotObject means the document is valid JSON but not an object.
var ErrNotObject = errors.New("JSON value is not an object")

// maxDepth bounds nesting so a hostile document cannot exhaust the stack.
const maxDepth = 64

// Check validates data as a single JSON object with valid UTF-8 and no
// duplicate member names.
//
// jsontext (encoding/json v2's token layer) reads it: it refuses duplicate
// names itself, compared after unescaping, and reads scalar values without
// allocating, where encoding/json's Decoder.Token allocated an error for
// every one (issue 12). Escaped lone surrogates stay accepted, as
// encoding/json accepts them; the raw bytes are checked as UTF-8 first.
func Check(data []byte) error {
	dec, err := newDecoder(data)
	if err != nil {
		return err
	}
	var top jsontext.Kind
	for top == 0 || dec.StackDepth() > 0 {
		tok, err := nextToken(dec)
		if err != nil {
			return err
		}
		if top == 0 {
			top = tok.Kind()
		}
	}
	if top != '{' {
		return ErrNotObject
	}
	return atEnd(dec)
}

// newDecoder reads data, once its raw bytes are valid UTF-8.
func newDecoder(data []byte) (*jsontext.Decoder, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("body is not valid UTF-8")
	}
	return jsontext.NewDecoder(bytes.NewReader(data), jsontext.AllowInvalidUTF8(true)), nil
}

// nextToken reads dec's next token, refusing what is malformed or nested
// too deeply.
func nextToken(dec *jsontext.Decoder) (jsontext.Token, error) {
	tok, err := dec.ReadToken()
	if err != nil {
		return tok, tokenError(err)
	}
	if dec.StackDepth() > maxDepth {
		return tok, errors.New("JSON nested too deeply")
	}
	return tok, nil
}

// atEnd refuses anything after the top-level object.
func atEnd(dec *jsontext.Decoder) error {
	if _, err := dec.ReadToken(); err != io.EOF {
		return errors.New("malformed JSON: trailing data after the object")
	}
	return nil
}

// tokenError says why jsontext stopped reading.
func tokenError(err error) error {
	var se *jsontext.SyntacticError
	if errors.Is(err, jsontext.ErrDuplicateName) && errors.As(err, &se) {
		return fmt.Errorf("duplicate member %q", se.JSONPointer.LastToken())
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("malformed JSON: %w", err)
}

// DecodeObject checks data (see Check) and unmarshals it into a generic map
// whose numbers are json.Number: what encoding/json's Decoder with
// UseNumber gives. The check's own tokens build the map, in one pass
// (issue 12, finding 65: checking, then decoding again with encoding/json,
// was 5 % of the bytes the PS allocated under load; its callers are the
// token requests' bodies and every JWT's header and claims).
func DecodeObject(data []byte) (map[string]any, error) {
	dec, err := newDecoder(data)
	if err != nil {
		return nil, err
	}
	tok, err := nextToken(dec)
	if err != nil {
		return nil, err
	}
	if tok.Kind() != '{' {
		return nil, Check(data) // its answer for what is not an object
	}
	m, err := readObject(dec)
	if err == nil {
		err = atEnd(dec)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// readObject reads the members of the object whose '{' was just read.
func readObject(dec *jsontext.Decoder) (map[string]any, error) {
	m := map[string]any{}
	for {
		tok, err := nextToken(dec)
		if err != nil {
			return nil, err
		}
		if tok.Kind() == '}' {
			return m, nil
		}
		name := tok.String()
		if tok, err = nextToken(dec); err != nil {
			return nil, err
		}
		if m[name], err = readValue(dec, tok); err != nil {
			return nil, err
		}
	}
}

// readArray reads the elements of the array whose '[' was just read.
func readArray(dec *jsontext.Decoder) ([]any, error) {
	a := []any{}
	for {
		tok, err := nextToken(dec)
		if err != nil {
			return nil, err
		}
		if tok.Kind() == ']' {
			return a, nil
		}
		v, err := readValue(dec, tok)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
	}
}

// readValue is the value tok begins, as encoding/json decodes it into an
// interface with UseNumber.
func readValue(dec *jsontext.Decoder, tok jsontext.Token) (any, error) {
	switch tok.Kind() {
	case '{':
		return readObject(dec)
	case '[':
		return readArray(dec)
	case '"':
		return tok.String(), nil
	case '0':
		return json.Number(tok.String()), nil
	case 't':
		return true, nil
	case 'f':
		return false, nil
	default: // 'n': the decoder yields no other kind here
		return nil, nil
	}
}

// Unmarshal checks data (see Check) and then unmarshals it into v.
//
// Member names match struct fields exactly. encoding/json alone would also
// fill a `resource` field from "Resource" or "RESOURCE", so a second
// spelling could override the first behind the duplicate check;
// here such case variants are unknown members and are ignored (PS-053).
func Unmarshal(data []byte, v any) error {
	if err := Check(data); err != nil {
		return err
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && !rv.IsNil() {
		var doc any
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			return fmt.Errorf("malformed JSON: %w", err)
		}
		if dropCaseVariants(doc, rv.Type().Elem()) {
			b, err := json.Marshal(doc)
			if err != nil {
				return fmt.Errorf("malformed JSON: %w", err)
			}
			data = b
		}
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

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// dropCaseVariants deletes, from the decoded document doc destined for a
// value of type t, every object member whose name matches a struct field
// only case-insensitively (the folding encoding/json applies, which
// strings.EqualFold mirrors). It reports whether it deleted anything.
func dropCaseVariants(doc any, t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		return false
	}
	dropped := false
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := doc.(map[string]any)
		if !ok {
			return false
		}
		fields := map[string]reflect.Type{}
		jsonFields(t, fields, map[reflect.Type]bool{})
		for k, val := range obj {
			if ft, exact := fields[k]; exact {
				dropped = dropCaseVariants(val, ft) || dropped
				continue
			}
			for name := range fields {
				if strings.EqualFold(k, name) {
					delete(obj, k)
					dropped = true
					break
				}
			}
		}
	case reflect.Slice, reflect.Array:
		arr, _ := doc.([]any)
		for _, val := range arr {
			dropped = dropCaseVariants(val, t.Elem()) || dropped
		}
	case reflect.Map:
		obj, _ := doc.(map[string]any)
		for _, val := range obj {
			dropped = dropCaseVariants(val, t.Elem()) || dropped
		}
	}
	return dropped
}

// jsonFields adds the JSON member names of struct type t and their types to
// fields, promoted fields of embedded structs included (outer names win).
func jsonFields(t reflect.Type, fields map[string]reflect.Type, seen map[reflect.Type]bool) {
	if seen[t] {
		return
	}
	seen[t] = true
	var embedded []reflect.Type
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			ft := sf.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				embedded = append(embedded, ft)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		fields[name] = sf.Type
	}
	for _, et := range embedded {
		promoted := map[string]reflect.Type{}
		jsonFields(et, promoted, seen)
		for name, ft := range promoted {
			if _, outer := fields[name]; !outer {
				fields[name] = ft
			}
		}
	}
}
