package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
)

// Four-party narrowing, the rest of the wire behaviour (issue 10, design
// decision-table row 6): the narrowing 202 carries mission_decision; an
// updated_request that needs the person goes to them on the same pending
// request; a narrowing found when a suspended mission resumes is asked
// of the agent like a fresh one. Run from TestFederationMissionDecision
// (both databases; its world keeps tokens through a suspension).

// narrowingDecision asserts the mission_decision member of a narrowing
// 202: reason narrowed, the exclusion no-payments naming the refused
// payments.charge, the permitted subset exactly want, and the decision
// id the question names. It returns the id.
func narrowingDecision(t *testing.T, r result, want string) string {
	t.Helper()
	md, ok := r.body["mission_decision"].(map[string]any)
	if !ok {
		t.Fatalf("the narrowing 202 has no mission_decision: %s", r.raw)
	}
	id, _ := md["id"].(string)
	q, _ := r.body["clarification"].(string)
	if md["reason"] != "narrowed" || md["exclusion"] != "no-payments" || !strings.HasPrefix(id, "dec_") || !strings.Contains(q, "(decision "+id+")") {
		t.Fatalf("mission_decision %v (question %q)", md, q)
	}
	permitted, _ := md["permitted"].([]any)
	var scopes []string
	for _, p := range permitted {
		it, _ := p.(map[string]any)
		if it["kind"] != "scope" {
			t.Fatalf("permitted item %v", it)
		}
		scopes = append(scopes, it["scope"].(string))
	}
	if strings.Join(scopes, " ") != want {
		t.Fatalf("permitted %v, want %s: %s", scopes, want, r.raw)
	}
	items, _ := md["items"].([]any)
	refused := false
	for _, i := range items {
		it, _ := i.(map[string]any)
		item, _ := it["item"].(map[string]any)
		if item["scope"] == "payments.charge" {
			refused = it["status"] == "excluded" && it["exclusion"] == "no-payments"
		}
	}
	if len(items) != 2 || !refused {
		t.Fatalf("items %v, want payments.charge excluded by no-payments", items)
	}
	return id
}

// awaitRequirement polls loc (long polls of a second: woken by the
// change) until its 202 says requirement want.
func (f *fedWorld) awaitRequirement(t *testing.T, loc, want string) result {
	t.Helper()
	wait := conformance.WithTamper(func(req *http.Request) { req.Header.Set("Prefer", "wait=1") })
	for range 30 {
		r := f.poll(t, f.agent, loc, wait)
		if r.status != http.StatusAccepted {
			t.Fatalf("want a 202 %s, got %d %s", want, r.status, r.raw)
		}
		if req, _ := requirement(t, r); req == want {
			return r
		}
	}
	t.Fatalf("the request never asked for %s", want)
	return result{}
}

// tokenDecisions are the mission's auth-token runtime decisions with the
// actor of each, oldest first.
func tokenDecisions(t *testing.T, f *fedWorld, s256 string) ([]authority.DecisionRecord, []evidence.Actor) {
	t.Helper()
	chain, err := f.ps.App.Store.Evidence(ctxT(), s256)
	if err != nil {
		t.Fatal(err)
	}
	var got []authority.DecisionRecord
	var actors []evidence.Actor
	for _, e := range chain {
		var d authority.DecisionRecord
		if e.Record.Type != evidence.RuntimeDecision || json.Unmarshal(e.Record.Body, &d) != nil || d.Point != authority.PointToken {
			continue
		}
		got, actors = append(got, d), append(actors, e.Record.Actor)
	}
	return got, actors
}

