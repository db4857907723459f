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

// TestEvidenceHeadSweepReadsByTime (issue 12, migrations 00035 and
// 00038): the hourly head-signing sweep finds the chains to look at
// through mission_evidence_moved (records since its last sweep) and
// mission_evidence_heads (heads come of age), never by reading the whole
// evidence table. At 500 000 records the whole-table read it replaced
// took 0.8-1.3 s and 800 MB of buffers per sweep on PostgreSQL
// (docs/performance.md, findings 43 and 66).
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
		// looks at the records of the last 100 ms and at the heads stamped
		// since 18 900 ms.
		storetest.Exec(t, st, `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 20000)
INSERT INTO mission_evidence (chain, seq, mission_s256, type, at_ms, record, hash)
SELECT 'chain-' || (n % 500), n, ?, ?, n, ?, 'h' FROM g`, m.S256, evidence.RuntimeDecision, []byte(`{}`))
		// and 2 000 heads, four per chain, stamped among them.
		storetest.Exec(t, st, `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 2000)
INSERT INTO mission_evidence (chain, seq, mission_s256, type, at_ms, record, hash)
SELECT 'chain-' || (n % 500), 100000 + n, ?, ?, n * 10, ?, 'h' FROM g`, m.S256, evidence.ChainHead, []byte(`{}`))
		if st.Dialect() == store.DialectPostgres {
			storetest.Exec(t, st, `ANALYZE mission_evidence`)
		}
		explain := map[string]string{store.DialectSQLite: "EXPLAIN QUERY PLAN ", store.DialectPostgres: "EXPLAIN "}[st.Dialect()]
		var rows []map[string]any
		storetest.Scan(t, st, &rows, explain+store.EvidenceHeadsDueSQL,
			int64(19_900), int64(18_900), int64(30_000), int64(30_000), 500)
		plan, _ := json.Marshal(rows)
		for _, index := range []string{"mission_evidence_moved", "mission_evidence_heads"} {
			if !strings.Contains(string(plan), index) {
				t.Fatalf("the sweep's plan does not read by time (%s):\n%s", index, plan)
			}
		}
		for _, whole := range []string{"Seq Scan on mission_evidence", "SCAN mission_evidence"} {
			if strings.Contains(string(plan), whole) {
				t.Fatalf("the sweep's plan reads the whole evidence table (%q):\n%s", whole, plan)
			}
		}
		// A chain's last head is found through its keys, not by walking
		// every head back from the newest.
		if strings.Contains(string(plan), "Backward using mission_evidence_heads") {
			t.Fatalf("the sweep's plan walks the heads back for a chain's last one:\n%s", plan)
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

// TestMostlyNullTokenColumnsIndexOnlyTheirValues (issue 12, migration
// 00037): the upstream_jti and mission_s256 indexes of the token records
// hold only the records that have a value, and the revocation reads that
// use them still do: the cascade down a chain (IssuedFrom, PS-294), which
// also probes the parent index, and a mission's tokens
// (IssuedUnderMission). Neither reads a token table whole.
func TestMostlyNullTokenColumnsIndexOnlyTheirValues(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		// 5 000 records in each table: every hundredth chained, every
		// tenth under one of ten missions.
		const each = `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 5000) `
		const values = `CASE WHEN n % 100 = 0 THEN 'up-' || n END, CASE WHEN n % 10 = 0 THEN 'm-' || (n % 100) END FROM g`
		storetest.Exec(t, st, each+`INSERT INTO person_token_records (jti, aud, sub, person_id, agent_iss, agent_sub, agent_token_jti, cnf_thumbprint, issued_at, exp, upstream_jti, mission_s256)
SELECT 'p' || n, 'https://r.example', 's', 'p', 'https://ap.example', 'a', 'at', 'c', 1, 4000000000, `+values)
		storetest.Exec(t, st, each+`INSERT INTO auth_token_records (jti, aud, sub, person_id, agent_iss, agent_sub, agent_token_jti, cnf_thumbprint, scope, parent_jti, resource_token_jti, issued_at, exp, upstream_jti, mission_s256)
SELECT 'a' || n, 'https://r.example', 's', 'p', 'https://ap.example', 'a', 'at', 'c', '', 'parent-' || n, 'rt', 1, 4000000000, `+values)
		partial := map[string]string{
			"person_token_records_upstream": "upstream_jti", "auth_token_records_upstream": "upstream_jti",
			"person_token_records_mission": "mission_s256", "auth_token_records_mission": "mission_s256",
		}
		explain := "EXPLAIN QUERY PLAN "
		if st.Dialect() == store.DialectPostgres {
			storetest.Exec(t, st, `ANALYZE person_token_records`)
			storetest.Exec(t, st, `ANALYZE auth_token_records`)
			explain = "EXPLAIN "
		}
		for index, column := range partial {
			var def string
			if st.Dialect() == store.DialectPostgres {
				storetest.Scan(t, st, &def, `SELECT indexdef FROM pg_indexes WHERE indexname = ?`, index)
			} else {
				storetest.Scan(t, st, &def, `SELECT sql FROM sqlite_master WHERE name = ?`, index)
			}
			if !strings.Contains(strings.NewReplacer("(", "", ")", "").Replace(def), "WHERE "+column+" IS NOT NULL") {
				t.Fatalf("index %s is %q: it holds every record, not those with a %s only", index, def, column)
			}
		}
		for _, read := range []struct {
			name, sql string
			args      []any
			indexes   []string
			want      string
		}{
			{"the cascade from up-100", store.IssuedFromSQL, []any{int64(1), "up-100", int64(1), "up-100", "up-100", 100},
				[]string{"person_token_records_upstream", "auth_token_records_upstream", "auth_token_records_parent"}, "a100,p100"},
			{"the tokens of mission m-30", store.IssuedUnderMissionSQL, []any{int64(1), "m-30", int64(1), "m-30", 1000},
				[]string{"person_token_records_mission", "auth_token_records_mission"}, ""},
		} {
			var rows []map[string]any
			storetest.Scan(t, st, &rows, explain+read.sql, read.args...)
			plan, _ := json.Marshal(rows)
			for _, index := range read.indexes {
				if !strings.Contains(string(plan), index) {
					t.Fatalf("%s: the plan does not use %s:\n%s", read.name, index, plan)
				}
			}
			for _, whole := range []string{"Seq Scan on person_token_records", "Seq Scan on auth_token_records", `SCAN person_token_records"`, `SCAN auth_token_records"`} {
				if strings.Contains(string(plan), whole) {
					t.Fatalf("%s: the plan reads a token table whole (%q):\n%s", read.name, whole, plan)
				}
			}
			var found []string
			storetest.Scan(t, st, &found, `SELECT jti FROM (`+read.sql+`) x ORDER BY jti`, read.args...)
			if read.want != "" && strings.Join(found, ",") != read.want {
				t.Fatalf("%s: %q, want %s", read.name, found, read.want)
			}
			if read.want == "" && len(found) != 100 {
				t.Fatalf("%s: %d records, want 100 (50 of each kind)", read.name, len(found))
			}
		}
	})
}

