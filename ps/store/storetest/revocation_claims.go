package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/agents"
	"github.com/aauth-ps/aauth-ps/ps/revocation"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// runRevocationClaims checks which agent providers the shared bound on
// unknown providers' revocations spares (PS-290: only those the operator
// decided on or one of whose agents a person bound, never one merely
// seen) and the attempt lease of a downstream revocation (PS-291,
// migration 00043: one attempt of a delivery in flight at a time).
func runRevocationClaims(t *testing.T, open func(t *testing.T) *store.Store) {
	ctx := context.Background()
	st := open(t)
	SeedPersons(t, st, "p1")
	at := time.Unix(1_800_000_000, 0).UTC()
	const self = "https://ps.example"

	t.Run("known providers", func(t *testing.T) {
		const seen, allowed, blocked, bound, unbound = "https://seen.example", "https://allowed.example",
			"https://blocked.example", "https://bound.example", "https://unbound.example"
		for _, ap := range []string{seen, allowed, blocked, bound, unbound} {
			if err := st.RecordRevocation(ctx, ap, "j", at.Add(time.Hour), at); err != nil {
				t.Fatal(err)
			}
			if err := st.SawAgentProvider(ctx, ap, agents.Display{}, at); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := st.LiveRevocationsFromUnknown(ctx, self, at); n != 5 || err != nil {
			t.Fatalf("LiveRevocationsFromUnknown with providers only seen = %d, %v; want 5", n, err)
		}
		for _, c := range []struct {
			ap     string
			status agents.ProviderStatus
		}{{allowed, agents.ProviderAllowed}, {blocked, agents.ProviderBlocked}} {
			if err := st.SetAgentProviderStatus(ctx, c.ap, c.status, "p1", at); err != nil {
				t.Fatal(err)
			}
		}
		for i, ap := range []string{bound, unbound} {
			b := agents.Binding{ID: "b" + ap, Provider: ap, AgentID: "aauth:a@x", PersonID: "p1", State: agents.BindingActive,
				CreatedAt: at, LastSeenAt: at}
			if err := st.CreateBinding(ctx, b); err != nil {
				t.Fatal(err)
			}
			if i == 1 {
				err := st.EndBinding(ctx, "p1", b.ID, agents.BindingUnbound, []agents.BindingState{agents.BindingActive}, at)
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		for ap, want := range map[string]bool{seen: false, allowed: true, blocked: true, bound: true, unbound: false,
			"https://never.example": false} {
			if known, err := st.KnownProvider(ctx, ap); known != want || err != nil {
				t.Errorf("KnownProvider(%s) = %v, %v; want %v", ap, known, err, want)
			}
		}
		if n, err := st.LiveRevocationsFromUnknown(ctx, self, at); n != 2 || err != nil {
			t.Fatalf("LiveRevocationsFromUnknown = %d, %v; want the seen and the unbound provider's", n, err)
		}
	})

	t.Run("delivery leases", func(t *testing.T) {
		const ap, rs = "https://ap.example", "https://rs.example"
		c := revocation.Cascade{ID: "lease", Iss: ap, JTI: "t", Exp: at.Add(time.Hour), Created: at}
		if err := st.CreateCascade(ctx, c); err != nil {
			t.Fatal(err)
		}
		d := revocation.Delivery{CascadeID: c.ID, Recipient: rs, TokenJTI: "pt", TokenExp: at.Add(time.Hour),
			Outcome: revocation.OutcomePending, NextAttempt: at.Add(2 * time.Minute)}
		if err := st.AddDeliveries(ctx, []revocation.Delivery{d}, at); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.ClaimDelivery(ctx, d, at, at); err == nil {
			t.Fatal("a lease that ends at once is refused")
		}
		got, ok, err := st.ClaimDelivery(ctx, d, at, at.Add(time.Minute))
		if err != nil || !ok || !got.Lease.Equal(at.Add(time.Minute)) || got.Outcome != revocation.OutcomePending ||
			!got.NextAttempt.Equal(at.Add(2*time.Minute)) || got.Attempts != 0 {
			t.Fatalf("first claim = %+v, %v, %v; want pending, leased, its fallback retry kept", got, ok, err)
		}
		if _, ok, err := st.ClaimDelivery(ctx, d, at.Add(59*time.Second), at.Add(2*time.Minute)); ok || err != nil {
			t.Fatalf("a claim while the lease holds = %v, %v; want none", ok, err)
		}
		// A sender that could not record its outcome takes its own lease
		// again; another's lease is not its own.
		other := d
		other.Lease = at.Add(time.Hour)
		if _, ok, err := st.ClaimDelivery(ctx, other, at.Add(time.Second), at.Add(time.Minute)); ok || err != nil {
			t.Fatalf("a claim naming another lease = %v, %v; want none", ok, err)
		}
		mine := got
		if got, ok, err = st.ClaimDelivery(ctx, mine, at.Add(time.Second), at.Add(70*time.Second)); !ok || err != nil ||
			!got.Lease.Equal(at.Add(70*time.Second)) {
			t.Fatalf("a claim of its own unrecorded lease = %+v, %v, %v", got, ok, err)
		}
		// The sender stopped: its lease lapses and another claims it.
		if _, ok, err := st.ClaimDelivery(ctx, d, at.Add(70*time.Second), at.Add(2*time.Minute)); !ok || err != nil {
			t.Fatalf("a claim once the lease lapsed = %v, %v", ok, err)
		}
		// Recording the outcome ends the lease: a repeat re-attempts it at
		// once (PS-291), set pending again, its scheduled retry dropped.
		if err := st.SetDeliveryOutcome(ctx, d, revocation.OutcomeUnavailable, at.Add(10*time.Second)); err != nil {
			t.Fatal(err)
		}
		ds, err := st.Deliveries(ctx, c.ID)
		if err != nil || len(ds) != 1 || !ds[0].Lease.IsZero() || ds[0].Attempts != 1 {
			t.Fatalf("after the outcome: %+v, %v; want no lease, one attempt", ds, err)
		}
		got, ok, err = st.ClaimDelivery(ctx, d, at.Add(11*time.Second), at.Add(time.Minute))
		if err != nil || !ok || got.Outcome != revocation.OutcomePending || !got.UpdatedAt.Equal(at.Add(11*time.Second)) ||
			!got.NextAttempt.IsZero() || got.Attempts != 1 {
			t.Fatalf("re-attempt claim = %+v, %v, %v", got, ok, err)
		}
		if ok, err := st.SettleDelivery(ctx, got, revocation.OutcomeRevoked, at.Add(12*time.Second), time.Time{}); !ok || err != nil {
			t.Fatalf("SettleDelivery = %v, %v", ok, err)
		}
		ds, _ = st.Deliveries(ctx, c.ID)
		if len(ds) != 1 || !ds[0].Lease.IsZero() || ds[0].Outcome != revocation.OutcomeRevoked {
			t.Fatalf("after SettleDelivery: %+v", ds)
		}
		if _, ok, err := st.ClaimDelivery(ctx, d, at.Add(time.Hour), at.Add(2*time.Hour)); ok || err != nil {
			t.Fatalf("a claim of a delivery recorded revoked = %v, %v; want none", ok, err)
		}
		if _, ok, err := st.ClaimDelivery(ctx, revocation.Delivery{CascadeID: c.ID, Recipient: rs, TokenJTI: "nope"}, at,
			at.Add(time.Minute)); ok || err != nil {
			t.Fatalf("a claim of no delivery = %v, %v", ok, err)
		}
	})

	t.Run("one of concurrent claimers wins", func(t *testing.T) {
		c := revocation.Cascade{ID: "race", Iss: "https://ap.example", JTI: "race", Exp: at.Add(time.Hour), Created: at}
		d := revocation.Delivery{CascadeID: c.ID, Recipient: "https://rs.example", TokenJTI: "pt", TokenExp: at.Add(time.Hour),
			Outcome: revocation.OutcomeUnavailable}
		if err := st.CreateCascade(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := st.AddDeliveries(ctx, []revocation.Delivery{d}, at); err != nil {
			t.Fatal(err)
		}
		const claimers = 6
		var (
			wg  sync.WaitGroup
			mu  sync.Mutex
			won int
		)
		for range claimers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, ok, err := st.ClaimDelivery(ctx, d, at, at.Add(time.Minute))
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					won++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if won != 1 {
			t.Fatalf("%d of %d concurrent claimers got the delivery; want 1", won, claimers)
		}
	})
}
