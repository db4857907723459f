package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// permissionEntries is the mission log's permission entries.
func permissionEntries(t *testing.T, w *world, s256 string) []mission.Entry {
	t.Helper()
	var out []mission.Entry
	for _, e := range auditLog(t, w, s256) {
		if e.Kind == "permission" {
			out = append(out, e)
		}
	}
	return out
}

// expectPermission checks a 200 permission answer (PS-214, PS-218): the
// value, and reason only with denied.
func expectPermission(t *testing.T, r result, want string) {
	t.Helper()
	if r.status != http.StatusOK || r.body["permission"] != want {
		t.Fatalf("permission: %d %s, want 200 %q", r.status, r.raw, want)
	}
	_, hasReason := r.body["reason"]
	if want == "granted" && hasReason || len(r.body) > 2 {
		t.Fatalf("permission body %s: reason only with denied, nothing else (PS-218)", r.raw)
	}
	if want == "denied" {
		if _, ok := r.body["reason"].(string); !ok {
			t.Fatalf("denied without a string reason: %s", r.raw)
		}
	}
}

// TestPermission: the permission endpoint end to end over HTTPS on SQLite
// and PostgreSQL. Metadata advertises permission_endpoint now that it
// works (PS-005). Outside a mission (PS-216) an action the person never
// answered is a 202; the person reads the agent's words in the agent's
// region of the page, allows it and asks to remember, and the poll
// answers 200 granted (PS-214); the same action again is granted at once
// from the remembered answer. A refused action polls to 200 denied with a
// reason (PS-218). Within a mission, a tool the person approved is
// granted at once, another one is asked; each request and response joins
// the mission log in order (PS-213).
func TestPermission(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		t.Parallel()
		w, alice, _ := missionWorld(t, opt)
		_, md := getDoc(t, w, "/.well-known/aauth-person.json")
		if md["permission_endpoint"] != w.ps.URL("/permission") {
			t.Fatalf("permission_endpoint = %v", md["permission_endpoint"])
		}

		// Outside a mission: the person is asked and remembers "allow".
		ask := `{"action":"SendEmail","description":"Send the *itinerary* to Bob","parameters":{"to":"bob@example.com"},"capabilities":["interaction"]}`
		s := w.expectInteraction(t, w.post(t, w.agent, "/permission", ask))
		pg := open(t, alice, s)
		agentSays := section(pg.HTML, "assert-agent")
		for _, want := range []string{"What it wants to do", "SendEmail", "Send the <em>itinerary</em> to Bob", "bob@example.com"} {
			if !strings.Contains(agentSays, want) {
				t.Fatalf("the agent's region lacks %q:\n%s", want, pg.HTML)
			}
		}
		if strings.Contains(section(pg.HTML, "assert-ps"), "itinerary") {
			t.Fatal("the agent's words appear in the PS's region")
		}
		if !strings.Contains(pg.HTML, `name="remember"`) {
			t.Fatalf("no remember choice on the page:\n%s", pg.HTML)
		}
		afterDecision(t, alice, alice.Post(t, s.path()+"/approve", map[string]string{"remember": "on"}))
		expectPermission(t, w.poll(t, w.agent, s.loc), "granted")
		expectPermission(t, w.post(t, w.agent, "/permission", ask), "granted")

		// A refusal is a 200 the agent reads, not an error; not remembered,
		// so the next request asks again.
		del := `{"action":"DeleteFiles","capabilities":["interaction"]}`
		s = w.expectInteraction(t, w.post(t, w.agent, "/permission", del))
		open(t, alice, s)
		afterDecision(t, alice, alice.Post(t, s.path()+"/deny", nil))
		expectPermission(t, w.poll(t, w.agent, s.loc), "denied")
		w.expectInteraction(t, w.post(t, w.agent, "/permission", del))

		// Within a mission: the approved tool is granted at once, another
		// action is asked; both logged, request then response.
		m := w.approveMission(t, w.agent, alice, `{"description":"Plan a trip","tools":[{"name":"WebSearch"}],"capabilities":["interaction"]}`, nil)
		ms := `"mission_s256":"` + m.s256 + `"`
		expectPermission(t, w.post(t, w.agent, "/permission", `{"action":"WebSearch",`+ms+`}`), "granted")
		s = w.expectInteraction(t, w.post(t, w.agent, "/permission", `{"action":"BookFlight","description":"Book NH 10",`+ms+`}`))
		pg = open(t, alice, s)
		if !strings.Contains(pg.HTML, "What you approved") || !strings.Contains(section(pg.HTML, "assert-agent"), "Book NH 10") {
			t.Fatalf("the page shows neither the mission nor the agent's words:\n%s", pg.HTML)
		}
		afterDecision(t, alice, alice.Post(t, s.path()+"/approve", nil))
		expectPermission(t, w.poll(t, w.agent, s.loc), "granted")

		log := permissionEntries(t, w, m.s256)
		want := []struct{ actor, text string }{
			{"agent", "Permission requested: WebSearch"}, {"ps", "Permission granted for WebSearch (a tool approved in this mission)."},
			{"agent", "Permission requested: BookFlight"}, {"ps", "Permission granted for BookFlight (the person's answer)."},
		}
		if len(log) != len(want) {
			t.Fatalf("mission log has %d permission entries, want %d: %+v", len(log), len(want), log)
		}
		for i, e := range log {
			if e.Actor != want[i].actor || !strings.Contains(e.Summary, want[i].text) {
				t.Fatalf("entry %d = %s %q, want %s %q", i, e.Actor, e.Summary, want[i].actor, want[i].text)
			}
		}
		if !strings.Contains(log[2].Summary, "Book NH 10") || !strings.Contains(string(log[2].Body), "BookFlight") {
			t.Fatalf("the request entry lacks the agent's words or the request bytes: %+v", log[2])
		}
	})
}

