package app_test

import (
	"net/http"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// TestPendingPostNeedsAction (PS-157, P§agent-response-to-clarification):
// a POST to a pending URL whose body has no `action` is 400
// invalid_request however plainly its other members name one, and it
// changes nothing: the question stays outstanding, the token request keeps
// its payload. The same bodies with the action are accepted.
func TestPendingPostNeedsAction(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	s := w.expectInteraction(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{
		"resource_token":  resourceToken(t, w, rs, pt, "calendar.read calendar.write", nil),
		"presented_token": pt, "capabilities": []string{"interaction", "clarification"}})))
	open(t, b, s)
	b.Post(t, s.path()+"/ask", map[string]string{"question": "Why write?"})
	before, err := w.ps.App.Engine.Get(ctxT(), s.id)
	if err != nil {
		t.Fatal(err)
	}
	narrower := resourceToken(t, w, rs, pt, "calendar.read", nil)
	for name, body := range map[string]map[string]any{
		"PS-157 clarification_response alone":   {"clarification_response": "To add events."},
		"PS-157 resource_token alone":           {"resource_token": narrower, "presented_token": pt},
		"PS-157 an action of null":              {"action": nil, "clarification_response": "To add events."},
		"PS-157 both without action":            {"clarification_response": "x", "resource_token": narrower, "presented_token": pt},
		"PS-157 justification, still no action": {"resource_token": narrower, "presented_token": pt, "justification": "Reading is enough."},
	} {
		t.Run(name, func(t *testing.T) {
			counts := w.ps.TableCounts(t)
			expectProblem(t, w.send(t, w.agent, http.MethodPost, s.loc, []byte(authBody(t, body))), http.StatusBadRequest, aauth.ErrInvalidRequest)
			writesNothing(t, w.ps, counts)
		})
	}
	after, err := w.ps.App.Engine.Get(ctxT(), s.id)
	if err != nil {
		t.Fatal(err)
	}
	if string(after.Payload) != string(before.Payload) || after.Question == nil || len(after.Answers) != len(before.Answers) {
		t.Fatalf("a POST without action changed the request: question %v, answers %d → %d", after.Question, len(before.Answers), len(after.Answers))
	}
	// With the action, the same update is accepted and answers the question.
	expect202(t, w.send(t, w.agent, http.MethodPost, s.loc, []byte(authBody(t, map[string]any{"action": aauth.ActionUpdatedRequest,
		"resource_token": narrower, "presented_token": pt}))), w.ps.Issuer)
	if r := w.poll(t, w.agent, s.loc); r.body["clarification"] != nil {
		t.Fatalf("the updated_request did not answer the question: %s", r.raw)
	}
}
