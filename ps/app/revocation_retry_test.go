package app_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/revocation"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// cascadeDeliveries are the downstream revocations of a cascade (for a
// mission, the one its lifecycle_transition names), as stored.
func cascadeDeliveries(t *testing.T, w *world, cascade string) []revocation.Delivery {
	t.Helper()
	ds, err := w.ps.App.Store.Deliveries(ctxT(), cascade)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// eventually waits, at most 20 s of real time, until ok holds; the PS
// retries on its own (one look a second).
func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// idle waits until no revocation of the PS is in flight (a retry's
// outcome and evidence are written after its request).
func idle(t *testing.T, w *world) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctxT(), 15*time.Second)
	defer cancel()
	if !w.ps.App.Revocation.WaitIdle(ctx) {
		t.Fatal("the revocations in flight did not end")
	}
}

// allEnded reports whether every delivery of the cascade has outcome.
func allEnded(t *testing.T, w *world, cascade, outcome string) func() bool {
	return func() bool {
		for _, d := range cascadeDeliveries(t, w, cascade) {
			if d.Outcome != outcome {
				return false
			}
		}
		return true
	}
}

// expectNothingSent moves the PS clock by d, lets its retry loop look
// twice, and fails with why if the resource got another request.
func expectNothingSent(t *testing.T, w *world, rs *conformance.Resource, d time.Duration, why string) {
	t.Helper()
	idle(t, w)
	n := rs.RevocationRequests()
	w.clock.Advance(d)
	time.Sleep(2 * revocation.RetryTick)
	idle(t, w)
	if rs.RevocationRequests() != n {
		t.Fatal(why)
	}
}

// allRevokedAt reports whether rs received the PS's revocation of each
// of toks.
func allRevokedAt(t *testing.T, w *world, rs *conformance.Resource, toks []string) func() bool {
	return func() bool {
		for _, tok := range toks {
			if !rs.Revoked(w.ps.Issuer, jtiOf(t, tok)) {
				return false
			}
		}
		return true
	}
}

// missionWithTokens approves a mission for rs.test and obtains a person
// token under it: its tokens are the approval's and that one.
func missionWithTokens(t *testing.T, w *world, b *pstest.Browser, rs *conformance.Resource) (s256 string, toks []string) {
	t.Helper()
	m := w.approveMission(t, w.agent, b, `{"description":"# Retry me","resources":["https://rs.test"],"capabilities":["interaction"]}`, nil)
	pt := personToken(t, w, b, rs, missionBody("https://rs.test", m.s256))
	toks, _ = missionTokens(t, m, pt)
	return m.s256, toks
}

// revokeUnreachable approves a mission, obtains a person token under it
// and revokes the mission while rs answers 503: each delivery's first
// attempt ends revocation_unavailable, evidenced once with the retry the
// PS scheduled. It returns the mission, its tokens and its cascade.
func revokeUnreachable(t *testing.T, w *world, b *pstest.Browser, rs *conformance.Resource) (s256 string, toks []string, cascade string) {
	t.Helper()
	s256, toks = missionWithTokens(t, w, b, rs)
	rs.SetRevocationStatus(http.StatusServiceUnavailable)
	revokeAndSettle(t, w, b, s256)
	ev := exportRevocationEvidence(t, w, b, s256)
	if len(ev.Results) != len(toks) {
		t.Fatalf("revocation_result records after the first attempts: %+v", ev.Results)
	}
	for _, r := range ev.Results {
		if r.Outcome != revocation.OutcomeUnavailable || r.Attempts != 1 || r.NextAttemptAt == "" {
			t.Fatalf("the first failure's revocation_result: %+v; want revocation_unavailable, one attempt, next_attempt_at", r)
		}
	}
	for _, d := range cascadeDeliveries(t, w, ev.Cascade) {
		if d.Outcome != revocation.OutcomeUnavailable || d.NextAttempt.IsZero() {
			t.Fatalf("a failed delivery without its retry: %+v", d)
		}
	}
	return s256, toks, ev.Cascade
}

// unreachable is a mission revoked while its resource failed
// (revokeUnreachable), on one of both databases.
type unreachable struct {
	w       *world
	b       *pstest.Browser
	rs      *conformance.Resource
	opt     pstest.Options
	s256    string
	toks    []string
	cascade string
}

// onBothDatabasesUnreachable runs fn, in parallel, on each database with
// a mission revoked while its resource failed.
func onBothDatabasesUnreachable(t *testing.T, fn func(t *testing.T, u unreachable)) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		t.Parallel()
		u := unreachable{opt: opt}
		u.w, u.b, u.rs = authWorldWith(t, opt)
		u.s256, u.toks, u.cascade = revokeUnreachable(t, u.w, u.b, u.rs)
		fn(t, u)
	})
}

