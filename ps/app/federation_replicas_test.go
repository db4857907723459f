package app_test

import (
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestFederationPollLeaseTwoInstances: two PS instances on one PostgreSQL
// database (replicas) both have a poll loop for one deferred four-party
// request (the first started it; the second resumed it at start). The AS
// answers requirement=approval with Retry-After 1 s; only the holder of
// the request's poll lease polls: the AS never sees two polls within one
// interval. When the holder shuts down, the other instance takes over and
// the agent's poll, answered by it, gets the AS's token. Issue 11 (poll
// leases, migration 00030), PS-127.
func TestFederationPollLeaseTwoInstances(t *testing.T) {
	t.Parallel()
	opt := pstest.Options{DatabaseURL: storetest.NewPostgresURL(t), Configure: func(c *config.Config) {
		c.AccessServerWait, c.AccessServerPollLease = time.Second, time.Second
	}}
	f := newFedWorldOn(t, opt)
	f.expectASToken(t, f.consented(t))
	steps := make([]conformance.ASStep, 10)
	for i := range steps {
		steps[i] = conformance.ASStep{Kind: conformance.ASApproval, RetryAfter: 1}
	}
	f.as.Script(steps...)
	n := len(f.as.Hits())
	loc := expect202(t, f.request(t, f.rt(t, "calendar.read")), f.ps.Issuer)

	// The second instance: it resumes the open request at start, so two
	// loops exist for it. (No agent poll meanwhile: each advances the
	// shared test clock, on which leases are measured.)
	first := f.ps
	opt.Now = f.clock.Now
	f.ps = f.env.Start(t, opt)                              // ps.test now reaches the second instance
	polls := func() int { return len(f.as.Hits()) - n - 1 } // after the token request itself
	for deadline := time.Now().Add(20 * time.Second); polls() < 5; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the AS was polled %d times in 20 s", polls())
		}
	}
	both := len(f.as.Hits())
	first.Stop() // gives its lease up
	stopped := len(f.as.Hits())

	f.expectASToken(t, f.awaitResult(t, loc))
	hits := f.as.Hits()[n:]
	if len(hits) <= stopped-n {
		t.Fatal("the second instance never polled the AS")
	}
	// While both ran, and after the take-over, one poll per Retry-After.
	for i := 1; i < len(hits); i++ {
		if i == stopped-n {
			continue // the take-over: the new holder cannot know when the old one last polled
		}
		if gap := hits[i].At.Sub(hits[i-1].At); gap < 800*time.Millisecond {
			t.Fatalf("polls %d and %d of the AS were %s apart (Retry-After 1 s; %d polls while both instances ran): %+v",
				i-1, i, gap, both-n-1, hits)
		}
	}
}
