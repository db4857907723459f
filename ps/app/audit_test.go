package app_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// auditLog is a mission's log as the PS holds it.
func auditLog(t *testing.T, w *world, s256 string) []mission.Entry {
	t.Helper()
	log, err := w.ps.App.Missions.Entries(ctxT(), s256)
	if err != nil {
		t.Fatal(err)
	}
	return log
}

// sameLog asserts a refused audit left the mission log as it was.
func sameLog(t *testing.T, before, after []mission.Entry) {
	t.Helper()
	if !slices.EqualFunc(before, after, func(a, b mission.Entry) bool { return a.Seq == b.Seq && a.Kind == b.Kind && a.Summary == b.Summary }) {
		t.Fatalf("a refused audit changed the mission log: %d entries before, %d after", len(before), len(after))
	}
}

// TestAudit: the audit endpoint end to end over HTTPS, on SQLite and
// PostgreSQL. A valid record gets 201 with an empty body (PS-219) in well
// under a second, never 202 (PS-223), and joins the mission log the
// person sees, attributed to the agent (PS-222, PS-213); the April
// `mission` object names the mission as mission_s256 does. Metadata
// advertises audit_endpoint now that it works (PS-005).
func TestAudit(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		t.Parallel()
		w, alice, _ := missionWorld(t, opt)
		_, md := getDoc(t, w, "/.well-known/aauth-person.json")
		if md["audit_endpoint"] != w.ps.URL("/audit") {
			t.Fatalf("audit_endpoint = %v", md["audit_endpoint"])
		}
		m := w.approveMission(t, w.agent, alice, `{"description":"Plan a trip","capabilities":["interaction"]}`, nil)
		before := len(auditLog(t, w, m.s256))

		body := `{"mission_s256":"` + m.s256 + `","action":"WebSearch","description":"Searched for *flights* to Tokyo",` +
			`"parameters":{"query":"flights to Tokyo May 2026"},"result":{"status":"completed","summary":"Found 12 flight options"}}`
		var r result
		if d := timed(func() { r = w.post(t, w.agent, "/audit", body) }); d > time.Second {
			t.Fatalf("the audit answered in %v, want under 1 s (PS-223)", d)
		}
		if r.status != http.StatusCreated || len(r.raw) != 0 {
			t.Fatalf("audit: %d %q, want 201 with an empty body (PS-219)", r.status, r.raw)
		}
		april := `{"mission":{"approver":"` + w.ps.Issuer + `","s256":"` + m.s256 + `"},"action":"SendEmail"}`
		if r := w.post(t, w.agent, "/audit", april); r.status != http.StatusCreated {
			t.Fatalf("audit with the mission object: %d %s", r.status, r.raw)
		}

		log := auditLog(t, w, m.s256)
		if len(log) != before+2 {
			t.Fatalf("mission log has %d entries, want %d (PS-222)", len(log), before+2)
		}
		first, second := log[before], log[before+1]
		if first.Kind != "audit" || first.Actor != "agent" || string(first.Body) != body || first.Digest != mission.S256([]byte(body)) {
			t.Fatalf("audit entry = %+v, want kind audit by the agent with the exact request bytes", first)
		}
		for _, want := range []string{"WebSearch", "Searched for *flights* to Tokyo", `"query":"flights to Tokyo May 2026"`, `"summary":"Found 12 flight options"`} {
			if !strings.Contains(first.Summary, want) {
				t.Fatalf("audit summary %q lacks %q", first.Summary, want)
			}
		}
		if second.Kind != "audit" || !strings.Contains(second.Summary, "SendEmail") {
			t.Fatalf("second entry = %+v", second)
		}

		// The person sees it on the mission page, as the agent's words.
		page := alice.Get(t, "/missions/"+m.s256)
		if page.Status != http.StatusOK {
			t.Fatalf("mission page: %d", page.Status)
		}
		i := strings.Index(page.HTML, "Searched for <em>flights</em> to Tokyo")
		if i < 0 || !strings.Contains(page.HTML, "What the agent says it did") ||
			!strings.Contains(page.HTML[strings.LastIndex(page.HTML[:i], "<li"):i], `class="log-agent"`) {
			t.Fatalf("the mission page does not show the audit record as the agent's:\n%s", page.HTML)
		}
	})
}