// TestMissionAndBindingReadByKeys (issue 12, findings 67–69): the
// statement that reads a mission by its owner key with the agent's live
// binding and person, the revocation of two tokens and a grant's scopes
// finds each through its key (the owner key's unique index, the
// one-live-binding index, the persons', the revocations' and the scope
// grants' primary keys), never by reading a table whole.
func TestMissionAndBindingReadByKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		// 2 000 persons, each bound through one live and one ended
		// binding, each with a mission.
		const each = `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 2000) `
		storetest.Exec(t, st, each+`INSERT INTO persons (id, username, created_at, updated_at) SELECT 'p' || n, 'user' || n, 1, 1 FROM g`)
		storetest.Exec(t, st, each+`INSERT INTO agent_bindings (id, provider, agent_id, person_id, state, platform, device, created_at, last_seen_at)
SELECT 'b' || n, 'https://ap.example', 'aauth:a' || n || '@ap.example', 'p' || n, 'active', '', '', 1, 1 FROM g`)
		storetest.Exec(t, st, each+`INSERT INTO agent_bindings (id, provider, agent_id, person_id, state, platform, device, created_at, last_seen_at, ended_at)
SELECT 'e' || n, 'https://ap.example', 'aauth:a' || n || '@ap.example', 'p' || n, 'unbound', '', '', 1, 1, 1 FROM g`)
		storetest.Exec(t, st, each+`INSERT INTO missions (s256, blob, agent_iss, agent_sub, person_id, owner_key, approved_at_ms, state, version)
SELECT 'm' || n, 'x', 'https://ap.example', 'aauth:a' || n || '@ap.example', 'p' || n, 'k' || n, n, 'active', 1 FROM g`)
		explain := "EXPLAIN QUERY PLAN "
		if st.Dialect() == store.DialectPostgres {
			for _, table := range []string{"persons", "agent_bindings", "missions"} {
				storetest.Exec(t, st, `ANALYZE `+table)
			}
			explain = "EXPLAIN "
		}
		for _, read := range []struct {
			name, sql string
			args      []any
		}{
			{"the mission and the binding", store.MissionAndBindingSQL(st.Dialect()), []any{"k77", "https://ap.example", "aauth:a77@ap.example"}},
			{"and two revocations and the scopes", store.MissionBindingRevocationsAndScopesSQL(st.Dialect()), []any{"https://rs.example", "rt-9", "https://ps.example", "pt-9",
				"p77", "https://ap.example", "aauth:a77@ap.example", "https://rs.example", "k77", "https://ap.example", "aauth:a77@ap.example"}},
		} {
			var rows []map[string]any
			storetest.Scan(t, st, &rows, explain+read.sql, read.args...)
			plan, _ := json.Marshal(rows)
			if testing.Verbose() {
				t.Logf("%s: %s", read.name, plan)
			}
			if !strings.Contains(string(plan), "agent_bindings_one_live") {
				t.Fatalf("%s: the plan does not find the binding by its one-live index:\n%s", read.name, plan)
			}
			for _, whole := range []string{"Seq Scan on missions", "Seq Scan on agent_bindings", "Seq Scan on persons", "Seq Scan on revoked_tokens",
				"Seq Scan on scope_grants", `SCAN m"`, `SCAN b"`, `SCAN p"`, "SCAN missions", "SCAN agent_bindings", "SCAN persons",
				"SCAN revoked_tokens", "SCAN scope_grants"} {
				if strings.Contains(string(plan), whole) {
					t.Fatalf("%s: the plan reads a table whole (%q):\n%s", read.name, whole, plan)
				}
			}
			var got []struct {
				MS256 string `gorm:"column:m_s256"`
				ID    string `gorm:"column:id"`
				PID   string `gorm:"column:p_id"`
			}
			storetest.Scan(t, st, &got, read.sql, read.args...)
			if len(got) != 1 || got[0].MS256 != "m77" || got[0].ID != "b77" || got[0].PID != "p77" {
				t.Fatalf("%s: the statement read %+v, want m77, b77, p77", read.name, got)
			}
		}
	})
}

