package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestKeptMissionRowsFollowEveryWrite: a pool keeps the mission rows it
// read or committed (issue 12) and uses one only while the row's stamp in
// the database is the same, whichever replica wrote meanwhile (two pools
// on one database stand for two replicas): a hold set elsewhere, a
// decision committed here or elsewhere, a rolled-back decision, a
// termination. The Authority Sets always come from the database, so a
// set changed behind the PS is what a decision loads and checks (design
// §3 step 4). A mission larger than the bound is read whole every time.
func TestKeptMissionRowsFollowEveryWrite(t *testing.T) {
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			u := b.NewMigratedURL(t)
			here, there := storetest.OpenURL(t, u, true), storetest.OpenURL(t, u, false)
			storetest.SeedPersons(t, here, "p1")
			at := time.UnixMilli(1_800_000_000_123).UTC()
			set := json.RawMessage(`{"object":"aauth-mm/authority-set/v1"}`)
			mint := func(desc string, at time.Time) *mission.Record {
				a := mission.Approval{AgentIss: "https://ap.example", AgentSub: "aauth:A@ap.example", PersonID: "p1", Description: desc,
					Resources: []string{"https://rs.example"},
					Composition: &mission.Composition{AuthoritySet: set, AuthorityHash: "AH", EffectiveSet: set, EffectiveHash: "AH",
						Overlays: json.RawMessage(`[]`), Proposal: json.RawMessage(`{"object":"p"}`), ProposalHash: "PH",
						ConsentRendering: json.RawMessage(`{"object":"r"}`), ConsentRenderingHash: "RH", Template: "t@1"}}
				m, err := a.Mint("https://ps.example", at, func(r *mission.Record) error { return here.CreateMission(ctx, r) })
				if err != nil {
					t.Fatal(err)
				}
				return m
			}
			m := mint("# Packet", at)
			owner := mission.OwnerKey(m.AgentIss, m.AgentSub, m.S256)
			// read reads the mission on here and reports whether the whole
			// row was read for it.
			read := func() (*mission.Record, bool) {
				t.Helper()
				before := here.WideMissionReads()
				got, err := here.OwnedMission(ctx, owner)
				if err != nil {
					t.Fatal(err)
				}
				return got, here.WideMissionReads() > before
			}
			decide := func(on *store.Store, fail bool) {
				t.Helper()
				err := on.InTx(ctx, func(tx *store.Store) error {
					locked, err := tx.LockMission(ctx, m.S256)
					if err != nil {
						return err
					}
					if err := tx.ApplyMissionEffects(ctx, m.S256, m.S256, locked.Version, authority.Effects{}, at); err != nil {
						return err
					}
					if fail {
						return errors.New("refused after the effects")
					}
					return nil
				})
				if (err != nil) != fail {
					t.Fatalf("decision: %v", err)
				}
			}

			if got, wide := read(); !wide || got.Version != 0 || string(got.Blob) != string(m.Blob) {
				t.Fatalf("first read: wide %v, %+v", wide, got)
			}
			if got, wide := read(); wide || got.Version != 0 || got.Composition == nil || string(got.Composition.Proposal) != `{"object":"p"}` ||
				string(got.Blob) != string(m.Blob) || got.ApprovedAt.UnixMilli() != at.UnixMilli() {
				t.Fatalf("second read: wide %v (want it kept), %+v", wide, got)
			}

			// Another replica suspends it: read whole, with the hold.
			hold := &mission.Hold{Since: at, Until: at.Add(time.Hour), ByKind: "person", ByID: "p1"}
			if ok, err := there.SetMissionHold(ctx, m.S256, 0, hold); err != nil || !ok {
				t.Fatalf("hold: %v %v", ok, err)
			}
			if got, wide := read(); !wide || got.Hold == nil || got.Version != 1 {
				t.Fatalf("after another replica's hold: wide %v, %+v", wide, got)
			}

			// A decision committed here is kept at its new version.
			decide(here, false)
			if got, wide := read(); wide || got.Version != 2 || got.Hold == nil {
				t.Fatalf("after this pool's decision: wide %v (want kept), version %d", wide, got.Version)
			}
			// One committed elsewhere is read again.
			decide(there, false)
			if got, wide := read(); !wide || got.Version != 3 {
				t.Fatalf("after another replica's decision: wide %v, version %d", wide, got.Version)
			}
			// A decision rolled back here keeps nothing: the next version,
			// written elsewhere with other content (the hold cleared), is
			// read from the database.
			decide(here, true)
			if ok, err := there.SetMissionHold(ctx, m.S256, 3, nil); err != nil || !ok {
				t.Fatalf("clear hold: %v %v", ok, err)
			}
			if got, wide := read(); !wide || got.Version != 4 || got.Hold != nil {
				t.Fatalf("after a rolled-back decision and another replica's write: wide %v, version %d, hold %+v", wide, got.Version, got.Hold)
			}

			// The sets come from the database even from a kept row.
			tampered := `{"object":"aauth-mm/authority-set/v1","x":1}`
			if err := there.ExecSQL(ctx, `UPDATE missions SET effective_authority_set = ?, effective_authority_hash = 'EH' WHERE s256 = ?`, tampered, m.S256); err != nil {
				t.Fatal(err)
			}
			if got, wide := read(); wide || string(got.Composition.EffectiveSet) != tampered || got.Composition.EffectiveHash != "EH" ||
				string(got.Composition.AuthoritySet) != string(set) {
				t.Fatalf("a set changed behind the PS: wide %v, effective %s %s", wide, got.Composition.EffectiveSet, got.Composition.EffectiveHash)
			}

			// Ended elsewhere: read whole, terminated.
			if _, err := there.TerminateMission(ctx, m.S256, mission.ReasonRevoked, "person", at.Add(time.Minute),
				mission.Entry{At: at.Add(time.Minute), Kind: "termination", Actor: "person", Summary: "ended"}); err != nil {
				t.Fatal(err)
			}
			if got, wide := read(); !wide || !got.Terminated {
				t.Fatalf("after another replica's termination: wide %v, %+v", wide, got)
			}
			if _, wide := read(); wide {
				t.Fatal("the ended mission was not kept")
			}

			// A mission past the bound is read whole every time.
			big := mint("# Big\n\n"+strings.Repeat("word ", 4<<10), at.Add(time.Millisecond))
			for i := range 2 {
				before := here.WideMissionReads()
				if _, err := here.Mission(ctx, big.S256); err != nil {
					t.Fatal(err)
				}
				if here.WideMissionReads() == before {
					t.Fatalf("read %d of a %d-byte mission came from the kept rows", i, len(big.Blob))
				}
			}
		})
	}
}
