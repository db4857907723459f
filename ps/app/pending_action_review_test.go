package app_test

import (
	"net/http"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestPendingPostWithoutActionRefused (PS-157,
// P§agent-response-to-clarification; security review 2026-12-07, rev3
// #5): a POST to a pending URL whose body has no `action` is refused 400
// invalid_request ("A POST body MUST include an `action` member"). Before
// the fix the action was inferred from the other members.
func TestPendingPostWithoutActionRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	alice := w.person(t, "alice", false)
	s := w.ask(t, w.agent, "Question?", "interaction", "clarification")
	open(t, alice, s)
	alice.Post(t, s.path()+"/ask", map[string]string{"question": "Who are you?"})
	expectProblem(t, w.send(t, w.agent, http.MethodPost, s.loc, []byte(`{"clarification_response":"your assistant"}`)),
		http.StatusBadRequest, aauth.ErrInvalidRequest)
}
