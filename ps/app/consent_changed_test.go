package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
)

// changedNotice is how the page says a decision met a changed request.
const changedNotice = "The request changed while you were reading it"

// TestConsentChangedRequestIsReviewedAgain (PS-177, P§updated-request:
// "The PS presents the updated request to the user";
// P§agent-consent-surface-control): an updated_request that lands while
// the person reads the consent page makes their approval of that page
// count for nothing: the page comes back showing the new request with a
// notice, nothing is granted or written, and the agent still waits. The
// person's decision on the page that shows the new request is applied to
// it. A form without the page's version is refused the same way; a
// refusal still counts, as it gives nothing.
func TestConsentChangedRequestIsReviewedAgain(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	readURI, readS256 := rs.PublishR3("/r3/read2", []byte(`{"vocabulary":"urn:aauth:vocabulary:mcp","operations":[{"tool":"list_calendar_events"}],"display":{"summary":"Read your calendar"}}`))
	delURI, delS256 := rs.PublishR3("/r3/delete2", []byte(`{"vocabulary":"urn:aauth:vocabulary:mcp","operations":[{"tool":"delete_all_calendar_events"}],"display":{"summary":"Delete your calendar"}}`))
	rt := func(uri, s256 string) string {
		return resourceToken(t, w, rs, pt, "calendar.read", func(s *conformance.ResourceTokenSpec) {
			s.Overrides = map[string]any{"r3_uri": uri, "r3_s256": s256}
		})
	}
	approve := map[string]string{"scopes_submitted": "1", "scope": "calendar.read", "r3_submitted": "1", "r3_op_0": "granted"}
	s := w.expectInteraction(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt(readURI, readS256),
		"presented_token": pt, "capabilities": []string{"interaction"}})))
	open(t, b, s)
	expect202(t, w.send(t, w.agent, "POST", s.loc, []byte(authBody(t, map[string]any{"action": "updated_request",
		"resource_token": rt(delURI, delS256), "presented_token": pt}))), w.ps.Issuer)

	before := w.ps.TableCounts(t)
	pg := b.Post(t, s.path()+"/approve", approve)
	if pg.Status != http.StatusSeeOther || pg.Location != s.path() {
		t.Fatalf("the stale approval: %d %q, want 303 back to the request", pg.Status, pg.Location)
	}
	writesNothing(t, w.ps, before)
	pg = b.Follow(t, pg)
	if !strings.Contains(pg.HTML, changedNotice) || !strings.Contains(section(pg.HTML, "decide"), "delete_all_calendar_events") {
		t.Fatalf("the page after a stale approval does not show the new request with a notice:\n%s", pg.HTML)
	}
	if r := w.poll(t, w.agent, s.loc); r.status != http.StatusAccepted {
		t.Fatalf("a stale approval answered the agent: %d %s", r.status, r.raw)
	}

	// A form that names no version is refused too.
	if pg = b.Post(t, s.path()+"/approve", map[string]string{"shown": "", "scopes_submitted": "1", "scope": "calendar.read"}); pg.Status != http.StatusSeeOther ||
		!strings.Contains(b.Follow(t, pg).HTML, changedNotice) {
		t.Fatalf("an approval without the page's version: %d", pg.Status)
	}

	// Decided on the page that shows it: the new request is granted as shown.
	b.Post(t, s.path()+"/approve", approve)
	c := expectAuthToken(t, w, rs, w.poll(t, w.agent, s.loc), pt)
	if c["r3_uri"] != delURI || !strings.Contains(jsonOf(t, c["r3_granted"]), "delete_all_calendar_events") {
		t.Fatalf("the approval of the page showing the new request: r3_uri %v, r3_granted %v", c["r3_uri"], c["r3_granted"])
	}

	// A refusal on a page made stale counts: it gives nothing.
	s2 := w.expectInteraction(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": resourceToken(t, w, rs, pt, "calendar.write", nil),
		"presented_token": pt, "capabilities": []string{"interaction"}})))
	open(t, b, s2)
	expect202(t, w.send(t, w.agent, "POST", s2.loc, []byte(authBody(t, map[string]any{"action": "updated_request",
		"resource_token": resourceToken(t, w, rs, pt, "calendar.read calendar.write", nil), "presented_token": pt}))), w.ps.Issuer)
	b.Post(t, s2.path()+"/deny", nil)
	w.terminal(t, w.agent, s2.loc, http.StatusForbidden, "denied")
}
