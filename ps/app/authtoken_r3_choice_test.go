package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// r3ThreeOps is an R3 document of three MCP operations, serialized once.
const r3ThreeOps = `{"vocabulary":"urn:aauth:vocabulary:mcp","operations":[{"tool":"list_calendar_events"},` +
	`{"tool":"modify_calendar_event"},{"tool":"create_calendar_event"}],"display":{"summary":"Read and change your calendar"}}`

// jsonOf is v as compact JSON, for comparing claims.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAuthTokenR3PerCallChoice (PS-245, R3§auth-token-extensions): the
// person grants each operation of the R3 document outright, per call or
// not at all, and may leave every scope unticked when R3 is present; the
// token carries exactly that (r3_granted, r3_per_call, no scope, never
// r3_conditional). The choice is remembered by r3_s256 for the agent at the
// resource: the same document again is issued without asking and without a
// second fetch (cached by hash), prompt=consent asks anyway, and the grant
// is listed and removable on /access, after which the PS asks again.
// A form that gives nothing is refused and changes nothing.
func TestAuthTokenR3PerCallChoice(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	uri, s256 := rs.PublishR3("/r3/three", []byte(r3ThreeOps))
	rt := func(scope string) string {
		return resourceToken(t, w, rs, pt, scope, func(s *conformance.ResourceTokenSpec) {
			s.Overrides = map[string]any{"r3_uri": uri, "r3_s256": s256}
		})
	}
	request := func(rt string, extra map[string]any) result {
		body := map[string]any{"resource_token": rt, "presented_token": pt, "capabilities": []string{"interaction"}}
		for k, v := range extra {
			body[k] = v
		}
		return w.post(t, w.agent, "/token", authBody(t, body))
	}

	s := w.expectInteraction(t, request(rt("calendar.read"), nil))
	pg := open(t, b, s)
	form := section(pg.HTML, "decide")
	for _, want := range []string{`name="r3_submitted"`, `name="r3_op_0" value="granted" checked`, `name="r3_op_1" value="per_call"`,
		`name="r3_op_2" value="none"`, "list_calendar_events", "modify_calendar_event", "create_calendar_event", "Ask me each call"} {
		if !strings.Contains(form, want) {
			t.Fatalf("the decision form lacks %s:\n%s", want, form)
		}
	}

	// Nothing given: refused, the request still waits, nothing written.
	before := w.ps.TableCounts(t)
	b.Post(t, s.path()+"/approve", map[string]string{"scopes_submitted": "1", "r3_submitted": "1",
		"r3_op_0": "none", "r3_op_1": "none", "r3_op_2": "none"})
	writesNothing(t, w.ps, before)
	expect202(t, w.poll(t, w.agent, s.loc), w.ps.Issuer)

	// No scope ticked, list outright, modify per call, create refused.
	b.Post(t, s.path()+"/approve", map[string]string{"scopes_submitted": "1", "r3_submitted": "1",
		"r3_op_0": "granted", "r3_op_1": "per_call", "r3_op_2": "none"})
	c := expectAuthToken(t, w, rs, w.poll(t, w.agent, s.loc), pt)
	wantGranted := `{"operations":[{"tool":"list_calendar_events"}],"vocabulary":"urn:aauth:vocabulary:mcp"}`
	wantPerCall := `{"operations":[{"tool":"modify_calendar_event"}],"vocabulary":"urn:aauth:vocabulary:mcp"}`
	if jsonOf(t, c["r3_granted"]) != wantGranted || jsonOf(t, c["r3_per_call"]) != wantPerCall || c["scope"] != nil ||
		c["r3_conditional"] != nil || c["r3_uri"] != uri || c["r3_s256"] != s256 {
		t.Fatalf("auth token %v, want the person's choice exactly (PS-245)", c)
	}

	// The issuance record keeps the document (R3§as-processing step 4).
	if recs, err := w.ps.App.Tokens.AuthRecords(ctxT(), ""); err != nil || len(recs) != 1 || recs[0].R3URI != uri || recs[0].R3S256 != s256 {
		t.Fatalf("auth token records %+v, %v: want the R3 document recorded", recs, err)
	}

	// The same document again: remembered, issued at once, not fetched
	// again (cached by r3_s256).
	c = expectAuthToken(t, w, rs, request(rt(""), nil), pt)
	if jsonOf(t, c["r3_granted"]) != wantGranted || jsonOf(t, c["r3_per_call"]) != wantPerCall {
		t.Fatalf("remembered grant issued %v", c)
	}
	if f := rs.R3Fetchers(); len(f) != 1 {
		t.Fatalf("the R3 document was fetched %d times, want once (cached by hash)", len(f))
	}
	// prompt=consent asks anyway.
	w.expectInteraction(t, request(rt(""), map[string]any{"prompt": "consent"}))

	// /access lists the grant and removes it; then the PS asks again.
	access := b.Get(t, "/access")
	for _, want := range []string{"Read and change your calendar", "Allowed: <code>list_calendar_events</code>",
		"Asks you each call: <code>modify_calendar_event</code>", `name="r3_s256" value="` + s256 + `"`} {
		if !strings.Contains(access.HTML, want) {
			t.Fatalf("/access lacks %s:\n%s", want, access.HTML)
		}
	}
	if r := b.Post(t, "/access/remove", map[string]string{"kind": "r3", "agent_iss": w.agent.Issuer, "agent_sub": w.agent.ID,
		"resource": rs.Issuer(), "r3_s256": s256}); r.Status != http.StatusSeeOther {
		t.Fatalf("remove: %d %s", r.Status, r.HTML)
	}
	if strings.Contains(b.Get(t, "/access").HTML, "Read and change your calendar") {
		t.Fatal("the removed R3 grant is still listed")
	}
	w.expectInteraction(t, request(rt(""), nil))
}

