package strictjson_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/strictjson"
)

// TestCheckAccepts: well-formed objects pass, unknown members included
// (PS-053) and with any whitespace.
func TestCheckAccepts(t *testing.T) {
	for _, s := range []string{
		`{}`,
		` { } `,
		"{\n\t\"resource\" : \"https://rs.test\"\r\n}\n",
		`{"resource":"https://rs.test","x":1,"y":[1,2,{"z":null}],"w":{"a":true,"b":false}}`,
		`{"a":{"b":1},"b":{"a":1}}`,   // the same names at different levels
		`{"a":[{"k":1},{"k":2}]}`,     // the same names in sibling objects
		`{"a":1,"A":2}`,               // names are case-sensitive
		`{"":1}`,                      // the empty name is a name
		`{"a":"\u00e9\ud83d\ude00"}`,  // escapes, surrogate pair
		`{"ключ":"значение","名":"値"}`, // UTF-8 names and values
		`{"n":-0.5e-10,"m":1E+400}`,   // numbers are not range-checked
		`{"a":"\u0000"}`,              // escaped NUL
		`{"s":"` + strings.Repeat("x", 1<<16) + `"}`,
	} {
		if err := strictjson.Check([]byte(s)); err != nil {
			t.Errorf("Check(%.80q) = %v", s, err)
		}
	}
}

// TestCheckDuplicates: duplicate member names are refused at every depth,
// arrays of objects included (PS-051, A-35).
func TestCheckDuplicates(t *testing.T) {
	for _, s := range []string{
		`{"resource":"https://a.test","resource":"https://b.test"}`,
		`{"a":1,"b":2,"a":3}`,
		`{"a":1,"a":1}`,
		`{"":1,"":2}`,
		`{"a":1,"\u0061":2}`,        // the same name once escaped
		`{"é":1,"\u00e9":2}`,        // the same non-ASCII name once escaped
		`{"x":{"a":1,"a":2}}`,       // nested
		`{"x":{"y":{"a":1,"a":2}}}`, // deeper
		`{"x":[{"a":1},{"a":1,"a":2}]}`,
		`{"x":[[{"a":1,"a":2}]]}`,
		`{"ok":1,"x":[1,"s",null,{"b":{"c":[{"d":1,"d":2}]}}]}`,
	} {
		err := strictjson.Check([]byte(s))
		if err == nil || !strings.Contains(err.Error(), "duplicate member") {
			t.Errorf("Check(%s) = %v, want a duplicate member error", s, err)
		}
	}
}

// TestCheckInvalidUTF8 (PS-051).
func TestCheckInvalidUTF8(t *testing.T) {
	for _, s := range []string{
		"{\"a\":\"\xff\"}",
		"{\"\xc3\":1}",             // truncated sequence in a name
		"{\"a\":\"\xed\xa0\x80\"}", // an encoded surrogate
		"{\"a\":\"\xc0\xaf\"}",     // overlong
		"{\"a\":1}\xff",
	} {
		err := strictjson.Check([]byte(s))
		if err == nil || !strings.Contains(err.Error(), "UTF-8") {
			t.Errorf("Check(%q) = %v, want a UTF-8 error", s, err)
		}
	}
}

// TestCheckNotObject: a valid JSON value that is not an object is
// ErrNotObject (PS-048).
func TestCheckNotObject(t *testing.T) {
	for _, s := range []string{`[]`, `[{"a":1}]`, `"x"`, `1`, `-1.5`, `true`, `false`, `null`, ` [ 1 , 2 ] `} {
		if err := strictjson.Check([]byte(s)); !errors.Is(err, strictjson.ErrNotObject) {
			t.Errorf("Check(%s) = %v, want ErrNotObject", s, err)
		}
	}
	// A duplicate inside a top-level array is still reported (not hidden as ErrNotObject).
	if err := strictjson.Check([]byte(`[{"a":1,"a":2}]`)); err == nil || errors.Is(err, strictjson.ErrNotObject) {
		t.Errorf("duplicate in top-level array: %v", err)
	}
}

