package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// runComposition checks the Mission composition part of the missions
// aggregate (issue 10): the composition columns round-trip, the hold,
// effects under compare-and-swap on the version (a stale version writes
// nothing), checkpoints, budgets by lineage, and evidence chains that
// never fork under concurrent appends.
func runComposition(t *testing.T, open func(t *testing.T) *store.Store) {
	ctx := context.Background()
	st := open(t)
	var _ composition.Store = st
	SeedPersons(t, st, "p1")
	at := time.UnixMilli(1_800_000_000_123).UTC()
	set := json.RawMessage(`{"object":"aauth-mm/authority-set/v1"}`)
	a := mission.Approval{AgentIss: "https://ap.example", AgentSub: "aauth:A@ap.example", PersonID: "p1", Description: "# Packet",
		Resources: []string{"https://rs.example"}, MissionModel: json.RawMessage(`{"v":1}`),
		Composition: &mission.Composition{AuthoritySet: set, AuthorityHash: "AH", EffectiveSet: set, EffectiveHash: "AH",
			Overlays: json.RawMessage(`[]`), Proposal: json.RawMessage(`{"object":"p"}`), ProposalHash: "PH",
			ConsentRendering: json.RawMessage(`{"object":"r"}`), ConsentRenderingHash: "RH", Template: "t@1", LineageRoot: ""}}
	m, err := a.Mint("https://ps.example", at, func(r *mission.Record) error { return st.CreateMission(ctx, r) })
	if err != nil {
		t.Fatal(err)
	}
	legacy := mission.Approval{AgentIss: "https://ap.example", AgentSub: "aauth:A@ap.example", PersonID: "p1", Description: "# Old"}
	old, err := legacy.Mint("https://ps.example", at.Add(time.Millisecond), func(r *mission.Record) error { return st.CreateMission(ctx, r) })
	if err != nil {
		t.Fatal(err)
	}

	t.Run("columns round-trip", func(t *testing.T) {
		got, err := st.LockMission(ctx, m.S256)
		if err != nil {
			t.Fatal(err)
		}
		c := got.Composition
		if c == nil || string(c.AuthoritySet) != string(set) || c.AuthorityHash != "AH" || c.EffectiveHash != "AH" ||
			c.ProposalHash != "PH" || c.ConsentRenderingHash != "RH" || string(c.Proposal) != `{"object":"p"}` ||
			string(c.ConsentRendering) != `{"object":"r"}` || c.Template != "t@1" || got.Version != 0 || got.Hold != nil {
			t.Fatalf("LockMission = %+v %+v", got, c)
		}
		if got.Lineage() != m.S256 {
			t.Fatalf("Lineage = %s", got.Lineage())
		}
		if got, _ := st.Mission(ctx, old.S256); got.Composition != nil {
			t.Fatalf("a mission without a set reads back with one: %+v", got.Composition)
		}
		if _, err := st.LockMission(ctx, "nope"); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatalf("LockMission of an unknown mission: %v", err)
		}
	})

	t.Run("hold and narrowing under the version", func(t *testing.T) {
		hold := &mission.Hold{Since: at, Until: at.Add(15 * time.Minute), ByKind: "person", ByID: "p1"}
		if ok, err := st.SetMissionHold(ctx, old.S256, 0, hold); err != nil || !ok {
			t.Fatalf("SetMissionHold = %v, %v", ok, err)
		}
		if ok, _ := st.SetMissionHold(ctx, old.S256, 0, nil); ok {
			t.Fatal("a stale version cleared the hold")
		}
		got, _ := st.Mission(ctx, old.S256)
		if got.Hold == nil || !got.Hold.Until.Equal(hold.Until) || !got.Hold.Since.Equal(at) || got.Hold.ByID != "p1" || got.Version != 1 || got.Terminated {
			t.Fatalf("held mission = %+v %+v", got, got.Hold)
		}
		if ok, err := st.SetMissionHold(ctx, old.S256, 1, nil); err != nil || !ok {
			t.Fatalf("resume = %v, %v", ok, err)
		}
		if got, _ := st.Mission(ctx, old.S256); got.Hold != nil || got.Version != 2 {
			t.Fatalf("resumed mission = %+v", got)
		}
		narrowed := json.RawMessage(`{"object":"aauth-mm/authority-set/v1","default_outside":"deny"}`)
		if ok, _ := st.SetEffectiveAuthority(ctx, old.S256, 2, json.RawMessage(`[{}]`), narrowed, "EH"); ok {
			t.Fatal("narrowed a mission that has no set")
		}
		if ok, err := st.SetEffectiveAuthority(ctx, m.S256, 0, json.RawMessage(`[{"update_s256":"u"}]`), narrowed, "EH"); err != nil || !ok {
			t.Fatalf("SetEffectiveAuthority = %v, %v", ok, err)
		}
		got, _ = st.Mission(ctx, m.S256)
		if got.Composition.EffectiveHash != "EH" || string(got.Composition.EffectiveSet) != string(narrowed) ||
			got.Composition.AuthorityHash != "AH" || string(got.Composition.Overlays) != `[{"update_s256":"u"}]` || got.Version != 1 {
			t.Fatalf("narrowed = %+v", got.Composition)
		}
	})

	t.Run("effects under compare-and-swap", func(t *testing.T) {
		e := authority.Effects{RememberConsent: []string{"r1|https://rs.example|scope:read"}, RecordCheckpoints: []string{"cfo"},
			CountGrants: []string{"r1", "r1"}, Reserve: []authority.Reservation{{Key: "budget:trip", Amount: 300, Currency: "USD"}}}
		if err := st.ApplyMissionEffects(ctx, m.S256, m.S256, 0, e, at); !errors.Is(err, dberr.ErrConflict) {
			t.Fatalf("a stale version: %v, want Conflict", err)
		}
		snap, _ := st.MissionCounters(ctx, m.S256, m.S256)
		if len(snap.Consent)+len(snap.Checkpoints)+len(snap.Grants)+len(snap.Spent) != 0 {
			t.Fatalf("a refused CAS wrote effects: %+v", snap)
		}
		if err := st.ApplyMissionEffects(ctx, m.S256, m.S256, 1, e, at); err != nil {
			t.Fatal(err)
		}
		e2 := authority.Effects{RememberConsent: e.RememberConsent, ConsumeCheckpoints: []string{"cfo"}, CountGrants: []string{"r2"},
			Reserve: []authority.Reservation{{Key: "budget:trip", Amount: 200, Currency: "USD"}}}
		if err := st.ApplyMissionEffects(ctx, m.S256, m.S256, 2, e2, at.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		snap, err := st.MissionCounters(ctx, m.S256, m.S256)
		cp := snap.Checkpoints["cfo"]
		if err != nil || !snap.Consent["r1|https://rs.example|scope:read"] || len(snap.Consent) != 1 || !cp.Consumed ||
			!cp.RecordedAt.Equal(at) || cp.AgentAsserted || snap.Grants["r1"] != 2 || snap.Grants["r2"] != 1 || snap.Spent["budget:trip"] != 500 {
			t.Fatalf("MissionCounters = %+v, %v", snap, err)
		}
		if got, _ := st.Mission(ctx, m.S256); got.Version != 3 {
			t.Fatalf("version = %d, want 3", got.Version)
		}
		// Budgets are kept by lineage: another lineage sees none of it.
		if other, _ := st.MissionCounters(ctx, m.S256, old.S256); len(other.Spent) != 0 {
			t.Fatalf("another lineage's budgets: %+v", other.Spent)
		}
		// Recording again (the agent's attestation) makes it unconsumed.
		if err := st.RecordCheckpoint(ctx, m.S256, "cfo", true, at.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		snap, _ = st.MissionCounters(ctx, m.S256, m.S256)
		if cp := snap.Checkpoints["cfo"]; cp.Consumed || !cp.AgentAsserted || !cp.RecordedAt.Equal(at.Add(time.Minute)) {
			t.Fatalf("re-recorded checkpoint = %+v", cp)
		}
	})

	t.Run("evidence chains", func(t *testing.T) {
		ref := evidence.MissionRef{Origin: "https://ps.example", ID: m.S256}
		head, err := st.EvidenceHead(ctx, m.S256)
		if err != nil || head != nil {
			t.Fatalf("empty chain head = %+v, %v", head, err)
		}
		if link, err := st.EvidenceLink(ctx, m.S256); err != nil || link != nil {
			t.Fatalf("empty chain link = %+v, %v", link, err)
		}
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body, _ := evidence.Body(map[string]any{"i": i})
				errs <- st.InTx(ctx, func(tx *store.Store) error {
					_, err := composition.AppendEvidence(ctx, tx, m.S256, m.S256, evidence.Record{Mission: ref, Type: evidence.RuntimeDecision,
						Actor: evidence.Actor{Kind: "agent"}, Anchors: evidence.Anchors{ProposalHash: "PH"}, Body: body}, at)
					return err
				})
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		chain, err := st.Evidence(ctx, m.S256)
		if err != nil || len(chain) != n {
			t.Fatalf("Evidence = %d records, %v", len(chain), err)
		}
		for i, s := range chain {
			if s.Record.Seq != int64(i) || (i == 0) != (s.Record.Prev == nil) || (i > 0 && *s.Record.Prev != chain[i-1].Hash) {
				t.Fatalf("record %d does not continue the chain: %+v", i, s.Record)
			}
		}
		if head, _ := st.EvidenceHead(ctx, m.S256); head == nil || head.Hash != chain[n-1].Hash {
			t.Fatalf("head = %+v", head)
		}
		// What appending reads of the head: its chain, seq and hash only.
		want := evidence.Link{Chain: m.S256, Seq: n - 1, Hash: chain[n-1].Hash}
		if link, err := st.EvidenceLink(ctx, m.S256); err != nil || link == nil || *link != want {
			t.Fatalf("link = %+v, %v; want %+v", link, err, want)
		}
		// The (chain, seq) key refuses a fork.
		if err := st.InsertEvidence(ctx, m.S256, chain[3]); !errors.Is(err, dberr.ErrConflict) {
			t.Fatalf("a second record at seq 3: %v, want Conflict", err)
		}
		if got, err := st.MissionEvidence(ctx, m.S256, evidence.RuntimeDecision, 3); err != nil || len(got) != 3 || got[0].Record.Seq != n-1 {
			t.Fatalf("MissionEvidence = %d, %v", len(got), err)
		}
		if got, _ := st.MissionEvidence(ctx, old.S256, evidence.RuntimeDecision, 10); len(got) != 0 {
			t.Fatalf("another mission's evidence: %d", len(got))
		}
	})

	// lockSeen locks seen's mission in a transaction of its own, as a
	// decision does with what its request read (LockSeenMission), and
	// checks that the counters it read with the lock are the mission's
	// (issue 12: one statement on SQLite).
	lockSeen := func(t *testing.T, seen *mission.Record) (*mission.Record, authority.Snapshot) {
		t.Helper()
		var got *mission.Record
		var snap authority.Snapshot
		if err := st.InTx(ctx, func(tx *store.Store) error {
			var err error
			if got, snap, err = tx.LockSeenMission(ctx, seen); err != nil {
				return err
			}
			again, err := tx.MissionCounters(ctx, got.S256, got.Lineage())
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(snap, again) {
				t.Errorf("the counters read with the lock %+v, read alone %+v", snap, again)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got, snap
	}
	t.Run("a seen mission is reused only while its row is unchanged", func(t *testing.T) {
		fresh, err := a.Mint("https://ps.example", at.Add(5*time.Millisecond), func(r *mission.Record) error { return st.CreateMission(ctx, r) })
		if err != nil {
			t.Fatal(err)
		}
		seen, _ := st.Mission(ctx, fresh.S256)
		if got, _ := lockSeen(t, seen); got.S256 != seen.S256 || got.Version != seen.Version || got.Composition.EffectiveHash != "AH" {
			t.Fatalf("unchanged: version %d, effective hash %q", got.Version, got.Composition.EffectiveHash)
		}
		// Each write to the row is seen through the old record: every one
		// moves the version or ends the mission.
		writes := []struct {
			name  string
			write func(v int64) error
			check func(m *mission.Record) bool
		}{
			{"hold", func(v int64) error {
				_, err := st.SetMissionHold(ctx, fresh.S256, v, &mission.Hold{Since: at, Until: at.Add(time.Hour), ByKind: "person", ByID: "p1"})
				return err
			}, func(m *mission.Record) bool { return m.Hold != nil }},
			{"resume", func(v int64) error { _, err := st.SetMissionHold(ctx, fresh.S256, v, nil); return err },
				func(m *mission.Record) bool { return m.Hold == nil }},
			{"narrowing", func(v int64) error {
				_, err := st.SetEffectiveAuthority(ctx, fresh.S256, v, json.RawMessage(`[{}]`), set, "EH2")
				return err
			}, func(m *mission.Record) bool { return m.Composition.EffectiveHash == "EH2" }},
			{"effects", func(v int64) error {
				return st.ApplyMissionEffects(ctx, fresh.S256, fresh.S256, v, authority.Effects{CountGrants: []string{"r1"}}, at)
			}, func(*mission.Record) bool { return true }},
			{"reverted effects", func(int64) error {
				return st.InTx(ctx, func(tx *store.Store) error {
					return tx.RevertMissionEffects(ctx, fresh.S256, fresh.S256, authority.Effects{CountGrants: []string{"r1"}})
				})
			}, func(*mission.Record) bool { return true }},
		}
		for _, w := range writes {
			before, _ := st.Mission(ctx, fresh.S256)
			if err := w.write(before.Version); err != nil {
				t.Fatalf("%s: %v", w.name, err)
			}
			if got, _ := lockSeen(t, before); got.Version != before.Version+1 || !w.check(got) {
				t.Fatalf("after %s: the seen record came back (version %d, hold %v)", w.name, got.Version, got.Hold)
			}
		}
		before, _ := st.Mission(ctx, fresh.S256)
		if ok, err := st.TerminateMission(ctx, fresh.S256, mission.ReasonRevoked, "p1", at, mission.Entry{At: at, Kind: "termination", Actor: "person", Summary: "Ended."}); !ok || err != nil {
			t.Fatalf("TerminateMission = %v, %v", ok, err)
		}
		if got, _ := lockSeen(t, before); !got.Terminated || got.Reason != mission.ReasonRevoked {
			t.Fatalf("after termination: the seen record came back (terminated %v, reason %q)", got.Terminated, got.Reason)
		}
		if err := st.InTx(ctx, func(tx *store.Store) error {
			_, _, err := tx.LockSeenMission(ctx, &mission.Record{S256: "nope"})
			return err
		}); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatalf("an unknown mission: %v", err)
		}
	})

	t.Run("a seen mission's lock serialises decisions", func(t *testing.T) {
		m3, err := a.Mint("https://ps.example", at.Add(6*time.Millisecond), func(r *mission.Record) error { return st.CreateMission(ctx, r) })
		if err != nil {
			t.Fatal(err)
		}
		seen, _ := st.Mission(ctx, m3.S256)
		locked, done := make(chan struct{}), make(chan error, 1)
		go func() {
			done <- st.InTx(ctx, func(tx *store.Store) error {
				m, _, err := tx.LockSeenMission(ctx, seen)
				if err != nil {
					return err
				}
				close(locked)
				time.Sleep(300 * time.Millisecond)
				return tx.ApplyMissionEffects(ctx, m.S256, m.S256, m.Version, authority.Effects{CountGrants: []string{"r1"}}, at)
			})
		}()
		<-locked
		// The second decision, from the same read, waits for the first
		// and is given the row as the first left it.
		got, snap := lockSeen(t, seen)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got.Version != seen.Version+1 {
			t.Fatalf("the second lock read version %d, want %d: it did not wait for the first decision", got.Version, seen.Version+1)
		}
		if snap.Grants["r1"] != 1 {
			t.Fatalf("the second decision's counters %v: read before the first decision's grant", snap.Grants)
		}
	})

	t.Run("a decision reads its chain's head with the counters", func(t *testing.T) {
		m4, err := a.Mint("https://ps.example", at.Add(7*time.Millisecond), func(r *mission.Record) error { return st.CreateMission(ctx, r) })
		if err != nil {
			t.Fatal(err)
		}
		seen4, err := st.Mission(ctx, m4.S256)
		if err != nil {
			t.Fatal(err)
		}
		ref := evidence.MissionRef{Origin: "https://ps.example", ID: m4.S256}
		record := func(i int) evidence.Record {
			body, _ := evidence.Body(map[string]any{"i": i})
			return evidence.Record{Mission: ref, Type: evidence.RuntimeDecision, Actor: evidence.Actor{Kind: "agent"},
				Anchors: evidence.Anchors{ProposalHash: "PH"}, Body: body}
		}
		// As Decide does, concurrently: lock, counters, append.
		const n = 8
		errs := make(chan error, n)
		for i := range n {
			go func() {
				errs <- st.InTx(ctx, func(tx *store.Store) error {
					if i%2 == 0 { // with what the request read: one statement on SQLite
						if _, _, err := tx.LockSeenMission(ctx, seen4); err != nil {
							return err
						}
					} else {
						if _, err := tx.LockMission(ctx, m4.S256); err != nil {
							return err
						}
						if _, err := tx.MissionCounters(ctx, m4.S256, m4.S256); err != nil {
							return err
						}
					}
					_, err := composition.AppendEvidence(ctx, tx, m4.S256, m4.S256, record(i), at)
					return err
				})
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		chain, err := st.Evidence(ctx, m4.S256)
		if err != nil || len(chain) != n {
			t.Fatalf("Evidence = %d records, %v", len(chain), err)
		}
		for i, s := range chain {
			if s.Record.Seq != int64(i) || (i > 0 && *s.Record.Prev != chain[i-1].Hash) {
				t.Fatalf("record %d does not continue the chain: %+v", i, s.Record)
			}
		}
		last := evidence.Link{Chain: m4.S256, Seq: n - 1, Hash: chain[n-1].Hash}
		// Inside one transaction the head follows its own appends, and a
		// savepoint that rolls back takes its append's head with it.
		if err := st.InTx(ctx, func(tx *store.Store) error {
			if _, _, err := tx.LockSeenMission(ctx, seen4); err != nil {
				return err
			}
			if link, _ := tx.EvidenceLink(ctx, m4.S256); link == nil || *link != last {
				t.Errorf("head with the counters = %+v, want %+v", link, last)
			}
			next, err := composition.AppendEvidence(ctx, tx, m4.S256, m4.S256, record(n), at)
			if err != nil {
				return err
			}
			moved := evidence.Link{Chain: m4.S256, Seq: n, Hash: next.Hash}
			if link, _ := tx.EvidenceLink(ctx, m4.S256); link == nil || *link != moved {
				t.Errorf("head after an append = %+v, want %+v", link, moved)
			}
			undone := errors.New("undone")
			if err := tx.InTx(ctx, func(sp *store.Store) error {
				if _, err := composition.AppendEvidence(ctx, sp, m4.S256, m4.S256, record(n+1), at); err != nil {
					return err
				}
				return undone
			}); !errors.Is(err, undone) {
				return err
			}
			if link, _ := tx.EvidenceLink(ctx, m4.S256); link == nil || *link != moved {
				t.Errorf("head after a rolled-back savepoint = %+v, want %+v", link, moved)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if link, _ := st.EvidenceLink(ctx, m4.S256); link == nil || link.Seq != n {
			t.Fatalf("committed head = %+v, want seq %d", link, n)
		}
	})

	// Issue 12, migrations 00035 and 00038: the head-signing sweep looks
	// only at chains with records stamped since its last sweep and chains
	// whose head came of age since, and the mark only moves forward.
	t.Run("evidence heads due since a mark", func(t *testing.T) {
		base := at.Add(1000 * time.Hour) // after every other subtest's records
		mint := func(i int) string {
			t.Helper()
			m, err := a.Mint("https://ps.example", at.Add(time.Duration(100+i)*time.Millisecond), func(r *mission.Record) error { return st.CreateMission(ctx, r) })
			if err != nil {
				t.Fatal(err)
			}
			return m.S256
		}
		// appendAt appends records of the given types to chain (the
		// mission's own when chain is ""), the i-th stamped base+minutes[i].
		appendAt := func(s256, chain string, types []string, minutes []int) {
			t.Helper()
			if chain == "" {
				chain = s256
			}
			for i, typ := range types {
				r := evidence.Record{Mission: evidence.MissionRef{Origin: "https://ps.example", ID: s256}, Type: typ,
					Actor: evidence.Actor{Kind: "ps"}, Anchors: evidence.Anchors{ProposalHash: "PH"}}
				if err := st.InTx(ctx, func(tx *store.Store) error {
					_, err := composition.AppendEvidence(ctx, tx, s256, chain, r, base.Add(time.Duration(minutes[i])*time.Minute))
					return err
				}); err != nil {
					t.Fatal(err)
				}
			}
		}
		dec, head := evidence.RuntimeDecision, evidence.ChainHead
		quiet, fresh, recentHead, oldHead, signed, other := mint(0), mint(1), mint(2), mint(3), mint(4), mint(5)
		appendAt(quiet, "", []string{dec}, []int{-1})                        // before the mark, unsigned
		appendAt(fresh, "", []string{dec}, []int{1})                         // no head yet
		appendAt(recentHead, "", []string{dec, head, dec}, []int{1, 61, 62}) // its head is under an hour old
		appendAt(oldHead, "", []string{dec, head, dec}, []int{1, 2, 30})     // moved since an old head
		appendAt(signed, "", []string{dec, head}, []int{5, 6})               // its last record is a head
		appendAt(other, "proposal:"+other, []string{dec}, []int{10})         // not a mission chain
		before := base.Add(60 * time.Minute)
		dueIn := func(movedSince, headsSince time.Time, limit int) []string {
			t.Helper()
			ids, err := st.EvidenceHeadsDue(ctx, before, headsSince.UnixMilli(), movedSince.UnixMilli(), limit)
			if err != nil {
				t.Fatal(err)
			}
			return ids
		}
		// due asks as the sweep does with the mark at mark: chains moved
		// since mark + 1 h, and heads stamped from mark to before.
		due := func(mark time.Time, limit int) []string {
			t.Helper()
			return dueIn(mark.Add(time.Hour), mark, limit)
		}
		if got := due(base.Add(-time.Hour), 10); !slices.Equal(got, []string{fresh, oldHead}) {
			t.Fatalf("due since the mark = %v, want [fresh oldHead] = %v", got, []string{fresh, oldHead})
		}
		if got := due(base.Add(-2*time.Hour), 10); !slices.Equal(got, []string{quiet, fresh, oldHead}) {
			t.Fatalf("due since an earlier mark = %v, want [quiet fresh oldHead]", got)
		}
		if got := due(base.Add(-time.Hour), 1); !slices.Equal(got, []string{fresh}) {
			t.Fatalf("due, at most 1 = %v, want [fresh]", got)
		}
		if got := due(base.Add(2*time.Minute-time.Hour), 10); !slices.Equal(got, []string{oldHead}) {
			t.Fatalf("due since a later mark = %v, want [oldHead]", got)
		}
		// Issue 12, migration 00038: a chain that moved before the records
		// looked at is found by its head coming of age (oldHead: moved at
		// +30 min after a head at +2 min), and only so.
		if got := dueIn(base.Add(31*time.Minute), base.Add(-time.Hour), 10); !slices.Equal(got, []string{oldHead}) {
			t.Fatalf("due by a head come of age = %v, want [oldHead]", got)
		}
		if got := dueIn(base.Add(31*time.Minute), base.Add(3*time.Minute), 10); len(got) != 0 {
			t.Fatalf("due with neither its records nor its head looked at = %v, want none", got)
		}

		if m, err := st.SweepMark(ctx, "test_sweep"); err != nil || m != 0 {
			t.Fatalf("a new sweep's mark = %d, %v; want 0", m, err)
		}
		for _, step := range []struct{ to, want int64 }{{5, 5}, {3, 5}, {9, 9}} {
			if err := st.AdvanceSweepMark(ctx, "test_sweep", step.to); err != nil {
				t.Fatal(err)
			}
			if m, err := st.SweepMark(ctx, "test_sweep"); err != nil || m != step.want {
				t.Fatalf("mark after advancing to %d = %d, %v; want %d", step.to, m, err, step.want)
			}
		}
	})
}
