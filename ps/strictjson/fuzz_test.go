package strictjson_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/aauth-ps/aauth-ps/ps/strictjson"
)

// strictjsonSeeds are realistic AAuth documents: request bodies (E3, E4,
// missions, revocation), JWT headers and claims, JWKS and metadata, plus the
// refusals of PS-048 and PS-051.
var strictjsonSeeds = []string{
	`{"resource":"https://rs.test"}`,
	`{"resource":"https://rs.test","capabilities":["interaction","clarification"],"mission_s256":"BQwpnz9T_MPsWun9WfcCBMUsWJk_-y26OXOLICGMFRk","prompt":"none","login_hint":"alice@example.com"}`,
	`{"resource_token":"eyJhbGciOiJFZDI1NTE5In0.e30.AAAA","presented_token":"eyJ.e30.AAAA","justification":"# Book\n\nA trip."}`,
	`{"action":"update","description":"# Hotel unavailable"}`,
	`{"agent":"aauth:assistant@agent.example","approved_at":"2026-04-07T14:30:00Z","description":"# Plan Japan Vacation\n\nPlan and book a trip to Japan next month for 2 adults."}`,
	`{"iss":"https://ap.test","jti":"3f2c","exp":1730221200}`,
	`{"alg":"Ed25519","kid":"ap-key-1","typ":"aa-agent+jwt"}`,
	`{"iss":"https://ap.test","dwk":"aauth-agent.json","sub":"aauth:a1@ap.test","jti":"x","iat":1730217600,"exp":1730221200,"cnf":{"jwk":{"kty":"OKP","crv":"Ed25519","alg":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}},"ps":"https://ps.test"}`,
	`{"keys":[{"kty":"OKP","crv":"Ed25519","alg":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},{"kty":"XYZ","kid":"other"}]}`,
	`{"issuer":"https://ap.test","jwks_uri":"https://ap.test/jwks.json","localhost_callback_allowed":true,"n":1.5e3}`,
	`{"resource":"https://a.test","resource":"https://b.test"}`,
	`{"x":[{"a":1},{"a":1,"a":2}]}`,
	"{\"a\":\"\xff\"}",
	`{"a":[],"b":{},"c":[[],{}],"d":-0.0e-0,"e":null,"f":"\u00e9\ud83d\ude00\\","g":[true,false,1E400]}`,
	`[]`, `"x"`, `{"resource":`, `{} {}`, `{"a":1,}`, `{"a":"\ud800"}`, `{"a":1,"\u0061":2}`,
}

// FuzzStrictJSON: Check never panics; whatever it accepts, encoding/json
// also parses into a map, and DecodeObject and Unmarshal agree with it.
// Whatever encoding/json itself calls invalid, Check refuses.
func FuzzStrictJSON(f *testing.F) {
	for _, s := range strictjsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := strictjson.Check(data)
		if ref := referenceCheck(data); (err == nil) != (ref == nil) || errors.Is(err, strictjson.ErrNotObject) != errors.Is(ref, strictjson.ErrNotObject) {
			t.Fatalf("Check(%q) = %v; the encoding/json walker said %v", data, err, ref)
		}
		if err != nil {
			if m, derr := strictjson.DecodeObject(data); derr == nil || m != nil || derr.Error() != err.Error() {
				t.Fatalf("Check refused (%v) but DecodeObject returned %v, %v", err, m, derr)
			}
			var r tokenRequest
			if uerr := strictjson.Unmarshal(data, &r); uerr == nil {
				t.Fatalf("Check refused (%v) but Unmarshal accepted", err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("Check accepted %q, which encoding/json calls invalid", data)
		}
		// DecodeObject is encoding/json's Decoder with UseNumber (its
		// implementation before finding 65), value for value. (Without
		// UseNumber a number beyond float64, 1E400, would not decode.)
		var want map[string]any
		ref := json.NewDecoder(bytes.NewReader(data))
		ref.UseNumber()
		if err := ref.Decode(&want); err != nil || want == nil {
			t.Fatalf("Check accepted %q, but encoding/json cannot parse it into a map: %v", data, err)
		}
		dm, err := strictjson.DecodeObject(data)
		if err != nil || !reflect.DeepEqual(dm, want) {
			t.Fatalf("DecodeObject(%q) = %#v, %v; encoding/json with UseNumber gives %#v", data, dm, err, want)
		}
		var r tokenRequest
		_ = strictjson.Unmarshal(data, &r) // may be a type error; must not panic
	})
}

// referenceCheck is Check as it was with encoding/json's token decoder,
// before jsontext (issue 12): the fuzz target holds the two to the same
// answers.
func referenceCheck(data []byte) error {
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
		if err := refSkipRest(dec, tok, 0); err != nil {
			return err
		}
		return strictjson.ErrNotObject
	}
	if err := refWalkObject(dec, 1); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("malformed JSON: trailing data after the object")
	}
	return nil
}

func refWalkObject(dec *json.Decoder, depth int) error {
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
		if err := refWalkValue(dec, depth); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // closing '}'
		return fmt.Errorf("malformed JSON: %w", err)
	}
	return nil
}

func refWalkValue(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	return refSkipRest(dec, tok, depth)
}

func refSkipRest(dec *json.Decoder, tok json.Token, depth int) error {
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		return refWalkObject(dec, depth+1)
	case '[':
		if depth+1 > maxDepth {
			return errors.New("JSON nested too deeply")
		}
		for dec.More() {
			if err := refWalkValue(dec, depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("malformed JSON: %w", err)
		}
	}
	return nil
}

const maxDepth = 64
