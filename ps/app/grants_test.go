package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestGrantsPageRemoveConsent: issue 9 item 5 — the person's person-token
// consent (PS-070) is listed on /access and removable (POST/redirect/GET,
// CSRF); the next person-token request asks again (202, PS-063); another
// person cannot remove it (the same 404 as for a grant that does not
// exist, nothing changed); the removal is logged.
func TestGrantsPageRemoveConsent(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	w, b, _ := missionWorld(t, pstest.Options{Logs: &logs})

	s := w.expectInteraction(t, w.post(t, w.agent, "/person", `{"resource":"https://rs.test","capabilities":["interaction"]}`))
	open(t, b, s)
	b.Post(t, s.path()+"/approve", nil)
	if r := w.poll(t, w.agent, s.loc); r.status != http.StatusOK || r.body["person_token"] == nil {
		t.Fatalf("consent poll: %d %s", r.status, r.raw)
	}
	if r := w.post(t, w.agent, "/person", `{"resource":"https://rs.test"}`); r.status != http.StatusOK {
		t.Fatalf("with consent: %d %s", r.status, r.raw)
	}

	pg := b.Get(t, "/access")
	if pg.Status != http.StatusOK || !strings.Contains(pg.HTML, w.agent.ID) || !strings.Contains(pg.HTML, "https://rs.test") ||
		!strings.Contains(pg.HTML, "Person tokens") || !strings.Contains(pg.HTML, `action="/access/remove"`) {
		t.Fatalf("the access page does not list the consent: %d\n%s", pg.Status, pg.HTML)
	}
	remove := map[string]string{"kind": "consent", "agent_iss": w.agent.Issuer, "agent_sub": w.agent.ID, "resource": "https://rs.test"}

	// Another person posting alice's grant key: the same 404 as a grant
	// that does not exist, and nothing changed.
	mallory := w.person(t, "mallory", false)
	if pg := mallory.Get(t, "/access"); pg.Status != http.StatusOK || strings.Contains(pg.HTML, "https://rs.test") {
		t.Fatalf("another person's access page shows alice's grant: %d\n%s", pg.Status, pg.HTML)
	}
	before := w.ps.TableCounts(t)
	theirs := mallory.Post(t, "/access/remove", remove)
	none := mallory.Post(t, "/access/remove", map[string]string{"kind": "consent", "agent_iss": w.agent.Issuer,
		"agent_sub": w.agent.ID, "resource": "https://nowhere.test"})
	if theirs.Status != http.StatusNotFound || theirs.Status != none.Status || theirs.HTML != none.HTML {
		t.Fatalf("another person's removal: %d, a missing grant: %d\n%s\n---\n%s", theirs.Status, none.Status, theirs.HTML, none.HTML)
	}
	for name, fields := range map[string]map[string]string{
		"unknown kind":  {"kind": "everything", "agent_iss": w.agent.Issuer, "agent_sub": w.agent.ID, "resource": "https://rs.test"},
		"no resource":   {"kind": "consent", "agent_iss": w.agent.Issuer, "agent_sub": w.agent.ID},
		"wrong csrf":    {"kind": "consent", "agent_iss": w.agent.Issuer, "agent_sub": w.agent.ID, "resource": "https://rs.test", "csrf": "forged"},
		"empty request": {},
	} {
		if pg := b.Post(t, "/access/remove", fields); pg.Status < 400 {
			t.Fatalf("%s: %d, want a refusal", name, pg.Status)
		}
	}
	unchanged(t, w.ps, before)
	if r := w.post(t, w.agent, "/person", `{"resource":"https://rs.test","x":2}`); r.status != http.StatusOK {
		t.Fatalf("the consent did not survive the refused removals: %d %s", r.status, r.raw)
	}

	done := b.Post(t, "/access/remove", remove)
	if done.Status != http.StatusSeeOther || done.Header.Get("Location") != "/access" {
		t.Fatalf("remove: %d %v, want 303 to /access (POST/redirect/GET)", done.Status, done.Header)
	}
	after := b.Follow(t, done)
	if after.Status != http.StatusOK || !strings.Contains(after.HTML, "Access removed") || strings.Contains(after.HTML, `action="/access/remove"`) {
		t.Fatalf("after removal: %d\n%s", after.Status, after.HTML)
	}
	if !strings.Contains(logs.String(), `"msg":"person removed a grant"`) || !strings.Contains(logs.String(), `"username":"alice"`) {
		t.Fatalf("the removal was not logged:\n%s", logs.String())
	}

	// PS-063: the next person-token request asks the person again.
	again := w.expectInteraction(t, w.post(t, w.agent, "/person", `{"resource":"https://rs.test","capabilities":["interaction"],"x":3}`))
	expect202(t, w.poll(t, w.agent, again.loc), w.ps.Issuer)
	if pg := b.Post(t, "/access/remove", remove); pg.Status != http.StatusNotFound {
		t.Fatalf("removing twice: %d", pg.Status)
	}
}

// TestGrantsPageRemoveScopes: issue 9 item 5 — an auth-token scope grant
// (PS-102) is listed on /access with its scopes, next to the person-token
// consent it needed; removing the scope grant keeps the consent, and the
// next auth-token request for the scope asks the person again (202) while
// the person token is still issued at once.
func TestGrantsPageRemoveScopes(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	rt := resourceToken(t, w, rs, pt, "calendar.read", nil)
	s := w.expectInteraction(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt,
		"capabilities": []string{"interaction"}})))
	open(t, b, s)
	b.Post(t, s.path()+"/approve", nil)
	expectAuthToken(t, w, rs, w.poll(t, w.agent, s.loc), pt)
	expectAuthToken(t, w, rs, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt})), pt)

	pg := b.Get(t, "/access")
	if pg.Status != http.StatusOK || strings.Count(pg.HTML, `action="/access/remove"`) != 2 ||
		!strings.Contains(pg.HTML, "Auth tokens with scopes <code>calendar.read</code>") || !strings.Contains(pg.HTML, "Person tokens") {
		t.Fatalf("the access page does not list the consent and the scope grant: %d\n%s", pg.Status, pg.HTML)
	}
	done := b.Post(t, "/access/remove", map[string]string{"kind": "scopes", "agent_iss": w.agent.Issuer,
		"agent_sub": w.agent.ID, "resource": rs.Issuer()})
	if done.Status != http.StatusSeeOther || done.Header.Get("Location") != "/access" {
		t.Fatalf("remove: %d %v", done.Status, done.Header)
	}
	if pg := b.Follow(t, done); strings.Contains(pg.HTML, "calendar.read") || strings.Count(pg.HTML, `action="/access/remove"`) != 1 {
		t.Fatalf("after removing the scope grant:\n%s", pg.HTML)
	}
	rt2 := resourceToken(t, w, rs, pt, "calendar.read", func(s *conformance.ResourceTokenSpec) { s.JTI = "after-removal" })
	again := w.expectInteraction(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt2, "presented_token": pt,
		"capabilities": []string{"interaction"}})))
	expect202(t, w.poll(t, w.agent, again.loc), w.ps.Issuer)
	if r := w.post(t, w.agent, "/person", `{"resource":"https://rs.test","x":1}`); r.status != http.StatusOK {
		t.Fatalf("the consent went with the scope grant: %d %s", r.status, r.raw)
	}
}
