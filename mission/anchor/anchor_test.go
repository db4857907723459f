package anchor

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
