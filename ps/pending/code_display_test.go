package pending

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// P§interaction-code-format: the code a person arrived with is shown as
// the agent was given it (NewCode's form), however it was typed; what is
// not a code shows nothing.
func TestDisplayCode(t *testing.T) {
	for range 100 {
		c := NewCode()
		assert.Equal(t, c, DisplayCode(c))
	}
	for in, want := range map[string]string{
		"abcde12345":      "ABCDE-12345",
		" ab-cde-123-45 ": "ABCDE-12345",
		"oOiIlL0123":      "00111-10123",
		"ABCDE-1234":      "",
		"ABCDE-123456":    "",
		"ABCDU-12345":     "",
		"ÀBCDE-12345":     "",
		"":                "",
	} {
		assert.Equal(t, want, DisplayCode(in), in)
	}
}
