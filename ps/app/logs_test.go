package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// logEvents parses the PS's JSON log lines.
func logEvents(t *testing.T, logs *syncBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) == nil {
			out = append(out, ev)
		}
	}
	return out
}

// expectEvent finds the one event msg whose attributes include want.
func expectEvent(t *testing.T, events []map[string]any, msg string, want map[string]any) map[string]any {
	t.Helper()
	var found []map[string]any
next:
	for _, ev := range events {
		if ev["msg"] != msg {
			continue
		}
		for k, v := range want {
			if ev[k] != v {
				continue next
			}
		}
		found = append(found, ev)
	}
	if len(found) != 1 {
		t.Fatalf("%d %q events with %v, want 1; events:\n%v", len(found), msg, want, events)
	}
	return found[0]
}

// TestOperatorLogEvents (issue 9 item 12): one structured event per
// domain decision, each with the person's username: agent connected, a
// failed login, token issued (person and within a mission; never the
// token), mission approved, mission completed, mission terminated, agent
// revoked, and the interaction-code lockout (PS-163). Requests carry
// their duration in milliseconds, and a stop is logged.
func TestOperatorLogEvents(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	// An empty database, so that the start logs its migrations.
	w, b, _ := missionWorld(t, pstest.Options{Logs: &logs, DatabaseURL: storetest.NewSQLiteURL(t)})
	expectEvent(t, logEvents(t, &logs), "agent connected", map[string]any{"username": "alice", "agent": w.agent.ID})

	if pg := w.ps.NewBrowser(t).Post(t, "/login", map[string]string{"username": "alice", "password": "wrong password"}); pg.Status != http.StatusSeeOther {
		t.Fatalf("a wrong password: %d", pg.Status)
	}
	expectEvent(t, logEvents(t, &logs), "login failed", map[string]any{"username": "alice"})

	// A standing consent's token.
	s := w.expectInteraction(t, w.post(t, w.agent, "/person", `{"resource":"https://rs.test","capabilities":["interaction"]}`))
	open(t, b, s)
	b.Post(t, s.path()+"/approve", nil)
	r := w.poll(t, w.agent, s.loc)
	tok, _ := r.body["person_token"].(string)
	if tok == "" {
		t.Fatalf("consent poll: %d %s", r.status, r.raw)
	}
	expectEvent(t, logEvents(t, &logs), "token issued", map[string]any{"token": "person", "username": "alice",
		"resource": "https://rs.test", "agent": w.agent.ID})

	// A mission: approved (with its token), completed.
	m := w.approveMission(t, w.agent, b, `{"description":"# Logs","resources":["https://rs2.test"],"capabilities":["interaction"]}`, nil)
	expectEvent(t, logEvents(t, &logs), "mission approved", map[string]any{"mission": m.s256, "username": "alice", "resources": float64(1)})
	expectEvent(t, logEvents(t, &logs), "token issued", map[string]any{"mission": m.s256, "resource": "https://rs2.test", "username": "alice"})
	cs := w.expectInteraction(t, w.post(t, w.agent, "/mission/"+m.s256, `{"action":"completion","summary":"Done."}`))
	open(t, b, cs)
	b.Post(t, cs.path()+"/approve", nil)
	if r := w.poll(t, w.agent, cs.loc); r.status != http.StatusOK {
		t.Fatalf("completion poll: %d %s", r.status, r.raw)
	}
	expectEvent(t, logEvents(t, &logs), "mission completed", map[string]any{"mission": m.s256, "username": "alice"})

	// A mission the person revokes.
	m2 := w.approveMission(t, w.agent, b, `{"description":"# Revoked","capabilities":["interaction"]}`, nil)
	b.Get(t, "/missions/"+m2.s256)
	if pg := b.Post(t, "/missions/"+m2.s256+"/revoke", nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", pg.Status)
	}
	expectEvent(t, logEvents(t, &logs), "mission terminated", map[string]any{"mission": m2.s256, "reason": "revoked", "username": "alice"})

	// Five wrong codes at a new agent's binding request: one lockout event.
	q := w.ask(t, w.newAgent(t, "aauth:stranger@ap.test"), "Locked?", "interaction")
	for i := range 5 {
		b.Get(t, q.url+"?code="+wrongCode(q.code, i))
	}
	expectEvent(t, logEvents(t, &logs), "interaction code lockout", map[string]any{"username": "alice", "attempts": float64(5)})

	// The agent revoked.
	bnd, err := w.ps.App.Agents.Lookup(ctxT(), w.ap.Issuer(), w.agent.ID)
	if err != nil {
		t.Fatal(err)
	}
	b.Get(t, "/agents")
	if pg := b.Post(t, "/agents/"+bnd.ID+"/revoke", nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("revoke the agent: %d", pg.Status)
	}
	expectEvent(t, logEvents(t, &logs), "agent revoked", map[string]any{"username": "alice", "binding": bnd.ID})

	// Durations in milliseconds (requests, migrations); no token in any line.
	migrations := 0
	for _, ev := range logEvents(t, &logs) {
		if ev["msg"] == "migration applied" {
			migrations++
		}
		if ev["msg"] == "http request" || ev["msg"] == "migration applied" {
			if _, ok := ev["duration_ms"].(float64); !ok || ev["duration"] != nil {
				t.Fatalf("a line without duration_ms: %v", ev)
			}
		}
	}
	if migrations == 0 {
		t.Fatal("no migration was logged")
	}
	if strings.Contains(logs.String(), tok) {
		t.Fatal("a person token was logged")
	}

	// Stopping the server: a line when it starts shutting down and one
	// when it is done, with the time taken in milliseconds.
	w.ps.Stop()
	expectEvent(t, logEvents(t, &logs), "shutting down: no new requests; waiting for those in flight", nil)
	if ev := expectEvent(t, logEvents(t, &logs), "shut down", nil); ev["duration_ms"] == nil {
		t.Fatalf("the shutdown line has no duration_ms: %v", ev)
	}
}