// TestAuditRefusals: every refusal of the audit endpoint has the draft's
// status and error and writes nothing (no table grows but the replay
// cache, the mission log is as it was): a body without mission_s256 or
// action and non-object parameters or result or a non-string description
// (PS-220), oversized parts, a malformed mission reference, an unknown
// mission and another agent's (the same 404 mission_not_found, PS-221,
// PS-060), a terminated mission (403 mission_terminated, PS-221), another
// agent's terminated mission (404, PS-210) and an expired one (PS-211).
func TestAuditRefusals(t *testing.T) {
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
		ms := `"mission_s256":"` + m.s256 + `"`
		long := strings.Repeat("a", 300)
		big := `{"k":"` + strings.Repeat("b", 17<<10) + `"}`

		cases := []struct {
			name, body string
			status     int
			code       string
		}{
			{"PS-220 empty object", `{}`, 400, aauth.ErrInvalidRequest},
			{"PS-220 missing mission_s256", `{"action":"WebSearch"}`, 400, aauth.ErrInvalidRequest},
			{"PS-220 missing action", `{` + ms + `}`, 400, aauth.ErrInvalidRequest},
			{"PS-220 parameters not an object", `{` + ms + `,"action":"x","parameters":["a"]}`, 400, aauth.ErrInvalidRequest},
			{"PS-220 result not an object", `{` + ms + `,"action":"x","result":"done"}`, 400, aauth.ErrInvalidRequest},
			{"PS-220 description not a string", `{` + ms + `,"action":"x","description":{"a":1}}`, 400, aauth.ErrInvalidRequest},
			{"action not a string", `{` + ms + `,"action":7}`, 400, aauth.ErrInvalidRequest},
			{"blank action", `{` + ms + `,"action":"  "}`, 400, aauth.ErrInvalidRequest},
			{"action too long", `{` + ms + `,"action":"` + long + `"}`, 400, aauth.ErrInvalidRequest},
			{"description too long", `{` + ms + `,"action":"x","description":"` + strings.Repeat("d", mission.MaxDescription+1) + `"}`, 400, aauth.ErrInvalidRequest},
			{"parameters too large", `{` + ms + `,"action":"x","parameters":` + big + `}`, 400, aauth.ErrInvalidRequest},
			{"result too large", `{` + ms + `,"action":"x","result":` + big + `}`, 400, aauth.ErrInvalidRequest},
			{"not JSON", `mission_s256=x`, 400, aauth.ErrInvalidRequest},
			{"duplicate member", `{` + ms + `,"action":"x","action":"y"}`, 400, aauth.ErrInvalidRequest},
			{"malformed mission_s256", `{"mission_s256":"short","action":"x"}`, 400, aauth.ErrInvalidRequest},
			{"mission_s256 not a string", `{"mission_s256":7,"action":"x"}`, 400, aauth.ErrInvalidRequest},
			{"mission object from another PS", `{"mission":{"approver":"https://other.test","s256":"` + m.s256 + `"},"action":"x"}`, 400, aauth.ErrInvalidRequest},
			{"mission forms disagree", `{` + ms + `,"mission":{"approver":"` + w.ps.Issuer + `","s256":"` + others.s256 + `"},"action":"x"}`, 400, aauth.ErrInvalidRequest},
			{"PS-221 unknown mission", `{"mission_s256":"` + randomS256() + `","action":"x"}`, 404, aauth.ErrMissionNotFound},
			{"PS-221 another agent's mission", `{"mission_s256":"` + others.s256 + `","action":"x"}`, 404, aauth.ErrMissionNotFound},
			{"PS-210 another agent's terminated mission", `{"mission_s256":"` + othersEnded.s256 + `","action":"x"}`, 404, aauth.ErrMissionNotFound},
			{"PS-221 terminated mission", `{"mission_s256":"` + ended.s256 + `","action":"x"}`, 403, aauth.ErrMissionTerminated},
		}
		logs := func() [][]mission.Entry {
			return [][]mission.Entry{auditLog(t, w, m.s256), auditLog(t, w, others.s256), auditLog(t, w, ended.s256), auditLog(t, w, othersEnded.s256)}
		}
		answers := map[string]result{}
		for _, c := range cases {
			before, beforeLogs := w.ps.TableCounts(t), logs()
			r := w.post(t, w.agent, "/audit", c.body)
			expectProblem(t, r, c.status, c.code)
			if c.status == http.StatusForbidden {
				expectTerminated(t, r, string(mission.ReasonRevoked))
			}
			writesNothing(t, w.ps, before)
			for i, after := range logs() {
				sameLog(t, beforeLogs[i], after)
			}
			answers[c.name] = r
		}
		// PS-060: unknown and not-owned are indistinguishable.
		sameAnswer(t, answers["PS-221 unknown mission"], answers["PS-221 another agent's mission"])

		// PS-211: past expires_at the mission is terminated (expired)
		// with no background job, and the record is refused.
		short := w.approveMission(t, w.agent, alice, `{"description":"Short","capabilities":["interaction"]}`, map[string]string{"expires": "1h"})
		w.clock.Advance(2 * time.Hour)
		fresh := w.mint(t, conformance.TokenSpec{IssuedAt: w.clock.Now()})
		beforeLog := auditLog(t, w, short.s256)
		r := w.post(t, fresh, "/audit", `{"mission_s256":"`+short.s256+`","action":"late"}`)
		expectTerminated(t, r, string(mission.ReasonExpired))
		for _, e := range auditLog(t, w, short.s256)[len(beforeLog):] {
			if e.Kind == "audit" {
				t.Fatalf("an audit record joined an expired mission's log: %+v", e)
			}
		}
	})
}

