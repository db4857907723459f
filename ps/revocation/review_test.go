package revocation

import (
	"strconv"
	"testing"
	"time"
)

// Security review (branch rev): expected to FAIL until fixed.

// TestReviewLimiterFilledByStrangers: the per-issuer rate limiter's table
// is bounded at maxLimiterEntries and, when full of windows still open, a
// new issuer is refused (429) whoever it is. Revoke consults it after
// AcceptsRevocationsFrom, which accepts any agent provider the operator
// did not block (allow-any), so 10 000 throw-away provider origins (one
// wildcard domain) signing one revocation each per minute keep the table
// full, and every other caller whose window is not in the table — the
// operator's known providers and the resources it issued for included —
// gets 429 rate_limited on its revocations. Expected: a caller is never
// refused for other issuers' traffic (e.g. unknown providers share one
// bucket, or known callers have their own table).
func TestReviewLimiterFilledByStrangers(t *testing.T) {
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
