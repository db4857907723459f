package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/agents"
	"github.com/aauth-ps/aauth-ps/ps/app"
	"github.com/aauth-ps/aauth-ps/ps/audit"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// cliConfig is the production configuration the commands share with serve:
// an https issuer behind a trusted proxy, the test key-encryption secret.
func cliConfig(databaseURL string) []string {
	return []string{"--issuer", "https://ps.test", "--trusted-proxy", "127.0.0.1/32",
		"--database-url", databaseURL, "--key-encryption-key", pstest.SecretForTests}
}

// cli runs one command with the configuration after its arguments and
// fails the test unless it exits 0.
func cli(t *testing.T, db string, args ...string) string {
	t.Helper()
	code, out, errOut := runCmd(t, nil, append(args, cliConfig(db)...)...)
	if code != 0 {
		t.Fatalf("%v: exit %d\n%s\n%s", args, code, out, errOut)
	}
	return out
}

func cliJSON(t *testing.T, db string, v any, args ...string) {
	t.Helper()
	out := cli(t, db, append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("%v --json: %v\n%s", args, err, out)
	}
}

// openApp is the same wiring the commands use, for setting up and
// checking what the commands did.
func openApp(t *testing.T, db string) *app.App {
	t.Helper()
	cfg, _, err := config.Parse("test", cliConfig(db), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(t.Context(), cfg, newLogger(os.Stderr, "error"), app.Options{Argon2: account.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

// TestPersonsCommands (issue 14): persons create, list, disable, enable,
// make-admin and invite work on both databases, through the account
// service (its rules hold: the last administrator cannot be disabled), and
// each change is logged with by=cli.
func TestPersonsCommands(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, db string) {
		pw := filepath.Join(t.TempDir(), "pw")
		if err := os.WriteFile(pw, []byte("a long enough password\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runCmd(t, nil, append([]string{"persons", "create", "root", "--admin", "--email", "root@example.com", "--password-file", pw}, cliConfig(db)...)...)
		if code != 0 || !strings.Contains(out, "created root") || !strings.Contains(errOut, `"by":"cli"`) {
			t.Fatalf("create: %d\n%s\n%s", code, out, errOut)
		}
		cli(t, db, "persons", "create", "alice", "--name", "Alice A")

		var persons []personJSON
		cliJSON(t, db, &persons, "persons", "list")
		if len(persons) != 2 {
			t.Fatalf("list: %+v", persons)
		}
		byName := map[string]personJSON{}
		for _, p := range persons {
			byName[p.Username] = p
		}
		if !byName["root"].Admin || byName["root"].Email != "root@example.com" || byName["alice"].Admin || byName["alice"].Name != "Alice A" {
			t.Fatalf("list: %+v", persons)
		}
		if out := cli(t, db, "persons", "list"); !strings.Contains(out, "USERNAME") || !strings.Contains(out, "alice") {
			t.Fatalf("table:\n%s", out)
		}

		// The account rules hold: the only administrator cannot be disabled.
		code, _, errOut = runCmd(t, nil, append([]string{"persons", "disable", "root"}, cliConfig(db)...)...)
		if code != 1 || errOut == "" {
			t.Fatalf("disabling the last administrator: %d %s", code, errOut)
		}
		cli(t, db, "persons", "make-admin", "alice")
		cli(t, db, "persons", "disable", "root")
		a := openApp(t, db)
		root, err := a.Accounts.PersonByUsername(t.Context(), "root")
		if err != nil || !root.Disabled {
			t.Fatalf("root after disable: %+v %v", root, err)
		}
		alice, err := a.Accounts.PersonByUsername(t.Context(), "alice")
		if err != nil || !alice.IsAdmin {
			t.Fatalf("alice after make-admin: %+v %v", alice, err)
		}
		cli(t, db, "persons", "enable", "root")
		if root, _ := a.Accounts.PersonByUsername(t.Context(), "root"); root.Disabled {
			t.Fatal("root still disabled after enable")
		}

		// Issue 14: each change is in the audit trail, by the CLI, newest
		// first (audit list --json and the table).
		var trail []audit.Event
		cliJSON(t, db, &trail, "audit", "list")
		var actions []string
		for _, e := range trail {
			if e.Actor.Kind != audit.ActorCLI {
				t.Fatalf("not by the CLI: %+v", e)
			}
			actions = append(actions, e.Action)
		}
		if want := []string{"person.enable", "person.disable", "person.make-admin", "person.create", "person.create"}; !slices.Equal(actions, want) ||
			trail[1].Target != "person:root" || trail[4].Detail["admin"] != true {
			t.Fatalf("audit trail %v, want %v: %+v", actions, want, trail)
		}
		if out := cli(t, db, "audit", "list"); !strings.Contains(out, "ACTION") || !strings.Contains(out, "person.disable") {
			t.Fatalf("audit table:\n%s", out)
		}

		var inv struct {
			Link  string `json:"link"`
			Admin bool   `json:"admin"`
		}
		cliJSON(t, db, &inv, "persons", "invite", "bob@example.com")
		token, ok := strings.CutPrefix(inv.Link, "https://ps.test/invite/")
		if !ok || inv.Admin {
			t.Fatalf("invite: %+v", inv)
		}
		if info, err := a.Accounts.InviteInfo(t.Context(), token); err != nil || info.Email != "bob@example.com" {
			t.Fatalf("the invitation is not redeemable: %+v %v", info, err)
		}

		// Refusals change nothing.
		for _, args := range [][]string{
			{"persons", "disable", "nobody"},
			{"persons", "create", "alice"},
			{"persons", "create", "x y"},
			{"persons", "make-admin"},
			{"persons", "frobnicate"},
		} {
			if code, _, _ := runCmd(t, nil, append(args, cliConfig(db)...)...); code == 0 {
				t.Errorf("%v succeeded", args)
			}
		}
		if all, _ := a.Accounts.ListPersons(t.Context()); len(all) != 2 {
			t.Fatalf("a refused command changed the persons: %d", len(all))
		}
	})
}

// TestProvidersCommands (issue 14): providers allow and block record the
// operator's decision through the agents service; list shows it; a
// non-identifier is refused.
func TestProvidersCommands(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, db string) {
		cli(t, db, "providers", "allow", "https://ap.example")
		cli(t, db, "providers", "block", "https://bad.example")
		var ps []providerJSON
		cliJSON(t, db, &ps, "providers", "list")
		got := map[string]string{}
		for _, p := range ps {
			got[p.Issuer] = p.Status
		}
		if got["https://ap.example"] != "allowed" || got["https://bad.example"] != "blocked" || len(got) != 2 {
			t.Fatalf("providers: %+v", ps)
		}
		cli(t, db, "providers", "allow", "https://bad.example")
		a := openApp(t, db)
		if p, err := a.Agents.Provider(t.Context(), "https://bad.example"); err != nil || p.Status != agents.ProviderAllowed {
			t.Fatalf("after allow: %+v %v", p, err)
		}
		if code, _, errOut := runCmd(t, nil, append([]string{"providers", "block", "http://ap.example/x"}, cliConfig(db)...)...); code != 1 || !strings.Contains(errOut, "not an agent provider identifier") {
			t.Fatalf("a bad issuer: %d %s", code, errOut)
		}
		if all, _ := a.Agents.Providers(t.Context()); len(all) != 2 {
			t.Fatalf("a refused command added a provider: %d", len(all))
		}
	})
}

// TestAgentsAndMissionsCommands (issue 14): agents list shows a person's
// bindings; agents revoke and unbind run the web UI's flow (EndBinding), so
// the agent's missions end with it, and each is in the audit trail;
// missions list, show and export read them. Another person's binding is
// not found.
func TestAgentsAndMissionsCommands(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, db string) {
		a := openApp(t, db)
		ctx := t.Context()
		alice, err := a.Accounts.CreatePerson(ctx, account.NewPerson{Username: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Accounts.CreatePerson(ctx, account.NewPerson{Username: "bob"}); err != nil {
			t.Fatal(err)
		}
		const ap = "https://ap.example"
		b1, err := a.Agents.Bind(ctx, ap, "aauth:one@ap.example", alice.ID, "cli", "laptop")
		if err != nil {
			t.Fatal(err)
		}
		b2, err := a.Agents.Bind(ctx, ap, "aauth:two@ap.example", alice.ID, "cli", "phone")
		if err != nil {
			t.Fatal(err)
		}
		m, err := a.Missions.Create(ctx, mission.Approval{AgentIss: ap, AgentSub: "aauth:one@ap.example", PersonID: alice.ID,
			Description: "Book a **trip**", Resources: []string{"https://rs.example"}})
		if err != nil {
			t.Fatal(err)
		}

		var bs []bindingJSON
		cliJSON(t, db, &bs, "agents", "list", "alice")
		if len(bs) != 2 {
			t.Fatalf("agents list: %+v", bs)
		}
		var ms []missionJSON
		cliJSON(t, db, &ms, "missions", "list", "alice")
		if len(ms) != 1 || ms[0].S256 != m.S256 || ms[0].Terminated {
			t.Fatalf("missions list: %+v", ms)
		}

		// bob cannot be named as the owner of alice's agent.
		if code, _, errOut := runCmd(t, nil, append([]string{"agents", "revoke", "bob", b1.ID}, cliConfig(db)...)...); code != 1 || !strings.Contains(errOut, "no agent binding") {
			t.Fatalf("revoke through another person: %d %s", code, errOut)
		}
		out := cli(t, db, "agents", "revoke", "alice", b1.ID)
		if !strings.Contains(out, "1 of its missions ended") {
			t.Fatalf("revoke: %s", out)
		}
		cli(t, db, "agents", "unbind", "alice", b2.ID)

		after, err := a.Agents.Bindings(ctx, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		states := map[string]agents.BindingState{}
		for _, b := range after {
			states[b.ID] = b.State
		}
		if states[b1.ID] == agents.BindingActive || states[b2.ID] == agents.BindingActive {
			t.Fatalf("bindings after revoke/unbind: %+v", after)
		}
		if rec, err := a.Missions.Get(ctx, m.S256); err != nil || !rec.Terminated {
			t.Fatalf("the revoked agent's mission did not end: %+v %v", rec, err)
		}
		// Issue 14: both are in the audit trail, by the CLI; the refused
		// revoke through bob is not.
		trail := auditTrail(t, a)
		if len(trail) != 2 || trail[0].Action != "agent.unbind" || trail[0].Target != "binding:"+b2.ID ||
			trail[1].Action != "agent.revoke" || trail[1].Target != "binding:"+b1.ID || trail[1].Detail["missions_ended"] != float64(1) ||
			trail[0].Actor.Kind != audit.ActorCLI || trail[1].Actor.Kind != audit.ActorCLI || trail[1].Detail["person"] != alice.ID {
			t.Fatalf("audit trail: %+v", trail)
		}

		var shown missionJSON
		cliJSON(t, db, &shown, "missions", "show", m.S256)
		if !shown.Terminated || len(shown.Log) == 0 {
			t.Fatalf("show: %+v", shown)
		}
		var exported missionJSON
		if err := json.Unmarshal([]byte(cli(t, db, "missions", "export", m.S256)), &exported); err != nil {
			t.Fatal(err)
		}
		if raw, err := base64.RawURLEncoding.DecodeString(exported.BlobB64); err != nil || string(raw) != string(m.Blob) {
			t.Fatalf("export: blob %q (%v), want the approved bytes %s", raw, err, m.Blob)
		}
		var all []missionJSON
		cliJSON(t, db, &all, "missions", "list")
		if len(all) != 1 {
			t.Fatalf("missions list (all): %+v", all)
		}
		if code, _, _ := runCmd(t, nil, append([]string{"missions", "show", "nope"}, cliConfig(db)...)...); code != 1 {
			t.Fatalf("show an unknown mission: %d", code)
		}
	})
}
