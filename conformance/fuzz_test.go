package conformance

import (
	"testing"

	"github.com/dunglas/httpsfv"
)

// FuzzSFString checks the hand-written Structured Field String serializer
// (used for every quoted value the kit emits) against httpsfv: any string
// of printable ASCII round-trips.
func FuzzSFString(f *testing.F) {
	for _, s := range []string{"", "a", `"`, `\`, `a"b\c`, "eyJ.e30.AAAA", "https://ap.test", "@method"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] > 0x7e {
				return // not representable as an SF String
			}
		}
		it, err := httpsfv.UnmarshalItem([]string{sfString(s)})
		if err != nil {
			t.Fatalf("sfString(%q) = %s does not parse: %v", s, sfString(s), err)
		}
		if it.Value != s {
			t.Fatalf("round trip %q -> %q", s, it.Value)
		}
	})
}
