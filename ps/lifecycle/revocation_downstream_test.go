package lifecycle

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/keys"
	"github.com/aauth-ps/aauth-ps/ps/revocation"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestRevocationResultCarriesDownstream (PS-292; design §7
// revocation_result, whose body the design leaves to the PS): the
// revocation_result of an access server's delivery carries the resources
// it reported as `downstream` (recipient, and error when one did not
// succeed); a delivery with no report has no such member.
func TestRevocationResultCarriesDownstream(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		storetest.SeedPersons(t, st, "p1")
		const iss = "https://ps.example"
		now := time.Date(2026, 6, 24, 15, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		sealer, err := keys.NewSealer(bytes.Repeat([]byte("k"), keys.MinSecretLength))
		if err != nil {
			t.Fatal(err)
		}
		km := keys.NewManager(st, sealer, clock, keys.Options{})
		s, err := New(Options{Issuer: iss, DB: st, Signer: km, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		a := mission.Approval{AgentIss: "https://ap.example", AgentSub: "aauth:a@ap.example", PersonID: "p1", Description: "# Plan"}
		m, err := a.Mint(iss, now, func(r *mission.Record) error { return st.CreateMission(ctx, r) })
		if err != nil {
			t.Fatal(err)
		}
		reported := []revocation.Downstream{{Recipient: "https://rs2.example", Error: revocation.OutcomeUnavailable}, {Recipient: "https://rs3.example"}}
		d := revocation.Delivery{CascadeID: "c", Recipient: "https://as.example", TokenJTI: "pt1", TokenExp: now.Add(time.Hour),
			Outcome: revocation.OutcomeRevoked, Attempts: 1, UpdatedAt: now}
		for _, ds := range [][]revocation.Downstream{reported, nil} {
			if err := st.InTx(ctx, func(tx *store.Store) error { return s.RevocationResult(ctx, tx, m.S256, iss, d, ds) }); err != nil {
				t.Fatal(err)
			}
		}
		stored, err := st.Evidence(ctx, m.S256)
		if err != nil {
			t.Fatal(err)
		}
		var bodies []map[string]json.RawMessage
		for _, r := range stored {
			if r.Record.Type == evidence.RevocationResult {
				var b map[string]json.RawMessage
				if err := json.Unmarshal(r.Record.Body, &b); err != nil {
					t.Fatal(err)
				}
				bodies = append(bodies, b)
			}
		}
		if len(bodies) != 2 {
			t.Fatalf("%d revocation_result records, want 2", len(bodies))
		}
		var got []revocation.Downstream
		if err := json.Unmarshal(bodies[0]["downstream"], &got); err != nil || !reflect.DeepEqual(got, reported) {
			t.Fatalf("downstream %s (%v), want %+v", bodies[0]["downstream"], err, reported)
		}
		if raw, ok := bodies[1]["downstream"]; ok {
			t.Fatalf("a delivery with no report evidences downstream %s", raw)
		}
	})
}