// TestPermissionRefusals: every refusal of the permission endpoint has
// the draft's status and error and writes nothing (no table grows but the
// replay cache, the mission log is as it was): a missing or non-string
// action, a non-string description, non-object parameters (PS-215), a
// malformed mission reference, an unknown mission and another agent's
// (the same 404, PS-217), a terminated mission (403 mission_terminated,
// PS-217), another agent's terminated one (404, PS-210), an expired one
// (403, PS-211).
func TestPermissionRefusals(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		t.Parallel()
		w, alice, _ := missionWorld(t, opt)
		bob := w.person(t, "bob", false)
		a3 := w.newAgent(t, "aauth:a3@ap.test")
		w.bind(t, a3, bob)
		m := w.approveMission(t, w.agent, alice, `{"description":"Alice's","capabilities":["interaction"]}`, nil)
		others := w.approveMission(t, a3, bob, `{"description":"Bob's","capabilities":["interaction"]}`, nil)
		ended := w.approveMission(t, w.agent, alice, `{"description":"Ended","capabilities":["interaction"]}`, nil)
		if err := w.ps.App.Missions.Terminate(ctxT(), ended.s256, mission.ReasonRevoked, "person"); err != nil {
			t.Fatal(err)
		}
		othersEnded := w.approveMission(t, a3, bob, `{"description":"Bob's ended","capabilities":["interaction"]}`, nil)
		if err := w.ps.App.Missions.Terminate(ctxT(), othersEnded.s256, mission.ReasonRevoked, "person"); err != nil {
			t.Fatal(err)
		}
		short := w.approveMission(t, w.agent, alice, `{"description":"Short","capabilities":["interaction"]}`, map[string]string{"expires": "1h"})
		cases := []struct {
			name, body string
			status     int
			code       string
		}{
			{"PS-215 empty object", `{}`, 400, aauth.ErrInvalidRequest},
			{"PS-215 action not a string", `{"action":5}`, 400, aauth.ErrInvalidRequest},
			{"PS-215 description not a string", `{"action":"x","description":5}`, 400, aauth.ErrInvalidRequest},
			{"PS-215 parameters not an object", `{"action":"x","parameters":[]}`, 400, aauth.ErrInvalidRequest},
			{"blank action", `{"action":" "}`, 400, aauth.ErrInvalidRequest},
			{"action too long", `{"action":"` + strings.Repeat("a", 257) + `"}`, 400, aauth.ErrInvalidRequest},
			{"parameters too large", `{"action":"x","parameters":{"k":"` + strings.Repeat("b", 17<<10) + `"}}`, 400, aauth.ErrInvalidRequest},
			{"duplicate member", `{"action":"x","action":"y"}`, 400, aauth.ErrInvalidRequest},
			{"not an object", `["action"]`, 400, aauth.ErrInvalidRequest},
			{"capabilities not an array", `{"action":"x","capabilities":"interaction"}`, 400, aauth.ErrInvalidRequest},
			{"malformed mission_s256", `{"action":"x","mission_s256":"abc"}`, 400, aauth.ErrInvalidRequest},
			{"PS-217 unknown mission", `{"action":"x","mission_s256":"` + randomS256() + `"}`, 404, aauth.ErrMissionNotFound},
			{"PS-217 another agent's mission", `{"action":"x","mission_s256":"` + others.s256 + `"}`, 404, aauth.ErrMissionNotFound},
			{"PS-217 terminated mission", `{"action":"x","mission_s256":"` + ended.s256 + `"}`, 403, aauth.ErrMissionTerminated},
			{"PS-210 another agent's terminated mission", `{"action":"x","mission_s256":"` + othersEnded.s256 + `"}`, 404, aauth.ErrMissionNotFound},
		}
		before, logBefore := w.ps.TableCounts(t), auditLog(t, w, m.s256)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				expectProblem(t, w.post(t, w.agent, "/permission", c.body), c.status, c.code)
			})
		}
		writesNothing(t, w.ps, before)
		sameLog(t, logBefore, auditLog(t, w, m.s256))

		// PS-211: past expires_at the mission is terminated (expired) on
		// this path too, with no background job. PS-060: unknown and
		// not-owned are indistinguishable.
		// Fresh bodies: the loop above already sent cases[11] and cases[12],
		// and the same bytes signed at the same (fake) time are a replay.
		sameAnswer(t,
			w.post(t, w.agent, "/permission", `{"action":"again","mission_s256":"`+randomS256()+`"}`),
			w.post(t, w.agent, "/permission", `{"action":"again","mission_s256":"`+others.s256+`"}`))
		w.clock.Advance(2 * time.Hour)
		fresh := w.mint(t, conformance.TokenSpec{IssuedAt: w.clock.Now()})
		r := w.post(t, fresh, "/permission", `{"action":"x","mission_s256":"`+short.s256+`"}`)
		expectTerminated(t, r, string(mission.ReasonExpired))
		for _, e := range permissionEntries(t, w, short.s256) {
			t.Fatalf("a permission request joined an expired mission's log: %+v", e)
		}
	})
}

