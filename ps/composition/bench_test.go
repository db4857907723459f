package composition_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/internal/cputime"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// BenchmarkDecideIn measures one mission decision as every mission-bound
// exchange makes it (issue 12): DecideIn on a mission approved under the
// board-packet template (ps/pstest/testdata/board-packet-policy.json), a
// treasury read (approve_each, so asked: a defer) — lock, counters, the
// Authority Set's integrity, Evaluate and the evidence record, in one
// transaction. Sub-benchmarks: sqlite and postgres.
func BenchmarkDecideIn(b *testing.B) {
	for _, be := range storetest.Backends {
		b.Run(be.Name, func(b *testing.B) {
			ctx := context.Background()
			st, pt, q := boardTreasury(b, be)
			cpu0 := cputime.Self()
			for b.Loop() {
				res, err := pt.DecideIn(ctx, st, q, false, func(*store.Store, *composition.Result) error { return nil })
				if err != nil || res.Decision.Outcome != authority.Defer {
					b.Fatalf("decision: %v %+v", err, res)
				}
			}
			// Process CPU per decision, the database's included on SQLite:
			// on a loaded machine it moves far less than ns/op.
			b.ReportMetric(float64(cputime.Self()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// boardPacket is the board-packet policy (ps/pstest/testdata), parsed.
func boardPacket(t testing.TB) *composition.Config {
	t.Helper()
	raw, err := os.ReadFile("../pstest/testdata/board-packet-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := composition.ParseConfig(raw, false)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// boardTreasury is a store of backend be holding a mission approved
// under the board-packet template, its decision point, and the query of
// a treasury read under it (approve_each: asked, a defer).
func boardTreasury(t testing.TB, be storetest.Backend) (*store.Store, *composition.Point, composition.Query) {
	t.Helper()
	cfg := boardPacket(t)
	st := storetest.OpenURL(t, be.NewMigratedURL(t), true)
	storetest.SeedPersons(t, st, "p1")
	now := time.Date(2026, 6, 24, 15, 0, 0, 0, time.UTC)
	pt := &composition.Point{Issuer: "https://ps.example", Config: cfg, Now: func() time.Time { return now }}
	m := approvedMission(t, st, cfg, now.Add(-time.Hour), "https://treasury.test", "https://ir.test")
	if m.Composition == nil || m.Composition.Template != "board-packet@1" {
		t.Fatalf("the mission was not composed under the board-packet template: %+v", m.Composition)
	}
	return st, pt, composition.Query{S256: m.S256, Point: authority.PointToken, Mode: authority.ThreeParty,
		Actor: authority.Actor{Agent: "aauth:a@ap.example"}, PersonReachable: true,
		Request: authority.Request{Resource: "https://treasury.test", Scopes: []string{"cash_position.read"}}}
}
