package browsertest_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// addAuthenticator gives the browser a virtual passkey authenticator
// that says yes at once.
func addAuthenticator(t *testing.T, b *browser) webauthn.AddVirtualAuthenticatorResult {
	t.Helper()
	if _, err := chromedp.Call(b.ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	auth, err := chromedp.Call(b.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}})
	if err != nil {
		t.Fatal(err)
	}
	return auth
}

// TestBrowserReauth: a credential change from a login older than
// account.ReauthWindow goes through "Confirm it is you" (review rev2 #1),
// with a passkey (script) or the password (no script needed), and comes
// back to Settings; the page is audited.
func TestBrowserReauth(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ps.CreatePerson(t, "alice", false)
	b := newBrowser(t, w)
	addAuthenticator(t, b)

	b.open("/login")
	b.login("alice", pstest.TestPassword)
	b.expectHeading("Hello, Alice")
	b.open("/settings")
	b.fill("passkey-name", "Test laptop")
	b.click("#passkey-register")
	b.expectHeading("Settings")
	b.expectText("Test laptop")

	// Long after the login, removing the passkey asks for a proof first.
	w.clock.Advance(account.ReauthWindow + time.Minute)
	b.click(`button[aria-label="Remove passkey Test laptop"]`)
	b.expectHeading("Confirm it is you")
	b.expectText("Confirm it is you first", "Your password", "Confirm with a passkey")
	b.audit("reauth", http.StatusOK)
	b.click("#passkey-login")
	b.expectHeading("Settings")
	b.click(`button[aria-label="Remove passkey Test laptop"]`)
	b.expectHeading("Settings")
	b.expectText("Passkey removed.", "No passkey yet.")

	// Adding one later: the script sends the person to confirm, here
	// with the password, and back.
	w.clock.Advance(account.ReauthWindow + time.Minute)
	b.click("#passkey-register")
	b.expectHeading("Confirm it is you")
	b.fill("password", pstest.TestPassword)
	b.clickButton("Confirm")
	b.expectHeading("Settings")
	b.click("#passkey-register")
	b.expectHeading("Settings")
	b.expectText("added")
}
