package anchor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
)

// reference is the two-pass canonicalisation the one pass replaced: the
// design's checks with encoding/json's token decoder, then jcs.Transform.
func reference(raw []byte, depth int) ([]byte, error) {
	if err := checkAt(raw, depth); err != nil {
		return nil, err
	}
	return jcs.Transform(raw)
}

// onePassSeeds are inputs at every branch of the grammar and of the
// design's restrictions.
var onePassSeeds = []string{
	`{"b":1,"a":[3,1,2]}`, "{ \"a\" : \"\u2028<>&é\" }", `{"a":"\u0001\b\t\n\f\r\"\\\/"}`,
	`{"\ud83d\ude00":1,"a":2,"\uffff":3,"\ue000":4}`, `{"€":1,"\u00e9":2}`, `[9007199254740991,-9007199254740991,0]`,
	`{"a":"\\ud800"}`, `{"a":1,"a":2}`, `{"x":{"a":1,"a":1}}`, `{"a":"\ud800"}`, `{"a":"\udc00x"}`,
	`{"a":"\ud800\u0041"}`, `[9007199254740992]`, `[-9007199254740992]`, `[1.5]`, `[1e3]`, `[-0]`, `[0]`,
	"[\"\xff\"]", `{"a":1} x`, `{`, ``, ` `, `[]`, `{}`, ` [ ] `, `[1,]`, `{"a":1,}`, `[01]`, `[-]`, `[1.]`,
	`[1e]`, `[1E+2]`, `["a\u0000b"]`, "[\"a\x01\"]", `"top"`, `true`, `false`, `null`, `nul`, `[tru]`,
	`{"a" 1}`, `{a:1}`, `["\x"]`, `["\u12"]`, `["\uD83D\uDE00"]`, `["\uDBFF\uDFFF"]`, `{"z":{"y":[{"b":null,"a":true}]}}`,
	`{"aa":1,"a":2,"":3}`, "{\"a\":1}\n", `[1 2]`, `[` + strings.Repeat(`[`, 63) + strings.Repeat(`]`, 64),
	strings.Repeat("[", 65) + strings.Repeat("]", 65), `{"b":"x","a":"\u00e9\u20ac\ud83d\ude00"}`,
}

// TestOnePassIsReference: the one pass answers what the two passes
// answered, byte for byte, and refuses what they refused, at the depths
// the PS uses (0 for a whole document, 1 for an evidence body), on the
// seeds and on the design's example documents.
func TestOnePassIsReference(t *testing.T) {
	inputs := append([]string(nil), onePassSeeds...)
	files, _ := filepath.Glob("testdata/*.json")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, string(raw))
	}
	for _, in := range inputs {
		for _, depth := range []int{0, 1} {
			sameAsReference(t, []byte(in), depth)
		}
	}
}

func FuzzOnePassIsReference(f *testing.F) {
	for _, s := range onePassSeeds {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, raw []byte, member bool) {
		depth := 0
		if member {
			depth = 1
		}
		sameAsReference(t, raw, depth)
	})
}

