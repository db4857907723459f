package app_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestFederationResumeAfterRestart: two four-party requests wait on the AS
// (202 requirement=approval, Retry-After an hour) when the PS stops; a new
// PS on the same database resumes polling the AS's pending URLs at start.
// The AS grants the first: the agent's poll gets the token and the
// mission's reservation is kept (max_grants reached). The AS refuses the
// second: the agent gets the refusal and the reservation is given back
// (the retry is delivered). Issue 11 (resume after restart), PS-127,
// PS-130, PS-131. On both databases.
func TestFederationResumeAfterRestart(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			dbURL := b.NewMigratedURL(t)
			f := newReservationWorld(t, dbURL)
			granted, refused := f.mission(t), f.mission(t)
			f.as.Script(conformance.ASStep{Kind: conformance.ASApproval, RetryAfter: 3600})
			locG := expect202(t, granted.auth("calendar.read"), f.ps.Issuer)
			f.as.Script(conformance.ASStep{Kind: conformance.ASApproval, RetryAfter: 3600},
				conformance.ASStep{Kind: conformance.ASError, Status: http.StatusForbidden, Code: aauth.ErrDenied})
			locR := expect202(t, refused.auth("calendar.read"), f.ps.Issuer)
			f.as.Script()
			n := len(f.as.Hits())

			f.ps.Stop()
			if len(f.as.Hits()) != n {
				t.Fatal("the PS polled the AS before its Retry-After")
			}
			opt := reservationOptions(t, dbURL)
			opt.Now = f.clock.Now
			f.ps = f.env.Start(t, opt)

			r := f.awaitResult(t, locG)
			at, _ := r.body["auth_token"].(string)
			if c, err := f.rs.VerifyAccessToken(ctxT(), at, f.agent.Key); r.status != http.StatusOK || err != nil || c["scope"] != "calendar.read" {
				t.Fatalf("want the AS's token after the restart: %d %v %s", r.status, err, r.raw)
			}
			expectNoToken(t, f.awaitResult(t, locR), http.StatusForbidden, aauth.ErrDenied)

			// Kept: max_grants 1 is spent, the AS is not asked again.
			before := len(f.as.Requests())
			missionDecision(t, granted.auth("calendar.read"), http.StatusForbidden, "constraint_violation", "calendar-read", "")
			if len(f.as.Requests()) != before {
				t.Fatal("the AS was asked past max_grants")
			}
			// Given back: the refused mission's one grant is still there.
			f.expectASToken(t, refused.auth("calendar.read"))
			if got := f.deliveries(t, granted.s256); len(got) != 1 || got[0]["outcome"] != "delivered" {
				t.Fatalf("granted mission's token_delivered records %v, want one delivered", got)
			}
			if got := f.deliveries(t, refused.s256); len(got) != 2 || got[0]["outcome"] != "not_delivered" ||
				got[0]["error"] != aauth.ErrDenied || got[1]["outcome"] != "delivered" {
				t.Fatalf("refused mission's token_delivered records %v, want not_delivered (denied) then delivered", got)
			}
		})
	}
}

// TestFederationReservationExpirySweep: a four-party request waits on the
// AS (Retry-After an hour) until it expires on the PS's clock; the
// housekeeping sweep ends it and gives the mission's reservation back in
// one transaction with a token_delivered record (not_delivered,
// expired), once: a second sweep changes nothing, and the retry is
// delivered. Issue 11 (reservation sweep), PS-130, PS-131.
func TestFederationReservationExpirySweep(t *testing.T) {
	t.Parallel()
	f := newReservationWorld(t, "")
	m := f.mission(t)
	f.as.Script(conformance.ASStep{Kind: conformance.ASApproval, RetryAfter: 3600})
	loc := expect202(t, m.auth("calendar.read"), f.ps.Issuer)
	f.as.Script()
	if n, err := f.ps.App.SettleExpiredFederated(ctxT()); err != nil || n != 0 {
		t.Fatalf("sweep before expiry settled %d (%v), want none", n, err)
	}
	f.clock.Advance(f.ps.App.Engine.Options().Lifetime + time.Minute)
	if n, err := f.ps.App.SettleExpiredFederated(ctxT()); err != nil || n != 1 {
		t.Fatalf("sweep after expiry settled %d (%v), want 1", n, err)
	}
	if n, err := f.ps.App.SettleExpiredFederated(ctxT()); err != nil || n != 0 {
		t.Fatalf("second sweep settled %d (%v), want none", n, err)
	}
	if r := f.poll(t, f.agent, loc); r.status != http.StatusRequestTimeout || r.body["error"] != aauth.ErrExpired {
		t.Fatalf("the agent's poll after the sweep: %d %s, want 408 expired", r.status, r.raw)
	}
	got := f.deliveries(t, m.s256)
	if len(got) != 1 || got[0]["outcome"] != "not_delivered" || got[0]["error"] != aauth.ErrExpired {
		t.Fatalf("token_delivered records %v, want one not_delivered (expired)", got)
	}
	f.expectASToken(t, m.auth("calendar.read")) // given back: the one grant is there
}

// TestFederationReservationExpiryAgentPoll: the agent's own poll reaches
// the expired four-party request before housekeeping does; the same
// transaction that ends it gives the mission's reservation back, with its
// token_delivered record (not_delivered, expired), so the sweep after it
// finds nothing and the retry is delivered. Issue 11 (agent-poll expiry),
// PS-131, PS-155.
func TestFederationReservationExpiryAgentPoll(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			reservationExpiryAgentPoll(t, newReservationWorld(t, b.NewMigratedURL(t)))
		})
	}
}

func reservationExpiryAgentPoll(t *testing.T, f *fedWorld) {
	m := f.mission(t)
	f.as.Script(conformance.ASStep{Kind: conformance.ASApproval, RetryAfter: 3600})
	loc := expect202(t, m.auth("calendar.read"), f.ps.Issuer)
	f.as.Script()
	f.clock.Advance(f.ps.App.Engine.Options().Lifetime + time.Minute)
	if r := f.poll(t, f.agent, loc); r.status != http.StatusRequestTimeout || r.body["error"] != aauth.ErrExpired {
		t.Fatalf("the agent's poll past the expiry: %d %s, want 408 expired", r.status, r.raw)
	}
	got := f.deliveries(t, m.s256)
	if len(got) != 1 || got[0]["outcome"] != "not_delivered" || got[0]["error"] != aauth.ErrExpired {
		t.Fatalf("token_delivered records %v, want one not_delivered (expired)", got)
	}
	if n, err := f.ps.App.SettleExpiredFederated(ctxT()); err != nil || n != 0 {
		t.Fatalf("the sweep after the agent's poll settled %d (%v), want none", n, err)
	}
	f.expectASToken(t, m.auth("calendar.read")) // given back: the one grant is there
}
