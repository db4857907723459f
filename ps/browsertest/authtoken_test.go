package browsertest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestBrowserAuthTokenConsent is the three-party flow with the person in a
// real browser (issue 8, PS-103, PS-282): the bound agent gets a person
// token for the test resource, the resource mints a resource token asking
// for calendar.read, the agent asks the PS for an auth token with a
// justification, and the person sees the resource's scope description in
// the resource's region and the justification, attributed to the agent, in
// the agent's region; they allow it, and the resource accepts the token.
func TestBrowserAuthTokenConsent(t *testing.T) {
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

	rt := w.resourceToken(t, rs, pt, "calendar.read", nil)
	res, _ = w.postJSON(t, w.ps.URL("/token"), map[string]any{"resource_token": rt, "presented_token": pt,
		"capabilities": []string{"interaction"}, "justification": "I need to **read** your calendar to find a free evening."})
	in = w.expectInteraction(t, "auth token request", res)
	b.open(in.url + "?code=" + in.code)
	b.expectHeading("Your agent asks for access")
	resource := run(b, "read the resource's region", textOf("section.assert-resource"))
	agent := run(b, "read the agent's region", textOf("section.assert-agent"))
	for _, want := range []string{"Test Calendar", "calendar.read", "Read the events of your calendar"} {
		if !strings.Contains(resource, want) {
			t.Fatalf("the resource's region lacks %q:\n%s", want, resource)
		}
	}
	if !strings.Contains(agent, "Justification, from "+agentID) || !strings.Contains(agent, "find a free evening") {
		t.Fatalf("the agent's region lacks the attributed justification:\n%s", agent)
	}
	if strings.Contains(resource, "free evening") || strings.Contains(agent, "Read the events") {
		t.Fatal("resource- and agent-asserted content are mixed")
	}
	b.audit("auth-token-consent", http.StatusOK)
	b.clickButton("Allow")
	b.expectHeading("Done")
	b.checkPage("")

	p = w.poll(t, in.loc)
	at, _ := p.body["auth_token"].(string)
	if p.status != http.StatusOK || at == "" {
		t.Fatalf("agent: the poll after consent: %d %s", p.status, p.raw)
	}
	c, err := rs.VerifyAuthToken(context.Background(), at, w.agent.Key)
	if err != nil {
		t.Fatalf("the resource refuses the auth token: %v", err)
	}
	if c["scope"] != "calendar.read" || c["aud"] != rs.Issuer() || c["iss"] != w.ps.Issuer {
		t.Fatalf("auth token claims %v", c)
	}
}

// TestBrowserAuthTokenUntickScope: the resource asks for calendar.read and
// calendar.write and names an R3 document; on the consent page the R3
// display is in the resource's region, the justification in the agent's
// (PS-244, PS-282); in the PS's decision region the person unticks
// calendar.write and allows: the auth token the resource accepts carries
// calendar.read only (issue 8 item 4, PS-107) and the R3 grant (PS-245).
func TestBrowserAuthTokenUntickScope(t *testing.T) {
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
	r3URI, r3S256 := rs.PublishR3("/r3/week", []byte(`{"vocabulary":"urn:aauth:vocabulary:mcp","operations":[{"tool":"create_calendar_event"}],`+
		`"display":{"summary":"Create events on your work calendar","irreversible":"Sent invitations cannot be unsent"}}`))
	rt := w.resourceToken(t, rs, pt, "calendar.read calendar.write", func(spec *conformance.ResourceTokenSpec) {
		spec.Overrides = map[string]any{"r3_uri": r3URI, "r3_s256": r3S256}
	})
	res, _ = w.postJSON(t, w.ps.URL("/token"), map[string]any{"resource_token": rt, "presented_token": pt,
		"capabilities": []string{"interaction"}, "justification": "I need to plan your week."})
	in = w.expectInteraction(t, "auth token request", res)
	b.open(in.url + "?code=" + in.code)
	b.expectHeading("Your agent asks for access")
	resource := run(b, "read the resource's region", textOf("section.assert-resource"))
	agent := run(b, "read the agent's region", textOf("section.assert-agent"))
	for _, want := range []string{"What the resource says this access means", "Create events on your work calendar", "Sent invitations cannot be unsent"} {
		if !strings.Contains(resource, want) {
			t.Fatalf("the resource's region lacks the R3 display %q:\n%s", want, resource)
		}
	}
	if !strings.Contains(agent, "plan your week") || strings.Contains(resource, "plan your week") || strings.Contains(agent, "work calendar") {
		t.Fatalf("R3 display and justification are mixed:\nresource: %s\nagent: %s", resource, agent)
	}
	decide := run(b, "read the decision region", textOf("section.decide"))
	if !strings.Contains(decide, "calendar.read") || !strings.Contains(decide, "calendar.write") {
		t.Fatalf("the decision region does not offer both scopes:\n%s", decide)
	}
	b.audit("auth-token-consent-scopes", http.StatusOK)
	b.step("untick calendar.write", chromedp.Click(chromedp.CSS(`input[name="scope"][value="calendar.write"]`), chromedp.NodeVisible))
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
	if c["scope"] != "calendar.read" {
		t.Fatalf("scope %v, want only calendar.read (the person unticked calendar.write)", c["scope"])
	}
	if c["r3_uri"] != r3URI || c["r3_s256"] != r3S256 || c["r3_granted"] == nil {
		t.Fatalf("auth token without the R3 grant: %v", c)
	}
}
