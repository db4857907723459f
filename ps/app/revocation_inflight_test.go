package app_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
)

// TestRevocationPollDoesNotResendInFlight (PS-286, PS-291): while a
// delivery's attempt is in flight at a slow resource, the provider's
// polls of the pending URL — also past the two minutes after which a
// poll used to take a pending delivery for one whose sender is gone —
// send nothing again; once it is recorded revoked, a repeat sends
// nothing either and answers 200.
func TestRevocationPollDoesNotResendInFlight(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	jti, exp := agentTokenClaims(t, w.agent)
	release := rs.HoldRevocations()
	defer release()
	r := w.revoke(t, apSigner(w.ap), authBody(t, map[string]any{"jti": jti, "exp": exp}),
		conformance.WithTamper(func(req *http.Request) { req.Header.Set("Prefer", "wait=1") }))
	loc := r.header.Get("Location")
	if r.status != http.StatusAccepted || loc == "" {
		t.Fatalf("revocation: %d %s", r.status, r.raw)
	}
	poll := func() result {
		t.Helper()
		req := conformance.NewRequest(http.MethodGet, loc, nil)
		if _, err := apSigner(w.ap).Sign(req, nil, conformance.WithCreatedOffset(w.clock.Offset())); err != nil {
			t.Fatal(err)
		}
		return w.do(t, req)
	}
	w.clock.Advance(3 * time.Minute)
	for range 3 {
		if p := poll(); p.status != http.StatusAccepted {
			t.Fatalf("poll while the resource is slow: %d %s", p.status, p.raw)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if n := rs.RevocationRequests(); n != 1 {
		t.Fatalf("the slow resource received %d revocations of the one token after 3 polls; want 1 in flight", n)
	}
	release()
	eventually(t, "the delivery is recorded", func() bool { return poll().status == http.StatusOK })
	expectEmpty200(t, w.revoke(t, apSigner(w.ap), authBody(t, map[string]any{"jti": jti, "exp": exp - 1})))
	if n := rs.RevocationRequests(); n != 1 {
		t.Fatalf("a repeat after the delivery was recorded sent it again: %d requests", n)
	}
}
