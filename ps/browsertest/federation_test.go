package browsertest_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/federation"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestBrowserFederation is four-party with the person in a real browser
// (issue 11, Must-shows 1 and 4): the resource's access server first
// asks for a billing relationship (402), then for claims. The person
// allows the access in the PS, accepts the billing step and, asked the
// first time, shares the details the AS asks for (each page audited with
// axe-core at every width, 390 px included), the agent receives the
// AS's token and the resource accepts it; on /access the person sees what
// the AS received (only what the operator's rule allows, never sub) and
// stops sharing. Then the AS asks a question the agent cannot answer: the
// person answers it in the PS's page. PS-122, PS-124, PS-126, PS-129,
// PS-131.
func TestBrowserFederation(t *testing.T) {
	t.Parallel()
	w, rs, as := newFedWorld(t, nil)
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
	spec, err := conformance.TokenFor(pt, w.agent.Key, "calendar.read")
	if err != nil {
		t.Fatal(err)
	}
	spec.IssuedAt, spec.Aud = w.clock.Now(), as.Issuer()
	rt, err := rs.MintResourceToken(spec)
	if err != nil {
		t.Fatal(err)
	}
	as.Script(conformance.ASStep{Kind: conformance.ASPayment}, conformance.ASStep{Kind: conformance.ASClaims, Claims: []string{"name", "email", "sub"}})
	res, _ = w.postJSON(t, w.ps.URL("/token"), map[string]any{"resource_token": rt, "presented_token": pt,
		"capabilities": []string{"interaction"}, "justification": "I need to read your calendar."})
	in = w.expectInteraction(t, "four-party auth token request", res)
	b.open(in.url + "?code=" + in.code)
	b.expectHeading("Your agent asks for access")
	b.audit("federation-consent", http.StatusOK)
	b.clickButton("Allow")
	b.expectHeading("The resource's access server asks for a billing relationship")
	b.audit("federation-payment", http.StatusOK)
	b.clickButton("Accept billing with this access server")
	// The AS asks for details about the person, the first time: the
	// person sees what this PS would send (apart from what the AS asks
	// for) and shares it.
	b.waitText("asks for your details", 20*time.Second)
	b.expectHeading("The resource's access server asks for your details")
	b.expectText("What this Person Server would send", "name: Alice", "Never sent", "What the access server says")
	b.audit("federation-claims", http.StatusOK)
	b.clickButton("Share these details")

	var at string
	for range 30 {
		p = w.poll(t, in.loc)
		if p.status != http.StatusAccepted {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if at, _ = p.body["auth_token"].(string); p.status != http.StatusOK || at == "" {
		t.Fatalf("agent: the poll after the billing step: %d %s", p.status, p.raw)
	}
	if c, err := rs.VerifyAccessToken(context.Background(), at, w.agent.Key); err != nil || c["iss"] != as.Issuer() {
		t.Fatalf("the resource refuses the AS's token: %v %v", c, err)
	}
	reqs := as.Requests()
	if got := reqs[len(reqs)-1].Claims; len(got) != 1 || got["name"] != "Alice" {
		t.Fatalf("the AS received %v, want exactly the name", got)
	}

	b.open("/access")
	b.expectText("What access servers received about you", "https://as.test", "name")
	b.audit("federation-access", http.StatusOK)
	b.clickButton("Stop sharing")
	b.expectText("Stopped")
	b.audit("federation-access-stopped", http.StatusOK)
	// Undoable (issue 11): Share again, then stop once more.
	b.clickButton("Share again")
	b.expectText("Sharing again")
	b.clickButton("Stop sharing")
	b.expectText("Stopped")
	b.checkPage("")

	// The AS has a question and this agent cannot answer one: the person
	// answers it in the PS's page (PS-126).
	as.Script(conformance.ASStep{Kind: conformance.ASClarification, Question: "Which calendar: **work** or home?"})
	spec.IssuedAt = w.clock.Now()
	rt, err = rs.MintResourceToken(spec)
	if err != nil {
		t.Fatal(err)
	}
	res, _ = w.postJSON(t, w.ps.URL("/token"), map[string]any{"resource_token": rt, "presented_token": pt, "capabilities": []string{"interaction"}})
	in = w.expectInteraction(t, "four-party auth token request with a question", res)
	b.open(in.url + "?code=" + in.code)
	b.expectHeading("The resource's access server has a question")
	b.expectText("Which calendar: work or home?", "What the access server asks")
	b.audit("federation-question", http.StatusOK)
	b.fill("answer", "The work one.")
	b.clickButton("Send answer")
	for range 30 {
		if p = w.poll(t, in.loc); p.status != http.StatusAccepted {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if at, _ = p.body["auth_token"].(string); p.status != http.StatusOK || at == "" {
		t.Fatalf("agent: the poll after the person's answer: %d %s", p.status, p.raw)
	}
	reqs = as.Requests()
	if c := reqs[len(reqs)-1].Clarification; c["clarification_response"] != "The work one." {
		t.Fatalf("the AS received %v", c)
	}
}

// newFedWorld is a world (the PS configured by configure, nil: the
// defaults) whose test resource rs.test has its access server at as.test,
// which the PS trusts, releasing the person's name to it.
func newFedWorld(t *testing.T, configure func(*config.Config)) (*world, *conformance.Resource, *conformance.AccessServer) {
	t.Helper()
	var rs *conformance.Resource
	var as *conformance.AccessServer
	w := newConfiguredWorld(t, configure, func(env *pstest.Env) {
		var err error
		if rs, err = conformance.StartResource(env.CA, env.Resolver, "rs.test"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rs.Close() })
		if as, err = conformance.StartAccessServer(env.CA, env.Resolver, "as.test"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = as.Close() })
		rs.SetAccessServer(as.Issuer())
	})
	if err := w.ps.App.AccessServers.Set(context.Background(), as.Issuer(), federation.StatusTrusted, []string{"name"}, "test"); err != nil {
		t.Fatal(err)
	}
	return w, rs, as
}
