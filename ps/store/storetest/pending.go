package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// runPending checks every method of pending.Store (ps/store/pending.go).
func runPending(t *testing.T, open func(t *testing.T) *store.Store) {
	ctx := context.Background()
	t0 := time.Unix(1_800_000_000, 0).UTC()
	agent := pending.Requester{Scheme: "jwt", Issuer: "https://ap.example", Subject: "aauth:a1@ap.example"}
	seq := 0
	newRecord := func(mod ...func(r *pending.Record)) *pending.Record {
		seq++
		rec := &pending.Record{Request: &pending.Request{
			ID: pendingID(seq), Kind: aauth.PendingPersonToken, Stage: "consent", Requester: agent,
			State: pending.StatePending, Requirement: pending.RequirementApproval,
			Capabilities: []string{"interaction"}, Payload: json.RawMessage(`{"a":1}`), Answers: []pending.Exchange{},
			RetryAfter: 5, CreatedAt: t0, UpdatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute), Version: 1,
		}}
		for _, m := range mod {
			m(rec)
		}
		return rec
	}
	insert := func(t *testing.T, st *store.Store, rec *pending.Record) {
		t.Helper()
		if err := st.InsertPendingRequest(ctx, rec, pending.Quota{Now: t0}); err != nil {
			t.Fatalf("insert: %v", err)
		}
	}
	load := func(t *testing.T, st *store.Store, id string) *pending.Record {
		t.Helper()
		rec, err := st.PendingRequest(ctx, id)
		if err != nil {
			t.Fatalf("load %s: %v", id, err)
		}
		return rec
	}

	t.Run("insert and read back every field", func(t *testing.T) {
		st := open(t)
		rec := newRecord(func(r *pending.Record) {
			r.Requirement, r.CodeHash, r.CodeDisplay = pending.RequirementInteraction, []byte("0123456789abcdef0123456789abcdef"), "ABCDE-FGHJK"
			r.HasCode, r.PersonID, r.Callback = true, "person-1", "https://agent.example/cb"
			r.ClientNet, r.FirstContact, r.DeliveredView = "192.0.2.7", true, "pending/interaction/code"
		})
		insert(t, st, rec)
		got := load(t, st, rec.ID)
		if got.Kind != rec.Kind || got.Stage != "consent" || got.Requester != agent || got.PersonID != "person-1" ||
			got.State != pending.StatePending || got.Requirement != pending.RequirementInteraction ||
			fmt.Sprint(got.Capabilities) != "[interaction]" || string(got.Payload) != `{"a":1}` ||
			got.Callback != rec.Callback || !got.HasCode || string(got.CodeHash) != string(rec.CodeHash) ||
			got.CodeDisplay != "ABCDE-FGHJK" || got.ClientNet != "192.0.2.7" || !got.FirstContact ||
			got.DeliveredView != "pending/interaction/code" || got.RetryAfter != 5 || !got.CreatedAt.Equal(t0) ||
			!got.ExpiresAt.Equal(rec.ExpiresAt) || got.Version != 1 || got.Question != nil || len(got.Answers) != 0 ||
			got.ResultDelivered || got.LastPollMS != nil || got.LongPollUntilMS != nil {
			t.Fatalf("read back %+v / %+v", *got, *got.Request)
		}
		if err := st.InsertPendingRequest(ctx, rec, pending.Quota{Now: t0}); !errors.Is(err, dberr.ErrConflict) {
			t.Fatalf("second insert of one id: %v, want dberr.ErrConflict", err)
		}
		if _, err := st.PendingRequest(ctx, pendingID(999)); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatalf("unknown id: %v, want dberr.ErrNotFound", err)
		}
	})

	t.Run("save is conditional on the version and keeps the code display only while unused", func(t *testing.T) {
		st := open(t)
		rec := newRecord(func(r *pending.Record) {
			r.Requirement, r.CodeHash, r.CodeDisplay, r.HasCode = pending.RequirementInteraction, []byte("h"), "ABCDE-FGHJK", true
		})
		insert(t, st, rec)
		cur := load(t, st, rec.ID)
		cur.Stage, cur.PersonID = "binding", "p"
		cur.Question = &pending.Question{Text: "Why?", Options: []string{"a", "b"}, AskedAt: t0, Deadline: t0.Add(time.Minute)}
		cur.Rounds, cur.Answers = 1, []pending.Exchange{{Question: "Q0", Action: "clarification_response", Answer: "A0", AskedAt: t0, AnsweredAt: t0}}
		stale := *cur.Request
		if err := st.SavePendingRequest(ctx, cur, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if cur.Version != 2 || !cur.UpdatedAt.Equal(t0.Add(time.Second)) {
			t.Fatalf("after save: version %d, updated %v", cur.Version, cur.UpdatedAt)
		}
		got := load(t, st, rec.ID)
		if got.Stage != "binding" || got.Question == nil || got.Question.Text != "Why?" || fmt.Sprint(got.Question.Options) != "[a b]" ||
			!got.Question.Deadline.Equal(t0.Add(time.Minute)) || got.Rounds != 1 || len(got.Answers) != 1 ||
			got.Answers[0].Answer != "A0" || got.CodeDisplay != "ABCDE-FGHJK" || got.Version != 2 {
			t.Fatalf("read back %+v", *got.Request)
		}
		if err := st.SavePendingRequest(ctx, &pending.Record{Request: &stale}, t0); !errors.Is(err, dberr.ErrConflict) {
			t.Fatalf("save of a stale version: %v, want dberr.ErrConflict", err)
		}
		consumed := t0.Add(2 * time.Second)
		got.CodeConsumedAt, got.State = &consumed, pending.StateInteracting
		if err := st.SavePendingRequest(ctx, got, consumed); err != nil {
			t.Fatal(err)
		}
		if again := load(t, st, rec.ID); again.CodeDisplay != "" || again.CodeConsumedAt == nil || again.State != pending.StateInteracting {
			t.Fatalf("after the code was used: display %q, consumed %v", again.CodeDisplay, again.CodeConsumedAt)
		}
	})

	t.Run("a result is claimed once, polls and long polls are recorded", func(t *testing.T) {
		st := open(t)
		rec := newRecord()
		insert(t, st, rec)
		if ok, err := st.ClaimPendingResult(ctx, rec.ID, t0); err != nil || ok {
			t.Fatalf("claim of an open request: %v %v", ok, err)
		}
		cur := load(t, st, rec.ID)
		cur.State, cur.ResultStatus, cur.ResultBody = pending.StateCompleted, 200, json.RawMessage(`{"token":"t"}`)
		cur.ResultReason = "a_reason"
		if err := st.SavePendingRequest(ctx, cur, t0); err != nil {
			t.Fatal(err)
		}
		if ok, err := st.ClaimPendingResult(ctx, rec.ID, t0); err != nil || !ok {
			t.Fatalf("first claim: %v %v", ok, err)
		}
		if ok, err := st.ClaimPendingResult(ctx, rec.ID, t0); err != nil || ok {
			t.Fatalf("second claim: %v %v", ok, err)
		}
		if got := load(t, st, rec.ID); !got.ResultDelivered || got.ResultStatus != 200 || string(got.ResultBody) != `{"token":"t"}` || got.ResultReason != "a_reason" {
			t.Fatalf("after the claim: %+v", *got.Request)
		}

		open2 := newRecord()
		insert(t, st, open2)
		at := t0.Add(1500 * time.Millisecond)
		if err := st.RecordPendingPoll(ctx, open2.ID, at, "pending/approval"); err != nil {
			t.Fatal(err)
		}
		if err := st.RecordPendingPoll(ctx, open2.ID, at.Add(time.Second), ""); err != nil {
			t.Fatal(err)
		}
		got := load(t, st, open2.ID)
		if got.LastPollMS == nil || *got.LastPollMS != at.Add(time.Second).UnixMilli() || got.DeliveredView != "pending/approval" {
			t.Fatalf("poll marks: %v %q", got.LastPollMS, got.DeliveredView)
		}
		for _, until := range []int64{5000, 4000} { // the latest outstanding long poll wins
			if err := st.StartPendingLongPoll(ctx, open2.ID, until); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.EndPendingLongPoll(ctx, open2.ID, 4000); err != nil { // not the mark's owner
			t.Fatal(err)
		}
		if got := load(t, st, open2.ID); got.LongPollUntilMS == nil || *got.LongPollUntilMS != 5000 {
			t.Fatalf("long-poll mark %v, want 5000", got.LongPollUntilMS)
		}
		if err := st.EndPendingLongPoll(ctx, open2.ID, 5000); err != nil {
			t.Fatal(err)
		}
		if got := load(t, st, open2.ID); got.LongPollUntilMS != nil {
			t.Fatalf("long-poll mark %v, want none", *got.LongPollUntilMS)
		}
	})

	t.Run("the mark of another process's change moves at every call", func(t *testing.T) {
		st := open(t)
		if m, err := st.PendingChangedAt(ctx); err != nil || m != 0 {
			t.Fatalf("before any change: %d %v", m, err)
		}
		for _, c := range []struct{ ms, want int64 }{{1000, 1000}, {1000, 1001}, {900, 1002}, {5000, 5000}} {
			if err := st.MarkPendingChanged(ctx, c.ms); err != nil {
				t.Fatal(err)
			}
			if m, err := st.PendingChangedAt(ctx); err != nil || m != c.want {
				t.Fatalf("marked at %d: %d %v, want %d", c.ms, m, err, c.want)
			}
		}
	})

	t.Run("lists, due requests and purge", func(t *testing.T) {
		st := open(t)
		other := pending.Requester{Scheme: "jwt", Issuer: "https://ap.example", Subject: "aauth:a2@ap.example"}
		first := newRecord(func(r *pending.Record) { r.PersonID = "p1" })
		second := newRecord(func(r *pending.Record) { r.PersonID = "p1"; r.CreatedAt = t0.Add(time.Second) })
		short := newRecord(func(r *pending.Record) { r.PersonID = "p1"; r.Requester = other; r.ExpiresAt = t0.Add(time.Minute) })
		asked := newRecord(func(r *pending.Record) {
			r.Requester = other
			r.Question = &pending.Question{Text: "q", AskedAt: t0, Deadline: t0.Add(30 * time.Second)}
		})
		ended := newRecord(func(r *pending.Record) {
			r.State, r.ResultStatus, r.ResultBody = pending.StateCancelled, 204, json.RawMessage{}
			r.ExpiresAt = t0.Add(time.Minute)
		})
		endedHeld := newRecord(func(r *pending.Record) {
			r.PersonID, r.State, r.ResultStatus, r.ResultBody = "p2", pending.StateDenied, 403, json.RawMessage(`{"error":"denied"}`)
		})
		for _, r := range []*pending.Record{first, second, short, asked, ended, endedHeld} {
			insert(t, st, r)
		}
		ids := func(recs []pending.Record, err error) string {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, r := range recs {
				out = append(out, r.ID)
			}
			return fmt.Sprint(out)
		}
		if got, want := ids(st.OpenPendingRequestsOfPerson(ctx, "p1", t0)), fmt.Sprint([]string{first.ID, short.ID, second.ID}); got != want {
			t.Fatalf("inbox %s, want %s", got, want)
		}
		if got, want := ids(st.OpenPendingRequestsOfPerson(ctx, "p1", t0.Add(time.Minute))), fmt.Sprint([]string{first.ID, second.ID}); got != want {
			t.Fatalf("inbox after a minute %s, want %s (expired ones left out)", got, want)
		}
		if got, want := ids(st.OpenPendingRequestsOf(ctx, other)), fmt.Sprint([]string{short.ID, asked.ID}); got != want {
			t.Fatalf("requester's open requests %s, want %s", got, want)
		}
		if got, want := ids(st.OpenPendingRequestsOfKind(ctx, aauth.PendingPersonToken, 3)), fmt.Sprint([]string{first.ID, short.ID, asked.ID}); got != want {
			t.Fatalf("open requests of the kind %s, want %s (oldest first, bounded)", got, want)
		}
		if got := ids(st.OpenPendingRequestsOfKind(ctx, aauth.PendingAuthToken, 10)); got != "[]" {
			t.Fatalf("open requests of another kind %s, want none", got)
		}
		due, err := st.DuePendingRequests(ctx, t0.Add(time.Minute))
		if err != nil || fmt.Sprint(due) != fmt.Sprint([]string{short.ID, asked.ID}) {
			t.Fatalf("due %v (%v), want the expired one and the unanswered question", due, err)
		}

		// Purge: the payload of an ended request nobody holds goes at once;
		// rows go once they expired before the cutoff.
		n, err := st.PurgePendingRequests(ctx, t0)
		if err != nil || n != 0 {
			t.Fatalf("purge: %d %v", n, err)
		}
		if got := load(t, st, ended.ID); got.Payload != nil {
			t.Fatalf("ended request without a person kept its payload %s", got.Payload)
		}
		for _, id := range []string{endedHeld.ID, first.ID} {
			if got := load(t, st, id); string(got.Payload) != `{"a":1}` {
				t.Fatalf("%s lost its payload", id)
			}
		}
		n, err = st.PurgePendingRequests(ctx, t0.Add(time.Minute+time.Second))
		if err != nil || n != 2 {
			t.Fatalf("purge after a minute: %d %v, want 2 (short and ended)", n, err)
		}
		if _, err := st.PendingRequest(ctx, ended.ID); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatalf("purged row still there: %v", err)
		}
		rows, bytes, err := st.PendingFootprint(ctx)
		if err != nil || rows != 4 || bytes <= 0 {
			t.Fatalf("footprint %d rows, %d bytes, %v", rows, bytes, err)
		}
	})

	t.Run("quota bounds and their retry times", func(t *testing.T) {
		st := open(t)
		q := pending.Quota{Now: t0, PerAgent: 2, PerProvider: 3, PerClient: 4, FirstContacts: 2, FirstContactWindow: time.Minute}
		admit := func(mod ...func(r *pending.Record)) error {
			return st.InsertPendingRequest(ctx, newRecord(mod...), q)
		}
		refused := func(err error, b pending.Bound, retry time.Time) {
			t.Helper()
			var qe *pending.QuotaError
			if !errors.As(err, &qe) || qe.Bound != b || !qe.RetryAt.Equal(retry) {
				t.Fatalf("got %v, want %q until %v", err, b, retry)
			}
		}
		agent2 := func(r *pending.Record) { r.Requester.Subject = "aauth:a2@ap.example" }
		for range 2 {
			if err := admit(); err != nil {
				t.Fatal(err)
			}
		}
		refused(admit(), pending.BoundPerAgent, t0.Add(10*time.Minute))
		if err := admit(agent2, func(r *pending.Record) { r.ExpiresAt = t0.Add(time.Minute) }); err != nil {
			t.Fatal(err)
		}
		refused(admit(agent2), pending.BoundPerProvider, t0.Add(time.Minute))
		// Another provider is not affected; expired and ended requests do not count.
		other := func(r *pending.Record) {
			r.Requester = pending.Requester{Scheme: "jwt", Issuer: "https://b.example", Subject: "aauth:b@b.example"}
		}
		if err := admit(other); err != nil {
			t.Fatal(err)
		}
		st2 := open(t)
		for _, r := range []*pending.Record{
			newRecord(func(r *pending.Record) { r.ExpiresAt = t0 }),
			newRecord(func(r *pending.Record) {
				r.State, r.ResultStatus, r.ResultBody = pending.StateDenied, 403, json.RawMessage(`{}`)
			}),
		} {
			if err := st2.InsertPendingRequest(ctx, r, pending.Quota{Now: t0}); err != nil {
				t.Fatal(err)
			}
		}
		if err := st2.InsertPendingRequest(ctx, newRecord(), pending.Quota{Now: t0, PerAgent: 1}); err != nil {
			t.Fatalf("an expired and an ended request counted: %v", err)
		}

		// Per client network, across providers.
		st3 := open(t)
		q3 := pending.Quota{Now: t0, PerClient: 2}
		for i := range 2 {
			r := newRecord(func(r *pending.Record) {
				r.ClientNet = "192.0.2.7"
				r.Requester.Issuer = fmt.Sprintf("https://p%d.example", i)
			})
			if err := st3.InsertPendingRequest(ctx, r, q3); err != nil {
				t.Fatal(err)
			}
		}
		err := st3.InsertPendingRequest(ctx, newRecord(func(r *pending.Record) { r.ClientNet = "192.0.2.7"; r.Requester.Issuer = "https://p9.example" }), q3)
		refused(err, pending.BoundPerClient, t0.Add(10*time.Minute))
		if err := st3.InsertPendingRequest(ctx, newRecord(func(r *pending.Record) { r.ClientNet = "198.51.100.1" }), q3); err != nil {
			t.Fatal(err)
		}

		// First contacts per provider in the window.
		st4 := open(t)
		q4 := pending.Quota{Now: t0, FirstContacts: 2, FirstContactWindow: time.Minute}
		for i := range 2 {
			r := newRecord(func(r *pending.Record) {
				r.FirstContact, r.Requester.Subject = true, fmt.Sprintf("aauth:n%d@ap.example", i)
				r.CreatedAt = t0.Add(time.Duration(i-30) * time.Second)
			})
			if err := st4.InsertPendingRequest(ctx, r, q4); err != nil {
				t.Fatal(err)
			}
		}
		refused(st4.InsertPendingRequest(ctx, newRecord(func(r *pending.Record) { r.FirstContact = true }), q4),
			pending.BoundFirstContacts, t0.Add(30*time.Second))
		if err := st4.InsertPendingRequest(ctx, newRecord(), q4); err != nil {
			t.Fatalf("a request that is no first contact: %v", err)
		}
		again := newRecord(func(r *pending.Record) { r.FirstContact, r.Requester.Subject = true, "aauth:n0@ap.example" })
		if err := st4.InsertPendingRequest(ctx, again, q4); err != nil {
			t.Fatalf("an agent already counted in the window is no new contact: %v", err)
		}
		q4.Now = t0.Add(31 * time.Second)
		if err := st4.InsertPendingRequest(ctx, newRecord(func(r *pending.Record) { r.FirstContact = true }), q4); err != nil {
			t.Fatalf("after the oldest left the window: %v", err)
		}
	})

	t.Run("concurrent admissions never overshoot a bound", func(t *testing.T) {
		st := open(t)
		const bound, tries = 5, 24
		q := pending.Quota{Now: t0, PerProvider: bound, PerClient: 100}
		recs := make([]*pending.Record, tries)
		for i := range recs {
			recs[i] = newRecord(func(r *pending.Record) {
				r.Requester.Subject = fmt.Sprintf("aauth:c%d@ap.example", i)
				r.ClientNet = "192.0.2.7"
			})
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		admitted, other := 0, []error{}
		for _, r := range recs {
			wg.Go(func() {
				err := st.InsertPendingRequest(ctx, r, q)
				var qe *pending.QuotaError
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					admitted++
				case !errors.As(err, &qe):
					other = append(other, err)
				}
			})
		}
		wg.Wait()
		rows, _, err := st.PendingFootprint(ctx)
		if err != nil || len(other) > 0 || admitted != bound || rows != bound {
			t.Fatalf("admitted %d, stored %d (%v), errors %v; want exactly %d", admitted, rows, err, other, bound)
		}
	})
}

// pendingID is a well-formed pending id (22 base64url characters) that
// sorts like n.
func pendingID(n int) string { return fmt.Sprintf("pending%015d", n) }
