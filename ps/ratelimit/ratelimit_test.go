package ratelimit_test

import (
	"errors"
	"flag"
	"net/netip"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/ratelimit"
)

func TestParseRule(t *testing.T) {
	for in, want := range map[string]ratelimit.Rule{
		"600/1m": {N: 600, Period: time.Minute}, "20/1s": {N: 20, Period: time.Second}, "0": {}, "off": {},
	} {
		got, err := ratelimit.ParseRule(in)
		if err != nil || got != want {
			t.Errorf("ParseRule(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "10", "x/1m", "-1/1m", "0/1m", "10/0s", "10/500ms", "10/48h", "10/m"} {
		if _, err := ratelimit.ParseRule(bad); err == nil {
			t.Errorf("ParseRule(%q) accepted", bad)
		}
	}
	var r ratelimit.Rule
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Var(&r, "limit", "")
	if err := fs.Parse([]string{"--limit", "5/10s"}); err != nil || r.String() != "5/10s" {
		t.Fatalf("flag: %v %v", r, err)
	}
}

// TestLimiterBucket: N at once, then one per Period/N; a refused request
// is not counted; an Off rule allows everything.
func TestLimiterBucket(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := ratelimit.New(ratelimit.Rule{N: 3, Period: 30 * time.Second}, 0, func() time.Time { return now })
	for i := range 3 {
		if d := l.Allow("a"); d != 0 {
			t.Fatalf("request %d refused (%v)", i, d)
		}
	}
	for range 5 { // refusals do not push the next token further away
		if d := l.Allow("a"); d <= 9*time.Second || d > 10*time.Second {
			t.Fatalf("the 4th request: retry in %v, want about 10s", d)
		}
	}
	if d := l.Allow("b"); d != 0 {
		t.Fatal("another key shares the bucket")
	}
	now = now.Add(10 * time.Second)
	if d := l.Allow("a"); d != 0 {
		t.Fatalf("after 10 s: refused (%v)", d)
	}
	off := ratelimit.New(ratelimit.Rule{}, 0, nil)
	for range 1000 {
		if off.Allow("a") != 0 {
			t.Fatal("an off rule refused")
		}
	}
	var nilSet *ratelimit.Set
	if nilSet.CheckClient(netip.MustParseAddr("192.0.2.1")) != nil || nilSet.CheckAgent("p", "a") != nil {
		t.Fatal("a nil Set refused")
	}
}

// TestLimiterTableBounded: the table never holds more than its size.
func TestLimiterTableBounded(t *testing.T) {
	l := ratelimit.New(ratelimit.Rule{N: 1, Period: time.Minute}, 100, nil)
	for i := range 10_000 {
		l.Allow(string(rune(i)))
	}
	if l.Len() != 100 {
		t.Fatalf("table holds %d keys, want 100", l.Len())
	}
}

func TestSetOrderAndKeys(t *testing.T) {
	s := ratelimit.NewSet(ratelimit.Rules{PerAgent: ratelimit.Rule{N: 1, Period: time.Minute},
		PerProvider: ratelimit.Rule{N: 2, Period: time.Minute}, PerClient: ratelimit.Rule{N: 1, Period: time.Minute}}, nil)
	if err := s.CheckAgent("https://ap", "a1"); err != nil {
		t.Fatal(err)
	}
	var ex *ratelimit.Exceeded
	if err := s.CheckAgent("https://ap", "a1"); !errors.As(err, &ex) || ex.Limit != "agent" || !errors.Is(err, ratelimit.ErrLimited) || ex.RetryAfterSeconds() < 1 {
		t.Fatalf("second request of a1: %v", err)
	}
	// a1's refusal did not take from the provider's bucket.
	if err := s.CheckAgent("https://ap", "a2"); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckAgent("https://ap", "a3"); !errors.As(err, &ex) || ex.Limit != "provider" {
		t.Fatalf("third agent of the provider: %v", err)
	}
	if err := s.CheckClient(netip.MustParseAddr("2001:db8::1")); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckClient(netip.MustParseAddr("2001:db8::2")); !errors.As(err, &ex) || ex.Limit != "client" {
		t.Fatalf("same /64: %v", err)
	}
	if err := s.CheckClient(netip.MustParseAddr("::ffff:192.0.2.1")); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckClient(netip.MustParseAddr("192.0.2.1")); err == nil {
		t.Fatal("a v4-mapped address and its IPv4 form are two clients")
	}
}
