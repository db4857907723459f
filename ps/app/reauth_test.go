package app_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// Credential changes need a recent proof of a credential (review rev2 #1;
// docs/decisions.md, "Credential changes need a recent proof"): a session
// cookie alone adds no password or passkey and removes no passkey, and so
// cannot end the owner's other sessions. The login, a password given on
// /reauth, or the current password on the change form are such proofs.

// sessionBrowser is a browser holding the session made by start (CreateSession: a cookie with no proof; StartSession: a login).
func sessionBrowser(t *testing.T, w *world, start func(*testing.T) (string, error)) *pstest.Browser {
	t.Helper()
	b := w.ps.NewBrowser(t)
	tok, err := start(t)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(w.ps.Issuer + "/")
	b.Client.Jar.SetCookies(u, []*http.Cookie{{Name: "__Host-aauth_ps_session", Value: tok, Path: "/", Secure: true}})
	return b
}

func TestReauthGuardsCredentialChanges(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	carol, err := w.ps.App.Accounts.CreatePerson(t.Context(), account.NewPerson{Username: "carol", Name: "Carol"})
	if err != nil {
		t.Fatal(err)
	}
	bare := func(t *testing.T) (string, error) {
		tok, _, err := w.ps.App.Accounts.CreateSession(t.Context(), carol.ID, "test", "192.0.2.1")
		return tok, err
	}
	proved := func(t *testing.T) (string, error) {
		tok, _, err := w.ps.App.Accounts.StartSession(t.Context(), carol.ID, "test", "192.0.2.1")
		return tok, err
	}
	owner, thief := sessionBrowser(t, w, proved), sessionBrowser(t, w, bare)

	// The thief's every credential change is sent to /reauth and changes nothing.
	thief.Get(t, "/settings")
	for _, path := range []string{"/settings/password", "/settings/passkeys/some-id/delete"} {
		pg := thief.Post(t, path, map[string]string{"new": "the thief's own password now"})
		if pg.Status != http.StatusSeeOther || !strings.HasPrefix(pg.Location, "/reauth?next=") {
			t.Fatalf("%s without a recent proof: %d to %q, want a redirect to /reauth", path, pg.Status, pg.Location)
		}
	}
	pg := thief.Post(t, "/settings/passkeys/begin", nil)
	if pg.Status != http.StatusForbidden || !strings.Contains(pg.HTML, `"reauth_required"`) {
		t.Fatalf("passkey registration without a recent proof: %d %s", pg.Status, pg.HTML)
	}
	pg = thief.Get(t, "/reauth?next=/settings")
	if pg.Status != http.StatusOK || !strings.Contains(pg.HTML, "no password or passkey to confirm with") {
		t.Fatalf("the re-authentication page of an account without credentials: %d\n%s", pg.Status, pg.HTML)
	}
	if p, _ := w.ps.App.Accounts.Person(t.Context(), carol.ID); p.HasPassword {
		t.Fatal("a refused change set a password")
	}
	if owner.Get(t, "/").Status != http.StatusOK {
		t.Fatal("a refused change ended the owner's session")
	}

	// The owner, who just logged in, sets a password; the thief is out.
	owner.Get(t, "/settings")
	if pg = owner.Follow(t, owner.Post(t, "/settings/password", map[string]string{"new": "carol's own strong password"})); !strings.Contains(pg.HTML, "Password changed") {
		t.Fatalf("a recent login may set a password:\n%s", pg.HTML)
	}
	if thief.Get(t, "/").Status == http.StatusOK {
		t.Fatal("the password change left the thief's session")
	}

	// The proof lasts ReauthWindow: after it the change goes to /reauth.
	w.clock.Advance(account.ReauthWindow + time.Second)
	owner.Get(t, "/settings")
	if pg = owner.Post(t, "/settings/passkeys/some-id/delete", nil); !strings.HasPrefix(pg.Location, "/reauth") {
		t.Fatalf("a stale proof removes a passkey: %d %q", pg.Status, pg.Location)
	}
	// A wrong password on /reauth proves nothing.
	owner.Get(t, "/reauth?next=/settings")
	pg = owner.Follow(t, owner.Post(t, "/reauth", map[string]string{"password": "wrong", "next": "/settings"}))
	if !strings.Contains(pg.HTML, "The password is wrong.") {
		t.Fatalf("a wrong password on /reauth:\n%s", pg.HTML)
	}
	owner.Get(t, "/settings")
	if pg = owner.Post(t, "/settings/passkeys/some-id/delete", nil); !strings.HasPrefix(pg.Location, "/reauth") {
		t.Fatalf("a wrong password counted as a proof: %q", pg.Location)
	}
	// The right one does, and sends the person back (never off this origin).
	owner.Get(t, "/reauth?next=/settings")
	pg = owner.Post(t, "/reauth", map[string]string{"password": "carol's own strong password", "next": "//evil.example"})
	if pg.Status != http.StatusSeeOther || pg.Location != "/" {
		t.Fatalf("re-authentication: %d to %q, want / (a foreign next is dropped)", pg.Status, pg.Location)
	}
	owner.Get(t, "/settings")
	if pg = owner.Follow(t, owner.Post(t, "/settings/passkeys/some-id/delete", nil)); !strings.Contains(pg.HTML, "There is no such passkey.") {
		t.Fatalf("after re-authenticating, the removal is not let through:\n%s", pg.HTML)
	}
}

// A password holder changing the password gives the current one, which
// is the proof: no /reauth step however old the login.
func TestReauthNotNeededWithCurrentPassword(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	alice := w.person(t, "alice", false)
	w.clock.Advance(account.ReauthWindow + time.Minute)
	alice.Get(t, "/settings")
	pg := alice.Follow(t, alice.Post(t, "/settings/password", map[string]string{"current": "wrong", "new": "a brand new passphrase"}))
	if !strings.Contains(pg.HTML, "The current password is wrong.") {
		t.Fatalf("a wrong current password:\n%s", pg.HTML)
	}
	pg = alice.Follow(t, alice.Post(t, "/settings/password", map[string]string{"current": pstest.TestPassword, "new": "a brand new passphrase"}))
	if !strings.Contains(pg.HTML, "Password changed") {
		t.Fatalf("the current password did not let the change through:\n%s", pg.HTML)
	}
}
