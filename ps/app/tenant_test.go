package app_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/account"
)

// setTenant puts the person in an organisation (or out of any, with "").
func setTenant(t *testing.T, w *world, username, tenant string) {
	t.Helper()
	p, err := w.ps.App.Accounts.PersonByUsername(ctxT(), username)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ps.App.Accounts.UpdatePerson(ctxT(), p.ID, account.PersonUpdate{Tenant: &tenant}); err != nil {
		t.Fatal(err)
	}
}

// TestTenant: the `tenant` request parameter at both token endpoints is
// never silently dropped (issue 8; docs/decisions.md "Tenant"). A person
// in tenant acme gets person and auth tokens carrying tenant acme, with
// the parameter or without it (PS-093, PS-108: the auth token's tenant is
// the resource token's, which is the presented token's). Naming another
// tenant is 400 invalid_request at either endpoint, and a presented token
// whose tenant is no longer the person's is 400 invalid_presented_token;
// none of these refusals writes anything.
func TestTenant(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	setTenant(t, w, "alice", "acme")

	pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","tenant":"acme","capabilities":["interaction"]}`)
	if _, c, _ := conformance.DecodeJWT(pt); c["tenant"] != "acme" {
		t.Fatalf("person token tenant = %v, want acme", c["tenant"])
	}
	if again := personToken(t, w, b, rs, `{"resource":"https://rs.test"}`); again == "" {
		t.Fatal("no person token without the tenant parameter")
	} else if _, c, _ := conformance.DecodeJWT(again); c["tenant"] != "acme" {
		t.Fatalf("person token without the parameter: tenant = %v, want the person's (acme)", c["tenant"])
	}

	// The auth token: consent once, then the tenant rules.
	auth := func(tenant string) result {
		m := map[string]any{"resource_token": resourceToken(t, w, rs, pt, "calendar.read", nil), "presented_token": pt,
			"capabilities": []string{"interaction"}}
		if tenant != "" {
			m["tenant"] = tenant
		}
		return w.post(t, w.agent, "/token", authBody(t, m))
	}
	r := auth("acme")
	if r.status == http.StatusAccepted {
		s := w.expectInteraction(t, r)
		open(t, b, s)
		b.Post(t, s.path()+"/approve", nil)
		r = w.poll(t, w.agent, s.loc)
	}
	if c := expectAuthToken(t, w, rs, r, pt); c["tenant"] != "acme" {
		t.Fatalf("auth token tenant = %v, want acme", c["tenant"])
	}

	before := w.ps.TableCounts(t)
	expectProblem(t, w.post(t, w.agent, "/person", `{"resource":"https://rs.test","tenant":"globex"}`), http.StatusBadRequest, aauth.ErrInvalidRequest)
	expectProblem(t, auth("globex"), http.StatusBadRequest, aauth.ErrInvalidRequest)
	writesNothing(t, w.ps, before)
	// alice leaves acme: the person token she had says acme, which is no
	// longer true, and no tenant parameter can name hers.
	setTenant(t, w, "alice", "")
	before = w.ps.TableCounts(t)
	expectProblem(t, auth(""), http.StatusBadRequest, aauth.ErrInvalidPresentedToken)
	expectProblem(t, w.post(t, w.agent, "/person", `{"resource":"https://rs.test","tenant":"acme"}`), http.StatusBadRequest, aauth.ErrInvalidRequest)
	writesNothing(t, w.ps, before)
}

// TestClockSkewBodyTokens: PS-271. A resource token and a presented token
// whose iat is more than 60 s ahead of the PS clock get 400 clock_skew
// with a Date header giving the PS clock that judged them, and nothing is
// written; within the window they are accepted.
func TestClockSkewBodyTokens(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	// The test clock moves with real time, so the Date must lie between
	// the PS clock before the request (to the second) and after it.
	skewed := func(t *testing.T, send func() result) {
		t.Helper()
		from := w.clock.Now().UTC().Truncate(time.Second)
		r := send()
		to := w.clock.Now().UTC()
		expectProblem(t, r, http.StatusBadRequest, aauth.ErrClockSkew)
		d, err := http.ParseTime(r.header.Get("Date"))
		if err != nil || d.Before(from) || d.After(to) {
			t.Fatalf("Date %q, want the PS clock, between %v and %v", r.header.Get("Date"), from, to)
		}
	}
	before := w.ps.TableCounts(t)
	ahead := resourceToken(t, w, rs, pt, "calendar.read", func(s *conformance.ResourceTokenSpec) { s.IssuedAt = w.clock.Now().Add(600 * time.Second) })
	skewed(t, func() result {
		return w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": ahead, "presented_token": pt}))
	})
	writesNothing(t, w.ps, before)

	// The PS clock steps back ten minutes: the person token it issued is
	// now ahead. A fresh agent token and resource token (at the new clock)
	// isolate the presented token's iat.
	w.clock.Advance(-10 * time.Minute)
	fresh := w.mint(t, conformance.TokenSpec{IssuedAt: w.clock.Now()})
	rt := resourceToken(t, w, rs, pt, "calendar.read", nil)
	before = w.ps.TableCounts(t)
	skewed(t, func() result {
		return w.post(t, fresh, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt}))
	})
	writesNothing(t, w.ps, before)
}