// TestMissionRevocationRetriedUntilConfirmed (design §5 "Revocation
// propagation": "backing off 1 s → 60 s until exp; outcomes are
// evidenced"; §7 revocation_result; PS-286, PS-292): the person revokes a
// mission while the resource's revocation endpoint (real, over loopback
// HTTPS) answers 503. Each delivery ends revocation_unavailable (what a
// report says, PS-286), evidenced once with its next_attempt_at; the PS
// attempts it again on its own, failing again (attempts grow, nothing more
// is evidenced: the same outcome is never evidenced twice); once the
// resource recovers it receives the PS's signed revocations, and the
// mission's chain gets one revocation_result per token with outcome
// revoked, confirmed, and the attempts it took; the schedule is cleared
// and nothing more is sent; the bundle verifies. On both databases.
func TestMissionRevocationRetriedUntilConfirmed(t *testing.T) {
	onBothDatabasesUnreachable(t, func(t *testing.T, u unreachable) {
		w, b, rs, s256, toks, cascade := u.w, u.b, u.rs, u.s256, u.toks, u.cascade

		eventually(t, "a second failed attempt of every delivery", func() bool {
			for _, d := range cascadeDeliveries(t, w, cascade) {
				if d.Attempts < 2 {
					return false
				}
			}
			return true
		})
		rs.SetRevocationStatus(0)
		w.clock.Advance(4 * time.Second) // past the next backoff step
		eventually(t, "the resource receives the retried revocations", allRevokedAt(t, w, rs, toks))
		idle(t, w)
		for _, d := range cascadeDeliveries(t, w, cascade) {
			if d.Outcome != revocation.OutcomeRevoked || !d.NextAttempt.IsZero() || d.Attempts < 3 {
				t.Fatalf("a retried delivery: %+v; want revoked, no retry left, at least three attempts", d)
			}
		}
		ev := exportRevocationEvidence(t, w, b, s256)
		byJTI := resultsByJTI(ev.Results)
		for _, tok := range toks {
			got := byJTI[jtiOf(t, tok)]
			if len(got) != 2 || got[0].Outcome != revocation.OutcomeUnavailable || got[0].Attempts != 1 {
				t.Fatalf("revocation_result records of %s: %+v; want the first failure, then the success", jtiOf(t, tok), got)
			}
			if r := got[1]; r.Outcome != revocation.OutcomeRevoked || !r.Confirmed || r.Attempts < 3 || r.NextAttemptAt != "" ||
				r.Iss != w.ps.Issuer || r.Recipient != "https://rs.test" || r.Revocations != cascade {
				t.Fatalf("the success's revocation_result: %+v", r)
			}
		}
		expectNothingSent(t, w, rs, 2*time.Minute, "the PS sent a confirmed revocation again")
	})
}

// TestMissionRevocationRetryEndsUnsupported (design §5, §7; PS-292: a
// recipient answering unsupported_iss is revocation_unsupported, which is
// permanent): the resource first fails (503), then refuses the PS's
// revocations; the retry records revocation_unsupported, evidenced as the
// new outcome, and nothing more is sent. On both databases.
func TestMissionRevocationRetryEndsUnsupported(t *testing.T) {
	onBothDatabasesUnreachable(t, func(t *testing.T, u unreachable) {
		w, b, rs, s256, toks, cascade := u.w, u.b, u.rs, u.s256, u.toks, u.cascade
		rs.SetRevocationStatus(http.StatusForbidden)
		w.clock.Advance(2 * time.Second)
		eventually(t, "the retries end revocation_unsupported", allEnded(t, w, cascade, revocation.OutcomeUnsupported))
		idle(t, w)
		for _, d := range cascadeDeliveries(t, w, cascade) {
			if !d.NextAttempt.IsZero() {
				t.Fatalf("a refused delivery is still scheduled: %+v", d)
			}
		}
		byJTI := resultsByJTI(exportRevocationEvidence(t, w, b, s256).Results)
		for _, tok := range toks {
			got := byJTI[jtiOf(t, tok)]
			if len(got) != 2 || got[1].Outcome != revocation.OutcomeUnsupported || got[1].Confirmed || got[1].NextAttemptAt != "" {
				t.Fatalf("revocation_result records of %s: %+v; want the failure, then revocation_unsupported", jtiOf(t, tok), got)
			}
		}
		expectNothingSent(t, w, rs, 2*time.Minute, "the PS sent a revocation the resource refuses again")
	})
}

