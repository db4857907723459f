package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// runLifecycle checks HoldsDue: only active missions whose hold ended at
// or before now, oldest hold first, bounded by limit; a resumed or ended
// mission is not due.
func runLifecycle(t *testing.T, open func(t *testing.T) *store.Store) {
	ctx := context.Background()
	st := open(t)
	SeedPersons(t, st, "p1")
	at := time.UnixMilli(1_800_000_000_000).UTC()
	var ids []string
	for i := range 4 {
		a := mission.Approval{AgentIss: "https://ap.example", AgentSub: "aauth:A@ap.example", PersonID: "p1", Description: "# Held"}
		m, err := a.Mint("https://ps.example", at.Add(time.Duration(i)*time.Millisecond), func(r *mission.Record) error { return st.CreateMission(ctx, r) })
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.S256)
	}
	hold := func(id string, until time.Time) {
		t.Helper()
		m, err := st.Mission(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := st.SetMissionHold(ctx, id, m.Version, &mission.Hold{Since: at, Until: until, ByKind: "person", ByID: "p1"}); !ok || err != nil {
			t.Fatalf("SetMissionHold = %v, %v", ok, err)
		}
	}
	hold(ids[0], at.Add(2*time.Minute))
	hold(ids[1], at.Add(time.Minute))
	hold(ids[2], at.Add(time.Hour)) // not due
	hold(ids[3], at.Add(time.Minute))
	entry := mission.Entry{At: at, Kind: "termination", Actor: "admin", Summary: "Mission ended: revoked."}
	if ok, err := st.TerminateMission(ctx, ids[3], mission.ReasonRevoked, "admin", at, entry); !ok || err != nil {
		t.Fatalf("TerminateMission = %v, %v", ok, err)
	}

	now := at.Add(2 * time.Minute)
	got, err := st.HoldsDue(ctx, now, 10)
	if err != nil || !slices.Equal(got, []string{ids[1], ids[0]}) {
		t.Fatalf("HoldsDue = %v, %v; want the two due active holds, oldest first", got, err)
	}
	if got, _ := st.HoldsDue(ctx, now, 1); !slices.Equal(got, []string{ids[1]}) {
		t.Fatalf("HoldsDue(limit 1) = %v", got)
	}
	if got, _ := st.HoldsDue(ctx, now.Add(-time.Millisecond), 10); !slices.Equal(got, []string{ids[1]}) {
		t.Fatalf("a hold ending after now is due: %v", got)
	}
	m, _ := st.Mission(ctx, ids[1])
	if ok, err := st.SetMissionHold(ctx, ids[1], m.Version, nil); !ok || err != nil {
		t.Fatalf("clear the hold: %v, %v", ok, err)
	}
	if got, _ := st.HoldsDue(ctx, now, 10); !slices.Equal(got, []string{ids[0]}) {
		t.Fatalf("a resumed mission is due: %v", got)
	}
}
