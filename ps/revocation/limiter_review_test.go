package revocation

import (
	"strconv"
	"testing"
	"time"
)

// Security review (branch rev): expected to FAIL until fixed.

// TestLimiterNotFilledByStrangers (PS-289; security review 2026-12-07,
// finding 2): 10 000 throw-away provider origins filling the rate
// limiter's table no longer make it refuse known providers and resources:
// strangers beyond the table share one overflow window. Before the fix
// every caller not yet in a full table got 429.
func TestLimiterNotFilledByStrangers(t *testing.T) {
	l := newLimiter(100)
	now := time.Unix(1_800_000_000, 0)
	for i := range maxLimiterEntries {
		if _, ok := l.allow("https://x"+strconv.Itoa(i)+".evil.example", now); !ok {
			t.Fatalf("stranger %d refused", i)
		}
	}
	if _, ok := l.allow("https://ap.example", now.Add(30*time.Second)); !ok {
		t.Fatal("a known agent provider's first revocation of the minute is refused because strangers filled the limiter")
	}
}
