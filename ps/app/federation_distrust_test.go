package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/federation"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// An AS the operator distrusts (`access-servers distrust`) while a
// request federated with it is under way: the request ends as a new one
// naming that AS would (400 invalid_resource_token, docs/federation.md
// step 1) and nothing more is exchanged with the AS (review finding 4;
// PS-117's trust before any exchange, PS-124, PS-125, PS-127).

func (f *fedWorld) distrust(t *testing.T) {
	t.Helper()
	if err := f.ps.App.AccessServers.Set(ctxT(), f.as.Issuer(), federation.StatusDistrusted, nil, "test"); err != nil {
		t.Fatal(err)
	}
}

// TestFederationDistrustWhilePolling: the PS polls the AS in the
// background (its interaction is outstanding); once the AS is distrusted
// the poller ends the request and polls no more, and the person's way to
// the AS's interaction page is refused.
func TestFederationDistrustWhilePolling(t *testing.T) {
	t.Parallel()
	f := newFedWorld(t)
	f.expectASToken(t, f.consented(t))
	f.as.Script(conformance.ASStep{Kind: conformance.ASInteraction})
	s := f.expectInteraction(t, f.request(t, f.rt(t, "calendar.read")))
	pg := open(t, f.b, s)
	if !strings.Contains(pg.HTML, "access server needs you first") {
		t.Fatalf("want the AS's step:\n%s", pg.HTML)
	}
	polls := func() int {
		n := 0
		for _, h := range f.as.Hits() {
			if h.Method == http.MethodGet && strings.HasPrefix(h.Path, "/token/pending/") {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(20 * time.Second); polls() == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the PS never polled the AS in the background")
		}
	}
	f.distrust(t)
	at := len(f.as.Hits())
	if out := f.b.Post(t, s.path()+"/open", nil); strings.Contains(out.Location+out.HTML, f.as.Issuer()+conformance.InteractionPath) {
		t.Fatalf("the person was sent to a distrusted AS: %d %s\n%s", out.Status, out.Location, out.HTML)
	}
	expectNoToken(t, f.awaitResult(t, s.loc), http.StatusBadRequest, aauth.ErrInvalidResourceToken)
	ended := len(f.as.Hits())
	if ended > at+1 { // one poll may have been on its way at the distrust
		t.Fatalf("%d exchanges with the AS after it was distrusted", ended-at)
	}
	time.Sleep(2 * time.Second) // the poller's interval is 1 s
	if n := len(f.as.Hits()); n != ended {
		t.Fatalf("the PS went on polling a distrusted AS: %d more", n-ended)
	}
}

// TestFederationDistrustBeforeConsent: the person consents after the
// operator distrusted the AS (it was trusted when the request came): the
// PS sends the AS no token request and the request ends.
func TestFederationDistrustBeforeConsent(t *testing.T) {
	t.Parallel()
	f := newFedWorld(t)
	s := f.expectInteraction(t, f.request(t, f.rt(t, "calendar.read")))
	open(t, f.b, s)
	f.distrust(t)
	f.b.Post(t, s.path()+"/approve", nil)
	expectNoToken(t, f.awaitResult(t, s.loc), http.StatusBadRequest, aauth.ErrInvalidResourceToken)
	if n := len(f.as.Requests()); n != 0 {
		t.Fatalf("%d token requests went to a distrusted AS", n)
	}
}

// TestFederationDistrustBeforeClaims: the AS asked for the person's
// details and the person shares them after the AS was distrusted: nothing
// is released or recorded, the AS gets no claims POST, the request ends;
// meanwhile the person's page no longer reads the AS's metadata (its
// name). On both databases.
func TestFederationDistrustBeforeClaims(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			f := newFedWorldOn(t, pstest.Options{DatabaseURL: b.NewMigratedURL(t)})
			f.expectASToken(t, f.consented(t))
			if err := f.ps.App.AccessServers.Set(ctxT(), f.as.Issuer(), federation.StatusTrusted, []string{"name"}, "test"); err != nil {
				t.Fatal(err)
			}
			person, err := f.ps.App.Accounts.PersonByUsername(ctxT(), "alice")
			if err != nil {
				t.Fatal(err)
			}
			f.as.Script(conformance.ASStep{Kind: conformance.ASClaims, Claims: []string{"name"}})
			s := f.expectInteraction(t, f.request(t, f.rt(t, "calendar.read")))
			f.claimsAsked(t, s, f.as.Issuer(), false)
			const name = "Test Access Server" // from the AS's metadata
			if pg := f.b.Get(t, s.path()); !strings.Contains(pg.HTML, name) {
				t.Fatalf("the claims page does not name the AS from its metadata:\n%s", pg.HTML)
			}
			f.distrust(t)
			hits := len(f.as.Hits())
			if pg := f.b.Get(t, s.path()); pg.Status != http.StatusOK || strings.Contains(pg.HTML, name) {
				t.Fatalf("the claims page read a distrusted AS's metadata: %d\n%s", pg.Status, pg.HTML)
			}
			f.b.Post(t, s.path()+"/approve", nil)
			expectNoToken(t, f.awaitResult(t, s.loc), http.StatusBadRequest, aauth.ErrInvalidResourceToken)
			if n := len(f.as.Hits()); n != hits {
				t.Fatalf("%d exchanges with a distrusted AS", n-hits)
			}
			for _, r := range f.as.Requests() {
				if r.Claims != nil {
					t.Fatalf("claims went to a distrusted AS: %v", r.Claims)
				}
			}
			if rel, err := f.ps.App.AccessServers.Releases(ctxT(), person.ID); err != nil || len(rel) != 0 {
				t.Fatalf("a release to a distrusted AS was recorded: %v %v", rel, err)
			}
		})
	}
}
