package pending

import (
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var codeFormat = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$`)

// PS-160: format and unpredictability over 1000 samples.
func TestNewCodeFormatAndUniqueness(t *testing.T) {
	seen := map[string]bool{}
	symbols := map[rune]int{}
	for range 1000 {
		c := NewCode()
		require.Regexp(t, codeFormat, c)
		require.False(t, seen[c], "repeated code %s", c)
		seen[c] = true
		for _, r := range strings.ReplaceAll(c, "-", "") {
			symbols[r]++
		}
		n, ok := NormalizeCode(c)
		require.True(t, ok)
		require.Equal(t, strings.ReplaceAll(c, "-", ""), n)
	}
	// 10 000 symbols over 32 values: every symbol shows up, none dominates.
	assert.Len(t, symbols, 32)
	for r, n := range symbols {
		assert.Less(t, n, 2*10000/32, "symbol %c is over-represented", r)
	}
}

func TestNewIDEntropyAndUniqueness(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newID()
		b, err := base64.RawURLEncoding.DecodeString(id)
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(b)*8, 128)
		require.False(t, seen[id])
		seen[id] = true
	}
}

// PS-161: case, hyphens and the Crockford aliases.
func TestNormalizeCode(t *testing.T) {
	const canonical = "0A1B0C1D2E"
	for _, in := range []string{
		"0A1B0-C1D2E",         // display form
		"0a1b0-c1d2e",         // lowercase
		"0A1B0C1D2E",          // no hyphen
		"0a1b0c1d2e",          // both
		"OA1B0-C1D2E",         // O for 0
		"oaib0-cld2e",         // o, i, l
		"0AIB0-CLD2E",         // I and L for 1
		"0-A-1-B-0-C-1-D-2-E", // hyphens anywhere
		"  0A1B0-C1D2E\t",     // surrounding white space
	} {
		n, ok := NormalizeCode(in)
		assert.True(t, ok, in)
		assert.Equal(t, canonical, n, in)
		assert.True(t, CodesEqual(in, "0A1B0-C1D2E"), in)
	}
	for _, in := range []string{
		"", "-", "0A1B0-C1D2", "0A1B0-C1D2EF", // length
		"0A1B0-C1D2U",                // U is not Crockford
		"0A1B0 C1D2E",                // inner space
		"0A1B0-C1D2É", "0A1B0-C1D2ı", // non-ASCII (ı would upper-case to I)
		"0A1B0_C1D2E", strings.Repeat("-", 100) + "0A1B0C1D2E",
	} {
		_, ok := NormalizeCode(in)
		assert.False(t, ok, "%q", in)
		assert.False(t, CodesEqual(in, in), "%q", in)
	}
	assert.False(t, CodesEqual("0A1B0-C1D2E", "0A1B0-C1D2F"))
}

func TestCodeHashIsSaltedByID(t *testing.T) {
	n, _ := NormalizeCode("0A1B0-C1D2E")
	h1, h2 := codeHash("id-1", n), codeHash("id-2", n)
	assert.Len(t, h1, 32)
	assert.NotEqual(t, h1, h2)
	assert.True(t, codeMatches("id-1", "oaibo-cld2e", h1))
	assert.False(t, codeMatches("id-2", "oaibo-cld2e", h1))
	assert.False(t, codeMatches("id-1", "garbage", h1))
	assert.False(t, codeMatches("id-1", "0A1B0-C1D2E", nil))
}
