package browsertest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestBrowserFederationNarrowing is four-party narrowing with the person
// in a real browser (issue 10, design decision-table row 6): the mission
// excludes payments, so a request for calendar.write and payments.charge
// is answered 202 requirement=clarification and the person's page of it
// (stage mission_narrowed) says the agent is asked for less — audited
// with axe-core at 1280 and 390 px. The agent's updated_request for
// calendar.write needs the person's approval (approve_each): the same
// request becomes the consent page (the agent's poll says the person is
// interacting); the person allows it and the agent
// receives the AS's calendar.write token. PS-131, PS-177.
func TestBrowserFederationNarrowing(t *testing.T) {
	t.Parallel()
	m := approvedFedMission(t, "# Plan the offsite\n\nRead and update the team calendar.")
	w, rs, b, pt := m.w, m.rs, m.b, m.pt
	rt := func(scope string) string { return m.rt(t, scope) }

	res, _ := w.postJSON(t, w.ps.URL("/token"), map[string]any{"resource_token": rt("calendar.write payments.charge"), "presented_token": pt,
		"capabilities": []string{"interaction", "clarification"}})
	loc := res.header.Get("Location")
	if req, _ := requirement(t, res); res.status != http.StatusAccepted || req != "clarification" || res.body["mission_decision"] == nil {
		t.Fatalf("agent: the narrowing: %d %q %s", res.status, req, res.raw)
	}
	// The person's view of it: their own request, reached as its holder.
	b.open("/interact/" + loc[len(w.ps.Issuer+"/pending/"):])
	b.expectHeading("Waiting for your agent to ask for less")
	b.expectText("Your mission does not allow all of this request", "This server asked, for your mission", "excluded")
	if strings.Contains(b.text(), "You asked") {
		t.Fatalf("the narrowing question is shown as the person's:\n%s", b.text())
	}
	b.audit("mission-narrowed", http.StatusOK)

	up, _ := w.postJSON(t, loc, map[string]any{"action": "updated_request", "resource_token": rt("calendar.write"), "presented_token": pt})
	if up.status != http.StatusAccepted {
		t.Fatalf("agent: updated_request: %d %s", up.status, up.raw)
	}
	// Decided again in the background: the request waits on the person,
	// who is at the PS already (their visit used the code), so the
	// agent's poll says interacting without a requirement.
	var p result
	for range 50 {
		if p = w.poll(t, loc); p.status != http.StatusAccepted || p.header.Get("AAuth-Requirement") == "" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if p.status != http.StatusAccepted || p.body["status"] != "interacting" || p.header.Get("AAuth-Requirement") != "" {
		t.Fatalf("agent: the request waiting on the person: %d %v %s", p.status, p.header, p.raw)
	}
	b.open("/interact/" + loc[len(w.ps.Issuer+"/pending/"):])
	b.expectHeading("Your agent asks for access")
	b.expectText("calendar.write", "This server asked, for your mission")
	b.audit("mission-narrowed-consent", http.StatusOK)
	b.clickButton("Allow")
	for range 30 {
		if p = w.poll(t, loc); p.status != http.StatusAccepted {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if at, _ := p.body["auth_token"].(string); p.status != http.StatusOK || at == "" {
		t.Fatalf("agent: the poll after the person allowed it: %d %s", p.status, p.raw)
	} else if c, err := rs.VerifyAccessToken(context.Background(), at, w.agent.Key); err != nil || c["scope"] != "calendar.write" {
		t.Fatalf("the resource refuses the AS's token: %v %v", c, err)
	}
}

// fedMission is a mission on the AS-protected resource under the
// four-party policy, approved by alice in the browser: the agent holds
// its person token for the resource.
type fedMission struct {
	w        *world
	rs       *conformance.Resource
	as       *conformance.AccessServer
	b        *browser
	s256, pt string
}

// approvedFedMission proposes a mission described by description for the
// resource and has alice approve it in the browser.
func approvedFedMission(t *testing.T, description string) *fedMission {
	t.Helper()
	policy := pstest.FourPartyPolicy(t)
	w, rs, as := fedServers(t, func(c *config.Config) { c.MissionPolicy = policy })
	w.ps.CreatePerson(t, "alice", false)
	b := newBrowser(t, w)
	bindInBrowser(t, w, b, "alice")

	res, _ := w.postJSON(t, w.ps.URL("/mission"), map[string]any{"description": description,
		"resources": []string{rs.Issuer()}, "capabilities": []string{"interaction"}})
	in := w.expectInteraction(t, "POST /mission", res)
	b.open(in.url + "?code=" + in.code)
	b.clickButton("Approve the mission")
	b.expectHeading("Done")
	p := w.poll(t, in.loc)
	s256, _ := p.body["s256"].(string)
	pt, _ := p.body["person_tokens"].(map[string]any)[rs.Issuer()].(string)
	if p.status != http.StatusOK || pt == "" {
		t.Fatalf("agent: the mission's approval: %d %s", p.status, p.raw)
	}
	return &fedMission{w: w, rs: rs, as: as, b: b, s256: s256, pt: pt}
}

// rt is a resource token of the resource for scope, naming the AS as its
// audience and the mission.
func (m *fedMission) rt(t *testing.T, scope string) string {
	t.Helper()
	tok, err := m.rs.MintFor(m.pt, m.w.agent.Key, scope, m.w.clock.Now(), func(s *conformance.ResourceTokenSpec) {
		s.Aud, s.MissionS256 = m.as.Issuer(), m.s256
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
