package main

import (
	"maps"
	"slices"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/app"
	"github.com/aauth-ps/aauth-ps/ps/audit"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestCLIChangesCommitWithTheirAuditRow (issue 14 review): every
// administrative command writes its audit row in the change's own
// transaction. While audit_events refuses inserts each command fails
// and nothing of its change stays (no row in any table, carol still
// enabled); once it accepts them each command commits with exactly one
// audit event, by the CLI, and says so as JSON with --json. On SQLite and
// PostgreSQL.
func TestCLIChangesCommitWithTheirAuditRow(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, db string) {
		cli(t, db, "persons", "create", "carol")
		cli(t, db, "persons", "create", "dave")
		a := openApp(t, db)
		var davesToken apiTokenJSON
		cliJSON(t, db, &davesToken, "api-tokens", "create", "dave")
		commands := []struct {
			args   []string
			action string
		}{
			{[]string{"persons", "create", "erin"}, "person.create"},
			{[]string{"persons", "disable", "carol"}, "person.disable"},
			{[]string{"persons", "make-admin", "carol"}, "person.make-admin"},
			{[]string{"persons", "invite", "erin@example.com"}, "person.invite"},
			{[]string{"admin", "invite", "ops@example.com"}, "person.invite"},
			{[]string{"persons", "roles", "add", "carol", "cfo"}, "person.role-add"},
			{[]string{"providers", "block", "https://ap.example"}, "provider.blocked"},
			{[]string{"access-servers", "trust", "https://as.example"}, "access-server.trusted"},
			{[]string{"api-tokens", "create", "carol"}, "api-token.create"},
			{[]string{"api-tokens", "revoke", davesToken.ID}, "api-token.revoke"},
			{[]string{"keys", "rotate"}, "keys.rotate"},
		}
		before, events := storetest.TableCounts(t, a.Store), len(auditTrail(t, a))

		undo := storetest.InjectInsertFailure(t, a.Store, "audit_events")
		for _, c := range commands {
			if code, out, _ := runCmd(t, nil, append(c.args, cliConfig(db)...)...); code != 1 {
				t.Fatalf("%v while the audit row cannot be written: exit %d %s, want 1", c.args, code, out)
			}
		}
		undo()
		if after := storetest.TableCounts(t, a.Store); !maps.Equal(before, after) {
			t.Fatalf("changes stayed without their audit rows: before %v, after %v", before, after)
		}
		carol, err := a.Accounts.PersonByUsername(t.Context(), "carol")
		if err != nil || carol.Disabled || carol.IsAdmin {
			t.Fatalf("carol changed without an audit row: %+v %v", carol, err)
		}
		if toks, err := a.APITokens.List(t.Context()); err != nil || len(toks) != 1 || toks[0].RevokedAt != nil {
			t.Fatalf("dave's token was revoked without an audit row: %+v %v", toks, err)
		}

		var want []string
		for _, c := range commands {
			// --json: one JSON object saying the change was made.
			var out map[string]any
			cliJSON(t, db, &out, c.args...)
			if out["ok"] != true && (c.action != "api-token.create" || out["token"] == nil) {
				t.Errorf("%v --json: %v", c.args, out)
			}
			want = append([]string{c.action}, want...) // the trail is newest first
		}
		got := auditTrail(t, a)
		if len(got) != events+len(commands) {
			t.Fatalf("%d audit events, want %d", len(got), events+len(commands))
		}
		var actions []string
		for _, e := range got[:len(commands)] {
			if e.Actor.Kind != audit.ActorCLI || e.Target == "" {
				t.Fatalf("event %+v, want by the CLI with a target", e)
			}
			actions = append(actions, e.Action)
		}
		if !slices.Equal(actions, want) {
			t.Fatalf("audit trail %v, want %v", actions, want)
		}
	})
}

// auditTrail is a's audit trail, newest first.
func auditTrail(t *testing.T, a *app.App) []audit.Event {
	t.Helper()
	evs, err := a.Store.AuditEvents(t.Context(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}
