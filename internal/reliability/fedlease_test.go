package reliability

import (
	"net/http"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestReplicaFederationPollLease (issue 11): two aauth-ps processes on one
// PostgreSQL database share a four-party request that the access server
// keeps at requirement=approval. Both resume it (the second at start), but
// the poll lease lets one poll the AS at a time: one poll per Retry-After.
// The lease holder is killed with SIGKILL, so it never gives its lease
// back; the other process takes over once the lease lapses, and the
// agent, polling the survivor, receives the AS's token, which the resource
// accepts. (The in-process twin is ps/app's
// TestFederationPollLeaseTwoInstances; this one crosses OS processes and
// an unclean end.) PS-127.
func TestReplicaFederationPollLease(t *testing.T) {
	db := storetest.NewPostgresURL(t)
	w := newWorld(t, db)
	rs, err := conformance.StartResource(w.env.CA, w.env.Resolver, "fedrs.test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rs.Close() })
	as, err := conformance.StartAccessServer(w.env.CA, w.env.Resolver, "as.test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = as.Close() })
	rs.SetAccessServer(as.Issuer())
	w.cli(t, "access-servers", "trust", as.Issuer(), "--claims", "name")

	lease := []string{"--access-server-wait", "1s", "--access-server-poll-lease", "1s"}
	one := w.start(t, lease...)
	// The AS fetches the PS's metadata and keys to verify its signature:
	// ps.test is the first process while it lives (both serve the same
	// keys, from the database).
	w.env.Resolver.Set(pstest.DefaultHost, one.addr)
	alice := w.person(t, one, "alice")
	a, err := w.ap.NewAgent(conformance.TokenSpec{Sub: "aauth:fed@ap.test"})
	if err != nil {
		t.Fatal(err)
	}
	bind(t, one, alice, a)
	s := interaction(t, must(t, one.Client, a, http.MethodPost, issuer+"/person", `{"resource":"`+rs.Issuer()+`","capabilities":["interaction"]}`))
	decide(t, alice, s, "approve")
	r := pollDone(t, one.Client, a, s.loc)
	pt, _ := r.body["person_token"].(string)
	if r.status != http.StatusOK || pt == "" {
		t.Fatalf("person token: %s", r)
	}
	rt, err := rs.MintFor(pt, a.Key, "calendar.read", time.Time{}, func(s *conformance.ResourceTokenSpec) { s.Aud = as.Issuer() })
	if err != nil {
		t.Fatal(err)
	}

	// The AS says approval, Retry-After 1 s, for longer than the test
	// needs, then grants.
	steps := make([]conformance.ASStep, 12)
	for i := range steps {
		steps[i] = conformance.ASStep{Kind: conformance.ASApproval, RetryAfter: 1}
	}
	as.Script(steps...)
	s = interaction(t, must(t, one.Client, a, http.MethodPost, issuer+"/token",
		`{"resource_token":"`+rt+`","presented_token":"`+pt+`","capabilities":["interaction"]}`))
	decide(t, alice, s, "approve") // the person's consent; then the PS goes to the AS
	n := len(as.Hits())
	for deadline := time.Now().Add(30 * time.Second); len(as.Hits()) < n+1; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the PS never went to the AS after the consent (hits %+v):\n%s", as.Hits(), one.logs)
		}
	}

	// The second process resumes the open request at start: two poll
	// loops, one lease.
	two := w.start(t, lease...)
	for deadline := time.Now().Add(30 * time.Second); len(as.Hits()) < n+5; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the AS was polled %d times in 30 s", len(as.Hits())-n)
		}
	}
	one.kill(t) // SIGKILL: its lease is never given back
	w.env.Resolver.Set(pstest.DefaultHost, two.addr)
	killed := len(as.Hits())

	r = pollDone(t, two.Client, a, s.loc)
	at, _ := r.body["auth_token"].(string)
	if r.status != http.StatusOK || at == "" {
		t.Fatalf("the agent's poll on the survivor: %s", r)
	}
	if c, err := rs.VerifyAccessToken(t.Context(), at, a.Key); err != nil || c["iss"] != as.Issuer() {
		t.Fatalf("the resource refuses the AS's token: %v %v", c, err)
	}
	hits := as.Hits()
	if len(hits) <= killed {
		t.Fatal("the survivor never polled the AS")
	}
	// One poll per Retry-After while both processes ran and after the
	// take-over (the first poll of the new holder cannot know when the
	// killed one last polled).
	for i := n + 1; i < len(hits); i++ {
		if i == killed {
			continue
		}
		if gap := hits[i].At.Sub(hits[i-1].At); gap < 800*time.Millisecond {
			t.Fatalf("polls %d and %d of the AS were %s apart (Retry-After 1 s): %+v", i-1, i, gap, hits[n:])
		}
	}
}