// TestPermissionPersonPaths: the other ways a request reaches the person.
// An agent never connected brings the person with the interaction
// capability; once connected it is asked the question itself and the
// refusal, remembered, answers the next request at once with denied
// (PS-214, PS-218). Without interaction and without the person's inbox
// the person cannot be reached: 403 user_unreachable, nothing written.
// A mission that ends while the person is asked ends the request with 403
// mission_terminated (PS-217, PS-211) and no answer is logged after it.
func TestPermissionPersonPaths(t *testing.T) {
	t.Parallel()
	w, alice, _ := missionWorld(t, pstest.Options{})
	carol := w.person(t, "carol", false)
	newcomer := w.newAgent(t, "aauth:new@ap.test")
	ask := `{"action":"PostTweet","capabilities":["interaction"]}`
	s := w.expectInteraction(t, w.post(t, newcomer, "/permission", ask))
	open(t, carol, s)
	afterDecision(t, carol, carol.Post(t, s.path()+"/approve", nil)) // connect the agent
	pg := carol.Get(t, s.path())
	if !strings.Contains(section(pg.HTML, "assert-agent"), "PostTweet") || !strings.Contains(pg.HTML, `name="remember"`) {
		t.Fatalf("after connecting, the person is not asked the permission question:\n%s", pg.HTML)
	}
	afterDecision(t, carol, carol.Post(t, s.path()+"/deny", map[string]string{"remember": "on"}))
	expectPermission(t, w.poll(t, newcomer, s.loc), "denied")
	before := w.ps.TableCounts(t)
	expectPermission(t, w.post(t, newcomer, "/permission", ask), "denied")
	writesNothing(t, w.ps, before)

	// Unreachable: bound, no interaction capability, no inbox.
	before = w.ps.TableCounts(t)
	expectProblem(t, w.post(t, w.agent, "/permission", `{"action":"SendEmail"}`), http.StatusForbidden, aauth.ErrUserUnreachable)
	writesNothing(t, w.ps, before)

	// The mission ends while the person is asked.
	m := w.approveMission(t, w.agent, alice, `{"description":"Errands","capabilities":["interaction"]}`, nil)
	s = w.expectInteraction(t, w.post(t, w.agent, "/permission", `{"action":"PayBill","mission_s256":"`+m.s256+`"}`))
	if err := w.ps.App.Missions.Terminate(ctxT(), m.s256, mission.ReasonRevoked, "person"); err != nil {
		t.Fatal(err)
	}
	r := w.poll(t, w.agent, s.loc)
	expectTerminated(t, r, string(mission.ReasonRevoked))
	for _, e := range permissionEntries(t, w, m.s256) {
		if e.Actor == "ps" {
			t.Fatalf("an answer was logged for an ended mission: %+v", e)
		}
	}
}