// TestMissionRevocationRetryResumesAfterRestart (design §5, migration
// 00040: the schedule is in the database; PS-286): the resource answers
// 503 when the mission is revoked; the PS stops, the resource recovers,
// and a new PS on the same database finds the due retries and sends
// them: the resource receives each revocation and the chain gets its
// revoked revocation_result. On both databases.
func TestMissionRevocationRetryResumesAfterRestart(t *testing.T) {
	onBothDatabasesUnreachable(t, func(t *testing.T, u unreachable) {
		w, b, rs, opt, s256, toks, cascade := u.w, u.b, u.rs, u.opt, u.s256, u.toks, u.cascade

		w.ps.Stop()
		n := rs.RevocationRequests()
		rs.SetRevocationStatus(0)
		// A retry in flight at the stop leaves its claim to lapse.
		w.clock.Advance(3 * time.Minute)
		opt.Now = w.clock.Now
		w.ps = w.env.Start(t, opt)
		eventually(t, "the restarted PS sends the due retries", allRevokedAt(t, w, rs, toks))
		if rs.RevocationRequests() <= n {
			t.Fatal("no request after the restart")
		}
		idle(t, w)
		for _, d := range cascadeDeliveries(t, w, cascade) {
			if d.Outcome != revocation.OutcomeRevoked || !d.NextAttempt.IsZero() {
				t.Fatalf("a delivery after the restart: %+v", d)
			}
		}
		byJTI := resultsByJTI(exportRevocationEvidence(t, w, b, s256).Results)
		for _, tok := range toks {
			got := byJTI[jtiOf(t, tok)]
			if len(got) != 2 || got[1].Outcome != revocation.OutcomeRevoked || !got[1].Confirmed {
				t.Fatalf("revocation_result records of %s: %+v", jtiOf(t, tok), got)
			}
		}
	})
}

// TestMissionRevocationSentAfterItsSenderStopped (design §5, migration
// 00040; PS-286: every downstream revocation gets a terminal outcome):
// the PS stops while its first attempts are under way (the resource holds
// them, then fails them), so no outcome is recorded; a new PS on the same
// database sends the still-pending deliveries once their fallback time
// has passed, the resource receives them, and the chain gets one
// revocation_result each (revoked, one recorded attempt). On both
// databases.
func TestMissionRevocationSentAfterItsSenderStopped(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		t.Parallel()
		w, b, rs := authWorldWith(t, opt)
		s256, toks := missionWithTokens(t, w, b, rs)
		rs.SetRevocationStatus(http.StatusServiceUnavailable)
		release := rs.HoldRevocations()
		defer release()
		if pg := b.Post(t, "/missions/"+s256+"/revoke", nil); pg.Status != http.StatusSeeOther {
			t.Fatalf("revoke: %d\n%s", pg.Status, pg.HTML)
		}
		eventually(t, "the first attempts reach the resource", func() bool { return rs.RevocationRequests() >= len(toks) })
		w.ps.Stop()
		release() // they fail, and their sender cannot record it
		rs.SetRevocationStatus(0)

		opt.Now = w.clock.Now
		w.ps = w.env.Start(t, opt)
		w.clock.Advance(3 * time.Minute)
		eventually(t, "the restarted PS sends the pending revocations", allRevokedAt(t, w, rs, toks))
		idle(t, w)
		byJTI := resultsByJTI(exportRevocationEvidence(t, w, b, s256).Results)
		for _, tok := range toks {
			got := byJTI[jtiOf(t, tok)]
			if len(got) != 1 || got[0].Outcome != revocation.OutcomeRevoked || !got[0].Confirmed || got[0].Attempts != 1 {
				t.Fatalf("revocation_result records of %s: %+v; want one, revoked", jtiOf(t, tok), got)
			}
		}
	})
}

// deadlines are the tokens' exps plus the skew past which the PS
// attempts their revocation no more, the earliest and the latest.
func deadlines(t *testing.T, toks []string) (earliest, latest time.Time) {
	t.Helper()
	for i, tok := range toks {
		d := expTime(t, tok).Add(revocation.ExpirySkew)
		if i == 0 || d.Before(earliest) {
			earliest = d
		}
		if d.After(latest) {
			latest = d
		}
	}
	return earliest, latest
}

