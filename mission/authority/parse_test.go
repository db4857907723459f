package authority

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func readExample(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestExamplesValidate: the design's three example sets pass the embedded
// JSON Schema (santhosh-tekuri/jsonschema, Draft 2020-12) and the semantic
// checks, and their anchors are the authority_hash values of vectors.txt,
// both from the received bytes and from the decoded Set re-marshalled.
func TestExamplesValidate(t *testing.T) {
	want := map[string]string{
		"authority-set-a.json": "TsvjMZKi7G-qkMTtUPJm9IKbiUUpe04aCnGzRaRk21M",
		"authority-set-b.json": "PjIxLRdQ1wOJEcZHLi33NCEiZOD5B3EdgrCZoP0hFPg",
		"authority-set-c.json": "BO3tAoJOgBPlW9JCOzhzBJFYKMKkIywkJfzMvyuUpQo",
	}
	for name, hash := range want {
		p, err := Parse(readExample(t, name), ParseOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p.Hash != hash {
			t.Errorf("%s: hash %s, want %s", name, p.Hash, hash)
		}
		if h, err := p.Set.Hash(); err != nil || h != hash {
			t.Errorf("%s: re-marshalled hash %s (%v), want %s", name, h, err, hash)
		}
	}
}

// TestParseRefuses: schema violations and every semantic check refuse the
// set with ErrInvalid and a message naming the problem.
func TestParseRefuses(t *testing.T) {
	base := string(readExample(t, "authority-set-a.json"))
	cases := []struct{ name, raw, says string }{
		{"not an object", `[]`, "schema"},
		{"wrong discriminator", `{"object":"x","entries":[]}`, "schema"},
		{"unknown member", `{"object":"aauth-mm/authority-set/v1","entries":[],"extra":1}`, "schema"},
		{"http resource", `{"object":"aauth-mm/authority-set/v1","entries":[{"id":"a","target":"resource","resource":{"id":"http://x.example"},"scopes_any":true}]}`, "schema"},
		{"tool entry with scopes", `{"object":"aauth-mm/authority-set/v1","entries":[{"id":"a","target":"tool","tools":["x"],"scopes":["s"]}]}`, "schema"},
		{"resource entry without scopes", `{"object":"aauth-mm/authority-set/v1","entries":[{"id":"a","target":"resource","resource":{"id":"https://x.example"}}]}`, "schema"},
		{"attestation without audit_action", `{"object":"aauth-mm/authority-set/v1","entries":[],"checkpoints":[{"id":"c","kind":"attestation","satisfy_via":["audit"]}]}`, "schema"},
		{"duplicate id", `{"object":"aauth-mm/authority-set/v1","entries":[{"id":"a","target":"tool","tools":["x"]}],"exclusions":[{"id":"a","tools":["y"]}]}`, `id "a"`},
		{"undefined requires", `{"object":"aauth-mm/authority-set/v1","entries":[{"id":"a","target":"tool","tools":["x"],"requires":["nope"]}]}`, "undefined checkpoint"},
		{"undefined after", `{"object":"aauth-mm/authority-set/v1","entries":[],"checkpoints":[{"id":"c","kind":"approval","approver":"person","satisfy_via":["inline"],"after":["d"]}]}`, "undefined checkpoint"},
		{"after cycle", `{"object":"aauth-mm/authority-set/v1","entries":[],"checkpoints":[{"id":"c","kind":"approval","approver":"person","satisfy_via":["inline"],"after":["d"]},{"id":"d","kind":"approval","approver":"person","satisfy_via":["inline"],"after":["c"]}]}`, "cycle"},
		{"two max_total per budget", `{"object":"aauth-mm/authority-set/v1","entries":[` +
			`{"id":"a","target":"resource","resource":{"id":"https://a.example"},"scopes_any":true,"constraints":{"amount":{"pointer":"/x","currency":"USD","max_total":5,"budget":"b"}}},` +
			`{"id":"c","target":"resource","resource":{"id":"https://c.example"},"scopes_any":true,"constraints":{"amount":{"pointer":"/x","currency":"USD","max_total":6,"budget":"b"}}}]}`, "max_total"},
		{"unsafe integer", `{"object":"aauth-mm/authority-set/v1","max_token_lifetime":9007199254740993,"entries":[]}`, "±"},
		{"fraction", `{"object":"aauth-mm/authority-set/v1","max_token_lifetime":60.5,"entries":[]}`, "integer"},
		{"duplicate member", `{"object":"aauth-mm/authority-set/v1","entries":[],"entries":[]}`, "duplicate"},
		{"empty hours", `{"object":"aauth-mm/authority-set/v1","entries":[{"id":"a","target":"tool","tools":["x"],"constraints":{"time_window":{"hours_utc":[9,9]}}}]}`, "hours_utc"},
		{"too big", base + strings.Repeat(" ", MaxSetBytes), "larger"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.raw), ParseOptions{})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: error %v, want ErrInvalid saying %q", c.name, err, c.says)
		}
	}
}

// TestParseDevIdentifiers: under --dev the loopback identifiers of the
// PS's own policy are admitted (design §10.2); in production they are not.
func TestParseDevIdentifiers(t *testing.T) {
	raw := []byte(`{"object":"aauth-mm/authority-set/v1","entries":[{"id":"a","target":"resource","resource":{"id":"http://127.0.0.1:8443"},"scopes_any":true}]}`)
	if _, err := Parse(raw, ParseOptions{}); err == nil {
		t.Error("production admitted an http identifier")
	}
	if _, err := Parse(raw, ParseOptions{Dev: true}); err != nil {
		t.Errorf("dev refused a loopback identifier: %v", err)
	}
	other := []byte(`{"object":"aauth-mm/authority-set/v1","entries":[{"id":"a","target":"resource","resource":{"id":"http://evil.example:80"},"scopes_any":true}]}`)
	if _, err := Parse(other, ParseOptions{Dev: true}); err == nil {
		t.Error("dev admitted a non-loopback http identifier")
	}
}

// FuzzParse: the Authority Set parser never panics, refuses with
// ErrInvalid, and whatever it accepts re-parses to the same hash.
func FuzzParse(f *testing.F) {
	for _, n := range []string{"authority-set-a.json", "authority-set-b.json", "authority-set-c.json"} {
		f.Add(readExample(f, n))
	}
	f.Add([]byte(`{"object":"aauth-mm/authority-set/v1","entries":[]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := Parse(raw, ParseOptions{})
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		again, err := Parse(p.Canonical, ParseOptions{})
		if err != nil || again.Hash != p.Hash {
			t.Fatalf("canonical form does not re-parse to the same hash: %v", err)
		}
	})
}
