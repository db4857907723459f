package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// A person's block of an agent provider revokes that provider's agents
// already connected to her, and only those: another provider's agent of
// hers and the same provider's agent of another person keep working; a
// malformed issuer changes nothing; unblocking does not bring a revoked
// agent back (docs/decisions.md, "Blocking a provider"; review rev2 #2).
func TestBlockProviderRevokesOnlyHerAgentsOfIt(t *testing.T) {
	t.Parallel()
	var ap2 *conformance.AgentProvider
	w := newWorldWith(t, pstest.Options{}, func(env *pstest.Env) { ap2 = env.StartAP(t, "ap2.test") })
	other, err := ap2.NewAgent(conformance.TokenSpec{Sub: "aauth:b1@ap2.test"})
	if err != nil {
		t.Fatal(err)
	}
	bobs, err := w.ap.NewAgent(conformance.TokenSpec{Sub: "aauth:a2@ap.test"})
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := w.person(t, "alice", false), w.person(t, "bob", false)
	w.bind(t, w.agent, alice)
	w.bind(t, other, alice)
	w.bind(t, bobs, bob)
	reaches := func(a *conformance.Agent) int {
		w.clock.Advance(time.Second) // a new signature each time
		return w.relay(t, a, relayQuestion("Still there?", "interaction")).status
	}

	alice.Get(t, "/agents")
	pg := alice.Follow(t, alice.Post(t, "/agents/providers/block", map[string]string{"issuer": "not a provider"}))
	if !strings.Contains(pg.HTML, "not an agent provider identifier") {
		t.Fatalf("a malformed issuer is not refused:\n%s", pg.HTML)
	}
	if got := reaches(w.agent); got != http.StatusAccepted {
		t.Fatalf("a refused block changed something: agent answered %d", got)
	}

	pg = alice.Post(t, "/agents/providers/block", map[string]string{"issuer": "https://ap.test"})
	if pg.Status != http.StatusSeeOther {
		t.Fatalf("block: %d", pg.Status)
	}
	if pg = alice.Follow(t, pg); !strings.Contains(pg.HTML, "1 of its agents revoked") {
		t.Fatalf("the block does not say it revoked her connected agent:\n%s", pg.HTML)
	}
	if got := reaches(w.agent); got != http.StatusForbidden {
		t.Fatalf("her agent of the blocked provider: %d, want 403", got)
	}
	if got := reaches(other); got != http.StatusAccepted {
		t.Fatalf("her agent of another provider: %d, want 202", got)
	}
	if got := reaches(bobs); got != http.StatusAccepted {
		t.Fatalf("bob's agent of the provider alice blocked: %d, want 202", got)
	}

	// Blocking again is idempotent and revokes nothing more.
	alice.Get(t, "/agents")
	if pg = alice.Follow(t, alice.Post(t, "/agents/providers/block", map[string]string{"issuer": "https://ap.test"})); strings.Contains(pg.HTML, "agents revoked") {
		t.Fatalf("a second block revoked again:\n%s", pg.HTML)
	}
	alice.Post(t, "/agents/providers/unblock", map[string]string{"issuer": "https://ap.test"})
	if got := reaches(w.agent); got != http.StatusForbidden {
		t.Fatalf("unblocking brought the revoked agent back: %d", got)
	}
}
