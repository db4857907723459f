package main

import (
	"context"

	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/audit"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// Approver roles (issue 10): `aauth-ps persons roles add|remove USER ROLE`
// and `aauth-ps persons roles list [USER]`, through the account service
// the admin page uses, audited as there (by=cli).

// rolesArgsOK: add and remove take a user and a role, list an optional user.
func rolesArgsOK(args []string) bool {
	if len(args) == 0 {
		return false
	}
	switch args[0] {
	case "add", "remove":
		return len(args) == 3
	case "list":
		return len(args) <= 2
	}
	return false
}

type roleJSON struct {
	Username string `json:"username"`
	Role     string `json:"role"`
}

func (m *manager) personsRoles(ctx context.Context, args []string) error {
	if args[0] == "list" {
		return m.rolesList(ctx, args[1:])
	}
	p, err := m.person(ctx, args[1])
	if err != nil {
		return err
	}
	add := args[0] == "add"
	role, err := account.NormalizeRole(args[2])
	if err != nil {
		return err
	}
	action, event := "person.role-add", "administrator gave a person an approver role"
	if !add {
		action, event = "person.role-remove", "administrator took an approver role from a person"
	}
	rec := cliChange(action, "person:"+p.Username, event, map[string]any{"person": p.ID, "role": role})
	changed := false
	if err := m.audited(ctx, &rec, func(tx *store.Store) error {
		accounts := m.a.Accounts.WithStore(tx)
		var err error
		if add {
			changed, err = accounts.AddApproverRole(ctx, p.ID, role)
		} else {
			changed, err = accounts.RemoveApproverRole(ctx, p.ID, role)
		}
		if !changed {
			rec = audit.Change{} // held already, or not at all: nothing to record
		}
		return err
	}); err != nil {
		return err
	}
	return m.done(roleOutcome(p.Username, role, add, changed), map[string]any{"username": p.Username, "role": role, "held": add, "changed": changed})
}

// roleOutcome says what the command did, and that nothing changed when
// the person already held the role, or never did.
func roleOutcome(username, role string, add, changed bool) string {
	switch {
	case add && changed:
		return username + " now holds the role " + role
	case add:
		return username + " already holds the role " + role + " (nothing changed)"
	case changed:
		return username + " no longer holds the role " + role
	default:
		return username + " did not hold the role " + role + " (nothing changed)"
	}
}

// rolesList lists the approver roles of one person, or of everyone.
func (m *manager) rolesList(ctx context.Context, args []string) error {
	var persons []account.Person
	if len(args) == 1 {
		p, err := m.person(ctx, args[0])
		if err != nil {
			return err
		}
		persons = []account.Person{*p}
	} else {
		var err error
		if persons, err = m.a.Accounts.ListPersons(ctx); err != nil {
			return err
		}
	}
	out := []roleJSON{}
	var rows [][]string
	for _, p := range persons {
		roles, err := m.a.Accounts.ApproverRoles(ctx, p.ID)
		if err != nil {
			return err
		}
		for _, r := range roles {
			out = append(out, roleJSON{p.Username, r})
			rows = append(rows, []string{p.Username, r})
		}
	}
	return m.print(out, "USERNAME\tROLE", rows)
}
