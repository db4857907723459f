package app_test

import (
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
)

// TestFederationPollerShutdown: shutting the PS down while its background
// loop is polling an access server (the AS holds the poll) returns at once,
// well before the AS would answer, and leaves no poll loop running. Issue
// 11 (the deferred loop with the AS, PS-127).
func TestFederationPollerShutdown(t *testing.T) {
	t.Parallel()
	f := newFedWorld(t)
	f.expectASToken(t, f.consented(t))
	// The AS needs the person at its own page and answers each request
	// and poll after 3 s: the PS's background loop polls 1 s after the 202.
	f.as.Script(conformance.ASStep{Kind: conformance.ASInteraction, Delay: 3 * time.Second})
	f.expectInteraction(t, f.request(t, f.rt(t, "calendar.read")))
	polling := func() bool {
		for _, h := range f.as.Hits() {
			if h.Method == http.MethodGet && strings.HasPrefix(h.Path, "/token/pending/") {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(20 * time.Second); !polling(); {
		if time.Now().After(deadline) {
			t.Fatal("the PS never polled the AS in the background")
		}
		runtime.Gosched()
		time.Sleep(20 * time.Millisecond) // waiting on the real network, not on the PS's clock
	}
	if f.ps.App.FederationPollLoops() == 0 {
		t.Fatal("no background poll loop is running")
	}
	start := time.Now()
	f.ps.App.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("shutdown took %v with a poll in flight", d)
	}
	if n := f.ps.App.FederationPollLoops(); n != 0 {
		t.Fatalf("%d poll loops still running after shutdown", n)
	}
}
