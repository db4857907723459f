package pending

import (
	"strings"
	"testing"
)

// FuzzNormalizeCode: never panics; normalization is idempotent and yields
// only canonical codes; comparison agrees with normalization and is
// symmetric; the stored-hash check agrees with CodesEqual.
func FuzzNormalizeCode(f *testing.F) {
	for _, s := range []string{"0A1B0-C1D2E", "oaibo-cld2e", "", "-----", "0A1B0C1D2EU", "ı", "\xff\xfe", "0A1B0-C1D2É"} {
		f.Add(s, "0A1B0-C1D2E")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		na, okA := NormalizeCode(a)
		if okA {
			if len(na) != CodeLength {
				t.Fatalf("normalized %q has length %d", na, len(na))
			}
			for i := 0; i < len(na); i++ {
				if !strings.ContainsRune(CodeAlphabet, rune(na[i])) {
					t.Fatalf("normalized %q has a non-Crockford symbol", na)
				}
			}
			again, ok := NormalizeCode(na)
			if !ok || again != na {
				t.Fatalf("not idempotent: %q -> %q -> %q (%v)", a, na, again, ok)
			}
		} else if na != "" {
			t.Fatalf("invalid code normalized to %q", na)
		}
		nb, okB := NormalizeCode(b)
		eq := CodesEqual(a, b)
		if eq != (okA && okB && na == nb) {
			t.Fatalf("CodesEqual(%q, %q) = %v disagrees with normalization", a, b, eq)
		}
		if eq != CodesEqual(b, a) {
			t.Fatal("CodesEqual is not symmetric")
		}
		if okB {
			if got := codeMatches("id", a, codeHash("id", nb)); got != eq {
				t.Fatalf("codeMatches(%q) = %v, CodesEqual = %v", a, got, eq)
			}
		}
	})
}
