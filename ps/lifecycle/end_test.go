package lifecycle

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/mission/governance"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/keys"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

const endSet = `{"object":"aauth-mm/authority-set/v1","default_outside":"deny","entries":[
 {"id":"read","target":"resource","resource":{"id":"https://rs.example"},"scopes":["read"],"grant":"auto"}]}`

// TestDecisionObservedEndEvidenced (design §5: "→ terminated(expired):
// timer + lazy check on every path", "→ terminated(administrative): hold
// timeout"; §7 lifecycle_transition, Level 4 signed heads; PS-211): a
// mission-bound decision that finds its mission past expires_at, or past
// its hold, ends it through End (composition.Point.End = Observed) in the
// deciding transaction: the chain has the lifecycle_transition (from the
// mission's state to terminated, the timer's reason, by the system) and
// its signed head before the decision's record, and the exported bundle
// verifies. On both databases.
func TestDecisionObservedEndEvidenced(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		storetest.SeedPersons(t, st, "p1")
		now := time.Date(2026, 6, 24, 15, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		sealer, err := keys.NewSealer(bytes.Repeat([]byte("k"), keys.MinSecretLength))
		if err != nil {
			t.Fatal(err)
		}
		km := keys.NewManager(st, sealer, clock, keys.Options{})
		if _, err := km.EnsureActive(ctx); err != nil {
			t.Fatal(err)
		}
		s, err := New(Options{Issuer: "https://ps.example", DB: st, Signer: km, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := authority.Parse([]byte(endSet), authority.ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cfg := &composition.Config{Templates: []authority.Template{{Name: "end@1", Resources: []string{"https://rs.example"}, Set: parsed.Set}}}
		pt := &composition.Point{Issuer: "https://ps.example", Config: cfg, Now: clock, End: s.Observed}
		exporter := &Exporter{Issuer: "https://ps.example", DB: st, Keys: km, Heads: s}

		approvedAt := now
		mint := func(expires *time.Time) *mission.Record {
			t.Helper()
			p := mission.Proposal{Description: "# End", Resources: []string{"https://rs.example"}}
			a, err := p.Approve("https://ap.example", "aauth:a@ap.example", "p1", mission.Edits{}, now)
			if err != nil {
				t.Fatal(err)
			}
			a.ExpiresAt = expires
			x, err := cfg.Compose(composition.Intake{Agent: "aauth:a@ap.example", Proposal: p,
				ContentDigest: authority.ContentDigest([]byte("{}")), ReceivedAt: now}, a, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := x.Attach(a); err != nil {
				t.Fatal(err)
			}
			approvedAt = approvedAt.Add(time.Millisecond)
			m, err := a.Mint("https://ps.example", approvedAt, func(r *mission.Record) error { return st.CreateMission(ctx, r) })
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
		decide := func(m *mission.Record, reason string) {
			t.Helper()
			var res *composition.Result
			if err := st.InTx(ctx, func(tx *store.Store) error {
				var err error
				res, err = pt.Decide(ctx, tx, composition.Query{S256: m.S256, Point: authority.PointPersonToken, Mode: authority.ThreeParty,
					Actor: authority.Actor{Agent: "aauth:a@ap.example"}, Request: authority.Request{Resource: "https://rs.example"}})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if !res.Deny() || res.Decision.TerminationReason != reason {
				t.Fatalf("decision %s (%s), want a deny, the mission ended %s", res.Decision.Outcome, res.Decision.TerminationReason, reason)
			}
			got, err := st.Mission(ctx, m.S256)
			if err != nil || !got.Terminated || string(got.Reason) != reason {
				t.Fatalf("mission after the decision: %+v %v; want terminated %s", got, err, reason)
			}
		}
		// expectChain checks the chain's record types and the last
		// lifecycle_transition, then verifies the exported bundle (which
		// first signs the decision's record).
		expectChain := func(m *mission.Record, want []string, from, reason string, by governance.Actor) {
			t.Helper()
			chain, err := st.Evidence(ctx, m.S256)
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			var last *evidence.Record
			for i := range chain {
				types = append(types, chain[i].Record.Type)
				if chain[i].Record.Type == evidence.LifecycleTransition {
					last = &chain[i].Record
				}
			}
			if strings.Join(types, ",") != strings.Join(want, ",") || last == nil {
				t.Fatalf("evidence records %v, want %v", types, want)
			}
			var tr governance.Transition
			if err := json.Unmarshal(last.Body, &tr); err != nil {
				t.Fatal(err)
			}
			if tr.From != from || tr.To != authority.StateTerminated || tr.Reason != reason || tr.Actor != by || last.Actor != evidence.Actor(by) {
				t.Fatalf("the lifecycle_transition: %s by %+v; want %s → terminated, %s, by %+v", last.Body, last.Actor, from, reason, by)
			}
			b, err := exporter.Bundle(ctx, m.S256)
			if err != nil {
				t.Fatal(err)
			}
			ks, err := evidence.ParseKeySet(b.JWKS)
			if err != nil {
				t.Fatal(err)
			}
			if rep := evidence.Verify(*b, ks); !rep.OK {
				t.Fatalf("the bundle does not verify: %+v", rep)
			}
		}

		// Expiry: the decision is the first to see it.
		end := now.Add(time.Hour)
		expiring := mint(&end)
		now = end.Add(time.Minute)
		decide(expiring, "expired")
		expectChain(expiring, []string{evidence.LifecycleTransition, evidence.ChainHead, evidence.RuntimeDecision},
			authority.StateActive, "expired", governance.Actor{Kind: governance.BySystem})

		// A hold past its timeout, seen by a decision before the
		// housekeeping loop: ended administrative by the hold timeout,
		// which the loop then finds done.
		held := mint(nil)
		if _, err := s.Suspend(ctx, held.S256, Actor{Kind: governance.ByPerson, ID: "p1"}, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
		now = now.Add(3 * time.Minute)
		decide(held, "administrative")
		expectChain(held, []string{evidence.LifecycleTransition, evidence.ChainHead, evidence.LifecycleTransition, evidence.ChainHead,
			evidence.RuntimeDecision},
			authority.StateSuspended, "administrative", governance.Actor{Kind: governance.BySystem, ID: "hold_timeout"})
		if n, err := s.SettleDue(ctx); err != nil || n != 0 {
			t.Fatalf("SettleDue = %d, %v; want none left to settle", n, err)
		}

		// End on a mission that had ended keeps its first reason and
		// writes nothing.
		before, _ := st.Evidence(ctx, held.S256)
		if err := s.End(ctx, st, held.S256, mission.ReasonCompleted, Actor{Kind: governance.ByPerson, ID: "p1"}); err != nil {
			t.Fatal(err)
		}
		after, _ := st.Evidence(ctx, held.S256)
		if got, _ := st.Mission(ctx, held.S256); got.Reason != mission.ReasonAdministrative || len(after) != len(before) {
			t.Fatalf("End on an ended mission: reason %s, %d records (was %d)", got.Reason, len(after), len(before))
		}
	})
}