// TestPermissionRacingTermination: a permission answer and its mission
// check commit together (PS-217, PS-213). A database trigger ends the
// mission the moment a permission entry joins its log, standing for a
// termination that lands between the PS's first check and its write: the
// agent gets 403 mission_terminated, and the whole transaction rolls back
// (no log entry, the mission as it was), on the immediate path (an
// approved tool) and on the person's answer (the pending request ends
// with the same 403; nothing remembered).
func TestPermissionRacingTermination(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		t.Parallel()
		w, alice, _ := missionWorld(t, opt)
		m := w.approveMission(t, w.agent, alice, `{"description":"Raced","tools":[{"name":"WebSearch"}],"capabilities":["interaction"]}`, nil)
		// Only the PS's answer entries end the mission: the request
		// entry logged when the person is asked goes through.
		end := `UPDATE missions SET state = 'terminated', termination_reason = 'revoked', terminated_at = 1, terminated_by = 'person'
			WHERE s256 = NEW.mission_s256 AND NEW.kind = 'permission' AND NEW.actor = 'ps'`
		create := []string{`CREATE TRIGGER end_on_permission BEFORE INSERT ON mission_log BEGIN ` + end + `; END`}
		if w.ps.App.Store.Dialect() == "postgres" {
			create = []string{`CREATE FUNCTION end_on_permission() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN ` + end + `; RETURN NEW; END $$`,
				`CREATE TRIGGER end_on_permission BEFORE INSERT ON mission_log FOR EACH ROW EXECUTE FUNCTION end_on_permission()`}
		}
		for _, q := range create {
			if err := w.ps.App.Store.ExecSQL(ctxT(), q); err != nil {
				t.Fatal(err)
			}
		}
		notEnded := func() {
			t.Helper()
			if got, err := w.ps.App.Missions.Get(ctxT(), m.s256); err != nil || got.Terminated {
				t.Fatalf("the refused answer's transaction was not rolled back whole: %+v %v", got, err)
			}
		}
		before := w.ps.TableCounts(t)
		r := w.post(t, w.agent, "/permission", `{"action":"WebSearch","mission_s256":"`+m.s256+`"}`)
		expectTerminated(t, r, string(mission.ReasonRevoked))
		writesNothing(t, w.ps, before)
		if n := len(permissionEntries(t, w, m.s256)); n != 0 {
			t.Fatalf("%d permission entries logged for a raced answer", n)
		}
		notEnded()

		s := w.expectInteraction(t, w.post(t, w.agent, "/permission", `{"action":"PayBill","mission_s256":"`+m.s256+`"}`))
		open(t, alice, s)
		afterDecision(t, alice, alice.Post(t, s.path()+"/approve", map[string]string{"remember": "on"}))
		expectTerminated(t, w.poll(t, w.agent, s.loc), string(mission.ReasonRevoked))
		for _, e := range permissionEntries(t, w, m.s256) {
			if e.Actor == "ps" {
				t.Fatalf("an answer was logged for a raced decision: %+v", e)
			}
		}
		if n := w.ps.TableCounts(t)["permission_rules"]; n != 0 {
			t.Fatalf("%d remembered answers after a raced decision", n)
		}
		notEnded()
	})
}

