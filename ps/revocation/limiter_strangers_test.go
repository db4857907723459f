package revocation

import (
	"strconv"
	"testing"
	"time"
)

// TestLimiterStrangersShareOverflow (PS-289, PS-290): once strangers
// (agent providers no table of the PS lists) hold maxLimiterEntries open
// windows, a new stranger shares one overflow window with every other
// such stranger, never a known caller's; a stranger with its own window
// keeps it; when the windows end a sweep frees the table.
func TestLimiterStrangersShareOverflow(t *testing.T) {
	l := newLimiter(100)
	now := time.Unix(1_800_000_000, 0)
	stranger := func(i int) string { return "https://x" + strconv.Itoa(i) + ".evil.example" }
	for i := range maxLimiterEntries {
		if _, ok := l.allow(stranger(i), now); !ok {
			t.Fatalf("stranger %d refused", i)
		}
	}
	for i := range 100 {
		if _, ok := l.allow(stranger(maxLimiterEntries+i), now.Add(time.Second)); !ok {
			t.Fatalf("overflow stranger %d refused within the shared budget", i)
		}
	}
	retry, ok := l.allow(stranger(2*maxLimiterEntries), now.Add(30*time.Second))
	if ok || retry < 1 || retry > 31 {
		t.Fatalf("past the shared overflow budget: ok=%v retry=%d, want refused with Retry-After ≤ 31", ok, retry)
	}
	if _, ok := l.allow(stranger(0), now.Add(30*time.Second)); !ok {
		t.Fatal("a stranger's own window is taken by the overflow")
	}
	if len(l.strangers) != maxLimiterEntries {
		t.Fatalf("strangers table holds %d windows, want at most %d", len(l.strangers), maxLimiterEntries)
	}
	for i := range 100 {
		if _, ok := l.allowKnown("https://ap.example", now.Add(30*time.Second)); !ok {
			t.Fatalf("known caller's revocation %d refused while strangers fill the limiter", i)
		}
	}
	if _, ok := l.allowKnown("https://ap.example", now.Add(31*time.Second)); ok {
		t.Fatal("a known caller has its own per-issuer bound (PS-289)")
	}
	// A minute on, the windows ended: a new stranger gets its own.
	later := now.Add(2 * time.Minute)
	if _, ok := l.allow("https://new.example", later); !ok || l.strangers["https://new.example"] == nil {
		t.Fatal("the ended windows were not swept")
	}
	if len(l.strangers) != 1 {
		t.Fatalf("after the sweep %d stranger windows remain, want 1", len(l.strangers))
	}
}

// TestLimiterKnownNeverRefusedForFullness (PS-289): a known caller (a
// resource the PS issued for, a provider the operator decided on or one
// with a bound agent) gets its own window even when as many known callers
// as the table holds are active in the same minute.
func TestLimiterKnownNeverRefusedForFullness(t *testing.T) {
	l := newLimiter(100)
	now := time.Unix(1_800_000_000, 0)
	for i := range maxLimiterEntries {
		if _, ok := l.allowKnown("https://rs"+strconv.Itoa(i)+".example", now); !ok {
			t.Fatalf("known %d refused", i)
		}
	}
	if _, ok := l.allowKnown("https://one-more.example", now.Add(time.Second)); !ok {
		t.Fatal("a known caller is refused because the table is full")
	}
	if _, ok := l.allow("https://stranger.example", now.Add(time.Second)); !ok {
		t.Fatal("known callers' windows take the strangers' room")
	}
}
