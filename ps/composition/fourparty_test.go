package composition_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestSettleOnce: a reservation is settled once. Two bookings of 200 USD
// each reserve 400 of a 500 USD budget; the first is settled as not
// delivered twice (a background poll loop and the expiry sweep racing):
// 200 is given back once, and one token_delivered record names it. Issue
// 11 (reservation sweep), PS-130. The second settle finds the first by
// the decision id (mission_settlements, migration 00033), not by reading
// the mission's token_delivered records. On SQLite and PostgreSQL.
func TestSettleOnce(t *testing.T) {
	storetest.Each(t, testSettleOnce)
}

func testSettleOnce(t *testing.T, st *store.Store) {
	ctx := context.Background()
	storetest.SeedPersons(t, st, "p1")
	now := time.Date(2026, 6, 24, 15, 0, 0, 0, time.UTC)
	cfg := templateConfig(t, raceSet, "https://ir.example", "https://flights.example")
	pt := &composition.Point{Issuer: "https://ps.example", Config: cfg, Now: func() time.Time { return now }}
	m := approvedMission(t, st, cfg, now.Add(-time.Hour), "https://ir.example", "https://flights.example")
	q := composition.Query{S256: m.S256, Point: authority.PointToken, Mode: authority.FourParty, Actor: authority.Actor{Agent: "aauth:a@ap.example"},
		Request: authority.Request{Resource: "https://flights.example", PerCall: true, Parameters: json.RawMessage(`{"total":200}`),
			Operations: []authority.Operation{{Vocabulary: "urn:aauth:vocabulary:openapi", Op: json.RawMessage(`{"operationId":"bookFlight"}`)}}}}
	var pvs []*composition.Provisional
	for range 2 {
		if err := st.InTx(ctx, func(tx *store.Store) error {
			res, err := pt.Decide(ctx, tx, q)
			if err == nil {
				pvs = append(pvs, res.Provisional("aauth:a@ap.example"))
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if pvs[0] == nil || pvs[1] == nil {
		t.Fatal("the bookings did not issue")
	}
	for range 2 {
		if err := st.InTx(ctx, func(tx *store.Store) error {
			return pt.Settle(ctx, tx, pvs[0], composition.Delivery{AccessServer: "https://as.example", Resource: "https://flights.example", Error: "expired"})
		}); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := st.MissionCounters(ctx, m.S256, m.Lineage())
	if err != nil || snap.Spent["entry:book"] != 200 {
		t.Fatalf("spent %d (%v) after settling one of two 200 USD bookings twice, want 200", snap.Spent["entry:book"], err)
	}
	recs, err := st.MissionEvidence(ctx, m.S256, evidence.TokenDelivered, 10)
	if err != nil || len(recs) != 1 {
		t.Fatalf("%d token_delivered records (%v), want 1", len(recs), err)
	}
	if n := storetest.CountWhere(t, st, "mission_settlements", "decision = ?", pvs[0].Decision); n != 1 {
		t.Fatalf("%d settlements of the decision, want 1", n)
	}
	if n := storetest.CountWhere(t, st, "mission_settlements", "decision = ?", pvs[1].Decision); n != 0 {
		t.Fatalf("the unsettled booking has %d settlements, want 0", n)
	}

	// Migration 00033 copies the settlements of existing token_delivered
	// records: undo it and redo it, and the settled booking stays
	// settled.
	for storetest.HasTable(st, "mission_settlements") {
		if err := st.MigrateDown(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.MigrateUp(ctx); err != nil {
		t.Fatal(err)
	}
	if n := storetest.CountWhere(t, st, "mission_settlements", "decision = ? AND mission_s256 = ?", pvs[0].Decision, m.S256); n != 1 {
		t.Fatalf("after migrating up again: %d settlements of the decision, want 1", n)
	}
	if err := st.InTx(ctx, func(tx *store.Store) error {
		return pt.Settle(ctx, tx, pvs[0], composition.Delivery{AccessServer: "https://as.example", Resource: "https://flights.example", Error: "expired"})
	}); err != nil {
		t.Fatal(err)
	}
	if snap, err := st.MissionCounters(ctx, m.S256, m.Lineage()); err != nil || snap.Spent["entry:book"] != 200 {
		t.Fatalf("spent %d (%v) after a third settle across the migration, want 200", snap.Spent["entry:book"], err)
	}
}
