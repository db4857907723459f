package lifecycle

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/keys"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestHeadSweepMovesItsMarkOnlyWhenComplete (issue 12; design §7, Level
// 4): the hourly head-signing sweep looks only at chains with records
// stamped since its mark, and moves the mark (to an interval and the
// slack before its clock) only after a sweep that signed every chain due.
// A sweep cut short by its limit leaves the mark, so the chains it did not
// reach are found by the next. A chain that moved after its head is found
// when the head comes of age, though the mark passed its records.
func TestHeadSweepMovesItsMarkOnlyWhenComplete(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		storetest.SeedPersons(t, st, "p1")
		now := time.UnixMilli(1_800_000_000_000).UTC()
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
		s.headSweepLimit = 2

		decide := func(s256 string, at time.Time) {
			t.Helper()
			r := evidence.Record{Mission: evidence.MissionRef{Origin: "https://ps.example", ID: s256}, Type: evidence.RuntimeDecision,
				Actor: evidence.Actor{Kind: "agent"}}
			if err := st.InTx(ctx, func(tx *store.Store) error {
				_, err := composition.AppendEvidence(ctx, tx, s256, s256, r, at)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		var chains []string
		approvedAt := now
		mint := func() string {
			t.Helper()
			a := mission.Approval{AgentIss: "https://ap.example", AgentSub: "aauth:A@ap.example", PersonID: "p1", Description: "# Sweep"}
			approvedAt = approvedAt.Add(time.Millisecond)
			m, err := a.Mint("https://ps.example", approvedAt, func(r *mission.Record) error { return st.CreateMission(ctx, r) })
			if err != nil {
				t.Fatal(err)
			}
			return m.S256
		}
		for range 3 {
			c := mint()
			decide(c, now)
			chains = append(chains, c)
		}
		sweep := func(want int, wantMark int64) {
			t.Helper()
			if n, err := s.SignHeadsDue(ctx); err != nil || n != want {
				t.Fatalf("SignHeadsDue = %d, %v; want %d", n, err, want)
			}
			if m, err := st.SweepMark(ctx, headSweep); err != nil || m != wantMark {
				t.Fatalf("mark = %d, %v; want %d", m, err, wantMark)
			}
		}
		mark := func() int64 { return now.Add(-HeadSigningInterval - headSweepSlack).UnixMilli() }

		now = now.Add(HeadSigningInterval + time.Minute)
		sweep(2, 0)      // cut short by the limit: the mark stays
		sweep(1, mark()) // the third chain; complete: the mark moves
		sweep(0, mark())
		for _, c := range chains {
			if head, err := st.EvidenceHead(ctx, c); err != nil || head == nil || head.Record.Type != evidence.ChainHead {
				t.Fatalf("chain %s ends with %+v, %v; want a signed head", c, head, err)
			}
		}

		// A chain whose records were all stamped before the mark (by a
		// clock further behind than the slack) is not looked at; one that
		// moved since is.
		behind := mint()
		decide(behind, time.UnixMilli(mark()-time.Minute.Milliseconds()))
		decide(chains[1], now)
		now = now.Add(HeadSigningInterval + time.Minute)
		sweep(1, mark())
		if head, _ := st.EvidenceHead(ctx, chains[1]); head == nil || head.Record.Type != evidence.ChainHead {
			t.Fatalf("the chain moved since the mark ends with %+v, want a signed head", head)
		}

		// Migration 00038: a chain that moves minutes after its head is
		// not due until the head is an interval old. By then complete
		// sweeps have moved the mark past its records: it is found by its
		// head coming of age.
		signedAt := now
		decide(chains[1], signedAt.Add(5*time.Minute))
		moved, err := st.EvidenceHead(ctx, chains[1])
		if err != nil || moved == nil {
			t.Fatal(moved, err)
		}
		for _, step := range []time.Duration{30 * time.Minute, 20 * time.Minute} {
			now = now.Add(step)
			sweep(0, mark())
		}
		now = signedAt.Add(HeadSigningInterval + time.Minute)
		if since := mark() + HeadSigningInterval.Milliseconds(); since <= signedAt.Add(5*time.Minute).UnixMilli() {
			t.Fatalf("the sweep still reads the chain's records (moved since %d): the test does not test the heads", since)
		}
		sweep(1, mark())
		if head, _ := st.EvidenceHead(ctx, chains[1]); head == nil || head.Record.Type != evidence.ChainHead || head.Record.Seq <= moved.Record.Seq {
			t.Fatalf("the chain whose head came of age ends with %+v, want a new signed head", head)
		}
	})
}
