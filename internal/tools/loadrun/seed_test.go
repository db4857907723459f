package main

import (
	"testing"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestSeedMissions: the seeding behind `loadrun -missions N` writes N
// approved missions the PS can serve as its own, on both databases: each
// blob hashes to its s256 and is canonical, the owner-key probe of a
// request finds it (PS-183, PS-196), persons list their missions, one in
// ten is terminated with a reason, and each has its proposal and
// approval log entries.
func TestSeedMissions(t *testing.T) {
	const n = 1234
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		if _, err := seedMissions(t.Context(), st, "https://ps.test", n); err != nil {
			t.Fatal(err)
		}
		counts := map[string]int64{}
		for _, table := range []string{"missions", "mission_log", "persons"} {
			c, err := st.CountRows(t.Context(), table, "")
			if err != nil {
				t.Fatal(err)
			}
			counts[table] = c
		}
		if counts["missions"] != n || counts["mission_log"] != 2*n || counts["persons"] != (n+seedPerPerson-1)/seedPerPerson {
			t.Fatalf("seeded %v, want %d missions, %d log entries, %d persons", counts, n, 2*n, (n+seedPerPerson-1)/seedPerPerson)
		}
		all, err := st.AllMissions(t.Context(), n)
		if err != nil || len(all) != n {
			t.Fatalf("AllMissions: %d, %v", len(all), err)
		}
		ended := 0
		for _, m := range all {
			b, err := m.Parsed()
			if err != nil || mission.S256(m.Blob) != m.S256 || b.Agent != m.AgentSub || b.Approver != "https://ps.test" {
				t.Fatalf("mission %s: blob %s (%v)", m.S256, m.Blob, err)
			}
			if again, _ := b.Serialize(); string(again) != string(m.Blob) {
				t.Fatalf("mission %s: blob not canonical", m.S256)
			}
			if m.Terminated {
				ended++
				if m.Reason != mission.ReasonRevoked || m.EndedAt == nil {
					t.Fatalf("terminated mission %s: reason %q, ended %v", m.S256, m.Reason, m.EndedAt)
				}
			}
		}
		if ended != n/10 {
			t.Fatalf("%d terminated, want %d", ended, n/10)
		}
		m := all[n/2]
		if got, err := st.OwnedMission(t.Context(), mission.OwnerKey(m.AgentIss, m.AgentSub, m.S256)); err != nil || got.S256 != m.S256 {
			t.Fatalf("owner-key probe: %v %v", got, err)
		}
		if mine, err := st.PersonMissions(t.Context(), m.PersonID); err != nil || len(mine) != seedPerPerson {
			t.Fatalf("the person's missions: %d, %v", len(mine), err)
		}
		if log, err := st.MissionLog(t.Context(), m.S256); err != nil || len(log) != 2 || log[0].Kind != "proposal" || log[1].Kind != "approval" {
			t.Fatalf("mission log: %+v %v", log, err)
		}
	})
}
