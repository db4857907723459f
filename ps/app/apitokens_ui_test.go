package app_test

import (
	"net/http"
	"regexp"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/audit"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestAPITokensAdminUI (issue 14): the administrator's API token forms go
// through ps/apitoken and write the operator log (`api token created`,
// `api token revoked`, each with who did it and never the secret); a
// person who is not an administrator gets 403 and makes nothing; revoking
// an unknown or already revoked token is refused and changes nothing.
func TestAPITokensAdminUI(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	w, alice, _ := missionWorld(t, pstest.Options{Logs: &logs})
	root := w.person(t, "root", true)
	rootPerson, err := w.ps.App.Accounts.PersonByUsername(ctxT(), "root")
	if err != nil {
		t.Fatal(err)
	}

	// Not an administrator: refused, nothing made.
	alice.Get(t, "/")
	before := w.ps.TableCounts(t)
	if pg := alice.Post(t, "/admin/api-tokens", map[string]string{"name": "x", "person": rootPerson.ID, "scope": "read", "days": "7"}); pg.Status != http.StatusForbidden {
		t.Fatalf("a person's POST: %d", pg.Status)
	}
	writesNothing(t, w.ps, before)

	root.Get(t, "/admin/api-tokens")
	pg := root.Post(t, "/admin/api-tokens", map[string]string{"name": "ci", "person": rootPerson.ID, "scope": "admin", "days": "30"})
	if pg.Status != http.StatusSeeOther {
		t.Fatalf("create: %d", pg.Status)
	}
	page := root.Get(t, "/admin/api-tokens")
	secret := regexp.MustCompile(`value="(aaps_[A-Za-z0-9_-]+)"`).FindStringSubmatch(page.HTML)
	if secret == nil {
		t.Fatalf("the new token is not shown:\n%s", page.HTML)
	}
	if again := root.Get(t, "/admin/api-tokens"); regexp.MustCompile(secret[1]).MatchString(again.HTML) {
		t.Fatal("the secret is shown a second time")
	}
	tokens, err := w.ps.App.APITokens.List(ctxT())
	if err != nil || len(tokens) != 1 || tokens[0].Scope != "admin" || tokens[0].PersonID != rootPerson.ID {
		t.Fatalf("tokens %+v %v", tokens, err)
	}
	created := expectEvent(t, logEvents(t, &logs), "api token created", map[string]any{"by": rootPerson.ID, "id": tokens[0].ID, "scope": "admin"})
	for _, v := range created {
		if s, ok := v.(string); ok && s == secret[1] {
			t.Fatal("the secret is in the log")
		}
	}

	if pg := root.Post(t, "/admin/api-tokens/"+tokens[0].ID+"/revoke", nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", pg.Status)
	}
	expectEvent(t, logEvents(t, &logs), "api token revoked", map[string]any{"by": rootPerson.ID, "id": tokens[0].ID})
	// Issue 14: both UI actions are in the administrator's audit trail,
	// newest first, attributed to the administrator, without the secret.
	trail, err := w.ps.App.Store.AuditEvents(ctxT(), 0, 10)
	if err != nil || len(trail) != 2 || trail[0].Action != "api-token.revoke" || trail[1].Action != "api-token.create" ||
		trail[1].Actor != (audit.Actor{Kind: audit.ActorAdmin, ID: rootPerson.ID}) || trail[1].Target != "api-token:"+tokens[0].ID ||
		trail[1].Detail["scope"] != "admin" {
		t.Fatalf("audit trail: %+v %v", trail, err)
	}
	for _, v := range trail[1].Detail {
		if s, ok := v.(string); ok && s == secret[1] {
			t.Fatal("the secret is in the audit trail")
		}
	}
	before = w.ps.TableCounts(t)
	for _, id := range []string{tokens[0].ID, "unknown"} {
		if pg := root.Post(t, "/admin/api-tokens/"+id+"/revoke", nil); pg.Status != http.StatusSeeOther {
			t.Fatalf("revoke %s again: %d", id, pg.Status)
		}
		if page := root.Get(t, "/admin/api-tokens"); !regexp.MustCompile(`already revoked or does not exist`).MatchString(page.HTML) {
			t.Fatalf("revoking %s again is not refused", id)
		}
	}
	writesNothing(t, w.ps, before)
	expectEvent(t, logEvents(t, &logs), "api token revoked", map[string]any{"id": tokens[0].ID})
}
