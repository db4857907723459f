package app_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestSubAgentRefusedEverywhere: PS-041 (issue 15 item 10). A sub-agent
// (agent token with parent_agent) is refused at every agent endpoint of
// the PS, with 401 invalid_jwt and a detail that sends it to its parent,
// and nothing changes: not the parent's pending request or mission, not a
// replay entry. The table must name every signed route the server
// registers, so a new agent endpoint cannot be added without this check.
func TestSubAgentRefusedEverywhere(t *testing.T) {
	t.Parallel()
	w, alice, _ := missionWorld(t, pstest.Options{})
	m := w.approveMission(t, w.agent, alice, `{"description":"Parent's","resources":["https://rs.test"],"capabilities":["interaction"]}`, nil)
	s := w.ask(t, w.agent, "Which flight?", "interaction")
	pendingPath := strings.TrimPrefix(s.loc, w.ps.Issuer)

	key, err := conformance.NewAgentKey(aauth.AlgEd25519)
	if err != nil {
		t.Fatal(err)
	}
	sub := w.mint(t, conformance.TokenSpec{Sub: "aauth:a1+s1@ap.test", ParentAgent: w.agent.ID, Agent: key, IssuedAt: w.clock.Now()})

	endpoints := []struct {
		route, path, body string // route as registered; path and body as sent
	}{
		{"POST /person", "/person", `{"resource":"https://rs.test","capabilities":["interaction"]}`},
		{"POST /person", "/person", missionBody("https://rs.test", m.s256)},
		{"POST /token", "/token", string(validBody)},
		{"POST /mission", "/mission", `{"description":"Sub's own","capabilities":["interaction"]}`},
		{"POST /mission/:s256", "/mission/" + m.s256, `{"action":"update","description":"taken over"}`},
		{"POST /audit", "/audit", `{"mission_s256":"` + m.s256 + `","action":"WebSearch"}`},
		{"POST /permission", "/permission", `{"mission_s256":"` + m.s256 + `","action":"WebSearch"}`},
		{"POST /interaction", "/interaction", `{"type":"question","question":"Shall we?","capabilities":["interaction"]}`},
		{"GET /pending/:id", pendingPath, ""},
		{"POST /pending/:id", pendingPath, `{"action":"cancel"}`},
		{"DELETE /pending/:id", pendingPath, ""},
	}
	var covered []string
	for _, e := range endpoints {
		covered = append(covered, e.route)
	}
	var registered []string
	for _, r := range w.ps.App.Server.Handler().(*gin.Engine).Routes() {
		// Every signed agent route is registered through agentRouteLimit.
		if strings.Contains(r.Handler, "agentRouteLimit") {
			registered = append(registered, r.Method+" "+r.Path)
		}
	}
	slices.Sort(covered)
	slices.Sort(registered)
	if covered = slices.Compact(covered); !slices.Equal(covered, registered) {
		t.Fatalf("signed agent routes %v, this test covers %v", registered, covered)
	}

	for _, e := range endpoints {
		method, _, _ := strings.Cut(e.route, " ")
		var body []byte
		if e.body != "" {
			body = []byte(e.body)
		}
		before := w.ps.TableCounts(t)
		r := w.send(t, sub, method, w.ps.URL(e.path), body)
		expect401(t, r, aauth.SigInvalidJWT)
		if detail, _ := r.body["detail"].(string); !strings.Contains(detail, "parent agent") {
			t.Fatalf("%s: detail %q does not send the sub-agent to its parent", e.route, detail)
		}
		unchanged(t, w.ps, before)
	}

	// The parent's request and mission are as they were.
	if st := w.pollState(t, w.agent, s.loc); st != "pending" {
		t.Fatalf("parent's pending request: %s", st)
	}
	if r := w.post(t, w.agent, "/person", missionBody("https://rs.test", m.s256)); r.status != http.StatusOK {
		t.Fatalf("parent's mission after the sub-agent's attempts: %d %s", r.status, r.raw)
	}
}
