package app_test

import (
	"net/http"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestAgentIdentifiersAreCaseSensitive: PS-255 (issue 15 item 9).
// aauth:a1@ap.test and aauth:A1@ap.test are two agents: each is bound to
// its own person, neither can use the other's mission, and each gets its
// own person's directed sub at rs.test. (Their pending URLs are kept apart
// in TestPendingURLAccess.)
func TestAgentIdentifiersAreCaseSensitive(t *testing.T) {
	t.Parallel()
	w, alice, _ := missionWorld(t, pstest.Options{}) // w.agent is aauth:a1@ap.test, bound to alice
	bob := w.person(t, "bob", false)
	upper := w.newAgent(t, "aauth:A1@ap.test")
	if upper.ID == w.agent.ID {
		t.Fatalf("both agents are %s", upper.ID)
	}
	// Binding: A1 enrols with bob, while a1 stays alice's.
	w.bind(t, upper, bob)

	props := `{"description":"Calendar","resources":["https://rs.test"],"capabilities":["interaction"]}`
	lower := w.approveMission(t, w.agent, alice, props, nil)
	capital := w.approveMission(t, upper, bob, props, nil)

	// Missions: each agent's mission is unknown to the other.
	expectProblem(t, w.post(t, upper, "/person", missionBody("https://rs.test", lower.s256)),
		http.StatusNotFound, aauth.ErrMissionNotFound)
	expectProblem(t, w.post(t, w.agent, "/person", missionBody("https://rs.test", capital.s256)),
		http.StatusNotFound, aauth.ErrMissionNotFound)

	// Directed subs: alice's for a1, bob's for A1, with and without the
	// mission, and never the same.
	sub := func(label string, r result) string {
		t.Helper()
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", label, r.status, r.raw)
		}
		_, c := claimsOf(t, r.body["person_token"].(string))
		return c["sub"].(string)
	}
	subA := sub("a1 under its mission", w.post(t, w.agent, "/person", missionBody("https://rs.test", lower.s256)))
	subB := sub("A1 under its mission", w.post(t, upper, "/person", missionBody("https://rs.test", capital.s256)))
	if subA == subB {
		t.Fatalf("a1 and A1 got the same directed sub %s: one person behind both", subA)
	}
	// Outside the missions each needs the person's consent (issue 9 item 4).
	consentAs(t, w, "alice", w.agent, "https://rs.test")
	consentAs(t, w, "bob", upper, "https://rs.test")
	if got := sub("a1 without mission", w.post(t, w.agent, "/person", `{"resource":"https://rs.test"}`)); got != subA {
		t.Fatalf("a1 without mission: sub %s, want alice's %s", got, subA)
	}
	if got := sub("A1 without mission", w.post(t, upper, "/person", `{"resource":"https://rs.test"}`)); got != subB {
		t.Fatalf("A1 without mission: sub %s, want bob's %s", got, subB)
	}
}
