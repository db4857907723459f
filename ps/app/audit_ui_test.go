package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestAuditPageAccess (issue 14): /admin/audit is an administrator's page
// (a person who is not one gets 403); a malformed or negative ?before=
// shows the newest page instead of failing; reading it changes nothing.
func TestAuditPageAccess(t *testing.T) {
	t.Parallel()
	w, alice, _ := missionWorld(t, pstest.Options{})
	root := w.person(t, "root", true)
	if pg := alice.Get(t, "/admin/audit"); pg.Status != http.StatusForbidden {
		t.Fatalf("a person's GET: %d", pg.Status)
	}
	root.Get(t, "/admin/persons")
	if pg := root.Post(t, "/admin/persons", map[string]string{"username": "bob", "name": "Bob"}); pg.Status != http.StatusSeeOther {
		t.Fatalf("create bob: %d", pg.Status)
	}
	before := w.ps.TableCounts(t)
	for _, q := range []string{"", "?before=x", "?before=-5", "?before=99999999999999999999"} {
		pg := root.Get(t, "/admin/audit"+q)
		if pg.Status != http.StatusOK || !strings.Contains(pg.HTML, "person.create") || !strings.Contains(pg.HTML, "person:bob") {
			t.Fatalf("GET /admin/audit%s: %d\n%s", q, pg.Status, pg.HTML)
		}
	}
	writesNothing(t, w.ps, before)
}
