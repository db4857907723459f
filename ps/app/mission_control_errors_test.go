package app_test

import (
	"net/http"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// expectRendered asserts the one problem renderer's shape: exactly
// application/problem+json, `error`, `status` and the status's `title`,
// and no Signature-* header (PS-054; issue 7 item 4).
func expectRendered(t *testing.T, what string, r result, status int, code string) {
	t.Helper()
	if r.status != status || r.body["error"] != code {
		t.Errorf("%s: %d %s; want %d %s", what, r.status, r.raw, status, code)
		return
	}
	if ct := r.header.Get("Content-Type"); ct != aauth.ProblemContentType {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
	if r.body["title"] != http.StatusText(status) || r.body["status"] != float64(status) {
		t.Errorf("%s: title/status members %v/%v in %s", what, r.body["title"], r.body["status"], r.raw)
	}
	if r.header.Get(aauth.HeaderSignatureError) != "" {
		t.Errorf("%s: a Signature-Error outside signature verification", what)
	}
}

// TestMissionControlProblems: every mission control refusal, the passkey
// script's and a cross-site request's, come from the one renderer with a
// documented code (docs/mission-control.md), and change nothing.
func TestMissionControlProblems(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	alice := w.person(t, "alice", false)
	admin := w.person(t, "root", true)
	w.bind(t, w.agent, alice)
	m := w.approveMission(t, w.agent, alice, `{"description":"# Problems","capabilities":["interaction"]}`, nil)
	path := "/missions/" + m.s256
	before := w.ps.TableCounts(t)

	expectRendered(t, "no session", mc(t, w, nil, http.MethodGet, "/missions", "", ""), http.StatusUnauthorized, aauth.ErrLoginRequired)
	expectRendered(t, "no CSRF token", mc(t, w, alice, http.MethodPost, path+"/revoke", "", ""), http.StatusForbidden, aauth.ErrInvalidCSRF)
	expectRendered(t, "unknown mission", mc(t, w, alice, http.MethodGet, "/missions/"+pstest.RandomHex(16), "", ""), http.StatusNotFound, aauth.ErrMissionNotFound)
	expectRendered(t, "a person terminates", mc(t, w, alice, http.MethodPost, path+"/terminate", `{"reason":"superseded"}`, csrfOf(t, alice)),
		http.StatusForbidden, aauth.ErrAdminRequired)
	expectRendered(t, "unknown reason", mc(t, w, admin, http.MethodPost, path+"/terminate", `{"reason":"boredom"}`, csrfOf(t, admin)),
		http.StatusBadRequest, aauth.ErrInvalidRequest)

	cross, _ := http.NewRequest(http.MethodPost, w.ps.URL("/mission-control"+path+"/revoke"), nil)
	cross.Header.Set("X-CSRF-Token", csrfOf(t, alice))
	cross.Header.Set("Sec-Fetch-Site", "cross-site")
	expectRendered(t, "cross-site revoke", doWith(t, alice, cross), http.StatusForbidden, aauth.ErrCrossOrigin)

	finish, _ := http.NewRequest(http.MethodPost, w.ps.URL("/passkeys/login/finish?ceremony=unknown"), nil)
	expectRendered(t, "passkey login with an unknown ceremony", doWith(t, w.ps.NewBrowser(t), finish), http.StatusBadRequest, aauth.ErrInvalidRequest)

	unchanged(t, w.ps, before)
	if r := mc(t, w, alice, http.MethodGet, path, "", ""); r.body["mission_status"] != "active" {
		t.Fatalf("a refused request ended the mission: %s", r.raw)
	}
}

// doWith sends req with b's cookies.
func doWith(t *testing.T, b *pstest.Browser, req *http.Request) result {
	t.Helper()
	w := &world{env: &pstest.Env{Client: b.Client}}
	return w.do(t, req)
}
