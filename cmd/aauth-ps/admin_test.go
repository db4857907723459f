package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/audit"
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
		// Issue 14: the invitation is in the audit trail, by the CLI,
		// without its token.
		trail, err := ps.App.Store.AuditEvents(t.Context(), 0, 10)
		if err != nil || len(trail) != 1 || trail[0].Action != "person.invite" || trail[0].Actor.Kind != audit.ActorCLI ||
			trail[0].Target != "invitation" || trail[0].Detail["admin"] != true || trail[0].Detail["expires"] == nil {
			t.Fatalf("audit trail after admin invite: %+v %v", trail, err)
		}
		if b, _ := json.Marshal(trail); strings.Contains(string(b), token) {
			t.Fatal("the invitation token is in the audit trail")
		}
		if !strings.Contains(errOut, `"msg":"invitation created"`) || !strings.Contains(errOut, `"by":"cli"`) || strings.Contains(errOut, token) {
			t.Fatalf("admin invite log:\n%s", errOut)
		}
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
		// Inviting is POST/redirect/GET: the new link is shown on the page
		// the redirect leads to.
		if pg := b.Post(t, "/admin/invites", map[string]string{"email": ""}); pg.Status != http.StatusSeeOther {
			t.Fatalf("the new administrator cannot invite: %d", pg.Status)
		} else if shown := b.Follow(t, pg); shown.Status != http.StatusOK || !strings.Contains(shown.HTML, "/invite/") {
			t.Fatalf("the new invitation is not shown: %d", shown.Status)
		}
		// The link is used up, for anyone.
		again := ps.NewBrowser(t)
		if pg := again.Get(t, link); pg.Status != http.StatusNotFound {
			t.Fatalf("a used link still opens: %d", pg.Status)
		}
		// Refused with POST/redirect/GET back to the link's page, which
		// says it is not valid (issue 9 item 8); no second account.
		form["username"] = "mallory"
		if pg := again.Post(t, link, form); pg.Status != http.StatusSeeOther || pg.Location != link {
			t.Fatalf("a used link: %d to %q, want 303 back to the link", pg.Status, pg.Location)
		} else if shown := again.Follow(t, pg); shown.Status != http.StatusNotFound || !strings.Contains(shown.HTML, "Invitation not valid") {
			t.Fatalf("after posting a used link: %d\n%s", shown.Status, shown.HTML)
		}
		if _, err := ps.App.Accounts.PersonByUsername(t.Context(), "mallory"); err == nil {
			t.Fatal("a used link made a second account")
		}
		if ok, err := ps.App.Accounts.HasEnabledAdmin(t.Context()); err != nil || !ok {
			t.Fatalf("no administrator after the bootstrap (%v, %v)", ok, err)
		}
	})
}

// TestAdminInviteJSON: admin invite --json prints the link as JSON, on both
// databases, and the link is redeemable.
func TestAdminInviteJSON(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, db string) {
		var inv struct {
			OK      bool      `json:"ok"`
			Link    string    `json:"link"`
			Expires time.Time `json:"expires"`
			Admin   bool      `json:"admin"`
		}
		code, out, errOut := runCmd(t, nil, "admin", "invite", "--json", "--issuer", "https://ps.test", "--database-url", db, "ops@example.com")
		if code != 0 || json.Unmarshal([]byte(out), &inv) != nil || !inv.OK || !inv.Admin || time.Until(inv.Expires) < time.Hour {
			t.Fatalf("admin invite --json: %d %q %s", code, out, errOut)
		}
		token, ok := strings.CutPrefix(inv.Link, "https://ps.test/invite/")
		if !ok {
			t.Fatalf("link %q", inv.Link)
		}
		a := openApp(t, db)
		if info, err := a.Accounts.InviteInfo(t.Context(), token); err != nil || info.Email != "ops@example.com" || !info.IsAdmin {
			t.Fatalf("the invitation: %+v %v", info, err)
		}
	})
}

// TestAdminInviteRefusals: the command needs a subcommand it knows, a
// usable issuer and a valid email, and writes nothing when it refuses
// (no invitation, no audit row).
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
		{[]string{"admin", "invite", "--issuer", "https://ps.test", "--database-url", db, "--scope", "admin"}, 2, "only flag of its own is --json"},
	} {
		code, out, errOut := runCmd(t, nil, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || strings.Contains(out, "/invite/") {
			t.Errorf("%v: %d %q %q; want %d and %q", tc.args, code, out, errOut, tc.code, tc.want)
		}
	}
	st := storetest.OpenURL(t, db, true)
	for _, table := range []string{"invites", "audit_events"} {
		if n := storetest.CountRows(t, st, table); n != 0 {
			t.Errorf("refused invitations wrote %d rows to %s", n, table)
		}
	}
}

// syncBuffer is a bytes.Buffer the serving goroutine writes while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs `aauth-ps serve` in production mode (an https issuer
// behind a trusted proxy, so no certificate is needed) on databaseURL and
// a free loopback port, with getenv as its environment, until it says it
// is running. It returns what serve printed so far (stdout, stderr), and
// stop, which stops it and returns its exit code.
func startServe(t *testing.T, databaseURL string, getenv func(string) string) (out, errb *syncBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	out, errb = &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--issuer", "https://ps.test", "--listen", "127.0.0.1:0",
			"--trusted-proxy", "127.0.0.1/32", "--database-url", databaseURL,
			"--key-encryption-key", pstest.SecretForTests}, out, errb, getenv)
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(out.String(), "is running") {
		select {
		case code := <-done:
			cancel()
			t.Fatalf("serve exited %d before running:\n%s\n%s", code, out.String(), errb.String())
		case <-tick.C:
		}
	}
	stopped := false
	stop = func() int {
		if stopped {
			return 0
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { stop() })
	return out, errb, stop
}

// serveOutput starts serve, stops it once it is running, and returns what
// it printed.
func serveOutput(t *testing.T, databaseURL string) string {
	t.Helper()
	// What serve says about administrators it decided before "is running".
	out, errb, stop := startServe(t, databaseURL, func(string) string { return "" })
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, errb.String())
	}
	return out.String()
}

// TestServeNamesTheBootstrap: outside --dev, serve tells the operator how
// to create the first administrator while there is none, and stops saying
// so once there is one (issue 15 item 6).
func TestServeNamesTheBootstrap(t *testing.T) {
	db := "sqlite:" + t.TempDir() + "/ps.db"
	if out := serveOutput(t, db); !strings.Contains(out, "aauth-ps admin invite") {
		t.Fatalf("serve on an installation without administrator does not say what to do:\n%s", out)
	}
	code, out, errOut := runCmd(t, nil, "admin", "invite", "--issuer", "https://ps.test", "--database-url", db)
	if code != 0 {
		t.Fatalf("admin invite: %d %s %s", code, out, errOut)
	}
	if out := serveOutput(t, db); !strings.Contains(out, "aauth-ps admin invite") {
		t.Fatalf("an unused invitation is no administrator yet:\n%s", out)
	}
	st := storetest.OpenURL(t, db, true)
	accounts, err := account.New(st, nil, account.Options{Argon2: account.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := accounts.CreatePerson(t.Context(), account.NewPerson{Username: "root", Password: "a long enough password", IsAdmin: true}); err != nil {
		t.Fatal(err)
	}
	if out := serveOutput(t, db); strings.Contains(out, "admin invite") {
		t.Fatalf("serve asks for an administrator though one exists:\n%s", out)
	}
}