// TestCheckMalformed: malformed JSON and trailing data (PS-048).
func TestCheckMalformed(t *testing.T) {
	for _, s := range []string{
		``, ` `, `{`, `}`, `{"resource":`, `{"a"}`, `{"a":}`, `{"a" 1}`, `{"a":1,}`, `{,"a":1}`,
		`{"a":1 "b":2}`, `{a:1}`, `{'a':1}`, `{"a":[1,]}`, `{"a":[1 2]}`, `{"a":01}`, `{"a":+1}`,
		`{"a":.5}`, `{"a":NaN}`, `{"a":Infinity}`, `{"a":"\x"}`, "{\"a\":\"\x01\"}", `{"a":"\u12"}`,
		`{"a":tru}`, `{"a":nul}`, `{1:2}`, `{null:1}`, `{"a":1}}`,
		// Trailing data after the object.
		`{}{}`, `{"a":1}{"a":2}`, `{} x`, `{} 1`, `{} []`, `{}"`, `{},`, `{} null`,
	} {
		err := strictjson.Check([]byte(s))
		if err == nil || errors.Is(err, strictjson.ErrNotObject) {
			t.Errorf("Check(%q) = %v, want malformed", s, err)
		}
	}
	if err := strictjson.Check([]byte(`{} {}`)); err == nil || !strings.Contains(err.Error(), "trailing data") {
		t.Errorf("trailing object: %v", err)
	}
}

func nested(open, close string, n int) string {
	return `{"v":` + strings.Repeat(open, n-1) + `1` + strings.Repeat(close, n-1) + `}`
}

// TestCheckDepth: 64 levels of nesting pass, 65 do not, and a hostile depth
// fails fast without exhausting the stack.
func TestCheckDepth(t *testing.T) {
	for _, kind := range []struct{ open, close string }{{`{"v":`, `}`}, {`[`, `]`}} {
		if err := strictjson.Check([]byte(nested(kind.open, kind.close, 64))); err != nil {
			t.Errorf("64 levels of %s: %v", kind.open, err)
		}
		err := strictjson.Check([]byte(nested(kind.open, kind.close, 65)))
		if err == nil || !strings.Contains(err.Error(), "nested too deeply") {
			t.Errorf("65 levels of %s: %v", kind.open, err)
		}
	}
	// Mixed arrays and objects count alike.
	mixed := `{"v":` + strings.Repeat(`[{"v":`, 32) + `1` + strings.Repeat(`}]`, 32) + `}`
	if err := strictjson.Check([]byte(mixed)); err == nil {
		t.Error("65 mixed levels accepted")
	}
	hostile := strings.Repeat(`[`, 1<<20)
	if err := strictjson.Check([]byte(`{"a":` + hostile)); err == nil {
		t.Error("hostile depth accepted")
	}
	if err := strictjson.Check([]byte(hostile)); err == nil {
		t.Error("hostile top-level depth accepted")
	}
}

