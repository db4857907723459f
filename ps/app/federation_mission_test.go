package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestFederationMissionDecision: a mission-bound four-party request goes
// through the one decision point (Mode four-party) before the PS calls the
// access server (issue 10): an excluded scope is refused with
// mission_decision and no token request reaches the AS; a permitted one is
// federated and the AS's token delivered, its runtime_decision evidenced;
// one the set asks the person about is federated once they approve, the
// decision recorded as resolving that request; then the narrowings
// (federation_narrowing_test.go; the world keeps tokens through a
// suspension). PS-131, PS-122. On both databases.
func TestFederationMissionDecision(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			policy := pstest.FourPartyPolicy(t)
			federationMissionDecision(t, newFedWorldOn(t, pstest.Options{DatabaseURL: b.NewMigratedURL(t),
				Configure: func(c *config.Config) { c.MissionPolicy = policy; c.MissionSuspendRevokes = false }}))
		})
	}
}

func federationMissionDecision(t *testing.T, f *fedWorld) {
	ap := f.approveMission(t, f.agent, f.b, `{"description":"# Plan the offsite\n\nRead and update the team calendar.",`+
		`"resources":["https://rs.test"],"capabilities":["interaction"]}`, nil)
	pt, _ := ap.res.body["person_tokens"].(map[string]any)["https://rs.test"].(string)
	if pt == "" {
		t.Fatalf("no mission person token for rs.test: %s", ap.res.raw)
	}
	authAs := func(scope string, caps ...string) result {
		rt := resourceToken(t, f.world, f.rs, pt, scope, func(s *conformance.ResourceTokenSpec) {
			s.Aud, s.MissionS256 = f.as.Issuer(), ap.s256
		})
		return f.post(t, f.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt,
			"capabilities": caps}))
	}
	auth := func(scope string) result { return authAs(scope, "interaction") }

	// Excluded: refused as in three-party, the AS never asked.
	r := auth("payments.charge")
	missionDecision(t, r, http.StatusForbidden, "excluded", "", "no-payments")
	expectNoToken(t, r, http.StatusForbidden, "denied")
	if n := len(f.as.Hits()); n != 0 {
		t.Fatalf("the AS was sent %d requests for a refused request", n)
	}
	// Partly excluded: the PS cannot make the AS narrow, so an agent that
	// cannot be asked again (no clarification capability) is refused
	// (narrowed), the decision naming the exclusion; still nothing reaches
	// the AS. (With the capability: federationNarrowing.)
	r = authAs("calendar.read payments.charge", "interaction")
	missionDecision(t, r, http.StatusForbidden, "narrowed", "", "no-payments")
	if n := len(f.as.Hits()); n != 0 {
		t.Fatalf("the AS was sent %d requests for a refused request", n)
	}
	// Permitted outright: federated at once, the AS's token delivered.
	if c := f.expectASToken(t, auth("calendar.read")); c["scope"] != "calendar.read" {
		t.Fatalf("scope %v", c["scope"])
	}
	// Approved each time: the person is asked first, then the AS.
	s := f.expectInteraction(t, auth("calendar.write"))
	if n := len(f.as.Requests()); n != 1 {
		t.Fatalf("the AS was called before the person decided: %d requests", n)
	}
	open(t, f.b, s)
	f.b.Post(t, s.path()+"/approve", nil)
	// (The resource's API reads; a calendar.write token is checked as delivered.)
	w := f.poll(t, f.agent, s.loc)
	at, _ := w.body["auth_token"].(string)
	if c, err := f.rs.VerifyAccessToken(ctxT(), at, f.agent.Key); w.status != http.StatusOK || err != nil || c["iss"] != f.as.Issuer() || c["scope"] != "calendar.write" {
		t.Fatalf("want the AS's calendar.write token: %d %v %v %s", w.status, err, c, w.raw)
	}
	if n := len(f.as.Requests()); n != 2 {
		t.Fatalf("the AS saw %d token requests, want 2", n)
	}

	// The evidence: each decision four-party, deny / defer (narrowing,
	// answered as a refusal) / issue / defer, then
	// the person's answer decided again (issue, resolving the request).
	chain, err := f.ps.App.Store.Evidence(ctxT(), ap.s256)
	if err != nil {
		t.Fatal(err)
	}
	var got []authority.DecisionRecord
	for _, e := range chain {
		if e.Record.Type != evidence.RuntimeDecision {
			continue
		}
		var d authority.DecisionRecord
		if err := json.Unmarshal(e.Record.Body, &d); err != nil {
			t.Fatal(err)
		}
		if d.Point == authority.PointToken {
			got = append(got, d)
		}
	}
	want := []authority.Outcome{authority.Deny, authority.Deny, authority.Issue, authority.Defer, authority.Issue}
	if len(got) != len(want) {
		t.Fatalf("%d token decisions recorded, want %d: %+v", len(got), len(want), got)
	}
	for i, d := range got {
		if d.Mode != authority.FourParty || d.Outcome.Kind != want[i] || d.Request.Resource != f.rs.Issuer() {
			t.Fatalf("decision %d: mode %s outcome %s resource %s, want four-party %s", i, d.Mode, d.Outcome.Kind, d.Request.Resource, want[i])
		}
	}
	if got[4].Resolves == "" {
		t.Fatal("the person's answer was not decided as resolving the deferred request")
	}
	federationNarrowing(t, f, ap.s256, pt, len(got))
	federationNarrowedToPerson(t, f, ap.s256, pt)
	federationNarrowingAfterHold(t, f, ap.s256, pt)
}