// TestPermissionDecisionAtomic: the person's answer, the remembered rule,
// the log entry and the agent's answer commit together. With inserts into
// permission_rules failing, allowing with "remember" fails whole: the
// person sees an error, nothing is logged or remembered, and the agent
// still waits; once the database works the same answer goes through.
func TestPermissionDecisionAtomic(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		t.Parallel()
		w, alice, _ := missionWorld(t, opt)
		m := w.approveMission(t, w.agent, alice, `{"description":"Atomic","capabilities":["interaction"]}`, nil)
		s := w.expectInteraction(t, w.post(t, w.agent, "/permission", `{"action":"PayBill","mission_s256":"`+m.s256+`"}`))
		open(t, alice, s)
		logBefore := auditLog(t, w, m.s256)
		undo := injectInsertFailure(t, w.ps, "permission_rules")
		if pg := alice.Post(t, s.path()+"/approve", map[string]string{"remember": "on"}); pg.Status != http.StatusInternalServerError {
			t.Fatalf("approve with a failing database: %d, want 500", pg.Status)
		}
		sameLog(t, logBefore, auditLog(t, w, m.s256))
		if r := w.poll(t, w.agent, s.loc); r.status != http.StatusAccepted {
			t.Fatalf("after the failed decision the agent polls %d %s, want 202", r.status, r.raw)
		}
		undo()
		afterDecision(t, alice, alice.Post(t, s.path()+"/approve", map[string]string{"remember": "on"}))
		expectPermission(t, w.poll(t, w.agent, s.loc), "granted")
		expectPermission(t, w.post(t, w.agent, "/permission", `{"action":"PayBill","mission_s256":"`+m.s256+`"}`), "granted")
	})
}

// TestPermissionRulesOnAccessPage: a remembered answer is listed on the
// person's access page ("Always allow", the agent, the action) and only
// there; removing it takes effect on the agent's next request, which asks
// the person again. Another person posting the same key, or a key with a
// part missing, gets the same 404 as a rule that never existed, and
// nothing changes.
func TestPermissionRulesOnAccessPage(t *testing.T) {
	t.Parallel()
	w, alice, _ := missionWorld(t, pstest.Options{})
	ask := `{"action":"SendEmail","capabilities":["interaction"]}`
	s := w.expectInteraction(t, w.post(t, w.agent, "/permission", ask))
	open(t, alice, s)
	afterDecision(t, alice, alice.Post(t, s.path()+"/approve", map[string]string{"remember": "on"}))
	expectPermission(t, w.poll(t, w.agent, s.loc), "granted")

	pg := alice.Get(t, "/access")
	if pg.Status != http.StatusOK || !strings.Contains(pg.HTML, "Always allow") || !strings.Contains(pg.HTML, "SendEmail") ||
		!strings.Contains(pg.HTML, `action="/access/permissions/remove"`) {
		t.Fatalf("the access page does not list the remembered answer: %d\n%s", pg.Status, pg.HTML)
	}
	mallory := w.person(t, "mallory", false)
	if pg := mallory.Get(t, "/access"); strings.Contains(pg.HTML, "SendEmail") {
		t.Fatalf("another person's access page lists alice's answer:\n%s", pg.HTML)
	}
	key := map[string]string{"agent_iss": w.agent.Issuer, "agent_sub": w.agent.ID, "action": "SendEmail"}
	before := w.ps.TableCounts(t)
	theirs := mallory.Post(t, "/access/permissions/remove", key)
	none := mallory.Post(t, "/access/permissions/remove", map[string]string{"agent_iss": w.agent.Issuer, "agent_sub": w.agent.ID, "action": "Nothing"})
	partial := alice.Post(t, "/access/permissions/remove", map[string]string{"agent_iss": w.agent.Issuer, "action": "SendEmail"})
	if theirs.Status != http.StatusNotFound || theirs.HTML != none.HTML || partial.Status != http.StatusNotFound {
		t.Fatalf("refused removals: %d, %d, %d; want the same 404", theirs.Status, none.Status, partial.Status)
	}
	unchanged(t, w.ps, before)
	expectPermission(t, w.post(t, w.agent, "/permission", `{"action":"SendEmail","x":1}`), "granted")

	done := alice.Post(t, "/access/permissions/remove", key)
	if done.Status != http.StatusSeeOther || done.Header.Get("Location") != "/access" {
		t.Fatalf("remove: %d %v, want 303 to /access", done.Status, done.Header)
	}
	if after := alice.Follow(t, done); !strings.Contains(after.HTML, "Answer forgotten") || strings.Contains(after.HTML, "Always allow") {
		t.Fatalf("after removal:\n%s", after.HTML)
	}
	w.expectInteraction(t, w.post(t, w.agent, "/permission", `{"action":"SendEmail","capabilities":["interaction"],"x":1}`))
}