// TestRevocationRetryClaimReadsTheSchedule (design §5, migration 00040):
// the retry loop claims due retries every second on every replica; its
// statement reaches them through the partial index of scheduled rows and
// each claimed row through its key, never reading every delivery.
func TestRevocationRetryClaimReadsTheSchedule(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		storetest.Exec(t, st, `INSERT INTO revocation_cascades (id, iss, jti, exp, created_at) VALUES ('c', 'person:p', 'j', 4000000000, 1)`)
		// 20 000 deliveries, every hundredth scheduled.
		storetest.Exec(t, st, `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 20000)
INSERT INTO revocation_deliveries (cascade_id, recipient, token_jti, token_exp, outcome, attempts, updated_at, next_attempt_at)
SELECT 'c', 'https://r.example', 't' || n, 4000000000, CASE WHEN n % 100 = 0 THEN 'revocation_unavailable' ELSE 'revoked' END, 1, 1,
	CASE WHEN n % 100 = 0 THEN n END FROM g`)
		explain := "EXPLAIN QUERY PLAN "
		if st.Dialect() == store.DialectPostgres {
			storetest.Exec(t, st, `ANALYZE revocation_deliveries`)
			explain = "EXPLAIN "
		}
		var rows []map[string]any
		storetest.Scan(t, st, &rows, explain+store.ClaimRetriesSQL(st.Dialect()), int64(5000), int64(1000), 32)
		plan, _ := json.Marshal(rows)
		if !strings.Contains(string(plan), "revocation_deliveries_retry") {
			t.Fatalf("the claim does not read the schedule's index:\n%s", plan)
		}
		for _, whole := range []string{"Seq Scan on revocation_deliveries", `SCAN revocation_deliveries"`} {
			if strings.Contains(string(plan), whole) {
				t.Fatalf("the claim reads every delivery (%q):\n%s", whole, plan)
			}
		}
	})
}
