package app_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestIdentityScopes: PS-110 and PS-111. Identity claims appear in the
// auth token only with their scope granted (email and email_verified
// with email, name with profile, groups with groups), each listed in
// claims_supported; an identity scope missing from scopes_supported
// (phone, or `weird`, which the resource does not describe either) is
// dropped from the grant, not refused, and the person is asked only about
// what remains. A request left with nothing to grant is refused and
// writes nothing.
func TestIdentityScopes(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	p, err := w.ps.App.Accounts.PersonByUsername(ctxT(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	name, email, groups := "Alice Liddell", "alice@example.com", []string{"staff"}
	if _, err := w.ps.App.Accounts.UpdatePerson(ctxT(), p.ID, account.PersonUpdate{Name: &name, Email: &email, Groups: &groups}); err != nil {
		t.Fatal(err)
	}
	_, md := getDoc(t, w, "/.well-known/aauth-person.json")
	claimsSupported := tokenListOf(md["claims_supported"])
	pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	auth := func(scope string) map[string]any {
		t.Helper()
		r := w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": resourceToken(t, w, rs, pt, scope, nil),
			"presented_token": pt, "capabilities": []string{"interaction"}}))
		if r.status == http.StatusAccepted {
			s := w.expectInteraction(t, r)
			pg := open(t, b, s)
			if strings.Contains(pg.HTML, "weird") || strings.Contains(pg.HTML, ">phone<") {
				t.Fatalf("the person is asked about a dropped scope:\n%s", pg.HTML)
			}
			b.Post(t, s.path()+"/approve", nil)
			r = w.poll(t, w.agent, s.loc)
		}
		return expectAuthToken(t, w, rs, r, pt)
	}

	c := auth("openid profile email groups phone weird calendar.read")
	if c["scope"] != "openid profile email groups calendar.read" {
		t.Fatalf("scope = %q, want the unsupported identity scopes dropped (PS-111)", c["scope"])
	}
	if c["email"] != email || c["email_verified"] != false || c["name"] != name || !slices.Equal(tokenListOf(c["groups"]), groups) {
		t.Fatalf("identity claims %v (PS-110)", c)
	}
	for _, k := range []string{"email", "email_verified", "name", "groups"} {
		if !slices.Contains(claimsSupported, k) {
			t.Fatalf("%s released but not in claims_supported %v (PS-110)", k, claimsSupported)
		}
	}
	c = auth("openid calendar.read")
	for _, k := range []string{"email", "email_verified", "name", "groups", "roles"} {
		if _, ok := c[k]; ok {
			t.Fatalf("%s released without its scope: %v (PS-110)", k, c)
		}
	}

	before := w.ps.TableCounts(t)
	r := w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": resourceToken(t, w, rs, pt, "weird phone", nil), "presented_token": pt}))
	expectProblem(t, r, http.StatusBadRequest, aauth.ErrInvalidResourceToken)
	writesNothing(t, w.ps, before)
}

// tokenListOf reads a JSON array of strings.
func tokenListOf(v any) []string {
	var out []string
	arr, _ := v.([]any)
	for _, x := range arr {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// TestUnknownCapabilities: PS-100. Unknown capabilities are ignored: an
// agent declaring only ["teleport"] gets its person token when consent
// exists, and a permission answer from a remembered rule; outside a
// mission, absent (or only unknown) capabilities mean none, so a person
// who must be asked and has no inbox is 403 user_unreachable, at the
// person-token and the permission endpoints alike.
func TestUnknownCapabilities(t *testing.T) {
	t.Parallel()
	w, alice, _ := missionWorld(t, pstest.Options{})
	r := w.post(t, w.agent, "/person", `{"resource":"https://rs.test","capabilities":["teleport"]}`)
	expectProblem(t, r, http.StatusForbidden, aauth.ErrUserUnreachable)
	r = w.post(t, w.agent, "/person", `{"resource":"https://rs.test","capabilities":["teleport","interaction"]}`)
	s := w.expectInteraction(t, r)
	open(t, alice, s)
	alice.Post(t, s.path()+"/approve", nil)
	if r = w.poll(t, w.agent, s.loc); r.status != http.StatusOK {
		t.Fatalf("person token: %d %s", r.status, r.raw)
	}
	if r = w.post(t, w.agent, "/person", `{"resource":"https://rs.test","capabilities":["teleport"]}`); r.status != http.StatusOK {
		t.Fatalf("with consent and an unknown capability: %d %s, want 200", r.status, r.raw)
	}
	expectProblem(t, w.post(t, w.agent, "/permission", `{"action":"Teleport","capabilities":["teleport"]}`), http.StatusForbidden, aauth.ErrUserUnreachable)
	expectProblem(t, w.post(t, w.agent, "/permission", `{"action":"Teleport"}`), http.StatusForbidden, aauth.ErrUserUnreachable)
}
