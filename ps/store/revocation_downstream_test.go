package store_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/revocation"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestRevocationDownstreamReport (PS-292, migration 00044): an access
// server's report is stored with its delivery and read back per cascade;
// each later outcome stored for the delivery (a re-attempt's pending, a
// settled or a retried one) drops it, and an empty report stores none.
func TestRevocationDownstreamReport(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		at := time.Unix(1_800_000_000, 0).UTC()
		const as, rs = "https://as.example", "https://rs.example"
		for _, id := range []string{"c1", "c2"} {
			if err := st.CreateCascade(ctx, revocation.Cascade{ID: id, Iss: "person:p1", JTI: "j-" + id, Exp: at.Add(time.Hour), Created: at}); err != nil {
				t.Fatal(err)
			}
		}
		d := revocation.Delivery{CascadeID: "c1", Recipient: as, TokenJTI: "pt1", TokenExp: at.Add(time.Hour), Outcome: revocation.OutcomePending}
		direct := d
		direct.Recipient = rs
		other := d
		other.CascadeID = "c2"
		if err := st.AddDeliveries(ctx, []revocation.Delivery{d, direct, other}, at); err != nil {
			t.Fatal(err)
		}
		report := []revocation.Downstream{{Recipient: "https://rs2.example", Error: revocation.OutcomeUnavailable}, {Recipient: rs}}
		read := func(cascade string) []revocation.Downstream {
			t.Helper()
			got, err := st.Downstream(ctx, cascade)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		if got := read("c1"); len(got) != 0 {
			t.Fatalf("a new delivery has a report: %v", got)
		}
		if ok, err := st.SettleDelivery(ctx, d, revocation.OutcomeRevoked, at, time.Time{}); !ok || err != nil {
			t.Fatalf("SettleDelivery = %v, %v", ok, err)
		}
		if err := st.SetDownstream(ctx, d, report); err != nil {
			t.Fatal(err)
		}
		if got := read("c1"); !reflect.DeepEqual(got, report) {
			t.Fatalf("report %+v, want %+v", got, report)
		}
		if got := read("c2"); len(got) != 0 {
			t.Fatalf("another cascade's report: %v", got)
		}
		if err := st.SetDeliveryOutcome(ctx, d, revocation.OutcomePending, at); err != nil {
			t.Fatal(err)
		}
		if got := read("c1"); len(got) != 0 {
			t.Fatalf("a new outcome kept the previous one's report: %v", got)
		}
		if ok, err := st.SettleDelivery(ctx, d, revocation.OutcomeRevoked, at, time.Time{}); !ok || err != nil {
			t.Fatalf("SettleDelivery = %v, %v", ok, err)
		}
		if err := st.SetDownstream(ctx, d, report[:1]); err != nil {
			t.Fatal(err)
		}
		if err := st.SetDeliveryOutcome(ctx, d, revocation.OutcomePending, at); err != nil {
			t.Fatal(err)
		}
		if ok, err := st.SettleDelivery(ctx, d, revocation.OutcomeUnavailable, at, at.Add(time.Second)); !ok || err != nil {
			t.Fatalf("SettleDelivery = %v, %v", ok, err)
		}
		if err := st.SetDownstream(ctx, d, report); err != nil {
			t.Fatal(err)
		}
		// The retry is claimed and answered: its outcome drops the report.
		claimed, err := st.ClaimRetries(ctx, at.Add(time.Second), at.Add(time.Minute), 10)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("ClaimRetries = %v, %v", claimed, err)
		}
		if ok, err := st.RetriedDelivery(ctx, claimed[0], revocation.OutcomeRevoked, at.Add(2*time.Second), time.Time{}); !ok || err != nil {
			t.Fatalf("RetriedDelivery = %v, %v", ok, err)
		}
		if got := read("c1"); len(got) != 0 {
			t.Fatalf("a retried outcome kept the previous one's report: %v", got)
		}
		if err := st.SetDownstream(ctx, d, nil); err != nil {
			t.Fatal(err)
		}
		if got := read("c1"); len(got) != 0 {
			t.Fatalf("an empty report stored entries: %v", got)
		}
	})
}
