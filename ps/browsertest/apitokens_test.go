package browsertest_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestBrowserAPITokens (issue 14): an administrator makes an API token on
// "API tokens" (reached from the navigation): the form answers with a
// redirect (PRG) to the page that shows the secret this once; the token
// works as Authorization: Bearer on mission control, and the page then
// shows when it was last used; a reload no longer shows the secret; an
// admin-scoped token for a person who is not an administrator is refused
// with a clear message and makes nothing; revoking it (PRG) makes the
// next bearer request 401. Audited at 1280 and 390 px with axe-core, and
// photographed.
func TestBrowserAPITokens(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	alice := w.ps.CreatePerson(t, "alice", false)
	w.ps.CreatePerson(t, "root", true)
	b := newBrowser(t, w)
	b.open("/login")
	b.login("root", pstest.TestPassword)
	b.expectHeading("Hello, Root")
	b.click(`a[href="/admin/api-tokens"]`)
	b.expectHeading("API tokens")
	b.expectText("No API tokens yet.", "Make an API token")
	b.audit("admin-api-tokens-empty", http.StatusOK)

	bearer := func(secret string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, w.ps.URL("/mission-control/missions"), nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		res, err := w.env.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}

	// Made, shown once after the redirect.
	b.fill("t-name", "nightly export")
	b.step("choose mission-control", chromedp.Click(chromedp.CSS("#t-mc"), chromedp.NodeVisible))
	b.clickButton("Make token")
	b.expectAt("/admin/api-tokens")
	b.expectText("API token made.", "shown only this once", "nightly export", "mission-control", "never")
	secret := run(b, "read the new token", chromedp.Evaluate[string](`document.getElementById('new-token').value`))
	if !strings.HasPrefix(secret, "aaps_") {
		t.Fatalf("the page shows %q, not an API token", secret)
	}
	b.audit("admin-api-tokens-new", http.StatusOK)
	if st := bearer(secret); st != http.StatusOK {
		t.Fatalf("mission control with the new token: %d", st)
	}
	b.reload()
	b.expectHeading("API tokens")
	if text := b.text(); strings.Contains(text, "shown only this once") || strings.Contains(run(b, "page HTML", chromedp.Evaluate[string](`document.documentElement.outerHTML`)), secret) {
		t.Fatal("after a reload the secret is shown again")
	}
	if strings.Contains(b.text(), "never") {
		t.Error("the used token is still shown as never used")
	}
	b.audit("admin-api-tokens-list", http.StatusOK)

	// An admin scope for a person who is not an administrator: refused,
	// nothing made.
	before := w.ps.TableCounts(t)
	b.fill("t-name", "too much")
	run(b, "choose alice", chromedp.Evaluate[bool](`(() => { const s = document.getElementById('t-person'); s.value = '`+alice.ID+`'; return s.value === '`+alice.ID+`'; })()`))
	b.step("choose admin", chromedp.Click(chromedp.CSS("#t-admin"), chromedp.NodeVisible))
	b.clickButton("Make token")
	b.expectAt("/admin/api-tokens")
	b.expectText("An admin-scoped token must act as an administrator; alice is not one.")
	b.audit("", http.StatusOK)
	if after := w.ps.TableCounts(t); after["api_tokens"] != before["api_tokens"] {
		t.Fatalf("a refused token was stored: %d -> %d", before["api_tokens"], after["api_tokens"])
	}

	// Revoked: PRG, and the token no longer works.
	b.click(`button[aria-label="Revoke API token nightly export"]`)
	b.expectAt("/admin/api-tokens")
	b.expectText("API token revoked: it no longer works.", "revoked")
	b.audit("admin-api-tokens-revoked", http.StatusOK)
	if st := bearer(secret); st != http.StatusUnauthorized {
		t.Fatalf("mission control with the revoked token: %d, want 401", st)
	}
}
