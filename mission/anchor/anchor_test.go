package anchor

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestVectors reproduces every line of the design's vectors.txt from the
// example files (copied verbatim into testdata/): the three authority
// hashes, the proposal hash, the consent rendering hash and the blob's
// s256, which is the anchor of the blob's JCS bytes (PS-059: the mission
// identifier is the base64url SHA-256 of the persisted blob).
func TestVectors(t *testing.T) {
	f, err := os.Open("testdata/vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 3 {
			t.Fatalf("malformed vector line %q", line)
		}
		path, kind, want := fields[0], fields[1], fields[2]
		t.Run(kind+"/"+filepath.Base(path), func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", filepath.Base(path)))
			if err != nil {
				t.Fatal(err)
			}
			got, err := OfJSON(raw)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s of %s = %s, want %s", kind, path, got, want)
			}
		})
		n++
	}
	if n != 6 {
		t.Fatalf("read %d vectors, want 6", n)
	}
}

// TestBlobLength: the design states the blob's JCS form is 3342 bytes.
func TestBlobLength(t *testing.T) {
	raw, err := os.ReadFile("testdata/blob-a.json")
	if err != nil {
		t.Fatal(err)
	}
	canon, err := Canonical(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(canon) != 3342 {
		t.Fatalf("JCS(blob-a) is %d bytes, want 3342", len(canon))
	}
	again, _ := Canonical(canon)
	if !bytes.Equal(again, canon) {
		t.Fatal("JCS is not idempotent on its own output")
	}
}

// TestCanonicalRules covers the RFC 8785 serialization rules the design
// names and the restrictions it adds.
func TestCanonicalRules(t *testing.T) {
	ok := []struct{ in, want string }{
		{`{"b":1,"a":[3,1,2]}`, `{"a":[3,1,2],"b":1}`},
		{"{ \"a\" : \"\u2028<>&é\" }", "{\"a\":\"\u2028<>&é\"}"},
		{`{"a":"\u0001\b\t\n\f\r\"\\"}`, `{"a":"\u0001\b\t\n\f\r\"\\"}`},
		{`{"\ud83d\ude00":1,"a":2}`, "{\"a\":2,\"\U0001F600\":1}"},
		{`{"€":1,"\u00e9":2}`, "{\"é\":2,\"€\":1}"},
		{`[9007199254740991,-9007199254740991,0]`, `[9007199254740991,-9007199254740991,0]`},
		{`{"a":"\\ud800"}`, `{"a":"\\ud800"}`}, // an escaped backslash, not an escape
	}
	for _, c := range ok {
		got, err := Canonical([]byte(c.in))
		if err != nil || string(got) != c.want {
			t.Errorf("Canonical(%s) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
	bad := []string{
		`{"a":1,"a":2}`, `{"x":{"a":1,"a":1}}`, `{"a":"\ud800"}`, `{"a":"\udc00x"}`, `{"a":"\ud800\u0041"}`,
		`[9007199254740992]`, `[-9007199254740992]`, `[1.5]`, `[1e3]`, `[-0]`, "[\"\xff\"]", `{"a":1} x`, `{`, ``,
		strings.Repeat("[", 100) + strings.Repeat("]", 100),
	}
	for _, in := range bad {
		if got, err := Canonical([]byte(in)); err == nil {
			t.Errorf("Canonical(%q) = %s, want an error", in, got)
		}
	}
}

func TestEqual(t *testing.T) {
	if !Equal([]byte(`{"operationId":"x","b":[1]}`), []byte(`{ "b":[1], "operationId":"x" }`)) {
		t.Error("reordered members are JSON-equal")
	}
	if Equal([]byte(`{"a":1}`), []byte(`{"a":"1"}`)) || Equal([]byte(`{"a":1,"a":1}`), []byte(`{"a":1}`)) {
		t.Error("different or invalid values are not equal")
	}
}

func FuzzCanonical(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[3,1,2]}`, `{"a":"\ud800"}`, `[1.5]`, `"\u00e9"`, `{"a":{"a":{}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := Canonical(raw)
		if err != nil {
			return
		}
		again, err := Canonical(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %s -> %s (%v)", out, again, err)
		}
	})
}

// TestMarshalMemberIsMarshalOfTheWhole (issue 12): an object and one
// more member canonicalised once, as a member, give byte for byte what
// Marshal of the whole gives — names needing escapes or sorted by UTF-16
// (not bytes) included — and refuse what the whole would refuse,
// nesting counted from the member's depth.
func TestMarshalMemberIsMarshalOfTheWhole(t *testing.T) {
	objects := []map[string]any{
		{},
		{"a": 1, "c": "x", "bz": []any{}},
		{"\U0001F600": 1, "\uff61": 2, "\u00e9": "\u2028<>&", "q\"\\\u0001\b\t\n\f\r": nil, "a": map[string]any{"z": 1, "y": 2}},
	}
	members := []struct{ name, raw string }{
		{"body", ` { "b" : 1 , "a" : [ 3 , "\u00e9" ] } `},
		{"\ufb01", `"\u2028<>&\"\\\u0001"`},
		{"\U0001F601", `{"\ud83d\ude00":1,"a":2}`},
		{"", `[9007199254740991,-9007199254740991,0]`},
		{"b", strings.Repeat("[", 64) + strings.Repeat("]", 64)}, // 64 deep in the whole: the bound
	}
	for _, o := range objects {
		for _, m := range members {
			whole, member, err := MarshalMember(o, m.name, []byte(m.raw))
			if err != nil {
				t.Fatalf("MarshalMember(%v, %q, %s): %v", o, m.name, m.raw, err)
			}
			all := map[string]any{m.name: json.RawMessage(m.raw)}
			for k, v := range o {
				all[k] = v
			}
			want, err := Marshal(all)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(whole, want) {
				t.Errorf("MarshalMember(%v, %q, %s) = %s, want %s", o, m.name, m.raw, whole, want)
			}
			if wantMember, _ := Canonical([]byte(m.raw)); !bytes.Equal(member, wantMember) {
				t.Errorf("member %s, want %s", member, wantMember)
			}
			// The member shares the whole's bytes: growing it must not
			// write over them.
			kept := bytes.Clone(whole)
			_ = append(member, "XXXXXXXX"...)
			if !bytes.Equal(whole, kept) {
				t.Errorf("appending to the member changed the whole: %s", whole)
			}
		}
	}
	bad := []struct {
		v         any
		name, raw string
	}{
		{map[string]any{"a": 1}, "a", `2`},     // a duplicate of the object's member
		{map[string]any{"a": 1}, "b", `[1.5]`}, // not an integer
		{map[string]any{"a": 1}, "b", `{"x":1,"x":2}`},
		{map[string]any{"a": 1}, "b", `"\ud800"`},                                        // a lone surrogate
		{map[string]any{"a": 1}, "b", strings.Repeat("[", 65) + strings.Repeat("]", 65)}, // 65 deep in the whole
		{[]int{1}, "b", `1`},                                                             // not an object
		{map[string]any(nil), "b", `1`},                                                  // null, not an object
		// raw must be one value: spliced into the whole, nothing of it may
		// become a member of its own (finding 55).
		{map[string]any{"a": 1}, "b", `1,"c":3`},
		{map[string]any{}, "b", `1,"c":3`},
		{map[string]any{"a": 1}, "b", `{"x":1}},{"c":3`},
		{map[string]any{"a": 1}, "b", ``},
		{map[string]any{"a": 1}, "b", `1}`},
	}
	for _, c := range bad {
		if whole, _, err := MarshalMember(c.v, c.name, []byte(c.raw)); err == nil {
			t.Errorf("MarshalMember(%v, %q, %s) = %s, want an error", c.v, c.name, c.raw, whole)
		}
	}
}

func FuzzMarshalMember(f *testing.F) {
	f.Add("body", "k\u2028", []byte(`{"b":1,"a":[3,1,2]}`))
	f.Add("\U0001F600", "\uff61\"", []byte(`"\u00e9<"`))
	f.Fuzz(func(t *testing.T, name, other string, raw []byte) {
		if !utf8.ValidString(name) || !utf8.ValidString(other) || name == other {
			return
		}
		whole, _, err := MarshalMember(map[string]string{other: name}, name, raw)
		want, werr := Marshal(map[string]any{other: name, name: json.RawMessage(raw)})
		if (err == nil) != (werr == nil) || !bytes.Equal(whole, want) {
			t.Fatalf("MarshalMember: %s (%v), Marshal of the whole: %s (%v)", whole, err, want, werr)
		}
	})
}
