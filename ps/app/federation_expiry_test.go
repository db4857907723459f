package app_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestFederationPresentedExpiresWhilePending: the presented token expires
// while the request waits for the person; once they approve, the pending
// URL answers 400 expired_presented_token and the AS is sent nothing (an
// expired token is never presented); their decision is kept, so the
// resubmission with a fresh person token and resource token is federated
// at once, without asking again. PS-275, PS-274.
func TestFederationPresentedExpiresWhilePending(t *testing.T) {
	t.Parallel()
	f := newFedWorldOn(t, pstest.Options{Configure: func(c *config.Config) { c.PendingLifetime = 3 * time.Hour }})
	f.as.SetClock(f.clock.Now) // the AS mints at the PS's (advanced) time
	s := f.expectInteraction(t, f.request(t, f.rt(t, "calendar.read")))
	_, pc, err := conformance.DecodeJWT(f.pt)
	if err != nil {
		t.Fatal(err)
	}
	exp, _ := pc["exp"].(interface{ Int64() (int64, error) }).Int64()
	f.clock.Advance(time.Unix(exp, 0).Sub(f.clock.Now()) + time.Second)
	// The agent's own token is refreshed as an agent would (same key, same sub).
	_, ac, _ := conformance.DecodeJWT(f.agent.Token)
	ps, _ := ac["ps"].(string)
	tok, err := f.ap.MintAgentToken(conformance.TokenSpec{Agent: f.agent.Key, Sub: f.agent.ID, PS: ps, IssuedAt: f.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	f.agent.Token = tok

	open(t, f.b, s)
	f.b.Post(t, s.path()+"/approve", nil)
	expectNoToken(t, f.poll(t, f.agent, s.loc), http.StatusBadRequest, aauth.ErrExpiredPresentedToken)
	if n := len(f.as.Hits()); n != 0 {
		t.Fatalf("the AS was sent %d requests with an expired presented token (PS-274)", n)
	}

	// Fresh tokens: the person's decision stands, the AS is asked at once.
	f.pt = personToken(t, f.world, f.b, f.rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	f.expectASToken(t, f.request(t, f.rt(t, "calendar.read")))
}