// TestAuditRacingTermination: the audit's log append and its mission check
// commit together (issue 7, PS-221). A database trigger ends the mission
// the moment an audit entry is inserted, standing for a termination that
// commits between the endpoint's first check and its append: the audit is
// refused with 403 mission_terminated and rolled back whole (no entry, the
// trigger's termination with it), never logged after the mission ended.
func TestAuditRacingTermination(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		t.Parallel()
		w, alice, _ := missionWorld(t, opt)
		m := w.approveMission(t, w.agent, alice, `{"description":"Raced","capabilities":["interaction"]}`, nil)
		end := `UPDATE missions SET state = 'terminated', termination_reason = 'revoked', terminated_at = 1, terminated_by = 'person'
			WHERE s256 = NEW.mission_s256 AND NEW.kind = 'audit'`
		create := []string{`CREATE TRIGGER end_on_audit BEFORE INSERT ON mission_log BEGIN ` + end + `; END`}
		if w.ps.App.Store.Dialect() == "postgres" {
			create = []string{`CREATE FUNCTION end_on_audit() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN ` + end + `; RETURN NEW; END $$`,
				`CREATE TRIGGER end_on_audit BEFORE INSERT ON mission_log FOR EACH ROW EXECUTE FUNCTION end_on_audit()`}
		}
		for _, q := range create {
			if err := w.ps.App.Store.ExecSQL(ctxT(), q); err != nil {
				t.Fatal(err)
			}
		}
		before, beforeLog := w.ps.TableCounts(t), auditLog(t, w, m.s256)
		r := w.post(t, w.agent, "/audit", `{"mission_s256":"`+m.s256+`","action":"WebSearch"}`)
		expectTerminated(t, r, string(mission.ReasonRevoked))
		writesNothing(t, w.ps, before)
		sameLog(t, beforeLog, auditLog(t, w, m.s256))
		if got, err := w.ps.App.Missions.Get(ctxT(), m.s256); err != nil || got.Terminated {
			t.Fatalf("the refused audit's transaction was not rolled back whole: %+v %v", got, err)
		}
	})
}