// retriesEndedOnce waits until no delivery of the cascade is scheduled,
// checks each ended revocation_unavailable, and that the mission's chain
// (exported, verified) has per token the first failure's
// revocation_result and one more saying the retries ended, with the
// attempts the delivery stored (design §5, §7). It returns the deliveries
// by token.
func retriesEndedOnce(t *testing.T, w *world, b *pstest.Browser, s256, cascade string, toks []string) map[string]revocation.Delivery {
	t.Helper()
	eventually(t, "the retries end", func() bool {
		for _, d := range cascadeDeliveries(t, w, cascade) {
			if !d.NextAttempt.IsZero() {
				return false
			}
		}
		return true
	})
	ds := map[string]revocation.Delivery{}
	for _, d := range cascadeDeliveries(t, w, cascade) {
		if d.Outcome != revocation.OutcomeUnavailable {
			t.Fatalf("a delivery given up: %+v; want revocation_unavailable", d)
		}
		ds[d.TokenJTI] = d
	}
	byJTI := resultsByJTI(exportRevocationEvidence(t, w, b, s256).Results)
	for _, tok := range toks {
		got := byJTI[jtiOf(t, tok)]
		if len(got) != 2 || got[0].NextAttemptAt == "" || got[0].RetriesEnded {
			t.Fatalf("revocation_result records of %s: %+v; want the first failure, then the end of its retries", jtiOf(t, tok), got)
		}
		if r := got[1]; r.Outcome != revocation.OutcomeUnavailable || r.Confirmed || !r.RetriesEnded || r.NextAttemptAt != "" ||
			r.Attempts != ds[r.JTI].Attempts || r.Iss != w.ps.Issuer || r.Recipient != "https://rs.test" || r.Revocations != cascade {
			t.Fatalf("the revocation_result of retries that ended: %+v; want revocation_unavailable, retries_ended, %d attempts",
				r, ds[r.JTI].Attempts)
		}
	}
	return ds
}

// TestMissionRevocationRetriesStopAtExp (design §5 "until exp"; PS-290's
// skew; §7 revocation_result): the resource never recovers, and the PS
// does not look again before the tokens' exp plus the skew has passed
// (the clock jumps past it). It sends nothing more and ends the retries
// as a recorded decision: each delivery stays revocation_unavailable,
// scheduled no more, and the chain gets, after the first failure's
// revocation_result, one more per token saying retries_ended with the
// attempts made, once (later looks add nothing); the bundle verifies. On
// both databases.
func TestMissionRevocationRetriesStopAtExp(t *testing.T) {
	onBothDatabasesUnreachable(t, func(t *testing.T, u unreachable) {
		w, b, rs, s256, toks, cascade := u.w, u.b, u.rs, u.s256, u.toks, u.cascade
		idle(t, w)
		sent := rs.RevocationRequests()
		_, latest := deadlines(t, toks)
		w.clock.Advance(latest.Sub(w.clock.Now()) + time.Second)
		retriesEndedOnce(t, w, b, s256, cascade, toks)
		if got := rs.RevocationRequests(); got != sent {
			t.Fatalf("the PS sent %d revocations after the token's exp", got-sent)
		}
		expectNothingSent(t, w, rs, time.Minute, "the PS sent a revocation after the token's exp")
		retriesEndedOnce(t, w, b, s256, cascade, toks)
	})
}

// TestMissionRevocationRetriesEndAfterTheLastAttempt (design §5 "backing
// off 1 s → 60 s until exp"; §7 revocation_result): the resource never
// recovers; the PS backs off to 60 s between attempts, then, 30 s before
// the tokens' exp plus the skew, attempts once more: the next attempt
// would come after it, so that failure ends the retries, recorded with
// it in one transaction — one revocation_result per token saying
// retries_ended with every attempt counted, once; nothing more is sent;
// the bundle verifies. On both databases.
func TestMissionRevocationRetriesEndAfterTheLastAttempt(t *testing.T) {
	onBothDatabasesUnreachable(t, func(t *testing.T, u unreachable) {
		w, b, rs, s256, toks, cascade := u.w, u.b, u.rs, u.s256, u.toks, u.cascade
		fewest := func() int {
			n := -1
			for _, d := range cascadeDeliveries(t, w, cascade) {
				if n < 0 || d.Attempts < n {
					n = d.Attempts
				}
			}
			return n
		}
		// Six failed attempts each: the seventh's failure schedules the
		// next 60 s later.
		for n := fewest(); n < 6; n = fewest() {
			w.clock.Advance(time.Minute)
			eventually(t, "one more failed attempt of every delivery", func() bool { return fewest() > n })
		}
		idle(t, w)
		earliest, latest := deadlines(t, toks)
		if !earliest.Equal(latest) {
			t.Fatalf("the tokens' exps differ (%v, %v): one attempt cannot be the last of both", earliest, latest)
		}
		sent := rs.RevocationRequests()
		w.clock.Advance(earliest.Add(-30 * time.Second).Sub(w.clock.Now()))
		ds := retriesEndedOnce(t, w, b, s256, cascade, toks)
		if got := rs.RevocationRequests(); got != sent+len(toks) {
			t.Fatalf("%d requests for the %d last attempts", got-sent, len(toks))
		}
		for _, d := range ds {
			if d.Attempts < 7 {
				t.Fatalf("retries ended before the last attempt: %+v", d)
			}
		}
		expectNothingSent(t, w, rs, time.Minute, "the PS sent a revocation after its retries ended")
		retriesEndedOnce(t, w, b, s256, cascade, toks)
	})
}

