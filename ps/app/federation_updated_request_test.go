package app_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestFederationUpdatedRequestToAS: PS-126 (MUST) "an agent
// updated_request is forwarded with the same body, presented_token
// included, after the PS has verified it (PS-177)". The AS's question is
// passed to the agent; its updated_request, with a fresh person token, is
// verified like any (P§updated-request), posted to the
// AS's pending URL as {action, resource_token, presented_token,
// justification}, the new person token recorded as presented to the AS
// (PS-274), and the AS's token on it delivered. Refused
// with the spec's error, with nothing sent to the AS and the question
// still outstanding: a scope the person did not grant (nobody is asked
// again), a resource token whose aud is not the AS (PS-177: the access
// server kept), no presented_token (PS-177). On both databases.
func TestFederationUpdatedRequestToAS(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			federationUpdatedRequestToAS(t, newFedWorldOn(t, pstest.Options{DatabaseURL: b.NewMigratedURL(t)}))
		})
	}
}

func federationUpdatedRequestToAS(t *testing.T, f *fedWorld) {
	rtFor := func(pt, scope string) string {
		return resourceToken(t, f.world, f.rs, pt, scope, func(s *conformance.ResourceTokenSpec) { s.Aud = f.as.Issuer() })
	}
	f.expectASToken(t, f.consented(t)) // calendar.read

	f.as.Script(conformance.ASStep{Kind: conformance.ASClarification, Question: "Which calendar?"})
	r := f.post(t, f.agent, "/token", authBody(t, map[string]any{"resource_token": rtFor(f.pt, "calendar.read"),
		"presented_token": f.pt, "capabilities": []string{"interaction", "clarification"}}))
	loc := expect202(t, r, f.ps.Issuer)
	id := loc[strings.LastIndex(loc, "/")+1:]
	before, err := f.ps.App.Engine.Get(ctxT(), id)
	if err != nil {
		t.Fatal(err)
	}
	update := func(body map[string]any) result {
		body["action"] = "updated_request"
		return f.send(t, f.agent, http.MethodPost, loc, []byte(authBody(t, body)))
	}
	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
		code   string
	}{
		{"PS-126 a scope the person did not grant", map[string]any{"resource_token": rtFor(f.pt, "calendar.read calendar.write"),
			"presented_token": f.pt}, http.StatusBadRequest, aauth.ErrInvalidResourceToken},
		{"PS-177 a resource token for this PS, not the AS", map[string]any{
			"resource_token": resourceToken(t, f.world, f.rs, f.pt, "calendar.read", nil), "presented_token": f.pt},
			http.StatusBadRequest, aauth.ErrInvalidResourceToken},
		{"PS-177 no presented_token", map[string]any{"resource_token": rtFor(f.pt, "calendar.read")},
			http.StatusBadRequest, aauth.ErrInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectProblem(t, update(tc.body), tc.status, tc.code)
			now, err := f.ps.App.Engine.Get(ctxT(), id)
			if err != nil || now.Question == nil || string(now.Payload) != string(before.Payload) || len(now.Answers) != len(before.Answers) {
				t.Fatalf("a refused updated_request changed the pending request: %+v %v", now, err)
			}
			if reqs := f.as.Requests(); reqs[len(reqs)-1].Clarification != nil {
				t.Fatalf("the AS was sent a refused updated_request: %v", reqs[len(reqs)-1].Clarification)
			}
		})
	}
	if req, _ := requirement(t, f.poll(t, f.agent, loc)); req != "clarification" {
		t.Fatalf("the AS's question is no longer put to the agent: %q", req)
	}

	// A fresh person token: verified, forwarded, delivered on it.
	pt2 := personToken(t, f.world, f.b, f.rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	rt2 := rtFor(pt2, "calendar.read")
	if up := update(map[string]any{"resource_token": rt2, "presented_token": pt2, "justification": "Reading is enough."}); up.status != http.StatusAccepted {
		t.Fatalf("updated_request: %d %s", up.status, up.raw)
	}
	res := f.awaitResult(t, loc)
	at, _ := res.body["auth_token"].(string)
	c, err := f.rs.VerifyAccessToken(ctxT(), at, f.agent.Key)
	if res.status != http.StatusOK || err != nil || c["scope"] != "calendar.read" {
		t.Fatalf("want the AS's token for calendar.read: %d %s %v", res.status, res.raw, err)
	}
	reqs := f.as.Requests()
	got := reqs[len(reqs)-1].Clarification
	if got["action"] != "updated_request" || got["resource_token"] != rt2 || got["presented_token"] != pt2 ||
		got["justification"] != "Reading is enough." || len(got) != 4 {
		t.Fatalf("the AS received %v; want the verified updated_request with the same members", got)
	}
	if to, err := f.ps.App.AccessServers.PresentedTo(ctxT(), pjti(t, pt2)); err != nil || !slices.Contains(to, f.as.Issuer()) {
		t.Fatalf("the new person token is not recorded as presented to the AS (PS-274): %v %v", to, err)
	}
}
