package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// runPollLeases checks the poll leases of pending four-party requests
// (issue 11, migration 00030): one replica holds a request's lease and
// renews it; another is refused until it lapses, then takes it over;
// released, anyone takes it; deleted with the request. Leases and
// long-poll marks are settled statements: a cancelled context does not
// abandon them.
func runPollLeases(t *testing.T, open func(t *testing.T) *store.Store) {
	ctx := context.Background()
	st := open(t)
	t0 := time.Unix(1_800_000_000, 0).UTC()
	id := pendingID(301)
	rec := &pending.Record{Request: &pending.Request{ID: id, Kind: aauth.PendingAuthToken, Stage: "access_server",
		Requester: pending.Requester{Scheme: "jwt", Issuer: "https://ap.example", Subject: "aauth:a@ap.example"},
		State:     pending.StatePending, Requirement: pending.RequirementApproval, Payload: json.RawMessage(`{}`),
		Answers: []pending.Exchange{}, RetryAfter: 5, CreatedAt: t0, UpdatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute), Version: 1}}
	if err := st.InsertPendingRequest(ctx, rec, pending.Quota{Now: t0}); err != nil {
		t.Fatal(err)
	}
	lease := func(owner string, now time.Time, want bool) {
		t.Helper()
		ok, err := st.AcquirePollLease(ctx, id, owner, now, now.Add(30*time.Second))
		if err != nil || ok != want {
			t.Fatalf("lease for %s at +%v: %v %v, want %v", owner, now.Sub(t0), ok, err, want)
		}
	}
	lease("a", t0, true)
	lease("b", t0.Add(10*time.Second), false)                 // a holds it
	lease("a", t0.Add(20*time.Second), true)                  // a renews (until +50 s)
	lease("b", t0.Add(40*time.Second), false)                 // still a's
	lease("b", t0.Add(51*time.Second), true)                  // lapsed: b takes over
	lease("a", t0.Add(52*time.Second), false)                 // now b's
	if err := st.ReleasePollLease(ctx, id, "a"); err != nil { // not a's: nothing
		t.Fatal(err)
	}
	lease("a", t0.Add(53*time.Second), false)
	if err := st.ReleasePollLease(ctx, id, "b"); err != nil {
		t.Fatal(err)
	}
	lease("a", t0.Add(54*time.Second), true)

	// Settled statements: a context cancelled before the call abandons
	// neither a lease, its release, nor a long-poll mark or its end (the
	// caller must know their outcome; store.settled).
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := st.ReleasePollLease(done, id, "a"); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.AcquirePollLease(done, id, "c", t0.Add(55*time.Second), t0.Add(85*time.Second)); err != nil || !ok {
		t.Fatalf("a lease under a cancelled context: %v %v, want it taken", ok, err)
	}
	mark := func() *int64 {
		t.Helper()
		var until *int64
		if err := st.QuerySQL(ctx, &until, `SELECT long_poll_until_ms FROM pending_requests WHERE id = ?`, id); err != nil {
			t.Fatal(err)
		}
		return until
	}
	if err := st.StartPendingLongPoll(done, id, 123); err != nil || mark() == nil || *mark() != 123 {
		t.Fatalf("a long-poll mark under a cancelled context: %v, mark %v", err, mark())
	}
	if err := st.EndPendingLongPoll(done, id, 123); err != nil || mark() != nil {
		t.Fatalf("a long-poll mark's end under a cancelled context: %v, mark %v", err, mark())
	}
	if _, err := st.PurgePendingRequests(ctx, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := st.QuerySQL(ctx, &n, `SELECT COUNT(*) FROM federation_poll_leases`); err != nil || n != 0 {
		t.Fatalf("leases left after the request was purged: %d %v", n, err)
	}
}
