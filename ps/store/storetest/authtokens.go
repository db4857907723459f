package storetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

// runAuthTokens checks the auth-token part of the tokens aggregate (issue
// 8): issuance records (jti, aud, exp, mission, parent) with their lookup
// and purge, person-token lookup by jti, and remembered scope grants.
func runAuthTokens(t *testing.T, open func(t *testing.T) *store.Store) {
	ctx := context.Background()
	st := open(t)
	SeedPersons(t, st, "p1", "p2")
	at := time.Unix(1_800_000_000, 0).UTC()

	t.Run("records", func(t *testing.T) {
		recs := []tokens.AuthRecord{
			{JTI: "a1", Aud: "https://rs.example", Sub: "s", PersonID: "p1", AgentIss: "https://ap.example", AgentSub: "aauth:a@ap.example",
				AgentTokenJTI: "at", CnfThumbprint: "tp", Scope: []string{"read", "write"}, ParentJTI: "pt1", ResourceTokenJTI: "rt1",
				IssuedAt: at, Exp: at.Add(time.Minute)},
			{JTI: "a2", Aud: "https://rs.example", Sub: "s", PersonID: "p1", AgentIss: "https://ap.example", AgentSub: "aauth:a@ap.example",
				AgentTokenJTI: "at", CnfThumbprint: "tp", Scope: []string{"read"}, MissionS256: "m", Tenant: "t", ParentJTI: "a1",
				ResourceTokenJTI: "rt2", IssuedAt: at.Add(time.Second), Exp: at.Add(time.Hour),
				// The R3 document it carried (migration 00015).
				R3URI: "https://rs.example/r3/1", R3S256: "hash",
				// Lineage (migration 00011): chained, for a sub-agent.
				Lineage: tokens.Lineage{UpstreamJTI: "up", Depth: 1, SubAgentSub: "aauth:a+s@ap.example", SubAgentTokenJTI: "sat"}},
		}
		for _, r := range recs {
			if err := st.RecordAuthToken(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.RecordAuthToken(ctx, recs[0]); !errors.Is(err, dberr.ErrConflict) {
			t.Fatalf("a second record with the same jti: %v, want ErrConflict", err)
		}
		all, err := st.AuthTokenRecords(ctx, "")
		if err != nil || len(all) != 2 || !reflect.DeepEqual(all, recs) {
			t.Fatalf("records = %+v, %v", all, err)
		}
		if m, _ := st.AuthTokenRecords(ctx, "m"); len(m) != 1 || m[0].JTI != "a2" {
			t.Fatalf("mission records = %+v", m)
		}
		if one, err := st.AuthTokenRecord(ctx, "a2"); err != nil || !reflect.DeepEqual(*one, recs[1]) {
			t.Fatalf("record a2 = %+v, %v", one, err)
		}
		if _, err := st.AuthTokenRecord(ctx, "nope"); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatalf("unknown jti: %v", err)
		}
		if n, err := st.PurgeAuthTokenRecords(ctx, at.Add(time.Minute)); n != 0 || err != nil {
			t.Fatalf("purge at exp = %d, %v; a record lives until after its exp", n, err)
		}
		if n, err := st.PurgeAuthTokenRecords(ctx, at.Add(time.Minute+time.Second)); n != 1 || err != nil {
			t.Fatalf("purge after exp = %d, %v", n, err)
		}
	})

	t.Run("person token record by jti", func(t *testing.T) {
		rec := tokens.Record{JTI: "pj", Aud: "https://rs.example", Sub: "s", PersonID: "p1", AgentIss: "https://ap.example",
			AgentSub: "aauth:a@ap.example", AgentTokenJTI: "at", CnfThumbprint: "tp", MissionS256: "m", IssuedAt: at, Exp: at.Add(time.Hour)}
		if err := st.RecordPersonToken(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if got, err := st.PersonTokenRecord(ctx, "pj"); err != nil || *got != rec {
			t.Fatalf("record = %+v, %v", got, err)
		}
		if _, err := st.PersonTokenRecord(ctx, "nope"); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatalf("unknown jti: %v", err)
		}
	})

	t.Run("scope grants", func(t *testing.T) {
		const ap, agent, rs = "https://ap.example", "aauth:a@ap.example", "https://rs.example"
		if g, err := st.GrantedScopes(ctx, "p1", ap, agent, rs); err != nil || len(g) != 0 {
			t.Fatalf("before any grant: %v, %v", g, err)
		}
		if err := st.GrantScopes(ctx, "p1", ap, agent, rs, []string{"write", "read"}, at); err != nil {
			t.Fatal(err)
		}
		// Granting again (one new, one known) keeps the first and adds.
		if err := st.GrantScopes(ctx, "p1", ap, agent, rs, []string{"read", "admin"}, at.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if g, err := st.GrantedScopes(ctx, "p1", ap, agent, rs); err != nil || !slices.Equal(g, []string{"admin", "read", "write"}) {
			t.Fatalf("granted = %v, %v", g, err)
		}
		// Per person, agent and resource.
		for _, k := range [][4]string{{"p2", ap, agent, rs}, {"p1", ap, "aauth:b@ap.example", rs}, {"p1", ap, agent, "https://other.example"}} {
			if g, err := st.GrantedScopes(ctx, k[0], k[1], k[2], k[3]); err != nil || len(g) != 0 {
				t.Fatalf("%v sees %v, %v", k, g, err)
			}
		}
	})
}
