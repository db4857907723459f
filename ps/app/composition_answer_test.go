package app_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// lastDecision is the mission's latest runtime_decision evidence record:
// its actor and its body.
func lastDecision(t *testing.T, w *world, s256 string) (evidence.Actor, authority.DecisionRecord) {
	t.Helper()
	chain, err := w.ps.App.Store.Evidence(ctxT(), s256)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		if r := chain[i].Record; r.Type == evidence.RuntimeDecision {
			var body authority.DecisionRecord
			if err := json.Unmarshal(r.Body, &body); err != nil {
				t.Fatal(err)
			}
			return r.Actor, body
		}
	}
	t.Fatal("the mission has no runtime_decision record")
	return evidence.Actor{}, authority.DecisionRecord{}
}

// TestMissionPersonAnswerIsDecided (issue 10; design §3 step 6, §7):
// a person-token request the mission leaves to the person (outside the
// approved resources, default_outside consent) is deferred; the person's
// answer is decided again through the one decision point in the
// transaction that answers the agent. A refusal is evidenced as a deny
// (user_denied) by the person resolving the deferred request, and the
// agent gets 403 denied. An approval is evidenced as an issue by the
// person resolving it, with its effect (the consent memory) committed with
// the token: the next request under the mission is issued at once.
// PS-063.
func TestMissionPersonAnswerIsDecided(t *testing.T) {
	t.Parallel()
	w, b, _ := missionWorld(t, pstest.Options{})
	m := w.approveMission(t, w.agent, b, `{"description":"# Nothing yet","capabilities":["interaction"]}`, nil)
	person := func() string {
		p, err := w.ps.App.Store.PersonByUsername(ctxT(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		return p.ID
	}()
	body := `{"resource":"https://rs.test","mission_s256":"` + m.s256 + `","capabilities":["interaction"]}`

	refused := w.expectInteraction(t, w.post(t, w.agent, "/person", body))
	open(t, b, refused)
	afterDecision(t, b, b.Post(t, refused.path()+"/deny", nil))
	expectProblem(t, w.poll(t, w.agent, refused.loc), http.StatusForbidden, aauth.ErrDenied)
	actor, rec := lastDecision(t, w, m.s256)
	if actor.Kind != "person" || actor.ID != person || rec.Resolves != refused.id || rec.Outcome.Kind != authority.Deny ||
		rec.Outcome.Reason != "user_denied" {
		t.Fatalf("the refusal's evidence: actor %+v, resolves %q, outcome %+v; want a deny (user_denied) by the person resolving %s",
			actor, rec.Resolves, rec.Outcome, refused.id)
	}

	allowed := w.expectInteraction(t, w.post(t, w.agent, "/person", body))
	open(t, b, allowed)
	b.Post(t, allowed.path()+"/approve", nil)
	if r := w.poll(t, w.agent, allowed.loc); r.status != http.StatusOK || r.body["person_token"] == nil {
		t.Fatalf("after the approval: %d %s", r.status, r.raw)
	}
	actor, rec = lastDecision(t, w, m.s256)
	if actor.Kind != "person" || actor.ID != person || rec.Resolves != allowed.id || rec.Outcome.Kind != authority.Issue ||
		len(rec.Effects.RememberConsent) == 0 {
		t.Fatalf("the approval's evidence: actor %+v, resolves %q, outcome %+v, effects %+v; want an issue by the person resolving %s, remembering the consent",
			actor, rec.Resolves, rec.Outcome, rec.Effects, allowed.id)
	}
	if r := w.post(t, w.agent, "/person", body); r.status != http.StatusOK || r.body["person_token"] == nil {
		t.Fatalf("the next request under the mission: %d %s, want issued at once", r.status, r.raw)
	}
}
