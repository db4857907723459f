package app_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/agents"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestProviderPolicy: the operator's allow-list and block decisions apply
// before anything is fetched from the provider; a person's own block stops
// binding (PS-034 family, A-40, A-62).
func TestProviderPolicy(t *testing.T) {
	t.Parallel()
	t.Run("allow-list", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, pstest.Options{Configure: func(c *config.Config) { c.AgentProviderPolicy = "allow-list" }})
		admin := w.person(t, "root", true)
		before := w.ps.TableCounts(t)
		expect401(t, w.relay(t, w.agent, relayQuestion("Am I allowed?", "interaction")), aauth.SigInvalidJWT)
		unchanged(t, w.ps, before)
		if n := w.ap.Requests(); n != 0 {
			t.Fatalf("a provider outside the allow-list was contacted %d times", n)
		}
		// The operator allows it in /admin/providers.
		admin.Get(t, "/admin/providers")
		if pg := admin.Post(t, "/admin/providers", map[string]string{"issuer": "https://ap.test", "status": "allowed"}); pg.Status != http.StatusSeeOther {
			t.Fatalf("allow provider: %d\n%s", pg.Status, pg.HTML)
		}
		w.ask(t, w.agent, "Allowed now?", "interaction")
		if pg := admin.Get(t, "/admin/providers"); !strings.Contains(pg.HTML, "https://ap.test") {
			t.Fatalf("/admin/providers does not list the provider:\n%s", pg.HTML)
		}
	})

	t.Run("blocked under allow-any", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, pstest.Options{})
		w.ask(t, w.agent, "Before the block?", "interaction")
		if err := w.ps.App.Agents.SetProviderStatus(t.Context(), "https://ap.test", agents.ProviderBlocked, ""); err != nil {
			t.Fatal(err)
		}
		w.ap.ResetCounters()
		before := w.ps.TableCounts(t)
		expect401(t, w.relay(t, w.agent, relayQuestion("After the block?", "interaction")), aauth.SigInvalidJWT)
		unchanged(t, w.ps, before)
		if n := w.ap.Requests(); n != 0 {
			t.Fatalf("a blocked provider was contacted %d times", n)
		}
	})

	t.Run("a person's own block", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, pstest.Options{})
		alice := w.person(t, "alice", false)
		alice.Get(t, "/agents")
		if pg := alice.Post(t, "/agents/providers/block", map[string]string{"issuer": "https://ap.test"}); pg.Status != http.StatusSeeOther {
			t.Fatalf("block: %d\n%s", pg.Status, pg.HTML)
		}
		if pg := alice.Get(t, "/agents"); !strings.Contains(pg.HTML, "https://ap.test") {
			t.Fatalf("/agents does not list the block:\n%s", pg.HTML)
		}
		s := w.ask(t, w.agent, "Connect me?", "interaction")
		open(t, alice, s)
		pg := afterDecision(t, alice, alice.Post(t, s.path()+"/approve", nil))
		if pg.Status != http.StatusOK || !strings.Contains(pg.HTML, "refused") {
			t.Fatalf("approving a blocked provider's agent: %d\n%s", pg.Status, pg.HTML)
		}
		w.terminal(t, w.agent, s.loc, http.StatusForbidden, aauth.ErrDenied)
		if pg := alice.Get(t, "/agents"); strings.Contains(pg.HTML, "/unbind") {
			t.Fatalf("the agent of a blocked provider was bound:\n%s", pg.HTML)
		}
		// Unblocked, the same agent can be connected.
		alice.Post(t, "/agents/providers/unblock", map[string]string{"issuer": "https://ap.test"})
		w.bind(t, w.agent, alice)
	})
}

var errorRE = regexp.MustCompile(`<p class="error" role="alert">([^<]*)</p>`)

// loginAs posts the login form.
func loginAs(t *testing.T, b *pstest.Browser, username, password, next string) pstest.Page {
	t.Helper()
	return b.Post(t, "/login", map[string]string{"username": username, "password": password, "next": next})
}

func sessionCookie(t *testing.T, b *pstest.Browser) *http.Cookie {
	t.Helper()
	u, _ := url.Parse(b.PS.Issuer + "/")
	for _, c := range b.Client.Jar.Cookies(u) {
		if c.Name == "__Host-aauth_ps_session" {
			return c
		}
	}
	t.Fatal("no session cookie")
	return nil
}