// TestAuthTokenR3Proposal (PS-244, PS-245, R3§per-call-proposals): a
// per-call proposal's parameters are shown as resource-asserted content,
// the person approves that one call (no per-operation choice), the token
// grants its one operation outright, and the approval is not remembered:
// the same proposal again asks again.
func TestAuthTokenR3Proposal(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	proposal := `{"vocabulary":"urn:aauth:vocabulary:mcp","operations":[{"tool":"send_email"}],` +
		`"parameters":{"to":"mom@example.com","body":{"s256":"aBcD","excerpt":"Hi Mom <b>x</b>"}},` +
		`"display":{"summary":"Send an email as you","detail":"## To\nmom@example.com"}}`
	uri, s256 := rs.PublishR3("/r3/proposal-1", []byte(proposal))
	rt := resourceToken(t, w, rs, pt, "", func(s *conformance.ResourceTokenSpec) {
		s.Overrides = map[string]any{"r3_uri": uri, "r3_s256": s256}
	})
	request := func() result {
		return w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt, "capabilities": []string{"interaction"}}))
	}
	s := w.expectInteraction(t, request())
	pg := open(t, b, s)
	res := section(pg.HTML, "assert-resource")
	for _, want := range []string{"This one call", "mom@example.com", "Hi Mom &lt;b&gt;x&lt;/b&gt;", "Send an email as you"} {
		if !strings.Contains(res, want) {
			t.Fatalf("the resource's region lacks %q:\n%s", want, res)
		}
	}
	if strings.Contains(pg.HTML, `name="r3_op_0"`) {
		t.Fatal("a per-call proposal offers a per-operation choice")
	}
	b.Post(t, s.path()+"/approve", nil)
	c := expectAuthToken(t, w, rs, w.poll(t, w.agent, s.loc), pt)
	if jsonOf(t, c["r3_granted"]) != `{"operations":[{"tool":"send_email"}],"vocabulary":"urn:aauth:vocabulary:mcp"}` || c["r3_per_call"] != nil {
		t.Fatalf("proposal token %v", c)
	}
	w.expectInteraction(t, request())
}

