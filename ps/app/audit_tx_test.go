package app_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/agents"
	"github.com/aauth-ps/aauth-ps/ps/apitoken"
	"github.com/aauth-ps/aauth-ps/ps/audit"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestWebChangesCommitWithTheirAuditRow (issue 14 review): every audited
// change made in the UI writes its audit row in the change's own
// transaction. While audit_events refuses inserts each change fails
// (500) and nothing of it stays: no row in any table, carol enabled, the
// invitation open, the token live, the access server still stopped,
// alice's agent still bound. Once it accepts them each change commits
// with exactly one audit event, by the person who made it. On SQLite and
// PostgreSQL.
func TestWebChangesCommitWithTheirAuditRow(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		w, alice, _ := missionWorld(t, opt)
		root := w.person(t, "root", true)
		app, ctx := w.ps.App, ctxT()
		person := func(username string) *account.Person {
			p, err := app.Accounts.PersonByUsername(ctx, username)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		alicePerson, rootPerson := person("alice"), person("root")
		carol := w.ps.CreatePerson(t, "carol", false)
		bindingID := agentBindingID(t, alice, w.agent.ID)
		// Something to undo: an open invitation, a live token, a stop.
		if _, _, err := app.Accounts.CreateInvite(ctx, rootPerson.ID, "old@example.com", false); err != nil {
			t.Fatal(err)
		}
		invites, err := app.Accounts.OpenInvites(ctx)
		if err != nil || len(invites) != 1 {
			t.Fatalf("invitations: %+v %v", invites, err)
		}
		_, tok, err := app.APITokens.Create(ctx, rootPerson.ID, "old", apitoken.ScopeRead, 0)
		if err != nil {
			t.Fatal(err)
		}
		const as = "https://as.test"
		if err := app.AccessServers.StopRelease(ctx, alicePerson.ID, as); err != nil {
			t.Fatal(err)
		}
		changes := []struct {
			by     *pstest.Browser
			path   string
			form   map[string]string
			action string
		}{
			{root, "/admin/persons", map[string]string{"username": "bob", "name": "Bob"}, "person.create"},
			{root, "/admin/persons/" + carol.ID + "/toggle", nil, "person.disable"},
			{root, "/admin/invites", map[string]string{"email": "erin@example.com"}, "person.invite"},
			{root, "/admin/invites/revoke", map[string]string{"id": invites[0].TokenHash}, "invitation.revoke"},
			{root, "/admin/providers", map[string]string{"issuer": "https://ap2.test", "status": "blocked"}, "provider.blocked"},
			{root, "/admin/roles", map[string]string{"person": alicePerson.ID, "role": "cfo"}, "person.role-add"},
			{root, "/admin/api-tokens", map[string]string{"name": "ci", "person": rootPerson.ID, "scope": "read", "days": "7"}, "api-token.create"},
			{root, "/admin/api-tokens/" + tok.ID + "/revoke", nil, "api-token.revoke"},
			{alice, "/access/access-servers/stop", map[string]string{"access_server": as}, "access-server.stop"},
			{alice, "/access/access-servers/share-again", map[string]string{"access_server": as}, "access-server.share-again"},
			{alice, "/agents/" + bindingID + "/revoke", nil, "agent.revoke"},
		}
		root.Get(t, "/admin/persons")
		alice.Get(t, "/access")
		before, events := w.ps.TableCounts(t), len(auditTrail(t, w.ps, 100))

		undo := injectInsertFailure(t, w.ps, "audit_events")
		for _, c := range changes {
			if pg := c.by.Post(t, c.path, c.form); pg.Status != http.StatusInternalServerError {
				t.Fatalf("POST %s while the audit row cannot be written: %d, want 500\n%s", c.path, pg.Status, pg.HTML)
			}
		}
		undo()
		writesNothing(t, w.ps, before)
		if p := person("carol"); p.Disabled {
			t.Fatal("carol was disabled without an audit row")
		}
		if open, err := app.Accounts.OpenInvites(ctx); err != nil || len(open) != 1 {
			t.Fatalf("the invitation was revoked without an audit row: %+v %v", open, err)
		}
		if toks, err := app.APITokens.List(ctx); err != nil || len(toks) != 1 || toks[0].RevokedAt != nil {
			t.Fatalf("the token was revoked without an audit row: %+v %v", toks, err)
		}
		if rel, err := app.AccessServers.Releases(ctx, alicePerson.ID); err != nil || len(rel) != 1 || rel[0].StoppedAt == nil {
			t.Fatalf("sharing resumed without an audit row: %+v %v", rel, err)
		}
		if b, err := app.Agents.Binding(ctx, alicePerson.ID, bindingID); err != nil || b.State != agents.BindingActive {
			t.Fatalf("the agent was revoked without an audit row: %+v %v", b, err)
		}

		var want []string
		for _, c := range changes {
			if pg := c.by.Post(t, c.path, c.form); pg.Status != http.StatusSeeOther {
				t.Fatalf("POST %s: %d\n%s", c.path, pg.Status, pg.HTML)
			}
			want = append([]string{c.action}, want...) // the trail is newest first
		}
		trail := auditTrail(t, w.ps, 100)
		if len(trail) != events+len(changes) {
			t.Fatalf("%d audit events, want %d", len(trail), events+len(changes))
		}
		var actions []string
		for _, e := range trail[:len(changes)] {
			who := map[string]string{"alice": alicePerson.ID, "root": rootPerson.ID}[e.Detail["username"].(string)]
			if e.Actor.ID != who || (e.Actor.Kind == audit.ActorAdmin) != (who == rootPerson.ID) {
				t.Fatalf("event %+v, want by the person who made it", e)
			}
			actions = append(actions, e.Action)
		}
		if !slices.Equal(actions, want) {
			t.Fatalf("audit trail %v, want %v", actions, want)
		}
	})
}
