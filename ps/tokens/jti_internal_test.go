package tokens

import (
	"regexp"
	"slices"
	"testing"
	"time"
)

// Issue 12 (finding 49): the jtis the PS issues sort as their tokens were
// issued, across every byte of the instant, and are unique within one
// millisecond; each is 22 base64url characters.
func TestJTISortsByIssuance(t *testing.T) {
	base := time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC)
	var at []time.Time
	for _, d := range []time.Duration{0, time.Millisecond, 255 * time.Millisecond, 256 * time.Millisecond,
		time.Second, 65535 * time.Millisecond, 65536 * time.Millisecond, time.Hour, 24 * time.Hour, 400 * 24 * time.Hour} {
		at = append(at, base.Add(d))
	}
	at = append(at, time.Unix(0, 0), time.Unix(1<<40, 0))
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })

	shape := regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)
	var ids []string
	for _, a := range at {
		id := newJTI(a)
		if !shape.MatchString(id) {
			t.Fatalf("jti %q at %v: want 22 base64url characters", id, a)
		}
		ids = append(ids, id)
	}
	if !slices.IsSorted(ids) {
		t.Fatalf("jtis in issuance order do not sort so:\n%v", ids)
	}

	seen := map[string]bool{}
	for range 1000 {
		id := newJTI(base)
		if seen[id] {
			t.Fatalf("jti %q twice in one millisecond", id)
		}
		seen[id] = true
		if id[:8] != newJTI(base)[:8] {
			t.Fatalf("jtis of one millisecond differ in their first 8 characters (the instant): %q", id)
		}
	}
}
