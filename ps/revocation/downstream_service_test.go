package revocation_test

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/revocation"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// reportingSender answers as an access server that reports a failure
// downstream, and as a resource otherwise.
type reportingSender struct{ as string }

func (s reportingSender) Send(_ context.Context, recipient, _ string, _ time.Time) revocation.Result {
	if recipient != s.as {
		return revocation.Result{Outcome: revocation.OutcomeRevoked}
	}
	return revocation.Result{Outcome: revocation.OutcomeRevoked,
		Downstream: []revocation.Downstream{{Recipient: "https://rs2.example", Error: revocation.OutcomeUnavailable}}}
}

// evidenced records what an Evidencer was given.
type evidenced struct {
	mu  sync.Mutex
	got map[string][]revocation.Downstream // by recipient
}

func (e *evidenced) RevocationResult(_ context.Context, _ revocation.Store, _, _ string, d revocation.Delivery, ds []revocation.Downstream) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got[d.Recipient] = ds
	return nil
}

// TestDownstreamReported (PS-292, PS-287): what an access server reports
// downstream is stored with its delivery's outcome — for an agent
// provider's cascade (one statement otherwise, a transaction with it) and
// for a mission's (with the outcome, its retry and its evidence) — so the
// person's report lists each resource behind the AS with its outcome, and
// the mission's revocation_result carries the entries; the resource's
// delivery carries none.
func TestDownstreamReported(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		now := time.Unix(1_800_000_000, 0).UTC()
		const as, rs = "https://as.example", "https://rs.example"
		ev := &evidenced{got: map[string][]revocation.Downstream{}}
		rev, err := revocation.New(revocation.Options{Issuer: "https://ps.example", Store: st, Sender: reportingSender{as: as},
			Now: func() time.Time { return now },
			InTx: func(ctx context.Context, f func(revocation.Store) error) error {
				return st.InTx(ctx, func(tx *store.Store) error { return f(tx) })
			}})
		if err != nil {
			t.Fatal(err)
		}
		rev.UseEvidence(ev)
		want := map[string]string{as: revocation.OutcomeRevoked, rs: revocation.OutcomeRevoked,
			"https://rs2.example": revocation.OutcomeUnavailable}
		for _, c := range []revocation.Cascade{
			{ID: "by-ap", Iss: "https://ap.example", JTI: "agt"},
			{ID: "by-mission", Iss: "person:p1", JTI: "m", Mission: "s256"},
		} {
			c.Exp, c.Created = now.Add(time.Hour), now
			if err := st.CreateCascade(ctx, c); err != nil {
				t.Fatal(err)
			}
			d := revocation.Delivery{CascadeID: c.ID, Recipient: as, TokenJTI: "pt-" + c.ID, TokenExp: now.Add(time.Hour), Outcome: revocation.OutcomePending}
			direct := d
			direct.Recipient = rs
			if err := st.AddDeliveries(ctx, []revocation.Delivery{d, direct}, now); err != nil {
				t.Fatal(err)
			}
			rev.Deliver(ctx, c.ID)
			if !rev.WaitIdle(ctx) {
				t.Fatal("deliveries did not finish")
			}
			got, err := rev.Report(ctx, c.ID)
			if err != nil || !maps.Equal(got, want) {
				t.Fatalf("%s: report %v, %v; want %v", c.ID, got, err, want)
			}
		}
		ev.mu.Lock()
		defer ev.mu.Unlock()
		if ds := ev.got[as]; len(ds) != 1 || ds[0].Recipient != "https://rs2.example" || ds[0].Error != revocation.OutcomeUnavailable {
			t.Fatalf("the AS delivery's revocation_result carries %+v", ds)
		}
		if ds, ok := ev.got[rs]; !ok || ds != nil {
			t.Fatalf("the resource's revocation_result carries %+v (evidenced: %v)", ds, ok)
		}
	})
}