// federationNarrowing: four-party narrowing by clarification (design
// decision-table row 6, issue 10). A request partly excluded by the
// mission, from an agent that declared clarification, is answered 202
// requirement=clarification naming what would be permitted; the agent's
// updated_request (verified like any) is decided again and, now
// permitted, federated: the AS's token for the narrower scope delivered.
// An updated_request still too broad, or an answer that is not one, ends
// 403 denied; the AS is called only for the permitted one. The evidence
// records both decisions, the second resolving the request. PS-131,
// PS-177, PS-173 (no capability: 403, in federationMissionDecision), PS-122.
func federationNarrowing(t *testing.T, f *fedWorld, s256, pt string, decided int) {
	rt := func(scope string) string {
		return resourceToken(t, f.world, f.rs, pt, scope, func(s *conformance.ResourceTokenSpec) {
			s.Aud, s.MissionS256 = f.as.Issuer(), s256
		})
	}
	caps := []string{"interaction", "clarification"}
	narrowed := func() string {
		t.Helper()
		r := f.post(t, f.agent, "/token", authBody(t, map[string]any{"resource_token": rt("calendar.read payments.charge"),
			"presented_token": pt, "capabilities": caps}))
		loc := expect202(t, r, f.ps.Issuer)
		if req, _ := requirement(t, r); req != "clarification" || !strings.Contains(string(r.raw), "Ask again for only") ||
			!strings.Contains(string(r.raw), "calendar.read") || !strings.Contains(string(r.raw), "updated_request") {
			t.Fatalf("want 202 clarification naming the permitted calendar.read: %q %s", req, r.raw)
		}
		return loc
	}
	update := func(loc, scope string) result {
		t.Helper()
		up := f.send(t, f.agent, http.MethodPost, loc, []byte(authBody(t, map[string]any{"action": "updated_request",
			"resource_token": rt(scope), "presented_token": pt})))
		if up.status != http.StatusAccepted {
			t.Fatalf("updated_request: %d %s", up.status, up.raw)
		}
		return f.awaitResult(t, loc)
	}
	asked := len(f.as.Requests())

	// Narrower: decided again, permitted, federated.
	loc := narrowed()
	if n := len(f.as.Requests()); n != asked {
		t.Fatalf("the AS was called for a narrowing request: %d requests, want %d", n, asked)
	}
	// An updated resource token for another sub is refused (PS-177) and
	// the request stays as it was.
	otherSub := resourceToken(t, f.world, f.rs, pt, "calendar.read", func(s *conformance.ResourceTokenSpec) {
		s.Aud, s.MissionS256, s.Sub = f.as.Issuer(), s256, "someone-else"
	})
	expectProblem(t, f.send(t, f.agent, http.MethodPost, loc, []byte(authBody(t, map[string]any{"action": "updated_request",
		"resource_token": otherSub, "presented_token": pt}))), http.StatusBadRequest, "invalid_resource_token")
	if req, _ := requirement(t, f.poll(t, f.agent, loc)); req != "clarification" {
		t.Fatalf("a refused updated_request changed the request: %q", req)
	}
	if c := f.expectASToken(t, update(loc, "calendar.read")); c["scope"] != "calendar.read" {
		t.Fatalf("scope %v, want the narrower calendar.read", c["scope"])
	}
	if n := len(f.as.Requests()); n != asked+1 {
		t.Fatalf("the AS saw %d token requests, want %d", n, asked+1)
	}
	// Still too broad: 403 denied (narrowed), the AS not called.
	missionDecision(t, update(narrowed(), "calendar.read payments.charge"), http.StatusForbidden, "narrowed", "", "no-payments")
	// Answered with anything but an updated_request: 403 denied.
	loc = narrowed()
	if r := f.send(t, f.agent, http.MethodPost, loc, []byte(`{"action":"clarification_response","clarification_response":"No."}`)); r.status != http.StatusAccepted {
		t.Fatalf("clarification_response: %d %s", r.status, r.raw)
	}
	expectNoToken(t, f.awaitResult(t, loc), http.StatusForbidden, "denied")
	if n := len(f.as.Requests()); n != asked+1 {
		t.Fatalf("the AS saw %d token requests, want %d", n, asked+1)
	}

	// Evidence: defer (narrowing) then issue resolving it; defer then the
	// still-narrowing decision resolving it; the third request's one defer.
	chain, err := f.ps.App.Store.Evidence(ctxT(), s256)
	if err != nil {
		t.Fatal(err)
	}
	var got []authority.DecisionRecord
	for _, e := range chain {
		var d authority.DecisionRecord
		if e.Record.Type != evidence.RuntimeDecision || json.Unmarshal(e.Record.Body, &d) != nil || d.Point != authority.PointToken {
			continue
		}
		got = append(got, d)
	}
	if len(got) < decided {
		t.Fatalf("%d decisions, want more than %d", len(got), decided)
	}
	got = got[decided:]
	want := []authority.Outcome{authority.Defer, authority.Issue, authority.Defer, authority.Defer, authority.Defer}
	if len(got) != len(want) {
		t.Fatalf("%d narrowing decisions recorded, want %d: %+v", len(got), len(want), got)
	}
	for i, d := range got {
		if d.Mode != authority.FourParty || d.Outcome.Kind != want[i] {
			t.Fatalf("decision %d: mode %s outcome %s, want four-party %s", i, d.Mode, d.Outcome.Kind, want[i])
		}
	}
	if got[0].Resolves != "" || got[1].Resolves == "" || got[3].Resolves == "" || got[1].Resolves == got[3].Resolves || got[4].Resolves != "" {
		t.Fatalf("the decisions after an updated_request must resolve their request: %+v", got)
	}
}