// TestAccountsUI: login, throttling, logout, invitations, sign-up,
// administration (E12 authentication behind PS-164).
func TestAccountsUI(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	admin := w.person(t, "root", true)
	bobPerson := w.ps.CreatePerson(t, "bob", false)
	w.ps.CreatePerson(t, "carol", false)

	// Wrong password and unknown user: the same redirect to the login
	// page (POST/redirect/GET, issue 9 item 8) and the same message, with
	// the username kept and no password.
	anon := w.ps.NewBrowser(t)
	failed := func(username string) pstest.Page {
		t.Helper()
		pg := loginAs(t, anon, username, "not the password", "/")
		if pg.Status != http.StatusSeeOther || pg.Location != "/login?next=%2F" {
			t.Fatalf("failed login: %d to %q, want 303 to the login page", pg.Status, pg.Location)
		}
		shown := anon.Follow(t, pg)
		if shown.Status != http.StatusOK || errorRE.FindString(shown.HTML) == "" || !strings.Contains(shown.HTML, `value="`+username+`"`) ||
			strings.Contains(shown.HTML, "not the password") {
			t.Fatalf("the login page after a failed login: %d\n%s", shown.Status, shown.HTML)
		}
		if again := anon.Get(t, "/login?next=%2F"); errorRE.FindString(again.HTML) != "" || strings.Contains(again.HTML, `value="`+username+`"`) {
			t.Fatalf("a reload shows the refusal again:\n%s", again.HTML)
		}
		return shown
	}
	wrong, unknown := failed("bob"), failed("nobody")
	if a, b := errorRE.FindStringSubmatch(wrong.HTML)[1], errorRE.FindStringSubmatch(unknown.HTML)[1]; a != b {
		t.Fatalf("wrong password says %q, unknown user says %q", a, b)
	}

	// Throttling: the sixth failure in a row is refused with Retry-After
	// and says so, and then even the right password waits.
	for i := range 5 {
		pg := loginAs(t, anon, "carol", "wrong password "+string(rune('a'+i)), "/")
		if pg.Status != http.StatusSeeOther || pg.Header.Get("Retry-After") != "" {
			t.Fatalf("failure %d: %d", i+1, pg.Status)
		}
		anon.Follow(t, pg)
	}
	for _, pw := range []string{"wrong again", pstest.TestPassword} {
		pg := loginAs(t, anon, "carol", pw, "/")
		if pg.Status != http.StatusSeeOther || pg.Header.Get("Retry-After") == "" {
			t.Fatalf("throttled login: %d Retry-After %q", pg.Status, pg.Header.Get("Retry-After"))
		}
		if shown := anon.Follow(t, pg); !strings.Contains(shown.HTML, "Too many failed attempts") {
			t.Fatalf("the throttled login does not say so:\n%s", shown.HTML)
		}
	}

	// Login keeps a local next and drops a foreign one.
	b := w.ps.NewBrowser(t)
	if pg := loginAs(t, b, "bob", pstest.TestPassword, "https://evil.test/x"); pg.Status != http.StatusSeeOther || pg.Location != "/" {
		t.Fatalf("foreign next: %d %s", pg.Status, pg.Location)
	}
	b2 := w.ps.NewBrowser(t)
	if pg := loginAs(t, b2, "bob", pstest.TestPassword, "//evil.test/x"); pg.Location != "/" {
		t.Fatalf("scheme-relative next: %s", pg.Location)
	}

	// Logout ends the session: the old cookie no longer works.
	if pg := b.Get(t, "/"); pg.Status != http.StatusOK {
		t.Fatalf("home: %d", pg.Status)
	}
	old := sessionCookie(t, b)
	if pg := b.Post(t, "/logout", nil); pg.Status != http.StatusSeeOther || pg.Location != "/login" {
		t.Fatalf("logout: %d %s", pg.Status, pg.Location)
	}
	if pg := b.Get(t, "/"); pg.Status != http.StatusSeeOther {
		t.Fatalf("after logout: %d", pg.Status)
	}
	replay := w.ps.NewBrowser(t)
	u, _ := url.Parse(w.ps.Issuer + "/")
	replay.Client.Jar.SetCookies(u, []*http.Cookie{{Name: old.Name, Value: old.Value, Path: "/", Secure: true}})
	if pg := replay.Get(t, "/"); pg.Status != http.StatusSeeOther || !strings.HasPrefix(pg.Location, "/login") {
		t.Fatalf("the logged-out cookie still works: %d", pg.Status)
	}

	// Administration is for administrators.
	if pg := b2.Get(t, "/admin/persons"); pg.Status != http.StatusForbidden {
		t.Fatalf("non-admin /admin/persons: %d", pg.Status)
	}
	b2.Get(t, "/")
	if pg := b2.Post(t, "/admin/invites", map[string]string{"email": ""}); pg.Status != http.StatusForbidden {
		t.Fatalf("non-admin invite: %d", pg.Status)
	}

	// An invitation: redeemed once, and its redeemer is logged in.
	admin.Get(t, "/admin/persons")
	// POST/redirect/GET: the link is shown on the page the form leads to
	// (issue 9 item 8).
	pg := admin.Post(t, "/admin/invites", map[string]string{"email": "dave@example.com"})
	if pg.Status != http.StatusSeeOther || pg.Location != "/admin/persons" {
		t.Fatalf("invite: %d to %q, want 303 to /admin/persons", pg.Status, pg.Location)
	}
	pg = admin.Follow(t, pg)
	m := regexp.MustCompile(regexp.QuoteMeta(w.ps.Issuer) + `(/invite/[A-Za-z0-9_-]+)`).FindStringSubmatch(pg.HTML)
	if pg.Status != http.StatusOK || m == nil {
		t.Fatalf("invite: %d\n%s", pg.Status, pg.HTML)
	}
	dave := w.ps.NewBrowser(t)
	if pg := dave.Get(t, m[1]); pg.Status != http.StatusOK {
		t.Fatalf("invite page: %d", pg.Status)
	}
	newcomer := map[string]string{"username": "dave", "name": "Dave", "password": "a long enough password"}
	if pg := dave.Post(t, m[1], newcomer); pg.Status != http.StatusSeeOther {
		t.Fatalf("redeem: %d\n%s", pg.Status, pg.HTML)
	}
	if pg := dave.Get(t, "/"); pg.Status != http.StatusOK || !strings.Contains(pg.HTML, "Dave") {
		t.Fatalf("the invitee is not logged in: %d", pg.Status)
	}
	again := w.ps.NewBrowser(t)
	if pg := again.Get(t, m[1]); pg.Status != http.StatusNotFound {
		t.Fatalf("used invite page: %d", pg.Status)
	}
	newcomer["username"] = "eve"
	// Refused, and answered with POST/redirect/GET: back to the
	// invitation's page, which says it is not valid (issue 9 item 8).
	if pg := again.Post(t, m[1], newcomer); pg.Status != http.StatusSeeOther || pg.Location != m[1] {
		t.Fatalf("redeeming a used invitation: %d to %q", pg.Status, pg.Location)
	} else if shown := again.Follow(t, pg); shown.Status != http.StatusNotFound || !strings.Contains(shown.HTML, "Invitation not valid") {
		t.Fatalf("after redeeming a used invitation: %d\n%s", shown.Status, shown.HTML)
	}
	if _, err := w.ps.App.Accounts.PersonByUsername(ctxT(), "eve"); err == nil {
		t.Fatal("an invitation was redeemed twice")
	}

	// Sign-up is off unless configured.
	if pg := again.Get(t, "/signup"); pg.Status != http.StatusNotFound {
		t.Fatalf("/signup: %d", pg.Status)
	}
	if pg := again.Post(t, "/signup", newcomer); pg.Status != http.StatusNotFound {
		t.Fatalf("POST /signup: %d", pg.Status)
	}

	// Disabling a person ends their sessions, and their agents' requests.
	w.bind(t, w.agent, b2)
	admin.Get(t, "/admin/persons")
	if pg := admin.Post(t, "/admin/persons/"+bobPerson.ID+"/toggle", nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("disable: %d\n%s", pg.Status, pg.HTML)
	}
	if pg := b2.Get(t, "/"); pg.Status != http.StatusSeeOther || !strings.HasPrefix(pg.Location, "/login") {
		t.Fatalf("a disabled person's session still works: %d", pg.Status)
	}
	if pg := loginAs(t, w.ps.NewBrowser(t), "bob", pstest.TestPassword, "/"); pg.Location != "/login?next=%2F" {
		t.Fatalf("a disabled person can log in: %d to %q", pg.Status, pg.Location)
	}
	expectProblem(t, w.relay(t, w.agent, relayQuestion("Still yours?", "interaction")), http.StatusForbidden, aauth.ErrDenied)
}

