package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

// runTokens checks the tokens aggregate: issuance records and their purge
// (PS-259, A-19), directed identifiers (PS-077..079) and consents (PS-070).
func runTokens(t *testing.T, open func(t *testing.T) *store.Store) {
	ctx := context.Background()
	st := open(t)
	SeedPersons(t, st, "p1", "p2")
	at := time.Unix(1_800_000_000, 0).UTC()
	var _ tokens.Store = st

	t.Run("records", func(t *testing.T) {
		recs := []tokens.Record{
			{JTI: "j1", Aud: "https://rs.example", Sub: "s", PersonID: "p1", AgentIss: "https://ap.example", AgentSub: "aauth:a@ap.example",
				AgentTokenJTI: "at", CnfThumbprint: "tp", IssuedAt: at, Exp: at.Add(time.Minute)},
			{JTI: "j2", Aud: "https://rs.example", Sub: "s", PersonID: "p1", AgentIss: "https://ap.example", AgentSub: "aauth:a@ap.example",
				AgentTokenJTI: "at", CnfThumbprint: "tp", MissionS256: "m", Tenant: "t", IssuedAt: at.Add(time.Second), Exp: at.Add(time.Hour),
				// Lineage (migration 00011): a chained token for a sub-agent.
				Lineage: tokens.Lineage{UpstreamJTI: "up", Depth: 2, SubAgentSub: "aauth:a+s@ap.example", SubAgentTokenJTI: "sat"}},
		}
		for _, r := range recs {
			if err := st.RecordPersonToken(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		all, err := st.PersonTokenRecords(ctx, "")
		if err != nil || len(all) != 2 || all[0] != recs[0] || all[1] != recs[1] {
			t.Fatalf("records = %+v, %v", all, err)
		}
		if m, _ := st.PersonTokenRecords(ctx, "m"); len(m) != 1 || m[0].JTI != "j2" {
			t.Fatalf("mission records = %+v", m)
		}
		if n, err := st.PurgePersonTokenRecords(ctx, at.Add(time.Minute)); n != 0 || err != nil {
			t.Fatalf("purge at exp = %d, %v; a record lives until after its exp", n, err)
		}
		if n, err := st.PurgePersonTokenRecords(ctx, at.Add(time.Minute+time.Second)); n != 1 || err != nil {
			t.Fatalf("purge after exp = %d, %v", n, err)
		}
	})

	t.Run("directed subs", func(t *testing.T) {
		const n = 10
		subs := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sub, err := st.DirectedSub(ctx, "p1", "https://rs.example", "candidate-"+string(rune('a'+i)), at)
				if err != nil {
					t.Error(err)
				}
				subs[i] = sub
			}()
		}
		wg.Wait()
		for _, s := range subs {
			if s == "" || s != subs[0] {
				t.Fatalf("concurrent first uses disagree: %v", subs)
			}
		}
		if again, _ := st.DirectedSub(ctx, "p1", "https://rs.example", "other", at); again != subs[0] {
			t.Fatalf("the stored sub changed: %s", again)
		}
		if other, _ := st.DirectedSub(ctx, "p2", "https://rs.example", "p2-sub", at); other != "p2-sub" {
			t.Fatalf("another person's sub = %s", other)
		}
		if id, err := st.PersonBySub(ctx, "https://rs.example", subs[0]); id != "p1" || err != nil {
			t.Fatalf("PersonBySub = %q, %v", id, err)
		}
		if id, err := st.PersonBySub(ctx, "https://other.example", subs[0]); id != "" || err != nil {
			t.Fatalf("PersonBySub at another resource = %q, %v", id, err)
		}
	})

	// Directed subs are cached once committed (issue 12): a sub stored by
	// a transaction that rolled back was never given out, so the next
	// first use stores its own candidate, and resolves to nobody.
	t.Run("a rolled-back directed sub is not remembered", func(t *testing.T) {
		boom := errors.New("roll back")
		err := st.InTx(ctx, func(tx *store.Store) error {
			if sub, err := tx.DirectedSub(ctx, "p1", "https://rb.example", "rolled-back", at); sub != "rolled-back" || err != nil {
				t.Fatalf("DirectedSub in the transaction = %q, %v", sub, err)
			}
			if id, err := tx.PersonBySub(ctx, "https://rb.example", "rolled-back"); id != "p1" || err != nil {
				t.Fatalf("PersonBySub in the transaction = %q, %v", id, err)
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if id, err := st.PersonBySub(ctx, "https://rb.example", "rolled-back"); id != "" || err != nil {
			t.Fatalf("PersonBySub of a rolled-back sub = %q, %v", id, err)
		}
		for range 2 { // the second answer may come from the cache
			if sub, err := st.DirectedSub(ctx, "p1", "https://rb.example", "committed", at); sub != "committed" || err != nil {
				t.Fatalf("DirectedSub after the rollback = %q, %v", sub, err)
			}
			if id, err := st.PersonBySub(ctx, "https://rb.example", "committed"); id != "p1" || err != nil {
				t.Fatalf("PersonBySub = %q, %v", id, err)
			}
		}
	})

	t.Run("consents", func(t *testing.T) {
		for i, res := range []string{"https://a.example", "https://b.example", "https://a.example"} {
			if err := st.GrantConsent(ctx, "p1", "https://ap.example", "aauth:a@ap.example", res, at.Add(time.Duration(i)*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		if ok, err := st.HasConsent(ctx, "p1", "https://ap.example", "aauth:a@ap.example", "https://a.example"); !ok || err != nil {
			t.Fatalf("HasConsent = %v, %v", ok, err)
		}
		if ok, _ := st.HasConsent(ctx, "p1", "https://ap.example", "aauth:A@ap.example", "https://a.example"); ok {
			t.Fatal("consent leaked to an agent differing only in case (PS-255)")
		}
		// a.example and b.example by consent (a repeated grant keeps the
		// first), rs.example by the mission's token record j2 above: a
		// mission approval writes no consent but still costs a resource.
		if n, err := st.NewResourcesSince(ctx, "https://ap.example", "aauth:a@ap.example", at); n != 3 || err != nil {
			t.Fatalf("NewResourcesSince = %d, %v; want 2 consents and 1 mission resource", n, err)
		}
		if n, _ := st.NewResourcesSince(ctx, "https://ap.example", "aauth:a@ap.example", at.Add(30*time.Second)); n != 1 {
			t.Fatalf("NewResourcesSince +30s = %d", n)
		}
	})
}
