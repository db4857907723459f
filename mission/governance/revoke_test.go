package governance

import (
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
)

// TestRevocationPlan: termination revokes the unexpired tokens (PS-212),
// none on expiry, and spares what a successor permits; retries back off
// 1 s → 60 s and stop at exp; residual exposure is the latest
// unconfirmed exp.
func TestRevocationPlan(t *testing.T) {
	tokens := []IndexedToken{
		{JTI: "a", Exp: t0.Add(time.Hour), Entries: []string{"fin-read"}},
		{JTI: "b", Exp: t0.Add(-time.Second), Entries: []string{"fin-read"}},
		{JTI: "c", Exp: t0.Add(30 * time.Minute), Entries: []string{"treasury-cash"}},
	}
	if got := ToRevoke(tokens, mission.ReasonRevoked, t0, nil); len(got) != 2 || got[0].JTI != "a" || got[1].JTI != "c" {
		t.Fatalf("revoked %+v", got)
	}
	if got := ToRevoke(tokens, mission.ReasonExpired, t0, nil); got != nil {
		t.Fatalf("expiry revoked %+v", got)
	}
	keepFin := func(tok IndexedToken) bool { return tok.Entries[0] == "fin-read" }
	if got := ToRevoke(tokens, mission.ReasonSuperseded, t0, keepFin); len(got) != 1 || got[0].JTI != "c" {
		t.Fatalf("superseded revoked %+v", got)
	}
	var waits []time.Duration
	for attempt := 1; attempt <= 8; attempt++ {
		next, ok := NextRevocationAttempt(attempt, t0, t0.Add(time.Hour))
		if !ok {
			t.Fatal("gave up before exp")
		}
		waits = append(waits, next.Sub(t0))
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60}
	for i := range want {
		if waits[i] != want[i]*time.Second {
			t.Fatalf("backoff %v", waits)
		}
	}
	if _, ok := NextRevocationAttempt(7, t0, t0.Add(30*time.Second)); ok {
		t.Fatal("retry scheduled past exp")
	}
	if r := ResidualExposureUntil(tokens); r == nil || !r.Equal(t0.Add(time.Hour)) {
		t.Fatalf("residual %v", r)
	}
	if ResidualExposureUntil(nil) != nil {
		t.Fatal("residual exposure with every revocation confirmed")
	}
}

// TestRiskPolicySuspends: three exclusion hits within ten minutes trip
// the policy, which may suspend but never resume.
func TestRiskPolicySuspends(t *testing.T) {
	p := DefaultRiskPolicy
	hits := []time.Time{t0.Add(-11 * time.Minute), t0.Add(-9 * time.Minute), t0.Add(-time.Minute)}
	if p.Trips(hits, t0) {
		t.Fatal("two hits in the window tripped the policy")
	}
	hits = append(hits, t0)
	if !p.Trips(hits, t0) {
		t.Fatal("three hits in the window did not trip the policy")
	}
	s, _, err := Suspend(boardRecord(t), risk, t0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Resume(s, risk, t0); err == nil {
		t.Fatal("the risk policy resumed")
	}
}
