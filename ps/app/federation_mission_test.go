package app_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// fourPartyPolicy composes missions on the AS-protected rs.test: reading
// is permitted outright, writing is approved each time, payments are
// excluded.
const fourPartyPolicy = `{"policy_version":"test-4p",
 "catalog":{"version":"cat-1","resources":{"https://rs.test":{"name":"Calendar"}}},
 "templates":[{"name":"calendar@1","resources":["https://rs.test"],
  "authority_set":{"object":"aauth-mm/authority-set/v1","default_outside":"deny",
   "entries":[
    {"id":"calendar-read","target":"resource","resource":{"id":"https://rs.test"},"scopes":["calendar.read"],"grant":"auto"},
    {"id":"calendar-write","target":"resource","resource":{"id":"https://rs.test"},"scopes":["calendar.write"],"grant":"approve_each"}],
   "exclusions":[{"id":"no-payments","label":"No payments","resource":{"id":"https://rs.test"},"scopes":["payments.charge"]}]}}]}`

// TestFederationMissionDecision: a mission-bound four-party request goes
// through the one decision point (Mode four-party) before the PS calls the
// access server (issue 10): an excluded scope is refused with
// mission_decision and no token request reaches the AS; a permitted one is
// federated and the AS's token delivered, its runtime_decision evidenced;
// one the set asks the person about is federated once they approve, the
// decision recorded as resolving that request. PS-131, PS-122. On both
// databases.
func TestFederationMissionDecision(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			policy := filepath.Join(t.TempDir(), "mission-policy.json")
			if err := os.WriteFile(policy, []byte(fourPartyPolicy), 0o600); err != nil {
				t.Fatal(err)
			}
			federationMissionDecision(t, newFedWorldOn(t, pstest.Options{DatabaseURL: b.NewURL(t),
				Configure: func(c *config.Config) { c.MissionPolicy = policy }}))
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
	// Partly excluded: the PS cannot make the AS narrow, so even an agent
	// that can be asked again (clarification) is refused, the decision
	// naming the exclusion; still nothing reaches the AS.
	r = authAs("calendar.read payments.charge", "interaction", "clarification")
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
	want := []authority.Outcome{authority.Deny, authority.Defer, authority.Issue, authority.Defer, authority.Issue}
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
}