// TestSignup: /signup with AllowSignup creates an account and logs it in.
func TestSignup(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{Configure: func(c *config.Config) { c.AllowSignup = true }})
	b := w.ps.NewBrowser(t)
	if pg := b.Get(t, "/login"); !strings.Contains(pg.HTML, `href="/signup"`) {
		t.Fatalf("the login page does not offer sign-up:\n%s", pg.HTML)
	}
	if pg := b.Get(t, "/signup"); pg.Status != http.StatusOK {
		t.Fatalf("/signup: %d", pg.Status)
	}
	if pg := b.Post(t, "/signup", map[string]string{"username": "frank", "name": "Frank", "password": "a long enough password"}); pg.Status != http.StatusSeeOther {
		t.Fatalf("sign up: %d\n%s", pg.Status, pg.HTML)
	}
	if pg := b.Get(t, "/"); pg.Status != http.StatusOK || !strings.Contains(pg.HTML, "Frank") {
		t.Fatalf("not logged in after sign-up: %d", pg.Status)
	}
	taken := w.ps.NewBrowser(t)
	pg := taken.Post(t, "/signup", map[string]string{"username": "frank", "name": "F", "password": "another long password"})
	if pg.Status != http.StatusSeeOther || pg.Location != "/signup" {
		t.Fatalf("a taken username: %d to %q, want 303 to /signup (POST/redirect/GET)", pg.Status, pg.Location)
	}
	if shown := taken.Follow(t, pg); shown.Status != http.StatusOK || !strings.Contains(shown.HTML, `role="alert"`) ||
		!strings.Contains(shown.HTML, `value="frank"`) || strings.Contains(shown.HTML, "another long password") {
		t.Fatalf("the sign-up page after a taken username:\n%s", shown.HTML)
	}
}
