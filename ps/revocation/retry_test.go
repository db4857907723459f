package revocation

import (
	"testing"
	"time"
)

// TestRetryAfter (design §5 "backing off 1 s → 60 s until exp"; PS-291's
// division of labour): a cascade the PS started retries a delivery that
// ended revocation_unavailable, 1 s after the first failure, doubling to
// 60 s, while the next attempt comes before the token's exp plus
// ExpirySkew; a permanent or successful outcome, an agent provider's
// cascade, or a gone one, is never retried.
func TestRetryAfter(t *testing.T) {
	at := time.Unix(1_800_000_000, 0)
	exp := at.Add(time.Hour)
	mission := &Cascade{Iss: personIss + "p1", Mission: "m"}
	agent := &Cascade{Iss: personIss + "p1"}
	provider := &Cascade{Iss: "https://ap.example"}
	for _, tc := range []struct {
		name    string
		c       *Cascade
		attempt int
		outcome string
		exp     time.Time
		want    time.Duration // 0: no retry
	}{
		{"first failure", mission, 1, OutcomeUnavailable, exp, time.Second},
		{"second", mission, 2, OutcomeUnavailable, exp, 2 * time.Second},
		{"sixth", mission, 6, OutcomeUnavailable, exp, 32 * time.Second},
		{"capped", mission, 7, OutcomeUnavailable, exp, 60 * time.Second},
		{"still capped", mission, 100, OutcomeUnavailable, exp, 60 * time.Second},
		{"a person's revocation of an agent", agent, 1, OutcomeUnavailable, exp, time.Second},
		{"within the skew past exp", mission, 7, OutcomeUnavailable, at.Add(-ExpirySkew + 61*time.Second), 60 * time.Second},
		{"past exp plus skew", mission, 7, OutcomeUnavailable, at.Add(-ExpirySkew + 59*time.Second), 0},
		{"unsupported is permanent", mission, 1, OutcomeUnsupported, exp, 0},
		{"revoked", mission, 1, OutcomeRevoked, exp, 0},
		{"an agent provider's cascade (PS-291: its repeat)", provider, 1, OutcomeUnavailable, exp, 0},
		{"a cascade gone", nil, 1, OutcomeUnavailable, exp, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := retryAfter(tc.c, tc.attempt, tc.outcome, at, tc.exp)
			if tc.want == 0 {
				if !got.IsZero() {
					t.Fatalf("retry at %v, want none", got)
				}
				return
			}
			if !got.Equal(at.Add(tc.want)) {
				t.Fatalf("retry at %v, want %v", got.Sub(at), tc.want)
			}
		})
	}
	if retryClaim <= time.Duration(retryBatch/maxConcurrentDeliveries)*attemptTimeout {
		t.Fatalf("a claim (%v) must outlast every attempt of its batch", retryClaim)
	}
}
