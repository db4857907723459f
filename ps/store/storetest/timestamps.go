package storetest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/timestamping"
)

// runTimestamps checks the queue and the tokens of RFC 3161 anchored
// chain heads (design §7, Level 4; migration 00042): a head queued in the
// transaction writing it (nothing when it rolls back) is due, claimed by
// one replica at a time (a second claim before the lease lapses is
// refused), deferred with its attempts counted, anchored once (a second
// token is not stored) and then no longer due; the tokens read back in
// seq order; the mission's deletion takes them.
func runTimestamps(t *testing.T, open func(t *testing.T) *store.Store) {
	ctx := context.Background()
	st := open(t)
	var _ timestamping.Store = st
	SeedPersons(t, st, "p1")
	t0 := time.UnixMilli(1_800_000_000_000).UTC()
	a := mission.Approval{AgentIss: "https://ap.example", AgentSub: "aauth:A@ap.example", PersonID: "p1", Description: "# Stamp me"}
	m, err := a.Mint("https://ps.example", t0, func(r *mission.Record) error { return st.CreateMission(ctx, r) })
	if err != nil {
		t.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer := evidence.JWSSigner{Alg: "Ed25519", Kid: "k1", Key: priv}
	ref := evidence.MissionRef{Origin: "https://ps.example", ID: m.S256}
	var head *evidence.Stored
	// write appends a record and a signed head over it in one transaction,
	// queueing the head; fail rolls it back.
	write := func(fail bool) (evidence.Stored, error) {
		var signed evidence.Stored
		err := st.InTx(ctx, func(tx *store.Store) error {
			rec, err := evidence.Append(head, m.S256, evidence.Record{Mission: ref, Type: evidence.LifecycleTransition,
				Actor: evidence.Actor{Kind: "ps"}}, t0)
			if err != nil {
				return err
			}
			if signed, err = evidence.SignHead(rec, signer, evidence.Actor{Kind: "ps"}, t0); err != nil {
				return err
			}
			for _, r := range []evidence.Stored{rec, signed} {
				if err := tx.InsertEvidence(ctx, m.S256, r); err != nil {
					return err
				}
			}
			if err := tx.QueueTimestamp(ctx, timestamping.Queued{Chain: m.S256, Seq: signed.Record.Seq, MissionS256: m.S256,
				Imprint: "imprint-" + signed.Hash}, t0); err != nil {
				return err
			}
			if fail {
				return errors.New("roll back")
			}
			return nil
		})
		if err == nil {
			head = &signed
		}
		return signed, err
	}
	if _, err := write(true); err == nil {
		t.Fatal("the rolled-back write succeeded")
	}
	if due, err := st.DueTimestamps(ctx, t0.Add(time.Hour), 10); err != nil || len(due) != 0 {
		t.Fatalf("a rolled-back head is queued: %+v %v", due, err)
	}
	h1, err := write(false)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := write(false)
	if err != nil {
		t.Fatal(err)
	}
	due, err := st.DueTimestamps(ctx, t0, 10)
	want := []timestamping.Queued{{Chain: m.S256, Seq: h1.Record.Seq, MissionS256: m.S256, Imprint: "imprint-" + h1.Hash},
		{Chain: m.S256, Seq: h2.Record.Seq, MissionS256: m.S256, Imprint: "imprint-" + h2.Hash}}
	if err != nil || !reflect.DeepEqual(due, want) {
		t.Fatalf("DueTimestamps = %+v, %v; want %+v", due, err, want)
	}
	if due, _ := st.DueTimestamps(ctx, t0, 1); len(due) != 1 || due[0].Seq != h1.Record.Seq {
		t.Fatalf("limit 1: %+v", due)
	}
	if due, _ := st.DueTimestamps(ctx, t0.Add(-time.Millisecond), 10); len(due) != 0 {
		t.Fatalf("due before their time: %+v", due)
	}

	claim := func(seq int64, now time.Time, want bool) {
		t.Helper()
		ok, err := st.ClaimTimestamp(ctx, m.S256, seq, now, now.Add(time.Minute))
		if err != nil || ok != want {
			t.Fatalf("claim %d at +%v: %v %v, want %v", seq, now.Sub(t0), ok, err, want)
		}
	}
	// One replica at a time: the second claim waits for the lease.
	claim(h1.Record.Seq, t0, true)
	claim(h1.Record.Seq, t0.Add(30*time.Second), false)
	if due, _ := st.DueTimestamps(ctx, t0.Add(30*time.Second), 10); len(due) != 1 || due[0].Seq != h2.Record.Seq {
		t.Fatalf("a claimed head is due: %+v", due)
	}
	// The claim lapses (a replica died): another takes it.
	claim(h1.Record.Seq, t0.Add(time.Minute), true)
	// A failure defers it; its attempts are counted.
	if err := st.DeferTimestamp(ctx, m.S256, h1.Record.Seq, t0.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if due, _ := st.DueTimestamps(ctx, t0.Add(10*time.Minute), 10); len(due) != 2 || due[1].Seq != h1.Record.Seq || due[1].Attempts != 2 {
		t.Fatalf("after a deferral: %+v", due)
	}

	tok := timestamping.Token{Chain: m.S256, Seq: h2.Record.Seq, DER: []byte{0x30, 0x03, 0x02, 0x01, 0x01}, GenTime: t0.Add(time.Second)}
	if ok, err := st.SetTimestamp(ctx, tok); err != nil || !ok {
		t.Fatalf("SetTimestamp = %v %v", ok, err)
	}
	// A token once stored is never replaced, and the head is no longer due
	// nor claimable.
	if ok, err := st.SetTimestamp(ctx, timestamping.Token{Chain: m.S256, Seq: h2.Record.Seq, DER: []byte{1}, GenTime: t0}); err != nil || ok {
		t.Fatalf("a second token: %v %v", ok, err)
	}
	claim(h2.Record.Seq, t0.Add(time.Hour), false)
	if due, _ := st.DueTimestamps(ctx, t0.Add(time.Hour), 10); len(due) != 1 || due[0].Seq != h1.Record.Seq {
		t.Fatalf("due after anchoring: %+v", due)
	}
	got, err := st.Timestamps(ctx, m.S256)
	if err != nil || !reflect.DeepEqual(got, []timestamping.Token{tok}) {
		t.Fatalf("Timestamps = %+v, %v; want %+v", got, err, tok)
	}
	if got, _ := st.Timestamps(ctx, "another-chain"); len(got) != 0 {
		t.Fatalf("another chain's tokens: %+v", got)
	}
	// A head must be a written record: no row without one.
	if err := st.QueueTimestamp(ctx, timestamping.Queued{Chain: m.S256, Seq: 99, MissionS256: m.S256, Imprint: "x"}, t0); err == nil {
		t.Fatal("a head that is no record was queued")
	}
	// The mission's deletion takes its evidence and the tokens with it.
	if err := st.ExecSQL(ctx, `DELETE FROM missions WHERE s256 = ?`, m.S256); err != nil {
		t.Fatal(err)
	}
	if n := CountRows(t, st, "evidence_timestamps"); n != 0 {
		t.Fatalf("%d timestamp rows outlive their mission", n)
	}
}