// TestDecodeObject: numbers stay json.Number and unknown members are kept.
func TestDecodeObject(t *testing.T) {
	m, err := strictjson.DecodeObject([]byte(`{"exp":1730217600,"f":1.5,"big":12345678901234567890123,"x":{"y":[1]},"unknown":"kept"}`))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"exp": "1730217600", "f": "1.5", "big": "12345678901234567890123"} {
		n, ok := m[k].(json.Number)
		if !ok || n.String() != want {
			t.Errorf("%s = %#v, want json.Number(%s)", k, m[k], want)
		}
	}
	inner := m["x"].(map[string]any)["y"].([]any)
	if _, ok := inner[0].(json.Number); !ok {
		t.Errorf("nested number = %#v", inner[0])
	}
	if m["unknown"] != "kept" {
		t.Errorf("unknown member lost: %v", m)
	}
	for _, s := range []string{`{"a":1,"a":2}`, `[]`, `{`, "{\"a\":\"\xff\"}"} {
		if m, err := strictjson.DecodeObject([]byte(s)); err == nil || m != nil {
			t.Errorf("DecodeObject(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := strictjson.DecodeObject([]byte(`7`)); !errors.Is(err, strictjson.ErrNotObject) {
		t.Errorf("DecodeObject(7) = %v", err)
	}
}

type tokenRequest struct {
	Resource     string            `json:"resource"`
	Capabilities []string          `json:"capabilities"`
	Parameters   map[string]string `json:"parameters"`
	Upstream     *struct {
		Token string `json:"token"`
		Depth int    `json:"depth"`
	} `json:"upstream"`
	Extra []struct {
		Name string `json:"name"`
	} `json:"extra"`
}

// TestUnmarshal: strict checks first, unknown members ignored (PS-053), and
// a type error names the member (PS-052).
func TestUnmarshal(t *testing.T) {
	var r tokenRequest
	if err := strictjson.Unmarshal([]byte(`{"resource":"https://rs.test","capabilities":["interaction"],"x":1,"parameters":{"a":"b"}}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.Resource != "https://rs.test" || len(r.Capabilities) != 1 || r.Parameters["a"] != "b" {
		t.Fatalf("decoded %+v", r)
	}
	for _, c := range []struct{ body, member string }{
		{`{"resource":5}`, `"resource"`},
		{`{"capabilities":"interaction"}`, `"capabilities"`},
		{`{"parameters":[]}`, `"parameters"`},
		{`{"parameters":{"a":1}}`, `"parameters"`},
		{`{"upstream":{"depth":"x"}}`, `upstream.depth`},
		{`{"extra":[{"name":1}]}`, `extra.name`},
	} {
		var r tokenRequest
		err := strictjson.Unmarshal([]byte(c.body), &r)
		if err == nil || !strings.Contains(err.Error(), c.member) || !strings.Contains(err.Error(), "wrong JSON type") {
			t.Errorf("Unmarshal(%s) = %v, want a type error naming %s", c.body, err, c.member)
		}
	}
	for _, s := range []string{`{"resource":"a","resource":"b"}`, `[]`, "{\"resource\":\"\xff\"}", `{"resource":"a"} {}`} {
		var r tokenRequest
		if err := strictjson.Unmarshal([]byte(s), &r); err == nil {
			t.Errorf("Unmarshal(%q) accepted", s)
		}
	}
}

// TestUnmarshalIsCaseSensitive: encoding/json matches member names to
// struct fields case-insensitively, so {"Resource":…} would fill the
// `resource` field and {"resource":a,"Resource":b} would smuggle b past the
// duplicate check. Unknown members, case variants included, are
// ignored (PS-053).
func TestUnmarshalIsCaseSensitive(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{`{"Resource":"https://evil.test"}`, ""},
		{`{"RESOURCE":"https://evil.test"}`, ""},
		{`{"reſource":"https://evil.test"}`, ""}, // U+017F folds to s
		{`{"resource":"https://rs.test","Resource":"https://evil.test"}`, "https://rs.test"},
		{`{"Resource":"https://evil.test","resource":"https://rs.test"}`, "https://rs.test"},
	} {
		var r tokenRequest
		if err := strictjson.Unmarshal([]byte(c.body), &r); err != nil {
			t.Errorf("Unmarshal(%s) = %v", c.body, err)
			continue
		}
		if r.Resource != c.want {
			t.Errorf("Unmarshal(%s): resource = %q, want %q", c.body, r.Resource, c.want)
		}
	}
	// Nested structs, slices of structs and embedded fields follow the same rule.
	type Embedded struct {
		Mission string `json:"mission_s256"`
	}
	type req struct {
		Embedded
		Upstream struct {
			Token string `json:"token"`
		} `json:"upstream"`
		List     []struct{ Name string } `json:"list"`
		Untagged string
	}
	var r req
	body := `{"mission_s256":"m","MISSION_S256":"evil","upstream":{"token":"t","Token":"evil"},` +
		`"list":[{"Name":"n","name":"evil"}],"Untagged":"u","untagged":"evil"}`
	if err := strictjson.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	if r.Mission != "m" || r.Upstream.Token != "t" || len(r.List) != 1 || r.List[0].Name != "n" || r.Untagged != "u" {
		t.Fatalf("case variants leaked into %+v", r)
	}
	// Into a map, every member is kept under its exact name.
	var m map[string]any
	if err := strictjson.Unmarshal([]byte(`{"a":1,"A":2}`), &m); err != nil || len(m) != 2 {
		t.Fatalf("map: %v %v", m, err)
	}
}

// selfEmbedding embeds a pointer to itself, which must not send the field
// walk into a loop.
type selfEmbedding struct {
	*selfEmbedding        //lint:ignore U1000 the self-embedding is the point of the test
	Name           string `json:"name"`
}

func TestUnmarshalSelfEmbedding(t *testing.T) {
	var v selfEmbedding
	if err := strictjson.Unmarshal([]byte(`{"name":"a","NAME":"b"}`), &v); err != nil || v.Name != "a" {
		t.Fatalf("got %+v, %v", v, err)
	}
}
