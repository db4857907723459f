package store_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/revocation"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

// TestIssuedToSubAgent (PS-239, PS-293, migration 00044): a cascade by a
// sub-agent's identity finds the person and auth tokens issued for it as
// a sub-agent — under any parent and any of its sub-agent tokens, of its
// own provider only — and not the parents' own tokens; by the signer's
// identity it finds none of them. On SQLite the read goes through the
// partial indexes of 00044.
func TestIssuedToSubAgent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		storetest.SeedPersons(t, st, "p1")
		now := time.Unix(1_800_000_000, 0).UTC()
		const ap, other, rs = "https://ap.example", "https://other.example", "https://rs.example"
		const p1, p2, sa = "aauth:p1@ap.example", "aauth:p2@ap.example", "aauth:p1+s@ap.example"
		person := func(jti, iss, parent, sub, subJTI string) {
			t.Helper()
			if err := st.RecordPersonToken(ctx, tokens.Record{JTI: jti, Aud: rs, Sub: "s", PersonID: "p1", AgentIss: iss, AgentSub: parent,
				AgentTokenJTI: "agt", CnfThumbprint: "tp", IssuedAt: now, Exp: now.Add(time.Hour),
				Lineage: tokens.Lineage{SubAgentSub: sub, SubAgentTokenJTI: subJTI}}); err != nil {
				t.Fatal(err)
			}
		}
		person("pt-parent", ap, p1, "", "")
		person("pt-sub", ap, p1, sa, "sat1")
		person("pt-sub-other-token", ap, p2, sa, "sat2")
		person("pt-other-provider", other, p1, sa, "sat1")
		person("pt-other-sub", ap, p1, "aauth:p1+t@ap.example", "sat3")
		if err := st.RecordAuthToken(ctx, tokens.AuthRecord{JTI: "at-sub", Aud: rs, Sub: "s", PersonID: "p1", AgentIss: ap, AgentSub: p2,
			AgentTokenJTI: "agt", CnfThumbprint: "tp", ParentJTI: "pt-sub-other-token", IssuedAt: now, Exp: now.Add(time.Hour),
			Lineage: tokens.Lineage{SubAgentSub: sa, SubAgentTokenJTI: "sat2"}}); err != nil {
			t.Fatal(err)
		}
		jtis := func(f revocation.AgentFilter) []string {
			t.Helper()
			got, err := st.IssuedToAgent(ctx, f, now, 100)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, g := range got {
				out = append(out, g.JTI)
			}
			slices.Sort(out)
			return out
		}
		if got, want := jtis(revocation.AgentFilter{AgentIss: ap, AgentSub: sa, SubAgent: true}),
			[]string{"at-sub", "pt-sub", "pt-sub-other-token"}; !slices.Equal(got, want) {
			t.Fatalf("issued to the sub-agent = %v, want %v", got, want)
		}
		if got := jtis(revocation.AgentFilter{AgentIss: ap, AgentSub: sa}); len(got) != 0 {
			t.Fatalf("issued to the sub-agent's id as a signer = %v, want none", got)
		}
		if got := jtis(revocation.AgentFilter{AgentIss: ap, AgentSub: sa, SubAgent: true, AuthOnly: true}); !slices.Equal(got, []string{"at-sub"}) {
			t.Fatalf("auth tokens only = %v", got)
		}
		if got := jtis(revocation.AgentFilter{AgentIss: ap, AgentSub: sa, SubAgent: true, Resource: "https://elsewhere.example"}); len(got) != 0 {
			t.Fatalf("another resource = %v", got)
		}
		if got := jtis(revocation.AgentFilter{AgentIss: ap, AgentSub: p1}); !slices.Contains(got, "pt-parent") || !slices.Contains(got, "pt-sub") {
			t.Fatalf("the parent's cascade = %v: its own and its sub-agents' tokens, as before", got)
		}
		if st.Dialect() != store.DialectSQLite {
			return
		}
		var plan []map[string]any
		args := []any{now.Unix(), ap, sa, "", "", "", ""}
		storetest.Scan(t, st, &plan, "EXPLAIN QUERY PLAN "+store.IssuedToSubAgentSQL, append(append(args, args...), 100)...)
		b, _ := json.Marshal(plan)
		for _, index := range []string{"person_token_records_subagent", "auth_token_records_subagent"} {
			if !strings.Contains(string(b), index) {
				t.Fatalf("the sub-agent read does not use %s:\n%s", index, b)
			}
		}
	})
}
