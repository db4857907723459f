package store_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestEvidenceHeadSweepReadsByTime (issue 12, migration 00035): the
// hourly head-signing sweep finds the chains to look at through
// mission_evidence_at, never by reading the whole evidence table. At
// 500 000 records the whole-table read it replaced took 0.8-1.3 s and
// 800 MB of buffers per sweep on PostgreSQL (docs/performance.md,
// finding 43).
func TestEvidenceHeadSweepReadsByTime(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		storetest.SeedPersons(t, st, "p1")
		a := mission.Approval{AgentIss: "https://ap.example", AgentSub: "aauth:A@ap.example", PersonID: "p1", Description: "# Plan"}
		m, err := a.Mint("https://ps.example", time.UnixMilli(1_800_000_000_000), func(r *mission.Record) error { return st.CreateMission(ctx, r) })
		if err != nil {
			t.Fatal(err)
		}
		// 20 000 records stamped 1 … 20 000 ms over 500 chains; the sweep
		// looks at the last 100 ms.
		storetest.Exec(t, st, `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 20000)
INSERT INTO mission_evidence (chain, seq, mission_s256, type, at_ms, record, hash)
SELECT 'chain-' || (n % 500), n, ?, ?, n, ?, 'h' FROM g`, m.S256, evidence.RuntimeDecision, []byte(`{}`))
		if st.Dialect() == store.DialectPostgres {
			storetest.Exec(t, st, `ANALYZE mission_evidence`)
		}
		explain := map[string]string{store.DialectSQLite: "EXPLAIN QUERY PLAN ", store.DialectPostgres: "EXPLAIN "}[st.Dialect()]
		var rows []map[string]any
		storetest.Scan(t, st, &rows, explain+store.EvidenceHeadsDueSQL,
			int64(19_900), evidence.ChainHead, evidence.ChainHead, evidence.ChainHead, int64(30_000), 500)
		plan, _ := json.Marshal(rows)
		if !strings.Contains(string(plan), "mission_evidence_at") {
			t.Fatalf("the sweep's plan does not read by time (mission_evidence_at):\n%s", plan)
		}
		for _, whole := range []string{"Seq Scan on mission_evidence", "SCAN mission_evidence"} {
			if strings.Contains(string(plan), whole) {
				t.Fatalf("the sweep's plan reads the whole evidence table (%q):\n%s", whole, plan)
			}
		}
	})
}

// TestMissionsLeaveRoomForUpdates (issue 12, migration 00036): on
// PostgreSQL the missions table's pages keep room for the new version of
// a row that a decision rewrites (its version), so that the update stays
// on the page and writes no index entry. Under load 63 % of those updates
// were HOT with full pages and 99 % with the room (docs/performance.md,
// finding 44).
func TestMissionsLeaveRoomForUpdates(t *testing.T) {
	st := storetest.OpenURL(t, storetest.NewMigratedPostgresURL(t), true)
	var rows []struct{ Options string }
	storetest.Scan(t, st, &rows, `SELECT array_to_string(reloptions, ',') AS options FROM pg_class WHERE relname = 'missions' AND relkind = 'r'`)
	if len(rows) != 1 || rows[0].Options != "fillfactor=70" {
		t.Fatalf("missions' storage options = %+v, want fillfactor=70", rows)
	}
}

// TestUpstreamIndexesHoldChainedTokensOnly (issue 12, migration 00037):
// the upstream_jti indexes hold only the token records that have an
// upstream token, and the revocation cascade's read (IssuedFrom, PS-294)
// still finds its rows through them and through the parent index, never
// by reading a token table whole.
func TestUpstreamIndexesHoldChainedTokensOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		// 5 000 records in each table, every hundredth chained.
		const each = `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 5000) `
		storetest.Exec(t, st, each+`INSERT INTO person_token_records (jti, aud, sub, person_id, agent_iss, agent_sub, agent_token_jti, cnf_thumbprint, issued_at, exp, upstream_jti)
SELECT 'p' || n, 'https://r.example', 's', 'p', 'https://ap.example', 'a', 'at', 'c', 1, 4000000000, CASE WHEN n % 100 = 0 THEN 'up-' || n END FROM g`)
		storetest.Exec(t, st, each+`INSERT INTO auth_token_records (jti, aud, sub, person_id, agent_iss, agent_sub, agent_token_jti, cnf_thumbprint, scope, parent_jti, resource_token_jti, issued_at, exp, upstream_jti)
SELECT 'a' || n, 'https://r.example', 's', 'p', 'https://ap.example', 'a', 'at', 'c', '', 'parent-' || n, 'rt', 1, 4000000000, CASE WHEN n % 100 = 0 THEN 'up-' || n END FROM g`)
		explain := "EXPLAIN QUERY PLAN "
		var defs []string
		if st.Dialect() == store.DialectPostgres {
			storetest.Exec(t, st, `ANALYZE person_token_records`)
			storetest.Exec(t, st, `ANALYZE auth_token_records`)
			explain = "EXPLAIN "
			storetest.Scan(t, st, &defs, `SELECT indexdef FROM pg_indexes WHERE indexname IN ('person_token_records_upstream', 'auth_token_records_upstream') ORDER BY indexname`)
		} else {
			storetest.Scan(t, st, &defs, `SELECT sql FROM sqlite_master WHERE name IN ('person_token_records_upstream', 'auth_token_records_upstream') ORDER BY name`)
		}
		if len(defs) != 2 {
			t.Fatalf("upstream indexes: %q", defs)
		}
		for _, d := range defs {
			if !strings.Contains(strings.ReplaceAll(strings.ReplaceAll(d, "(", ""), ")", ""), "WHERE upstream_jti IS NOT NULL") {
				t.Fatalf("index %q holds every record, not the chained ones only", d)
			}
		}
		var rows []map[string]any
		storetest.Scan(t, st, &rows, explain+store.IssuedFromSQL, int64(1), "up-100", int64(1), "up-100", "up-100", 100)
		plan, _ := json.Marshal(rows)
		for _, index := range []string{"person_token_records_upstream", "auth_token_records_upstream", "auth_token_records_parent"} {
			if !strings.Contains(string(plan), index) {
				t.Fatalf("the cascade's plan does not use %s:\n%s", index, plan)
			}
		}
		for _, whole := range []string{"Seq Scan on person_token_records", "Seq Scan on auth_token_records", `SCAN person_token_records"`, `SCAN auth_token_records"`} {
			if strings.Contains(string(plan), whole) {
				t.Fatalf("the cascade's plan reads a token table whole (%q):\n%s", whole, plan)
			}
		}
		var found []string
		storetest.Scan(t, st, &found, `SELECT jti FROM (`+store.IssuedFromSQL+`) x ORDER BY jti`, int64(1), "up-100", int64(1), "up-100", "up-100", 100)
		if strings.Join(found, ",") != "a100,p100" {
			t.Fatalf("tokens issued from up-100: %q, want a100 and p100", found)
		}
	})
}
