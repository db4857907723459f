package federation

import "testing"

// TestCheckInteraction: an AS's interaction is shown to the person or
// passed to the agent only as the draft shapes it: an https url without
// query or fragment and a short printable code (P§interaction-required,
// PS-125).
func TestCheckInteraction(t *testing.T) {
	for _, c := range []struct {
		url, code string
		ok        bool
	}{
		{"https://as.test/interact", "A1B2-C3D4", true},
		{"https://as.test/interact", "", false},
		{"", "A1B2", false},
		{"http://as.test/interact", "A1B2", false},
		{"https://as.test/interact?x=1", "A1B2", false},
		{"https://as.test/interact?", "A1B2", false},
		{"https://as.test/interact#f", "A1B2", false},
		{"https://user@as.test/interact", "A1B2", false},
		{"javascript:alert(1)", "A1B2", false},
		{"https://as.test/interact", "A1 B2", false},
		{"https://as.test/interact", "A1\"B2", false},
		{"https://as.test/interact", string(make([]byte, 65)), false},
	} {
		if err := checkInteraction(c.url, c.code); (err == nil) != c.ok {
			t.Errorf("%q %q: %v", c.url, c.code, err)
		}
	}
}
