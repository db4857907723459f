package app_test

import (
	"net/http"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestReviewPendingPostWithoutAction (review rev3; fails now): a POST to a
// pending URL whose body has no `action` is accepted when the action can
// be inferred (pending.actionOf, ps/pending/wire.go:506-517). The -11
// draft (P§agent-response-to-clarification): "A POST body MUST include an
// `action` member. A server MUST reject a POST with a missing or
// unrecognized `action` with `400 Bad Request`"; PS-157 the same. The
// inference recorded in docs/decisions.md (line 44) is a reading the
// draft does not leave open.
func TestReviewPendingPostWithoutAction(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	alice := w.person(t, "alice", false)
	s := w.ask(t, w.agent, "Question?", "interaction", "clarification")
	open(t, alice, s)
	alice.Post(t, s.path()+"/ask", map[string]string{"question": "Who are you?"})
	expectProblem(t, w.send(t, w.agent, http.MethodPost, s.loc, []byte(`{"clarification_response":"your assistant"}`)),
		http.StatusBadRequest, aauth.ErrInvalidRequest)
}