// federationNarrowedToPerson: a narrowing whose updated_request needs
// the person's approval (calendar.write is approve_each) is not refused:
// the same pending request goes to the person (the agent's poll now says
// requirement=interaction with the code kept for it), their approval is
// decided again as the person's (evidence) and federated, and the AS's
// calendar.write token is delivered. A second one the person refuses
// ends 403 denied and the AS is not called. PS-131, PS-177, PS-122.
func federationNarrowedToPerson(t *testing.T, f *fedWorld, s256, pt string) {
	rt := func(scope string) string {
		return resourceToken(t, f.world, f.rs, pt, scope, func(s *conformance.ResourceTokenSpec) {
			s.Aud, s.MissionS256 = f.as.Issuer(), s256
		})
	}
	caps := []string{"interaction", "clarification"}
	before, _ := tokenDecisions(t, f, s256)
	asked := len(f.as.Requests())
	narrowedThenUpdated := func() started {
		t.Helper()
		r := f.post(t, f.agent, "/token", authBody(t, map[string]any{"resource_token": rt("calendar.write payments.charge"),
			"presented_token": pt, "capabilities": caps}))
		loc := expect202(t, r, f.ps.Issuer)
		if req, params := requirement(t, r); req != "clarification" || params["code"] != "" {
			t.Fatalf("want 202 clarification without a code: %q %v %s", req, params, r.raw)
		}
		narrowingDecision(t, r, "calendar.write")
		// Polled while the question is outstanding: the same member.
		narrowingDecision(t, f.poll(t, f.agent, loc), "calendar.write")
		up := f.send(t, f.agent, http.MethodPost, loc, []byte(authBody(t, map[string]any{"action": "updated_request",
			"resource_token": rt("calendar.write"), "presented_token": pt})))
		if up.status != http.StatusAccepted || up.body["mission_decision"] != nil {
			t.Fatalf("updated_request: %d %s (no mission_decision once answered)", up.status, up.raw)
		}
		return f.expectInteraction(t, f.awaitRequirement(t, loc, "interaction"))
	}

	s := narrowedThenUpdated()
	if n := len(f.as.Requests()); n != asked {
		t.Fatalf("the AS was called before the person decided: %d requests, want %d", n, asked)
	}
	if pg := open(t, f.b, s); !strings.Contains(pg.HTML, "Your agent asks for access") || !strings.Contains(pg.HTML, "calendar.write") {
		t.Fatalf("the person's page for the narrowed request:\n%s", pg.HTML)
	}
	f.b.Post(t, s.path()+"/approve", nil)
	// (The resource's API reads; the calendar.write token is checked as delivered.)
	w := f.awaitResult(t, s.loc)
	at, _ := w.body["auth_token"].(string)
	if c, err := f.rs.VerifyAccessToken(ctxT(), at, f.agent.Key); w.status != http.StatusOK || err != nil || c["iss"] != f.as.Issuer() || c["scope"] != "calendar.write" {
		t.Fatalf("want the AS's calendar.write token: %d %v %v %s", w.status, err, c, w.raw)
	}
	if n := len(f.as.Requests()); n != asked+1 {
		t.Fatalf("the AS saw %d token requests, want %d", n, asked+1)
	}

	// Refused by the person: 403 denied, nothing sent to the AS.
	s2 := narrowedThenUpdated()
	open(t, f.b, s2)
	f.b.Post(t, s2.path()+"/deny", nil)
	expectNoToken(t, f.awaitResult(t, s2.loc), http.StatusForbidden, "denied")
	if n := len(f.as.Requests()); n != asked+1 {
		t.Fatalf("the AS saw %d token requests after a refusal, want %d", n, asked+1)
	}

	// Evidence, per request: the narrowing (defer), the updated request
	// deferred to the person (resolving it, the agent's), the person's
	// answer (resolving it, the person's): issue, then deny.
	got, actors := tokenDecisions(t, f, s256)
	got, actors = got[len(before):], actors[len(before):]
	want := []authority.Outcome{authority.Defer, authority.Defer, authority.Issue, authority.Defer, authority.Defer, authority.Deny}
	if len(got) != len(want) {
		t.Fatalf("%d decisions, want %d: %+v", len(got), len(want), got)
	}
	for i, d := range got {
		person := i%3 == 2
		if d.Mode != authority.FourParty || d.Outcome.Kind != want[i] || (i%3 == 0) != (d.Resolves == "") || (actors[i].Kind == "person") != person {
			t.Fatalf("decision %d: %+v by %+v, want four-party %s", i, d, actors[i], want[i])
		}
	}
	if got[1].Resolves != s.id || got[2].Resolves != s.id || got[1].Outcome.Requirement != "interaction" || got[5].Outcome.Reason != "user_denied" {
		t.Fatalf("the decisions do not resolve the request %s: %+v", s.id, got)
	}
}

// federationNarrowingAfterHold: a request held while the mission is
// suspended, found to be a narrowing when it resumes, is asked of the
// agent on the same pending request (202 requirement=clarification with
// mission_decision) and its updated_request, now permitted, federated.
// PS-131, PS-177.
func federationNarrowingAfterHold(t *testing.T, f *fedWorld, s256, pt string) {
	rt := func(scope string) string {
		return resourceToken(t, f.world, f.rs, pt, scope, func(s *conformance.ResourceTokenSpec) {
			s.Aud, s.MissionS256 = f.as.Issuer(), s256
		})
	}
	csrf := csrfOf(t, f.b)
	if r := mc(t, f.world, f.b, http.MethodPost, "/missions/"+s256+"/suspend", "", csrf); r.status != http.StatusOK {
		t.Fatalf("suspend: %d %s", r.status, r.raw)
	}
	held := f.expectHeld(t, f.post(t, f.agent, "/token", authBody(t, map[string]any{"resource_token": rt("calendar.read payments.charge"),
		"presented_token": pt, "capabilities": []string{"interaction", "clarification"}})))
	asked := len(f.as.Requests())
	if r := mc(t, f.world, f.b, http.MethodPost, "/missions/"+s256+"/resume", "", csrf); r.status != http.StatusOK {
		t.Fatalf("resume: %d %s", r.status, r.raw)
	}
	r := f.poll(t, f.agent, held)
	if req, _ := requirement(t, r); r.status != http.StatusAccepted || req != "clarification" {
		t.Fatalf("the released narrowing: %d %q %s, want 202 clarification", r.status, req, r.raw)
	}
	narrowingDecision(t, r, "calendar.read")
	up := f.send(t, f.agent, http.MethodPost, held, []byte(authBody(t, map[string]any{"action": "updated_request",
		"resource_token": rt("calendar.read"), "presented_token": pt})))
	if up.status != http.StatusAccepted {
		t.Fatalf("updated_request: %d %s", up.status, up.raw)
	}
	if c := f.expectASToken(t, f.awaitResult(t, held)); c["scope"] != "calendar.read" {
		t.Fatalf("scope %v, want calendar.read", c["scope"])
	}
	if n := len(f.as.Requests()); n != asked+1 {
		t.Fatalf("the AS saw %d token requests, want %d", n, asked+1)
	}
	got, _ := tokenDecisions(t, f, s256)
	last := got[len(got)-2:]
	if last[0].Outcome.Kind != authority.Defer || last[0].Outcome.Reason != "narrowed" || last[0].Resolves != "" ||
		last[1].Outcome.Kind != authority.Issue || last[1].Resolves != pathID(held) {
		t.Fatalf("the released narrowing's decisions: %+v", last)
	}
}
