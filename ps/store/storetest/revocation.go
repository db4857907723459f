package storetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/agents"
	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/revocation"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

// runRevocation checks the revocation aggregate (issue 8, migration
// 00010): the revocation list and its per-issuer count, accepted agent
// tokens, which callers may revoke, the cascade's reads of the issuance
// records, cascades and their deliveries, and the purge.
func runRevocation(t *testing.T, open func(t *testing.T) *store.Store) {
	ctx := context.Background()
	st := open(t)
	var _ revocation.Store = st
	SeedPersons(t, st, "p1", "p2")
	at := time.Unix(1_800_000_000, 0).UTC()
	const ap, rs, agent = "https://ap.example", "https://rs.example", "aauth:a@ap.example"

	t.Run("revocation list", func(t *testing.T) {
		for _, jti := range []string{"x", "y"} {
			if err := st.RecordRevocation(ctx, ap, jti, at.Add(time.Hour), at); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.RecordRevocation(ctx, ap, "x", at.Add(time.Hour), at); err != nil {
			t.Fatalf("recording again is idempotent: %v", err)
		}
		if ok, err := st.IsRevoked(ctx, ap, "x"); !ok || err != nil {
			t.Fatalf("IsRevoked = %v, %v", ok, err)
		}
		if ok, _ := st.IsRevoked(ctx, "https://other.example", "x"); ok {
			t.Fatal("revocations are keyed by (iss, jti)")
		}
		// FirstRevoked: one statement for an issuance's checks (issue 12).
		for _, c := range []struct {
			in   [][2]string
			want int
		}{
			{nil, -1},
			{[][2]string{{ap, "z"}, {"https://other.example", "x"}}, -1},
			{[][2]string{{ap, "z"}, {ap, "y"}, {ap, "x"}}, 1},
			{[][2]string{{ap, "x"}}, 0},
		} {
			if i, err := st.FirstRevoked(ctx, c.in); i != c.want || err != nil {
				t.Fatalf("FirstRevoked(%v) = %d, %v; want %d", c.in, i, err, c.want)
			}
		}
		if n, err := st.LiveRevocations(ctx, ap, at); n != 2 || err != nil {
			t.Fatalf("LiveRevocations = %d, %v", n, err)
		}
		if n, _ := st.LiveRevocations(ctx, ap, at.Add(2*time.Hour)); n != 0 {
			t.Fatalf("expired entries are not live: %d", n)
		}
	})

	t.Run("revocations from unknown providers", func(t *testing.T) {
		const self = "https://ps.example"
		if err := st.RecordRevocation(ctx, self, "own", at.Add(time.Hour), at); err != nil {
			t.Fatal(err)
		}
		if known, err := st.KnownProvider(ctx, ap); known || err != nil {
			t.Fatalf("KnownProvider before any request = %v, %v", known, err)
		}
		if n, err := st.LiveRevocationsFromUnknown(ctx, self, at); n != 2 || err != nil {
			t.Fatalf("LiveRevocationsFromUnknown = %d, %v; want ap's two, not the PS's own", n, err)
		}
		if err := st.SawAgentProvider(ctx, ap, agents.Display{}, at); err != nil {
			t.Fatal(err)
		}
		if err := st.SetAgentProviderStatus(ctx, ap, agents.ProviderAllowed, "p1", at); err != nil {
			t.Fatal(err)
		}
		if known, err := st.KnownProvider(ctx, ap); !known || err != nil {
			t.Fatalf("KnownProvider once the operator allowed it = %v, %v", known, err)
		}
		if n, _ := st.LiveRevocationsFromUnknown(ctx, self, at); n != 0 {
			t.Fatalf("a known provider's revocations are not unknown: %d", n)
		}
	})

	t.Run("agent tokens", func(t *testing.T) {
		if err := st.RememberAgentToken(ctx, ap, "t1", agent, at.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := st.RememberAgentToken(ctx, ap, "t1", "aauth:other@ap.example", at.Add(time.Hour)); err != nil {
			t.Fatalf("remembering again: %v", err)
		}
		if sub, err := st.AgentTokenSub(ctx, ap, "t1"); sub != agent || err != nil {
			t.Fatalf("AgentTokenSub = %q, %v; the first sub stays", sub, err)
		}
		if sub, err := st.AgentTokenSub(ctx, ap, "unknown"); sub != "" || err != nil {
			t.Fatalf("unknown agent token: %q, %v", sub, err)
		}
	})

	t.Run("callers", func(t *testing.T) {
		if ok, err := st.AcceptsRevocationsFrom(ctx, ap, "aauth-agent.json"); !ok || err != nil {
			t.Fatalf("an agent provider not blocked: %v, %v", ok, err)
		}
		if err := st.SawAgentProvider(ctx, ap, agents.Display{}, at); err != nil {
			t.Fatal(err)
		}
		if ok, err := st.AcceptsRevocationsFrom(ctx, ap, "aauth-agent.json"); !ok || err != nil {
			t.Fatalf("a seen agent provider: %v, %v", ok, err)
		}
		if err := st.SetAgentProviderStatus(ctx, ap, agents.ProviderBlocked, "p1", at); err != nil {
			t.Fatal(err)
		}
		if ok, _ := st.AcceptsRevocationsFrom(ctx, ap, "aauth-agent.json"); ok {
			t.Fatal("a blocked agent provider is accepted")
		}
		if ok, _ := st.AcceptsRevocationsFrom(ctx, rs, "aauth-resource.json"); ok {
			t.Fatal("a resource the PS issued nothing for is accepted")
		}
		if _, err := st.DirectedSub(ctx, "p1", rs, "sub-1", at); err != nil {
			t.Fatal(err)
		}
		if ok, err := st.AcceptsRevocationsFrom(ctx, rs, "aauth-resource.json"); !ok || err != nil {
			t.Fatalf("a resource the PS issued for: %v, %v", ok, err)
		}
		if ok, _ := st.AcceptsRevocationsFrom(ctx, rs, "aauth-access.json"); ok {
			t.Fatal("an access server cannot revoke at the PS")
		}
	})

	t.Run("issued", func(t *testing.T) {
		pt := tokens.Record{JTI: "pt1", Aud: rs, Sub: "s", PersonID: "p1", AgentIss: ap, AgentSub: agent, AgentTokenJTI: "t1",
			CnfThumbprint: "tp", MissionS256: "m1", IssuedAt: at, Exp: at.Add(time.Hour)}
		other := pt
		other.JTI, other.PersonID, other.MissionS256 = "pt2", "p2", ""
		for _, r := range []tokens.Record{pt, other} {
			if err := st.RecordPersonToken(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.RecordAuthToken(ctx, tokens.AuthRecord{JTI: "at1", Aud: rs, Sub: "s", PersonID: "p1", AgentIss: ap, AgentSub: agent,
			AgentTokenJTI: "t2", CnfThumbprint: "tp", Scope: []string{"read"}, ParentJTI: "pt1", ResourceTokenJTI: "rt",
			IssuedAt: at, Exp: at.Add(30 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		jtis := func(is []revocation.Issued, err error) []string {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, i := range is {
				out = append(out, i.JTI)
			}
			return out
		}
		if got := jtis(st.IssuedToAgent(ctx, revocation.AgentFilter{AgentIss: ap, AgentSub: agent}, at, 100)); len(got) != 3 {
			t.Fatalf("IssuedToAgent = %v, want every token of the agent", got)
		}
		if got := jtis(st.IssuedToAgent(ctx, revocation.AgentFilter{AgentIss: ap, AgentSub: agent, PersonID: "p1"}, at, 100)); len(got) != 2 || got[0] != "pt1" || got[1] != "at1" {
			t.Fatalf("IssuedToAgent for p1 = %v, latest exp first", got)
		}
		if got := jtis(st.IssuedToAgent(ctx, revocation.AgentFilter{AgentIss: ap, AgentSub: agent}, at.Add(45*time.Minute), 100)); len(got) != 2 {
			t.Fatalf("expired tokens are not cascaded to: %v", got)
		}
		if got := jtis(st.IssuedToAgent(ctx, revocation.AgentFilter{AgentIss: ap, AgentSub: agent, PersonID: "p1", Resource: rs, AuthOnly: true}, at, 100)); len(got) != 1 || got[0] != "at1" {
			t.Fatalf("IssuedToAgent auth tokens only = %v", got)
		}
		if got := jtis(st.IssuedToAgent(ctx, revocation.AgentFilter{AgentIss: ap, AgentSub: agent, Resource: "https://other.example"}, at, 100)); len(got) != 0 {
			t.Fatalf("IssuedToAgent at another resource = %v", got)
		}
		if got := jtis(st.IssuedFrom(ctx, "pt1", at, 100)); len(got) != 1 || got[0] != "at1" {
			t.Fatalf("IssuedFrom = %v", got)
		}
		// PS-294: tokens issued on at1 as an upstream token (call
		// chaining, another agent and resource) are issued from it too.
		chained := tokens.Record{JTI: "pt-chained", Aud: "https://r2.example", Sub: "s2", PersonID: "p1", AgentIss: rs, AgentSub: "mid",
			AgentTokenJTI: "tm", CnfThumbprint: "tpm", IssuedAt: at, Exp: at.Add(20 * time.Minute),
			Lineage: tokens.Lineage{UpstreamJTI: "at1", Depth: 1}}
		if err := st.RecordPersonToken(ctx, chained); err != nil {
			t.Fatal(err)
		}
		if err := st.RecordAuthToken(ctx, tokens.AuthRecord{JTI: "at-chained", Aud: "https://r2.example", Sub: "s2", PersonID: "p1",
			AgentIss: rs, AgentSub: "mid", AgentTokenJTI: "tm", CnfThumbprint: "tpm", ParentJTI: "pt-chained", ResourceTokenJTI: "rt2",
			IssuedAt: at, Exp: at.Add(10 * time.Minute), Lineage: tokens.Lineage{UpstreamJTI: "at1", Depth: 1}}); err != nil {
			t.Fatal(err)
		}
		if got := jtis(st.IssuedFrom(ctx, "at1", at, 100)); len(got) != 2 || got[0] != "pt-chained" || got[1] != "at-chained" {
			t.Fatalf("IssuedFrom an upstream token = %v, want the chained person and auth token", got)
		}
		if got := jtis(st.IssuedFrom(ctx, "pt-chained", at, 100)); len(got) != 1 || got[0] != "at-chained" {
			t.Fatalf("IssuedFrom a chained person token = %v", got)
		}
		if got := jtis(st.IssuedUnderMission(ctx, "m1", at, 100)); len(got) != 1 || got[0] != "pt1" {
			t.Fatalf("IssuedUnderMission = %v", got)
		}
		if got := jtis(st.IssuedToAgent(ctx, revocation.AgentFilter{AgentIss: ap, AgentSub: agent}, at, 1)); len(got) != 1 {
			t.Fatalf("the limit bounds the cascade: %v", got)
		}
	})

	t.Run("cascades and deliveries", func(t *testing.T) {
		c := revocation.Cascade{ID: "c1", Iss: ap, JTI: "t1", Exp: at.Add(time.Hour), Created: at}
		if err := st.CreateCascade(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateCascade(ctx, revocation.Cascade{ID: "c2", Iss: ap, JTI: "t1", Exp: at, Created: at}); !errors.Is(err, dberr.ErrConflict) {
			t.Fatalf("a second cascade for (iss, jti): %v, want ErrConflict", err)
		}
		if got, err := st.CascadeByToken(ctx, ap, "t1"); err != nil || *got != c {
			t.Fatalf("CascadeByToken = %+v, %v", got, err)
		}
		if got, err := st.CascadeByID(ctx, "c1"); err != nil || *got != c {
			t.Fatalf("CascadeByID = %+v, %v", got, err)
		}
		if _, err := st.CascadeByID(ctx, "nope"); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatalf("unknown cascade: %v", err)
		}
		ds := []revocation.Delivery{
			{CascadeID: "c1", Recipient: rs, TokenJTI: "pt1", TokenExp: at.Add(time.Hour), Outcome: revocation.OutcomePending},
			{CascadeID: "c1", Recipient: rs, TokenJTI: "at1", TokenExp: at.Add(time.Minute), Outcome: revocation.OutcomePending},
		}
		if err := st.AddDeliveries(ctx, ds, at); err != nil {
			t.Fatal(err)
		}
		if err := st.SetDeliveryOutcome(ctx, ds[0], revocation.OutcomeUnavailable, at); err != nil {
			t.Fatal(err)
		}
		got, err := st.Deliveries(ctx, "c1")
		if err != nil || len(got) != 2 || got[0].TokenJTI != "at1" || got[1].Outcome != revocation.OutcomeUnavailable || got[1].Attempts != 1 ||
			!got[1].TokenExp.Equal(at.Add(time.Hour)) || !got[1].UpdatedAt.Equal(at) {
			t.Fatalf("Deliveries = %+v, %v", got, err)
		}
		if err := st.RememberAgentToken(ctx, ap, "t-old", agent, at); err != nil {
			t.Fatal(err)
		}
		if n, err := st.PurgeRevocationState(ctx, at.Add(time.Second)); n != 1 || err != nil {
			t.Fatalf("purge before the cascade's exp = %d, %v (only the expired agent token)", n, err)
		}
		if n, err := st.PurgeRevocationState(ctx, at.Add(2*time.Hour)); n != 4 || err != nil {
			t.Fatalf("purge after exp = %d, %v (agent token, cascade and its two deliveries)", n, err)
		}
		if got, _ := st.Deliveries(ctx, "c1"); len(got) != 0 {
			t.Fatalf("deliveries left after the purge: %+v", got)
		}
	})

	// A mission's cascade names it (migration 00039), and a delivery is
	// settled once: SettleDelivery stores a terminal outcome only over
	// pending (design §5, §7: its revocation_result is written once).
	t.Run("mission cascades settle once", func(t *testing.T) {
		c := revocation.Cascade{ID: "cm", Iss: "person:p1", JTI: "m-1", Exp: at.Add(time.Hour), Created: at, Mission: "s256-m"}
		if err := st.CreateCascade(ctx, c); err != nil {
			t.Fatal(err)
		}
		if got, err := st.CascadeByID(ctx, "cm"); err != nil || *got != c {
			t.Fatalf("CascadeByID = %+v, %v; want %+v", got, err, c)
		}
		d := revocation.Delivery{CascadeID: "cm", Recipient: rs, TokenJTI: "pt9", TokenExp: at.Add(time.Hour), Outcome: revocation.OutcomePending}
		if err := st.AddDeliveries(ctx, []revocation.Delivery{d}, at); err != nil {
			t.Fatal(err)
		}
		if ok, err := st.SettleDelivery(ctx, d, revocation.OutcomeRevoked, at, time.Time{}); !ok || err != nil {
			t.Fatalf("SettleDelivery of a pending delivery = %v, %v", ok, err)
		}
		if ok, err := st.SettleDelivery(ctx, d, revocation.OutcomeUnavailable, at, time.Time{}); ok || err != nil {
			t.Fatalf("SettleDelivery of a settled delivery = %v, %v; want false", ok, err)
		}
		if got, err := st.Deliveries(ctx, "cm"); err != nil || len(got) != 1 || got[0].Outcome != revocation.OutcomeRevoked || got[0].Attempts != 1 {
			t.Fatalf("Deliveries = %+v, %v", got, err)
		}
	})

	t.Run("retries", func(t *testing.T) { runRevocationRetries(t, st, at) })
}

// runRevocationRetries checks the retry schedule of failed deliveries
// (design §5 "backing off 1 s → 60 s until exp", migration 00040): a
// settled delivery carries its next attempt; a due retry is claimed once
// (a second claim gets nothing while it holds), one whose token expired
// too, and its claimant ends its retries (EndRetries: no attempt counted,
// revocation_unavailable, nothing scheduled; a pending one's too) once,
// while the claim holds; a retry's outcome is recorded only while its
// claim holds, with the next attempt; a re-send (PS-291's repeat) drops
// the schedule; bad input changes nothing.
func runRevocationRetries(t *testing.T, st *store.Store, at time.Time) {
	ctx := context.Background()
	const rs = "https://rs.example"
	sec := func(n int) time.Time { return at.Add(time.Duration(n) * time.Second) }
	if err := st.CreateCascade(ctx, revocation.Cascade{ID: "cr", Iss: "person:p1", JTI: "m-r", Exp: sec(3600), Created: at, Mission: "s256-r"}); err != nil {
		t.Fatal(err)
	}
	d1 := revocation.Delivery{CascadeID: "cr", Recipient: rs, TokenJTI: "r1", TokenExp: sec(3600), Outcome: revocation.OutcomePending}
	d2, d3 := d1, d1
	d2.TokenJTI, d3.TokenJTI, d3.TokenExp = "r2", "r3", sec(10)
	if err := st.AddDeliveries(ctx, []revocation.Delivery{d1, d2, d3}, at); err != nil {
		t.Fatal(err)
	}
	for d, next := range map[revocation.Delivery]time.Time{d1: sec(1), d2: sec(5), d3: sec(2)} {
		if ok, err := st.SettleDelivery(ctx, d, revocation.OutcomeUnavailable, at, next); !ok || err != nil {
			t.Fatalf("SettleDelivery(%s) = %v, %v", d.TokenJTI, ok, err)
		}
	}
	byJTI := func() map[string]revocation.Delivery {
		t.Helper()
		ds, err := st.Deliveries(ctx, "cr")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]revocation.Delivery{}
		for _, d := range ds {
			out[d.TokenJTI] = d
		}
		return out
	}
	if got := byJTI()["r1"]; !got.NextAttempt.Equal(sec(1)) || got.Attempts != 1 || got.Outcome != revocation.OutcomeUnavailable {
		t.Fatalf("a settled failure carries its next attempt: %+v", got)
	}
	claim := func(now time.Time) []revocation.Delivery {
		t.Helper()
		ds, err := st.ClaimRetries(ctx, now, now.Add(150*time.Second), 10)
		if err != nil {
			t.Fatal(err)
		}
		// RETURNING keeps no order.
		slices.SortFunc(ds, func(a, b revocation.Delivery) int { return strings.Compare(a.TokenJTI, b.TokenJTI) })
		return ds
	}
	if got := claim(at); len(got) != 0 {
		t.Fatalf("nothing is due yet: %+v", got)
	}
	// Bad input changes nothing.
	if _, err := st.ClaimRetries(ctx, sec(2), sec(2), 10); err == nil {
		t.Fatal("a claim that ends at once is refused")
	}
	if _, err := st.RetriedDelivery(ctx, d1, revocation.OutcomeRevoked, sec(2), time.Time{}); err == nil {
		t.Fatal("a retry without a claim is refused")
	}
	if _, err := st.EndRetries(ctx, d3, sec(2)); err == nil {
		t.Fatal("an end of retries without a claim is refused")
	}
	// A due retry is claimed whatever its token's exp: the claimant ends
	// the retries of one whose token is dead (here r3, as if its exp had
	// passed).
	got := claim(sec(2))
	if len(got) != 2 || got[0].TokenJTI != "r1" || !got[0].NextAttempt.Equal(sec(152)) || got[0].Attempts != 1 ||
		got[1].TokenJTI != "r3" || !got[1].NextAttempt.Equal(sec(152)) {
		t.Fatalf("the due retries, claimed: %+v", got)
	}
	if again := claim(sec(2)); len(again) != 0 {
		t.Fatalf("a claimed retry is claimed again: %+v", again)
	}
	staleEnd := got[1]
	staleEnd.NextAttempt = sec(2)
	if ok, err := st.EndRetries(ctx, staleEnd, sec(3)); ok || err != nil {
		t.Fatalf("an end of retries under another claim: %v, %v", ok, err)
	}
	if ok, err := st.EndRetries(ctx, got[1], sec(3)); !ok || err != nil {
		t.Fatalf("EndRetries = %v, %v", ok, err)
	}
	if ok, err := st.EndRetries(ctx, got[1], sec(3)); ok || err != nil {
		t.Fatalf("retries ended twice: %v, %v", ok, err)
	}
	if d := byJTI()["r3"]; !d.NextAttempt.IsZero() || d.Outcome != revocation.OutcomeUnavailable || d.Attempts != 1 || !d.UpdatedAt.Equal(sec(3)) {
		t.Fatalf("the retries of an expired token, ended: %+v", d)
	}
	stale := got[0]
	stale.NextAttempt = sec(1)
	if ok, err := st.RetriedDelivery(ctx, stale, revocation.OutcomeRevoked, sec(3), time.Time{}); ok || err != nil {
		t.Fatalf("a retry under another claim is recorded: %v, %v", ok, err)
	}
	if ok, err := st.RetriedDelivery(ctx, got[0], revocation.OutcomeUnavailable, sec(3), sec(5)); !ok || err != nil {
		t.Fatalf("RetriedDelivery = %v, %v", ok, err)
	}
	if ok, _ := st.RetriedDelivery(ctx, got[0], revocation.OutcomeRevoked, sec(3), time.Time{}); ok {
		t.Fatal("a claim is used once")
	}
	if d := byJTI()["r1"]; !d.NextAttempt.Equal(sec(5)) || d.Attempts != 2 || d.Outcome != revocation.OutcomeUnavailable {
		t.Fatalf("after a failed retry: %+v", d)
	}
	got = claim(sec(5))
	if len(got) != 2 {
		t.Fatalf("both due retries: %+v", got)
	}
	for _, d := range got {
		if d.TokenJTI == "r2" {
			// A re-send (the repeat of PS-291) takes the delivery over.
			if err := st.SetDeliveryOutcome(ctx, d, revocation.OutcomePending, sec(5)); err != nil {
				t.Fatal(err)
			}
			if ok, err := st.RetriedDelivery(ctx, d, revocation.OutcomeRevoked, sec(6), time.Time{}); ok || err != nil {
				t.Fatalf("a retry of a re-sent delivery is recorded: %v, %v", ok, err)
			}
			continue
		}
		if ok, err := st.RetriedDelivery(ctx, d, revocation.OutcomeRevoked, sec(6), time.Time{}); !ok || err != nil {
			t.Fatalf("RetriedDelivery = %v, %v", ok, err)
		}
	}
	all := byJTI()
	if d := all["r1"]; d.Outcome != revocation.OutcomeRevoked || !d.NextAttempt.IsZero() || d.Attempts != 3 || !d.UpdatedAt.Equal(sec(6)) {
		t.Fatalf("after a successful retry: %+v", d)
	}
	if d := all["r2"]; d.Outcome != revocation.OutcomePending || !d.NextAttempt.IsZero() {
		t.Fatalf("a re-sent delivery: %+v", d)
	}
	if got := claim(sec(3600)); len(got) != 0 {
		t.Fatalf("nothing is left to retry: %+v", got)
	}

	// Deliveries queued with a fallback attempt (their sender may stop
	// first) are claimed while still pending; their sender and the retry
	// never both record.
	d5 := revocation.Delivery{CascadeID: "cr", Recipient: rs, TokenJTI: "r5", TokenExp: sec(7200), Outcome: revocation.OutcomePending,
		NextAttempt: sec(4000)}
	d6 := d5
	d6.TokenJTI = "r6"
	if err := st.AddDeliveries(ctx, []revocation.Delivery{d5, d6}, at); err != nil {
		t.Fatal(err)
	}
	if d := byJTI()["r5"]; !d.NextAttempt.Equal(sec(4000)) || d.Outcome != revocation.OutcomePending {
		t.Fatalf("a delivery queued with its fallback: %+v", d)
	}
	got = claim(sec(4000))
	if len(got) != 2 || got[0].Outcome != revocation.OutcomePending {
		t.Fatalf("the pending deliveries past their fallback, claimed: %+v", got)
	}
	for _, d := range got {
		if d.TokenJTI == "r5" {
			// The sender finishes first: the retry's record is refused.
			if ok, err := st.SettleDelivery(ctx, d, revocation.OutcomeRevoked, sec(4001), time.Time{}); !ok || err != nil {
				t.Fatalf("the sender's SettleDelivery = %v, %v", ok, err)
			}
			if ok, err := st.RetriedDelivery(ctx, d, revocation.OutcomeRevoked, sec(4001), time.Time{}); ok || err != nil {
				t.Fatalf("a retry of a settled delivery is recorded: %v, %v", ok, err)
			}
			continue
		}
		// The retry finishes first: the sender's settle is refused.
		if ok, err := st.RetriedDelivery(ctx, d, revocation.OutcomeUnavailable, sec(4001), sec(4002)); !ok || err != nil {
			t.Fatalf("RetriedDelivery of a claimed pending delivery = %v, %v", ok, err)
		}
		if ok, err := st.SettleDelivery(ctx, d, revocation.OutcomeRevoked, sec(4001), time.Time{}); ok || err != nil {
			t.Fatalf("a settle after the retry recorded: %v, %v", ok, err)
		}
	}
	all = byJTI()
	if all["r5"].Outcome != revocation.OutcomeRevoked || !all["r5"].NextAttempt.IsZero() ||
		all["r6"].Outcome != revocation.OutcomeUnavailable || !all["r6"].NextAttempt.Equal(sec(4002)) || all["r6"].Attempts != 1 {
		t.Fatalf("after the race of sender and retry: %+v %+v", all["r5"], all["r6"])
	}

	// A pending delivery whose token expired before its fallback came
	// (its sender stopped): claimed, and its retries ended
	// revocation_unavailable with no attempt counted.
	d7 := revocation.Delivery{CascadeID: "cr", Recipient: rs, TokenJTI: "r7", TokenExp: sec(4100), Outcome: revocation.OutcomePending,
		NextAttempt: sec(4200)}
	if err := st.AddDeliveries(ctx, []revocation.Delivery{d7}, at); err != nil {
		t.Fatal(err)
	}
	got = claim(sec(4300))
	if len(got) != 2 || got[0].TokenJTI != "r6" || got[1].TokenJTI != "r7" || got[1].Outcome != revocation.OutcomePending {
		t.Fatalf("a due retry and an expired pending delivery, claimed: %+v", got)
	}
	if ok, err := st.EndRetries(ctx, got[1], sec(4300)); !ok || err != nil {
		t.Fatalf("EndRetries of a pending delivery = %v, %v", ok, err)
	}
	if ok, err := st.SettleDelivery(ctx, d7, revocation.OutcomeRevoked, sec(4301), time.Time{}); ok || err != nil {
		t.Fatalf("a settle after its retries ended: %v, %v", ok, err)
	}
	if d := byJTI()["r7"]; d.Outcome != revocation.OutcomeUnavailable || !d.NextAttempt.IsZero() || d.Attempts != 0 {
		t.Fatalf("a pending delivery's retries, ended: %+v", d)
	}
}
