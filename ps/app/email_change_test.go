package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// Settings limits a person's email changes (review rev2 #4,
// docs/decisions.md "Email changes are limited, not disguised"): saving
// the profile with the same address (a name change) is not counted; past
// the limit the save is refused with Retry-After and nothing is saved,
// the name included.
func TestSettingsEmailChangesLimited(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	alice := w.person(t, "alice", false)
	save := func(name, email string) pstest.Page {
		alice.Get(t, "/settings")
		return alice.Post(t, "/settings/profile", map[string]string{"name": name, "email": email})
	}
	for i := range account.MaxEmailChanges {
		if pg := alice.Follow(t, save("Alice", fmt.Sprintf("a%d@example.com", i))); !strings.Contains(pg.HTML, "Saved.") {
			t.Fatalf("change %d:\n%s", i, pg.HTML)
		}
	}
	last := fmt.Sprintf("a%d@example.com", account.MaxEmailChanges-1)
	if pg := alice.Follow(t, save("Alice Liddell", last)); !strings.Contains(pg.HTML, "Saved.") {
		t.Fatalf("a name change with the same address was counted:\n%s", pg.HTML)
	}
	pg := save("Mallory", "other@example.com")
	if pg.Status != http.StatusSeeOther || pg.Header.Get("Retry-After") == "" {
		t.Fatalf("past the limit: %d, Retry-After %q", pg.Status, pg.Header.Get("Retry-After"))
	}
	if pg = alice.Follow(t, pg); !strings.Contains(pg.HTML, "Too many email address changes. Nothing was saved") {
		t.Fatalf("past the limit:\n%s", pg.HTML)
	}
	p, err := w.ps.App.Accounts.PersonByUsername(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if p.Email != last || p.Name != "Alice Liddell" {
		t.Fatalf("a refused save changed the profile: %q %q", p.Name, p.Email)
	}
}
