package app_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestInvitationsListedAndRevocable (issue 9 item 10): an administrator
// sees every open invitation with its expiry and revokes it; the link then
// no longer works. Only administrators may revoke; a revoked, used or
// unknown invitation is refused with a sentence and nothing changes.
func TestInvitationsListedAndRevocable(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	w := newWorld(t, pstest.Options{Logs: &logs})
	admin := w.person(t, "root", true)
	bob := w.person(t, "bob", false)

	admin.Get(t, "/admin/persons")
	pg := admin.Follow(t, admin.Post(t, "/admin/invites", map[string]string{"email": "dave@example.com"}))
	m := regexp.MustCompile(regexp.QuoteMeta(w.ps.Issuer) + `(/invite/[A-Za-z0-9_-]+)`).FindStringSubmatch(pg.HTML)
	if m == nil || !strings.Contains(pg.HTML, `id="invite-link"`) || !strings.Contains(pg.HTML, "readonly") {
		t.Fatalf("the new link is not shown in a field to copy:\n%s", pg.HTML)
	}
	link := m[1]
	list := admin.Get(t, "/admin/persons")
	id := regexp.MustCompile(`name="id" value="([0-9a-f]{64})"`).FindStringSubmatch(list.HTML)
	if id == nil || !strings.Contains(list.HTML, "dave@example.com") || !strings.Contains(list.HTML, `data-label="Expires"><time`) ||
		strings.Contains(list.HTML, link) {
		t.Fatalf("the open invitation is not listed with its expiry (or its link is shown again):\n%s", list.HTML)
	}

	bob.Get(t, "/")
	if pg := bob.Post(t, "/admin/invites/revoke", map[string]string{"id": id[1]}); pg.Status != http.StatusForbidden {
		t.Fatalf("a non-administrator revoking: %d", pg.Status)
	}
	if pg := w.ps.NewBrowser(t).Get(t, link); pg.Status != http.StatusOK {
		t.Fatalf("the link after a refused revocation: %d", pg.Status)
	}

	admin.Get(t, "/admin/persons")
	done := admin.Post(t, "/admin/invites/revoke", map[string]string{"id": id[1]})
	if done.Status != http.StatusSeeOther || done.Location != "/admin/persons" {
		t.Fatalf("revoke: %d to %q", done.Status, done.Location)
	}
	if after := admin.Follow(t, done); !strings.Contains(after.HTML, "Invitation revoked") || !strings.Contains(after.HTML, "No invitation is open.") {
		t.Fatalf("after revoking:\n%s", after.HTML)
	}
	if pg := w.ps.NewBrowser(t).Get(t, link); pg.Status != http.StatusNotFound {
		t.Fatalf("a revoked link still opens: %d", pg.Status)
	}
	again := admin.Post(t, "/admin/invites/revoke", map[string]string{"id": id[1]})
	if shown := admin.Follow(t, again); !strings.Contains(shown.HTML, `role="alert">That invitation is no longer open`) {
		t.Fatalf("revoking twice:\n%s", shown.HTML)
	}
	if !strings.Contains(logs.String(), `"msg":"invitation revoked"`) || !strings.Contains(logs.String(), `"username":"root"`) {
		t.Fatal("the revocation was not logged")
	}
}
