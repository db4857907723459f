package browsertest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestBrowserR3PerCallChoice: the R3 consent region and the per-operation
// choice in a real browser (PS-244, PS-245, R3§auth-token-extensions). The
// resource asks for calendar.read and names an R3 document of two
// operations; the page shows the document's display in the resource's
// region and offers each operation as Allow / Ask me each call / Don't
// allow (accessible at every width); the person unticks the scope, keeps
// list_calendar_events allowed and makes modify_calendar_event per call.
// The token the resource accepts has no scope, r3_granted with the first
// operation and r3_per_call with the second, and "What your agents can
// access" shows the remembered choice.
func TestBrowserR3PerCallChoice(t *testing.T) {
	t.Parallel()
	var rs *conformance.Resource
	w := newWorld(t, func(env *pstest.Env) {
		var err error
		if rs, err = conformance.StartResource(env.CA, env.Resolver, "rs.test"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rs.Close() })
	})
	w.ps.CreatePerson(t, "alice", false)
	b := newBrowser(t, w)
	bindInBrowser(t, w, b, "alice")

	res, _ := w.postJSON(t, w.ps.URL("/person"), map[string]any{"resource": rs.Issuer(), "capabilities": []string{"interaction"}})
	in := w.expectInteraction(t, "E3 for the test resource", res)
	b.open(in.url + "?code=" + in.code)
	b.clickButton("Allow")
	b.expectHeading("Done")
	p := w.poll(t, in.loc)
	pt, _ := p.body["person_token"].(string)
	if p.status != http.StatusOK || pt == "" {
		t.Fatalf("agent: person token: %d %s", p.status, p.raw)
	}
	r3URI, r3S256 := rs.PublishR3("/r3/two", []byte(`{"vocabulary":"urn:aauth:vocabulary:mcp","operations":[{"tool":"list_calendar_events"},`+
		`{"tool":"modify_calendar_event"}],"display":{"summary":"Read and change your work calendar","implications":"Events can be moved."}}`))
	rt, err := rs.MintFor(pt, w.agent.Key, "calendar.read", w.clock.Now(), func(s *conformance.ResourceTokenSpec) {
		s.Overrides = map[string]any{"r3_uri": r3URI, "r3_s256": r3S256}
	})
	if err != nil {
		t.Fatal(err)
	}
	res, _ = w.postJSON(t, w.ps.URL("/token"), map[string]any{"resource_token": rt, "presented_token": pt, "capabilities": []string{"interaction"}})
	in = w.expectInteraction(t, "auth token request with R3", res)
	b.open(in.url + "?code=" + in.code)
	b.expectHeading("Your agent asks for access")
	resource := run(b, "read the resource's region", textOf("section.assert-resource"))
	for _, want := range []string{"What the resource says this access means", "Read and change your work calendar", "Events can be moved."} {
		if !strings.Contains(resource, want) {
			t.Fatalf("the resource's region lacks %q:\n%s", want, resource)
		}
	}
	choice := run(b, "read the operations choice", textOf("fieldset.r3-choice"))
	for _, want := range []string{"Operations the agent may use", "list_calendar_events", "modify_calendar_event", "Allow", "Ask me each call", "Don't allow"} {
		if !strings.Contains(choice, want) {
			t.Fatalf("the operations choice lacks %q:\n%s", want, choice)
		}
	}
	b.audit("", http.StatusOK)
	b.step("untick calendar.read", chromedp.Click(chromedp.CSS(`input[name="scope"][value="calendar.read"]`), chromedp.NodeVisible))
	b.step("modify_calendar_event per call", chromedp.Click(chromedp.CSS(`#r3-op-1-per_call`), chromedp.NodeVisible))
	b.clickButton("Allow")
	b.expectHeading("Done")

	p = w.poll(t, in.loc)
	at, _ := p.body["auth_token"].(string)
	if p.status != http.StatusOK || at == "" {
		t.Fatalf("agent: the poll after consent: %d %s", p.status, p.raw)
	}
	c, err := rs.VerifyAuthToken(context.Background(), at, w.agent.Key)
	if err != nil {
		t.Fatalf("the resource refuses the auth token: %v", err)
	}
	granted, _ := json.Marshal(c["r3_granted"])
	perCall, _ := json.Marshal(c["r3_per_call"])
	if c["scope"] != nil || string(granted) != `{"operations":[{"tool":"list_calendar_events"}],"vocabulary":"urn:aauth:vocabulary:mcp"}` ||
		string(perCall) != `{"operations":[{"tool":"modify_calendar_event"}],"vocabulary":"urn:aauth:vocabulary:mcp"}` {
		t.Fatalf("auth token %v, want no scope, list granted and modify per call", c)
	}

	b.open("/access")
	access := run(b, "read the access page", textOf("main"))
	if !strings.Contains(access, "Read and change your work calendar") || !strings.Contains(access, "Asks you each call: modify_calendar_event") {
		t.Fatalf("the access page does not show the remembered R3 choice:\n%s", access)
	}
	b.checkPage("")
}
