package app_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// evilNext are redirect targets that a browser would turn into another
// origin (or that are no plain path), each once as the login form's next
// and once as /login?next= of a logged-in person (issue 15 item 3).
var evilNext = []string{
	"/\t/evil.example",     // browsers drop the TAB: //evil.example
	"/\n/evil.example",     // and LF
	"/\r/evil.example",     // and CR
	"/\\evil.example",      // '\' reads as '/'
	"/\\/evil.example",     //
	"//evil.example",       // scheme-relative
	"///evil.example",      //
	"/ /evil.example",      // a space
	"/\u00a0/evil.example", // a no-break space
	"/\x00/evil.example",   // NUL
	"/\x7f/evil.example",   // DEL
	"/\u2028/evil.example",
	"https://evil.example/",
	"http:/evil.example",
	"evil.example",
	"javascript:alert(1)",
	"/%zz", // does not parse
	"",
}

// TestLoginRedirectStaysOnThisOrigin: the login's next goes through the real
// handler, and only a same-origin path comes back in Location (issue 15
// item 3; the page behind it is PS-164's authenticated session).
func TestLoginRedirectStaysOnThisOrigin(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	w.ps.CreatePerson(t, "alice", false)
	logged := w.ps.NewBrowser(t)
	logged.Login(t, "alice")
	for _, next := range evilNext {
		if pg := loginAs(t, w.ps.NewBrowser(t), "alice", pstest.TestPassword, next); pg.Status != http.StatusSeeOther || pg.Location != "/" {
			t.Errorf("POST /login next=%q: %d Location %q, want 303 to /", next, pg.Status, pg.Location)
		}
		if pg := logged.Get(t, "/login?next="+url.QueryEscape(next)); pg.Status != http.StatusSeeOther || pg.Location != "/" {
			t.Errorf("GET /login?next=%q: %d Location %q, want 303 to /", next, pg.Status, pg.Location)
		}
	}
	// The raw query of the report: %09 decodes to a TAB.
	if pg := logged.Get(t, "/login?next=/%09/evil.example"); pg.Location != "/" {
		t.Errorf("GET /login?next=/%%09/evil.example: Location %q", pg.Location)
	}
	for _, next := range []string{"/agents", "/interact/abc?code=X-Y", "/missions/a_b-c#log", "/settings?tab=a%2Fb"} {
		if pg := loginAs(t, w.ps.NewBrowser(t), "alice", pstest.TestPassword, next); pg.Location != next {
			t.Errorf("POST /login next=%q: Location %q, want it kept", next, pg.Location)
		}
	}
}

// TestEveryCookieHostPrefixed: over https every cookie the UI sets, the
// flash notice included, is __Host- prefixed, Secure, HttpOnly,
// SameSite=Lax, host-only and for Path=/ (issue 15 item 5).
func TestEveryCookieHostPrefixed(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	w.ps.CreatePerson(t, "alice", false)
	b := w.ps.NewBrowser(t)
	login := loginAs(t, b, "alice", pstest.TestPassword, "/")
	b.Get(t, "/settings")
	flash := b.Post(t, "/settings/profile", map[string]string{"name": "Alice", "email": ""})
	if flash.Status != http.StatusSeeOther {
		t.Fatalf("save profile: %d", flash.Status)
	}
	shown := b.Get(t, "/settings")
	if !strings.Contains(shown.HTML, "Saved.") {
		t.Fatalf("the flash notice was not shown:\n%s", shown.HTML)
	}
	seen := map[string]bool{}
	for _, pg := range []pstest.Page{login, flash, shown} {
		for _, raw := range pg.Header.Values("Set-Cookie") {
			ck, err := http.ParseSetCookie(raw)
			if err != nil {
				t.Fatalf("Set-Cookie %q: %v", raw, err)
			}
			seen[ck.Name] = true
			if !strings.HasPrefix(ck.Name, "__Host-") || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode ||
				ck.Path != "/" || ck.Domain != "" {
				t.Errorf("cookie without the common flags: %s", raw)
			}
		}
	}
	for _, name := range []string{"__Host-aauth_ps_session", "__Host-aauth_ps_flash"} {
		if !seen[name] {
			t.Errorf("no %s cookie was set (saw %v)", name, seen)
		}
	}
}

// TestPasswordChangeEndsOtherSessions: alice is logged in twice; changing
// her password in one browser logs the other out, rotates the cookie of
// the first (its old value stops working) and keeps that browser logged
// in. A wrong current password changes nothing (issue 15 item 4).
func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	w.ps.CreatePerson(t, "alice", false)
	here, there := w.ps.NewBrowser(t), w.ps.NewBrowser(t)
	here.Login(t, "alice")
	there.Login(t, "alice")
	old := sessionCookie(t, here)

	here.Get(t, "/settings")
	if pg := here.Post(t, "/settings/password", map[string]string{"current": "not my password", "new": "a brand new password"}); pg.Status != http.StatusSeeOther {
		t.Fatalf("wrong current password: %d", pg.Status)
	}
	if pg := there.Get(t, "/"); pg.Status != http.StatusOK {
		t.Fatalf("a refused password change ended another session: %d", pg.Status)
	}

	here.Get(t, "/settings")
	if pg := here.Post(t, "/settings/password", map[string]string{"current": pstest.TestPassword, "new": "a brand new password"}); pg.Status != http.StatusSeeOther {
		t.Fatalf("change password: %d\n%s", pg.Status, pg.HTML)
	}
	if pg := here.Get(t, "/settings"); pg.Status != http.StatusOK || !strings.Contains(pg.HTML, "Password changed") {
		t.Fatalf("the changing browser is no longer logged in: %d", pg.Status)
	}
	if sessionCookie(t, here).Value == old.Value {
		t.Fatal("the session cookie was not rotated")
	}
	if pg := there.Get(t, "/"); pg.Status != http.StatusSeeOther || !strings.HasPrefix(pg.Location, "/login") {
		t.Fatalf("the other session survived the password change: %d", pg.Status)
	}
	replay := w.ps.NewBrowser(t)
	u, _ := url.Parse(w.ps.Issuer + "/")
	replay.Client.Jar.SetCookies(u, []*http.Cookie{{Name: old.Name, Value: old.Value, Path: "/", Secure: true}})
	if pg := replay.Get(t, "/"); pg.Status != http.StatusSeeOther {
		t.Fatalf("the pre-change cookie still works: %d", pg.Status)
	}
	if pg := loginAs(t, w.ps.NewBrowser(t), "alice", "a brand new password", "/"); pg.Status != http.StatusSeeOther {
		t.Fatalf("the new password does not log in: %d", pg.Status)
	}
}
