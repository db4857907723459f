package composition_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// raceSet has a release gated by a single-use person checkpoint and a
// booking under a max_total budget: the two things two concurrent
// requests could both spend (issue 10, Must-show 3).
const raceSet = `{"object":"aauth-mm/authority-set/v1","default_outside":"deny","entries":[
 {"id":"release","target":"resource","resource":{"id":"https://ir.example"},"scopes":["publish"],"grant":"auto","requires":["cfo"]},
 {"id":"book","target":"resource","resource":{"id":"https://flights.example"},"grant":"auto",
  "r3":{"vocabulary":"urn:aauth:vocabulary:openapi","operations":[{"operationId":"bookFlight"}]},
  "constraints":{"amount":{"pointer":"/total","currency":"USD","max_total":500},"on_violation":"deny"}}],
 "checkpoints":[{"id":"cfo","kind":"approval","approver":"person","satisfy_via":["inline","permission"],"single_use":true}]}`

// templateConfig is a policy whose one template, set, covers resources.
func templateConfig(t testing.TB, set string, resources ...string) *composition.Config {
	t.Helper()
	parsed, err := authority.Parse([]byte(set), authority.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &composition.Config{Templates: []authority.Template{{Name: "race@1", Resources: resources, Set: parsed.Set}}}
}

// approvedMission stores a mission approved under cfg, as missionflow does.
func approvedMission(t testing.TB, st *store.Store, cfg *composition.Config, at time.Time, resources ...string) *mission.Record {
	t.Helper()
	p := mission.Proposal{Description: "# Race", Resources: resources}
	a, err := p.Approve("https://ap.example", "aauth:a@ap.example", "p1", mission.Edits{}, at)
	if err != nil {
		t.Fatal(err)
	}
	x, err := cfg.Compose(composition.Intake{Agent: "aauth:a@ap.example", Proposal: p,
		ContentDigest: authority.ContentDigest([]byte("{}")), ReceivedAt: at}, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Attach(a); err != nil {
		t.Fatal(err)
	}
	m, err := a.Mint("https://ps.example", at, func(r *mission.Record) error { return st.CreateMission(context.Background(), r) })
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// raceMission is a store on databaseURL with a mission approved under
// raceSet and a decision point whose clock stands still.
func raceMission(t *testing.T, databaseURL string) (*store.Store, *composition.Point, *mission.Record) {
	t.Helper()
	st := storetest.OpenURL(t, databaseURL, true)
	storetest.SeedPersons(t, st, "p1")
	now := time.Date(2026, 6, 24, 15, 0, 0, 0, time.UTC)
	cfg := templateConfig(t, raceSet, "https://ir.example", "https://flights.example")
	pt := &composition.Point{Issuer: "https://ps.example", Config: cfg, Now: func() time.Time { return now }}
	return st, pt, approvedMission(t, st, cfg, now.Add(-time.Hour), "https://ir.example", "https://flights.example")
}

// race runs two decisions on q at once, each in its own transaction, and
// returns how many issued.
func race(t *testing.T, st *store.Store, pt *composition.Point, q composition.Query) (issued int, outcomes []authority.Outcome) {
	t.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var res *composition.Result
			err := st.InTx(ctx, func(tx *store.Store) error {
				var err error
				res, err = pt.Decide(ctx, tx, q)
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			if errors.Is(err, dberr.ErrConflict) {
				outcomes = append(outcomes, "conflict")
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			outcomes = append(outcomes, res.Decision.Outcome)
			if res.Issue() {
				issued++
			}
		}()
	}
	wg.Wait()
	return issued, outcomes
}

// TestConcurrentSpendExactlyOnce: two concurrent requests against a
// single_use checkpoint, and two against a max_total budget that fits only
// one of them: exactly one wins, on PostgreSQL and on SQLite (issue 10
// Must-show 3; design §3 "compare-and-swap on the mission version").
func TestConcurrentSpendExactlyOnce(t *testing.T) {
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, pt, m := raceMission(t, b.NewMigratedURL(t))
			actor := authority.Actor{Agent: "aauth:a@ap.example"}

			t.Run("single_use checkpoint", func(t *testing.T) {
				if err := st.RecordCheckpoint(ctx, m.S256, "cfo", false, pt.Now().Add(-time.Minute)); err != nil {
					t.Fatal(err)
				}
				q := composition.Query{S256: m.S256, Point: authority.PointToken, Mode: authority.ThreeParty, Actor: actor,
					Request: authority.Request{Resource: "https://ir.example", Scopes: []string{"publish"}}}
				issued, outcomes := race(t, st, pt, q)
				if issued != 1 {
					t.Fatalf("%d of two requests issued against one single-use checkpoint (%v), want exactly 1", issued, outcomes)
				}
				snap, _ := st.MissionCounters(ctx, m.S256, m.Lineage())
				if !snap.Checkpoints["cfo"].Consumed {
					t.Fatal("the checkpoint was not consumed")
				}
			})

			t.Run("max_total budget", func(t *testing.T) {
				q := composition.Query{S256: m.S256, Point: authority.PointToken, Mode: authority.ThreeParty, Actor: actor,
					Request: authority.Request{Resource: "https://flights.example", PerCall: true, Parameters: json.RawMessage(`{"total":300}`),
						Operations: []authority.Operation{{Vocabulary: "urn:aauth:vocabulary:openapi", Op: json.RawMessage(`{"operationId":"bookFlight"}`)}}}}
				issued, outcomes := race(t, st, pt, q)
				if issued != 1 {
					t.Fatalf("%d of two 300 USD bookings issued under a 500 USD budget (%v), want exactly 1", issued, outcomes)
				}
				snap, _ := st.MissionCounters(ctx, m.S256, m.Lineage())
				if got := snap.Spent["entry:book"]; got != 300 {
					t.Fatalf("reserved %d, want 300", got)
				}
			})

			// Every decision was evidenced on the mission's chain, in order.
			chain, err := st.Evidence(ctx, m.S256)
			if err != nil || len(chain) != 4 {
				t.Fatalf("evidence: %d records, %v", len(chain), err)
			}
			for i, s := range chain {
				if s.Record.Type != evidence.RuntimeDecision || s.Record.Seq != int64(i) {
					t.Fatalf("record %d: %s seq %d", i, s.Record.Type, s.Record.Seq)
				}
			}
		})
	}
}

// TestDecisionWithoutWritesKeepsTheVersion: a decision that issues with
// nothing to count (a person token for a covered resource) leaves the
// mission's row alone, and one that counts a grant still bumps its version
// under compare-and-swap (issue 12: the bump rewrote the whole missions
// row on every person token request), on both databases.
func TestDecisionWithoutWritesKeepsTheVersion(t *testing.T) {
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, pt, m := raceMission(t, b.NewMigratedURL(t))
			actor := authority.Actor{Agent: "aauth:a@ap.example"}
			decide := func(q composition.Query) *composition.Result {
				t.Helper()
				var res *composition.Result
				if err := st.InTx(ctx, func(tx *store.Store) error {
					var err error
					res, err = pt.Decide(ctx, tx, q)
					return err
				}); err != nil {
					t.Fatal(err)
				}
				return res
			}
			version := func() int64 {
				t.Helper()
				got, err := st.Mission(ctx, m.S256)
				if err != nil {
					t.Fatal(err)
				}
				return got.Version
			}
			v0 := version()
			res := decide(composition.Query{S256: m.S256, Point: authority.PointPersonToken, Mode: authority.ThreeParty, Actor: actor,
				Request: authority.Request{Resource: "https://flights.example"}})
			if !res.Issue() || res.Decision.Effects.Writes() {
				t.Fatalf("person token decision: outcome %s, effects %+v; want an issue with nothing to write", res.Decision.Outcome, res.Decision.Effects)
			}
			if v := version(); v != v0 {
				t.Fatalf("version %d after a decision that wrote nothing, want %d", v, v0)
			}
			res = decide(composition.Query{S256: m.S256, Point: authority.PointToken, Mode: authority.ThreeParty, Actor: actor,
				Request: authority.Request{Resource: "https://flights.example", PerCall: true, Parameters: json.RawMessage(`{"total":100}`),
					Operations: []authority.Operation{{Vocabulary: "urn:aauth:vocabulary:openapi", Op: json.RawMessage(`{"operationId":"bookFlight"}`)}}}})
			if !res.Issue() || !res.Decision.Effects.Writes() {
				t.Fatalf("booking: outcome %s, effects %+v; want an issue that reserves", res.Decision.Outcome, res.Decision.Effects)
			}
			if v := version(); v != v0+1 {
				t.Fatalf("version %d after a decision that reserved, want %d", v, v0+1)
			}
			if chain, err := st.Evidence(ctx, m.S256); err != nil || len(chain) != 2 {
				t.Fatalf("evidence: %d records, %v; want both decisions evidenced", len(chain), err)
			}
		})
	}
}