// BenchmarkCanonical compares the one pass with the two passes it
// replaced on the design's example documents (issue 12).
func BenchmarkCanonical(b *testing.B) {
	for _, name := range []string{"authority-set-a.json", "blob-a.json", "consent-rendering-a.json"} {
		raw, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/one-pass", func(b *testing.B) {
			for b.Loop() {
				if _, err := canonicalAt(raw, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/two-pass", func(b *testing.B) {
			for b.Loop() {
				if _, err := reference(raw, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func sameAsReference(t *testing.T, raw []byte, depth int) {
	t.Helper()
	want, wantErr := reference(raw, depth)
	got, err := canonicalAt(raw, depth)
	if (err == nil) != (wantErr == nil) || !bytes.Equal(got, want) {
		t.Fatalf("canonicalAt(%q, %d) = %q, %v; the two passes give %q, %v", raw, depth, got, err, want, wantErr)
	}
}

// checkAt is the reference's first pass: for a value that sits depth levels deep in the
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

// compareUTF16 orders as RFC 8785 §3.2.3 says: by UTF-16 code units
// (utf16.Encode, the definition), without allocating. The strings meet at
// the boundaries where byte order and UTF-16 order part: surrogate pairs
// against U+E000–U+FFFF, and two pairs with the same high surrogate.
func TestCompareUTF16IsCodeUnitOrder(t *testing.T) {
	parts := []string{"", "a", "z", "\u007f", "\u00e9", "\u0800", "\ud7ff", "\ue000", "\uffff", "\ufffd",
		"\U00010000", "\U000103ff", "\U00010400", "\U0001f600", "\U0010ffff", "\xff"}
	var all []string
	for _, p := range parts {
		all = append(all, p)
		for _, q := range parts {
			all = append(all, p+q, "k"+p+q)
		}
	}
	sign := func(n int) int { return min(max(n, -1), 1) }
	for _, a := range all {
		for _, b := range all {
			want := slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
			if got := sign(compareUTF16(a, b)); got != want {
				t.Fatalf("compareUTF16(%+q, %+q) = %d, want %d", a, b, got, want)
			}
		}
	}
	if n := testing.AllocsPerRun(100, func() { compareUTF16("k\U0001f600", "k\uffff") }); n != 0 {
		t.Fatalf("compareUTF16 allocates %v times", n)
	}
}

// TestCanonicalAllocatesPerDocumentNotPerValue (issue 12, finding 63): a
// string without escapes is written from the input as it stands, member
// names are read in place, and an object's members and its sorted rewrite
// reuse the canonicaliser's buffers, so a document of a thousand objects,
// names and strings allocates a few buffers that grow, not a string per
// value. A name or value with an escape is still decoded (and copied).
func TestCanonicalAllocatesPerDocumentNotPerValue(t *testing.T) {
	doc := func(n int, escaped bool) []byte {
		var b strings.Builder
		b.WriteString("[")
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			// Members out of order, so each object is rewritten sorted.
			fmt.Fprintf(&b, `{"z%d":"value %d","a":{"y":"x","b":[1,"two"]}}`, i, i)
		}
		if escaped {
			b.WriteString(`,{"e\u00e9":"\n"}`)
		}
		b.WriteString("]")
		return []byte(b.String())
	}
	small, large := doc(10, false), doc(1000, false)
	for _, raw := range [][]byte{small, large, doc(10, true)} {
		sameAsReference(t, raw, 0)
	}
	allocs := func(raw []byte) float64 {
		return testing.AllocsPerRun(20, func() {
			if _, err := canonicalAt(raw, 0); err != nil {
				t.Fatal(err)
			}
		})
	}
	a, b := allocs(small), allocs(large)
	t.Logf("allocations: %v for 10 objects, %v for 1 000", a, b)
	if b > a+16 {
		t.Fatalf("10 objects: %v allocations, 1 000 objects: %v: they grow with the values", a, b)
	}
}

// A document's canonical form is the only thing canonicalising it
// allocates in a workspace it has used before (issue 12, finding 64), and
// a workspace goes back to the pool without references into the document
// it served and without buffers past the bound.
func TestCanonicalReusesItsWorkspace(t *testing.T) {
	var b strings.Builder
	b.WriteString("[")
	for i := range 50 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"z%d":"value %d","a":{"y":"x","b":[1,"two"]}}`, i, i)
	}
	b.WriteString("]")
	doc := []byte(b.String())
	sameAsReference(t, doc, 0)
	var w workspace
	if _, err := w.canonical(doc, 0); err != nil {
		t.Fatal(err)
	}
	// The output's buffer alone: one allocation (two under the race
	// detector, whose build of bytes.growSlice does not merge them).
	output := testing.AllocsPerRun(100, func() {
		var out bytes.Buffer
		out.Grow(len(doc))
		sink = out.Bytes()
	})
	if n := testing.AllocsPerRun(100, func() {
		if _, err := w.canonical(doc, 0); err != nil {
			t.Fatal(err)
		}
	}); n != output {
		t.Fatalf("%v allocations per document, want %v (its canonical form's buffer)", n, output)
	}

	// Larger than the bound: members out of order across 128 kB.
	large := []byte(`{"z":"` + strings.Repeat("x", 2*maxKeptWorkspace) + `","a":1}`)
	sameAsReference(t, large, 0)
	if _, err := w.canonical(large, 0); err != nil {
		t.Fatal(err)
	}
	if cap(w.scratch) <= maxKeptWorkspace {
		t.Fatalf("the large document used %d scratch bytes: it does not test the bound", cap(w.scratch))
	}
	w.trim()
	if cap(w.scratch) > maxKeptWorkspace || cap(w.input) > maxKeptWorkspace {
		t.Fatalf("a trimmed workspace kept %d scratch and %d input bytes, bound %d", cap(w.scratch), cap(w.input), maxKeptWorkspace)
	}
	if _, err := w.canonical(doc, 0); err != nil {
		t.Fatal(err)
	}
	w.trim()
	if len(w.members) == 0 && cap(w.members) == 0 {
		t.Fatal("the workspace kept no member stack")
	}
	for i, m := range w.members[:cap(w.members)] {
		if m.name != nil {
			t.Fatalf("trimmed member %d still names %q", i, m.name)
		}
	}
}

var sink []byte

// Documents canonicalised at once, each with its own pooled workspace,
// each give their own canonical form.
func TestCanonicalConcurrentDocumentsStayApart(t *testing.T) {
	docs := make([][]byte, 8)
	want := make([][]byte, len(docs))
	for i := range docs {
		docs[i] = fmt.Appendf(nil, `{"k%d":{"z":%d,"a":"%s"},"b":[%d]}`, i, i, strings.Repeat("v", i*300), i)
		var err error
		if want[i], err = canonicalAt(docs[i], 0); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for r := range 500 {
				i := (g + r) % len(docs)
				got, err := canonicalAt(docs[i], 0)
				if err != nil || !bytes.Equal(got, want[i]) {
					t.Errorf("document %d: %s, %v; want %s", i, got, err, want[i])
					return
				}
			}
		})
	}
	wg.Wait()
}
