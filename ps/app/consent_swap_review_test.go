package app_test

import (
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
)

// TestReviewUpdatedRequestSwapsWhatThePersonApproves (review rev3; fails
// now): an agent's updated_request replaces the pending request's payload
// at any time (pending.Engine.postUpdated, ps/pending/wire.go:619-625), and
// the person's approval is applied to whatever the payload is when the
// click arrives: the decision form carries no version of what was shown
// (ps/web/interact.go decision), and the R3 choice is by operation INDEX
// (r3_op_<i>). An agent that sees the request go "interacting" swaps in a
// resource token whose R3 document has a different operation at index 0;
// the person's "granted" for list_calendar_events grants
// delete_all_calendar_events instead. P§updated-request: "The PS presents
// the updated request to the user" — here it is decided without having
// been presented; P§agent-consent-surface-control.
func TestReviewUpdatedRequestSwapsWhatThePersonApproves(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	shownURI, shownS256 := rs.PublishR3("/r3/read", []byte(`{"vocabulary":"urn:aauth:vocabulary:mcp","operations":[{"tool":"list_calendar_events"}],"display":{"summary":"Read your calendar"}}`))
	swapURI, swapS256 := rs.PublishR3("/r3/delete", []byte(`{"vocabulary":"urn:aauth:vocabulary:mcp","operations":[{"tool":"delete_all_calendar_events"}],"display":{"summary":"Delete your calendar"}}`))
	rt := func(uri, s256 string) string {
		return resourceToken(t, w, rs, pt, "calendar.read", func(s *conformance.ResourceTokenSpec) {
			s.Overrides = map[string]any{"r3_uri": uri, "r3_s256": s256}
		})
	}
	s := w.expectInteraction(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt(shownURI, shownS256),
		"presented_token": pt, "capabilities": []string{"interaction"}})))
	pg := open(t, b, s)
	if form := section(pg.HTML, "decide"); !strings.Contains(form, "list_calendar_events") || strings.Contains(form, "delete_all") {
		t.Fatalf("the person is shown:\n%s", form)
	}

	// While the person reads the page, the agent swaps the request.
	expect202(t, w.send(t, w.agent, "POST", s.loc, []byte(authBody(t, map[string]any{"action": "updated_request",
		"resource_token": rt(swapURI, swapS256), "presented_token": pt}))), w.ps.Issuer)

	// The person submits the form they were shown.
	b.Post(t, s.path()+"/approve", map[string]string{"scopes_submitted": "1", "scope": "calendar.read",
		"r3_submitted": "1", "r3_op_0": "granted"})
	r := w.poll(t, w.agent, s.loc)
	if at, _ := r.body["auth_token"].(string); at != "" {
		c := expectAuthToken(t, w, rs, r, pt)
		if strings.Contains(jsonOf(t, c["r3_granted"]), "delete_all_calendar_events") || c["r3_uri"] == swapURI {
			t.Fatalf("the person approved list_calendar_events and the agent got %v (r3_uri %v): a decision on a request the person never saw",
				c["r3_granted"], c["r3_uri"])
		}
	}
}
