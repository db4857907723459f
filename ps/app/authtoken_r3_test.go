package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// r3Doc is the test resource's R3 document, serialized once.
const r3Doc = `{"vocabulary":"urn:aauth:vocabulary:mcp","operations":[{"tool":"create_calendar_event"},{"tool":"modify_calendar_event"}],` +
	`"display":{"summary":"Create and modify events on your **work** calendar","implications":"Meetings can be rescheduled.",` +
	`"data_accessed":"Event titles and attendees","irreversible":"Sent invitations cannot be unsent<script>alert(1)</script>"}}`

// TestAuthTokenR3: a resource token naming an R3 document (R3 -02 read
// through -11): the PS fetches it through the egress-guarded client,
// checks its hash, shows its display as resource-asserted content apart
// from the agent's justification (PS-244, PS-282, PS-168), and issues
// r3_uri, r3_s256 and r3_granted with the document's operations (PS-245).
// The fetch is signed as the PS (PS-241).
// Errors: one claim without the other (PS-240), an http r3_uri (PS-242), a
// document that does not match its hash (PS-243): 400
// invalid_resource_token, nothing written.
func TestAuthTokenR3(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	uri, s256 := rs.PublishR3("/r3/calendar-write", []byte(r3Doc))
	withR3 := func(over map[string]any, scope string) string {
		return resourceToken(t, w, rs, pt, scope, func(s *conformance.ResourceTokenSpec) { s.Overrides = over })
	}

	rt := withR3(map[string]any{"r3_uri": uri, "r3_s256": s256}, "")
	s := w.expectInteraction(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt,
		"capabilities": []string{"interaction"}, "justification": "I will only look, promise."})))
	pg := open(t, b, s)
	res, agent := section(pg.HTML, "assert-resource"), section(pg.HTML, "assert-agent")
	for _, want := range []string{"What the resource says this access means", "<strong>work</strong> calendar", "Meetings can be rescheduled.",
		"Event titles and attendees", "Sent invitations cannot be unsent"} {
		if !strings.Contains(res, want) {
			t.Fatalf("the resource's region lacks %q (PS-244):\n%s", want, res)
		}
	}
	if strings.Contains(res, "only look") || strings.Contains(agent, "work</strong> calendar") || !strings.Contains(agent, "only look") {
		t.Fatalf("R3 display and justification are not in their own regions (PS-282):\n%s", pg.HTML)
	}
	if live := liveHTML(t, pg.HTML); len(live) > 0 {
		t.Fatalf("active content from the R3 display (PS-168): %v", live)
	}
	// PS-241: the resource served the document to a request the PS signed
	// as itself (the fixture refuses any other).
	if f := rs.R3Fetchers(); len(f) != 1 || f[0] != w.ps.Issuer {
		t.Fatalf("R3 fetches signed by %v, want one by %s (PS-241)", f, w.ps.Issuer)
	}
	b.Post(t, s.path()+"/approve", nil)
	c := expectAuthToken(t, w, rs, w.poll(t, w.agent, s.loc), pt)
	if c["r3_uri"] != uri || c["r3_s256"] != s256 || c["r3_conditional"] != nil {
		t.Fatalf("auth token R3 claims %v (PS-245)", c)
	}
	granted, _ := json.Marshal(c["r3_granted"])
	if string(granted) != `{"operations":[{"tool":"create_calendar_event"},{"tool":"modify_calendar_event"}],"vocabulary":"urn:aauth:vocabulary:mcp"}` {
		t.Fatalf("r3_granted %s (PS-245)", granted)
	}

	// The errors change nothing.
	// The altered document is one the PS has not seen: documents it
	// verified are cached by hash and not fetched again.
	original := strings.Replace(r3Doc, "rescheduled", "moved", 1)
	altered, altS256 := rs.PublishR3("/r3/altered", []byte(original))
	rs.PublishR3("/r3/altered", []byte(strings.Replace(original, "work", "every", 1)))
	for name, rt := range map[string]string{
		"r3_uri alone (PS-240)":  withR3(map[string]any{"r3_uri": uri}, "calendar.read"),
		"r3_s256 alone (PS-240)": withR3(map[string]any{"r3_s256": s256}, "calendar.read"),
		"http r3_uri (PS-242)":   withR3(map[string]any{"r3_uri": "http://rs.test/r3/calendar-write", "r3_s256": s256}, ""),
		"hash mismatch (PS-243)": withR3(map[string]any{"r3_uri": altered, "r3_s256": altS256}, ""),
		"not served (PS-243)":    withR3(map[string]any{"r3_uri": rs.Issuer() + "/r3/none", "r3_s256": s256}, ""),
		"no scope, no R3":        withR3(nil, ""),
	} {
		before := w.ps.TableCounts(t)
		r := w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt, "capabilities": []string{"interaction"}}))
		if r.status != http.StatusBadRequest || r.body["error"] != aauth.ErrInvalidResourceToken {
			t.Fatalf("%s: %d %s, want 400 invalid_resource_token", name, r.status, r.raw)
		}
		writesNothing(t, w.ps, before)
	}
}
