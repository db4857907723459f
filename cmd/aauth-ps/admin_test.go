package main

import (
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

var inviteLinkRE = regexp.MustCompile(`https://ps\.test(/invite/([A-Za-z0-9_-]{43}))\n`)

// TestFirstAdministrator (issue 15 item 6): on a new installation in
// production mode (no --dev, so no development login), `aauth-ps admin
// invite` prints a one-time link; opening it creates an administrator who
// can then use the administration pages. The link works once and the
// token is not stored as such. Both databases.
func TestFirstAdministrator(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, databaseURL string) {
		env := pstest.NewEnv(t)
		ps := env.Start(t, pstest.Options{DatabaseURL: databaseURL})
		if ps.App.Config.Dev {
			t.Fatal("the PS under test runs in development mode")
		}
		if ok, err := ps.App.Accounts.HasEnabledAdmin(t.Context()); err != nil || ok {
			t.Fatalf("a new installation has an administrator (%v, %v)", ok, err)
		}

		code, out, errOut := runCmd(t, nil, "admin", "invite", "--issuer", ps.Issuer, "--database-url", databaseURL, "root@example.com")
		m := inviteLinkRE.FindStringSubmatch(out)
		if code != 0 || m == nil {
			t.Fatalf("admin invite: %d\n%s\n%s", code, out, errOut)
		}
		link, token := m[1], m[2]
		if path, ok := strings.CutPrefix(databaseURL, "sqlite:"); ok {
			for _, f := range []string{path, path + "-wal"} {
				if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), token) {
					t.Fatalf("the invitation token is stored as such in %s", f)
				}
			}
		}

		b := ps.NewBrowser(t)
		if pg := b.Get(t, link); pg.Status != http.StatusOK || !strings.Contains(pg.HTML, "root@example.com") {
			t.Fatalf("invitation page: %d\n%s", pg.Status, pg.HTML)
		}
		form := map[string]string{"username": "root", "name": "The Operator", "password": "a long enough password"}
		if pg := b.Post(t, link, form); pg.Status != http.StatusSeeOther {
			t.Fatalf("accept the invitation: %d\n%s", pg.Status, pg.HTML)
		}
		pg := b.Get(t, "/admin/persons")
		if pg.Status != http.StatusOK || !strings.Contains(pg.HTML, "root@example.com") {
			t.Fatalf("the new administrator cannot administer: %d\n%s", pg.Status, pg.HTML)
		}
		if pg := b.Post(t, "/admin/invites", map[string]string{"email": ""}); pg.Status != http.StatusOK || !strings.Contains(pg.HTML, "/invite/") {
			t.Fatalf("the new administrator cannot invite: %d", pg.Status)
		}
		// The link is used up, for anyone.
		again := ps.NewBrowser(t)
		if pg := again.Get(t, link); pg.Status != http.StatusNotFound {
			t.Fatalf("a used link still opens: %d", pg.Status)
		}
		form["username"] = "mallory"
		if pg := again.Post(t, link, form); pg.Status == http.StatusSeeOther {
			t.Fatal("a used link made a second account")
		}
		if ok, err := ps.App.Accounts.HasEnabledAdmin(t.Context()); err != nil || !ok {
			t.Fatalf("no administrator after the bootstrap (%v, %v)", ok, err)
		}
	})
}

// TestAdminInviteRefusals: the command needs a subcommand it knows, a
// usable issuer and a valid email, and writes nothing when it refuses.
func TestAdminInviteRefusals(t *testing.T) {
	db := "sqlite:" + t.TempDir() + "/ps.db"
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"admin"}, 2, "missing subcommand"},
		{[]string{"admin", "sideways", "--issuer", "https://ps.test", "--database-url", db}, 1, "unknown subcommand"},
		{[]string{"admin", "invite", "--database-url", db}, 1, "--issuer is required"},
		{[]string{"admin", "invite", "--issuer", "https://ps.test/path", "--database-url", db}, 1, "--issuer"},
		{[]string{"admin", "invite", "--issuer", "https://ps.test", "--database-url", db, "not an email"}, 1, "invalid email"},
		{[]string{"admin", "invite", "--issuer", "https://ps.test", "--database-url", db, "a@b.example", "extra"}, 2, "unexpected arguments"},
	} {
		code, out, errOut := runCmd(t, nil, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || strings.Contains(out, "/invite/") {
			t.Errorf("%v: %d %q %q; want %d and %q", tc.args, code, out, errOut, tc.code, tc.want)
		}
	}
}