// TestMissionRevocationRetriesEndOnceAcrossReplicas (design §5, §7;
// migration 00040's claim): two PS replicas on one PostgreSQL database
// both look for due retries every second when the tokens' exp plus the
// skew has passed; one of them ends each delivery's retries: one
// revocation_result saying retries_ended per token, nothing sent.
func TestMissionRevocationRetriesEndOnceAcrossReplicas(t *testing.T) {
	t.Parallel()
	opt := pstest.Options{DatabaseURL: storetest.NewPostgresURL(t)}
	w, b, rs := authWorldWith(t, opt)
	s256, toks, cascade := revokeUnreachable(t, w, b, rs)
	opt.Now = w.clock.Now
	first := w.ps
	w.ps = w.env.Start(t, opt) // ps.test now reaches the second replica
	idle(t, w)
	ctx, cancel := context.WithTimeout(ctxT(), 15*time.Second)
	defer cancel()
	first.App.Revocation.WaitIdle(ctx)
	sent := rs.RevocationRequests()
	_, latest := deadlines(t, toks)
	w.clock.Advance(latest.Sub(w.clock.Now()) + time.Second)
	retriesEndedOnce(t, w, b, s256, cascade, toks)
	time.Sleep(3 * revocation.RetryTick) // both replicas look again
	retriesEndedOnce(t, w, b, s256, cascade, toks)
	if got := rs.RevocationRequests(); got != sent {
		t.Fatalf("the replicas sent %d revocations after the token's exp", got-sent)
	}
}

// TestMissionRevocationRetriedByOneReplica (design §5; migration 00040's
// claim): two PS replicas on one PostgreSQL database both look for due
// retries every second. While the resource fails, and then while it
// holds its answers (an attempt in flight over several of both replicas'
// looks), each due retry is sent by one of them: every request the
// resource got is an attempt a replica recorded (none was sent twice and
// refused at its record), and each token's revocation arrives once.
func TestMissionRevocationRetriedByOneReplica(t *testing.T) {
	t.Parallel()
	opt := pstest.Options{DatabaseURL: storetest.NewPostgresURL(t)}
	w, b, rs := authWorldWith(t, opt)
	first := w.ps
	_, toks, cascade := revokeUnreachable(t, w, b, rs)
	opt.Now = w.clock.Now
	w.ps = w.env.Start(t, opt) // ps.test now reaches the second replica

	attempts := func() int {
		n := 0
		for _, d := range cascadeDeliveries(t, w, cascade) {
			n += d.Attempts
		}
		return n
	}
	eventually(t, "retries while the resource fails", func() bool { return attempts() >= 2*len(toks) })
	idle(t, w)
	ctx, cancel := context.WithTimeout(ctxT(), 15*time.Second)
	defer cancel()
	first.App.Revocation.WaitIdle(ctx) // the next retries are at least 2 s away
	release := rs.HoldRevocations()
	defer release()
	rs.SetRevocationStatus(0)
	sent := rs.RevocationRequests()
	w.clock.Advance(8 * time.Second) // every retry is due
	eventually(t, "the retries reach the resource", func() bool { return rs.RevocationRequests() >= sent+len(toks) })
	time.Sleep(3 * revocation.RetryTick) // both replicas look again while the attempts are held
	if got := rs.RevocationRequests(); got != sent+len(toks) {
		t.Fatalf("%d requests for %d due retries: a retry in flight was claimed again", got-sent, len(toks))
	}
	release()
	eventually(t, "the retried revocations are recorded", allEnded(t, w, cascade, revocation.OutcomeRevoked))
	idle(t, w)
	first.App.Revocation.WaitIdle(ctx)
	if got, want := rs.RevocationRequests(), attempts(); got != want {
		t.Fatalf("the resource got %d requests, the replicas recorded %d attempts: a retry was sent twice", got, want)
	}
	for _, tok := range toks {
		n := 0
		for _, r := range rs.Revocations() {
			if r.JTI == jtiOf(t, tok) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("the revocation of %s arrived %d times", jtiOf(t, tok), n)
		}
	}
}
