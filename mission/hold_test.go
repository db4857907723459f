package mission

import (
	"testing"
	"time"
)

// TestHoldTimeoutEndsTheMission (design §5): a suspended mission is
// active until its hold runs out, then terminated (administrative) on
// every path that asks, before anything recorded it; an earlier expiry
// keeps its own reason, and a stored termination wins over both.
func TestHoldTimeoutEndsTheMission(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	exp := now.Add(time.Hour)
	m := &Record{ExpiresAt: &exp, Hold: &Hold{Since: now, Until: now.Add(15 * time.Minute), ByKind: "person"}}
	for _, c := range []struct {
		at     time.Time
		active bool
		reason Reason
	}{
		{now.Add(14 * time.Minute), true, ""},
		{now.Add(15 * time.Minute), false, ReasonAdministrative},
		{now.Add(2 * time.Hour), false, ReasonExpired},
	} {
		if ok, r := m.State().Active(c.at); ok != c.active || r != c.reason {
			t.Fatalf("at %s: %v %q, want %v %q", c.at, ok, r, c.active, c.reason)
		}
	}
	m.Terminated, m.Reason = true, ReasonRevoked
	if ok, r := m.State().Active(now.Add(time.Minute)); ok || r != ReasonRevoked {
		t.Fatalf("a revoked mission with a stale hold: %v %q", ok, r)
	}
}
