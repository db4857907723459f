package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/audit"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestPersonsRolesCommands (issue 10): persons roles add, remove and list
// keep a person's approver roles on both databases, each change audited
// with the CLI as actor; a role given twice or removed when not held is
// no change (and no audit event); an unknown person, an empty role and a
// wrong verb are refused and change nothing.
func TestPersonsRolesCommands(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, db string) {
		cli(t, db, "persons", "create", "carol")
		cli(t, db, "persons", "create", "dave")
		cli(t, db, "persons", "roles", "add", "carol", "cfo")
		cli(t, db, "persons", "roles", "add", "carol", "treasurer")
		cli(t, db, "persons", "roles", "add", "dave", "cfo")
		var again struct {
			OK      bool `json:"ok"`
			Changed bool `json:"changed"`
		}
		cliJSON(t, db, &again, "persons", "roles", "add", "carol", " cfo ")
		if !again.OK || again.Changed {
			t.Fatalf("adding a held role again: %+v", again)
		}
		// What each command prints says whether anything changed (a
		// removal once read like a no-op).
		for _, c := range []struct{ verb, want string }{
			{"remove", "dave no longer holds the role cfo"},
			{"remove", "dave did not hold the role cfo (nothing changed)"},
			{"add", "dave now holds the role auditor"},
			{"add", "dave already holds the role auditor (nothing changed)"},
		} {
			role := "cfo"
			if c.verb == "add" {
				role = "auditor"
			}
			if out := cli(t, db, "persons", "roles", c.verb, "dave", role); !strings.Contains(out, c.want) {
				t.Fatalf("roles %s dave %s printed %q, want %q", c.verb, role, out, c.want)
			}
		}
		cli(t, db, "persons", "roles", "remove", "dave", "auditor")

		var list []roleJSON
		cliJSON(t, db, &list, "persons", "roles", "list")
		if want := []roleJSON{{"carol", "cfo"}, {"carol", "treasurer"}}; !slices.Equal(list, want) {
			t.Fatalf("list: %+v", list)
		}
		cliJSON(t, db, &list, "persons", "roles", "list", "dave")
		if len(list) != 0 {
			t.Fatalf("dave's roles: %+v", list)
		}
		if out := cli(t, db, "persons", "roles", "list", "carol"); !strings.Contains(out, "ROLE") || !strings.Contains(out, "treasurer") {
			t.Fatalf("table:\n%s", out)
		}

		for _, bad := range [][]string{{"add", "nobody", "cfo"}, {"add", "carol", "  "}, {"grant", "carol", "cfo"}, {"add", "carol"}} {
			code, _, errOut := runCmd(t, nil, append(append([]string{"persons", "roles"}, bad...), cliConfig(db)...)...)
			if code == 0 || errOut == "" {
				t.Fatalf("%v: exit %d %s", bad, code, errOut)
			}
		}
		a := openApp(t, db)
		carol, err := a.Accounts.PersonByUsername(t.Context(), "carol")
		if err != nil {
			t.Fatal(err)
		}
		if roles, err := a.Accounts.ApproverRoles(t.Context(), carol.ID); err != nil || !slices.Equal(roles, []string{"cfo", "treasurer"}) {
			t.Fatalf("carol's roles after refused commands: %v %v", roles, err)
		}
		trail, err := a.Store.AuditEvents(t.Context(), 0, 20)
		if err != nil {
			t.Fatal(err)
		}
		var roleEvents []string
		for _, e := range trail {
			if strings.HasPrefix(e.Action, "person.role-") {
				if e.Actor.Kind != audit.ActorCLI || e.Detail["role"] == nil {
					t.Fatalf("role event: %+v", e)
				}
				roleEvents = append(roleEvents, e.Action+" "+e.Target+" "+e.Detail["role"].(string))
			}
		}
		want := []string{"person.role-remove person:dave auditor", "person.role-add person:dave auditor",
			"person.role-remove person:dave cfo", "person.role-add person:dave cfo",
			"person.role-add person:carol treasurer", "person.role-add person:carol cfo"}
		if !slices.Equal(roleEvents, want) {
			t.Fatalf("audit trail: %v", roleEvents)
		}
	})
}
