package app_test

import (
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
)

// TestUpdatedRequestCannotSwapWhatThePersonApproves (PS-177,
// P§updated-request, P§agent-consent-surface-control; security review
// 2026-12-07, rev3 #1): an agent's updated_request posted while the person
// reads the consent page (the request went "interacting") does not receive
// the person's click: the decision carries the digest of the request as
// shown, a changed request is shown again and nothing is granted. Before
// the fix the person's "granted" for list_calendar_events granted the
// swapped-in delete_all_calendar_events.
func TestUpdatedRequestCannotSwapWhatThePersonApproves(t *testing.T) {
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