// TestAuthTokenR3Errors: every way an R3 document or its claims can be
// wrong is 400 invalid_resource_token and writes nothing: one claim
// without the other (PS-240), an r3_uri that is not https or not admitted
// (PS-242), a document not served or not matching its hash (PS-243), and a
// document that is not the R3 shape (R3§r3-document fields, a per-call
// proposal naming other than one operation, R3§proposal-document).
func TestAuthTokenR3Errors(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	withR3 := func(over map[string]any) string {
		return resourceToken(t, w, rs, pt, "calendar.read", func(s *conformance.ResourceTokenSpec) { s.Overrides = over })
	}
	published := func(name, doc string) string {
		uri, s256 := rs.PublishR3("/r3/"+name, []byte(doc))
		return withR3(map[string]any{"r3_uri": uri, "r3_s256": s256})
	}
	good, goodS256 := rs.PublishR3("/r3/good", []byte(r3ThreeOps))
	mismatch, mismatchS256 := rs.PublishR3("/r3/mismatch", []byte(strings.Replace(r3ThreeOps, "calendar", "diary", 1)))
	rs.PublishR3("/r3/mismatch", []byte(strings.Replace(r3ThreeOps, "calendar", "agenda", 1)))
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf(`{"tool":"t%d"}`, i)
	}
	for _, c := range []struct{ name, rt string }{
		{"r3_uri alone (PS-240)", withR3(map[string]any{"r3_uri": good})},
		{"r3_s256 alone (PS-240)", withR3(map[string]any{"r3_s256": goodS256})},
		{"http r3_uri (PS-242)", withR3(map[string]any{"r3_uri": strings.Replace(good, "https:", "http:", 1), "r3_s256": goodS256})},
		{"r3_uri with a fragment (PS-242)", withR3(map[string]any{"r3_uri": good + "#x", "r3_s256": goodS256})},
		{"r3_uri on a private address (PS-242)", withR3(map[string]any{"r3_uri": "https://10.0.0.1/r3/good", "r3_s256": goodS256})},
		{"not served (PS-243)", withR3(map[string]any{"r3_uri": rs.Issuer() + "/r3/none", "r3_s256": goodS256})},
		{"hash mismatch (PS-243)", withR3(map[string]any{"r3_uri": mismatch, "r3_s256": mismatchS256})},
		{"not JSON", published("not-json", `vocabulary: mcp`)},
		{"a JSON array", published("array", `[{"tool":"a"}]`)},
		{"no vocabulary", published("no-vocabulary", `{"operations":[{"tool":"a"}]}`)},
		{"operations not an array", published("ops-object", `{"vocabulary":"urn:aauth:vocabulary:mcp","operations":{"tool":"a"}}`)},
		{"no operations", published("ops-empty", `{"vocabulary":"urn:aauth:vocabulary:mcp","operations":[]}`)},
		{"an operation not an object", published("op-string", `{"vocabulary":"urn:aauth:vocabulary:mcp","operations":["a"]}`)},
		{"too many operations", published("ops-many", `{"vocabulary":"urn:aauth:vocabulary:mcp","operations":[`+strings.Join(many, ",")+`]}`)},
		{"display not an object", published("display-string", `{"vocabulary":"urn:aauth:vocabulary:mcp","operations":[{"tool":"a"}],"display":"hi"}`)},
		{"display without summary", published("display-nosummary", `{"vocabulary":"urn:aauth:vocabulary:mcp","operations":[{"tool":"a"}],"display":{"implications":"x"}}`)},
		{"proposal of two operations", published("proposal-two", `{"vocabulary":"urn:aauth:vocabulary:mcp","operations":[{"tool":"a"},{"tool":"b"}],"parameters":{"to":"x"}}`)},
		{"proposal parameters not an object", published("proposal-params", `{"vocabulary":"urn:aauth:vocabulary:mcp","operations":[{"tool":"a"}],"parameters":"to x"}`)},
		{"duplicate member", published("duplicate", `{"vocabulary":"urn:aauth:vocabulary:mcp","vocabulary":"x","operations":[{"tool":"a"}]}`)},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := w.ps.TableCounts(t)
			r := w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": c.rt, "presented_token": pt, "capabilities": []string{"interaction"}}))
			if r.status != http.StatusBadRequest || r.body["error"] != aauth.ErrInvalidResourceToken {
				t.Fatalf("%d %s, want 400 invalid_resource_token", r.status, r.raw)
			}
			writesNothing(t, w.ps, before)
		})
	}
}
