package lifecycle

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/mission/governance"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/keys"
	"github.com/aauth-ps/aauth-ps/ps/revocation"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

// scriptedSender answers each token's revocation as scripted (revoked by
// default) and counts the attempts per token.
type scriptedSender struct {
	mu      sync.Mutex
	answers map[string]string
	sent    map[string]int
}

func (s *scriptedSender) Send(_ context.Context, _, jti string, _ time.Time) revocation.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent[jti]++
	if a, ok := s.answers[jti]; ok {
		return revocation.Result{Outcome: a}
	}
	return revocation.Result{Outcome: revocation.OutcomeRevoked}
}

// revocationResult is a revocation_result record's body.
type revocationResult struct {
	Iss         string `json:"iss"`
	JTI         string `json:"jti"`
	Exp         string `json:"exp"`
	Recipient   string `json:"recipient"`
	Outcome     string `json:"outcome"`
	Confirmed   bool   `json:"confirmed"`
	Attempts    int    `json:"attempts"`
	Revocations string `json:"revocations"`
}

// TestRevocationOutcomesEvidenced (design §5 "Revocation propagation":
// "outcomes are evidenced and the transition records
// residual_exposure_until (latest unconfirmed exp)"; §7
// lifecycle_transition and revocation_result, "writes are atomic with
// their effect"; PS-212, PS-286, PS-292), on both databases, with
// ps/revocation's mission cascade and a scripted recipient:
//   - revoking a mission with two outstanding tokens (and an expired
//     one) records on its lifecycle_transition the cascade and
//     residual_exposure_until = the later token's exp;
//   - each delivery's terminal outcome — the person token's confirmed
//     (revoked), the auth token's recipient unreachable
//     (revocation_unavailable) — is one revocation_result on the
//     mission's chain after the transition (iss, jti, exp, recipient,
//     outcome, confirmed, attempts 1, the cascade), and the exported
//     bundle verifies;
//   - delivering the cascade again writes a record only for the delivery
//     that reaches a terminal outcome again (the confirmed one is not
//     sent again; resetting a failed one to pending writes nothing);
//   - a mission ended with nothing outstanding has neither revocations
//     nor residual_exposure_until;
//   - an agent provider's cascade (no mission) that revokes a mission's
//     token writes nothing on that mission's chain.
func TestRevocationOutcomesEvidenced(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		storetest.SeedPersons(t, st, "p1")
		const iss, rs, ap, agent = "https://ps.example", "https://rs.example", "https://ap.example", "aauth:a@ap.example"
		now := time.Date(2026, 6, 24, 15, 0, 0, 0, time.UTC)
		clock := func() time.Time { return now }
		sealer, err := keys.NewSealer(bytes.Repeat([]byte("k"), keys.MinSecretLength))
		if err != nil {
			t.Fatal(err)
		}
		km := keys.NewManager(st, sealer, clock, keys.Options{})
		if _, err := km.EnsureActive(ctx); err != nil {
			t.Fatal(err)
		}
		sender := &scriptedSender{answers: map[string]string{"at1": revocation.OutcomeUnavailable}, sent: map[string]int{}}
		rev, err := revocation.New(revocation.Options{Issuer: iss, Store: st, Sender: sender, Now: clock,
			InTx: func(ctx context.Context, f func(revocation.Store) error) error {
				return st.InTx(ctx, func(tx *store.Store) error { return f(tx) })
			}})
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(Options{Issuer: iss, DB: st, Signer: km, Now: clock, Revoker: rev})
		if err != nil {
			t.Fatal(err)
		}
		rev.UseEvidence(s)
		exporter := &Exporter{Issuer: iss, DB: st, Keys: km, Heads: s}

		parsed, err := authority.Parse([]byte(endSet), authority.ParseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cfg := &composition.Config{Templates: []authority.Template{{Name: "end@1", Resources: []string{rs}, Set: parsed.Set}}}
		approvedAt := now
		mint := func() *mission.Record {
			t.Helper()
			p := mission.Proposal{Description: "# Revoke", Resources: []string{rs}}
			a, err := p.Approve(ap, agent, "p1", mission.Edits{}, now)
			if err != nil {
				t.Fatal(err)
			}
			x, err := cfg.Compose(composition.Intake{Agent: agent, Proposal: p, ContentDigest: authority.ContentDigest([]byte("{}")), ReceivedAt: now}, a, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := x.Attach(a); err != nil {
				t.Fatal(err)
			}
			approvedAt = approvedAt.Add(time.Millisecond)
			m, err := a.Mint(iss, approvedAt, func(r *mission.Record) error { return st.CreateMission(ctx, r) })
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
		personToken := func(jti, s256 string, exp time.Time) {
			t.Helper()
			if err := st.RecordPersonToken(ctx, tokens.Record{JTI: jti, Aud: rs, Sub: "s", PersonID: "p1", AgentIss: ap, AgentSub: agent,
				AgentTokenJTI: "agt1", CnfThumbprint: "tp", MissionS256: s256, IssuedAt: now.Add(-time.Hour), Exp: exp}); err != nil {
				t.Fatal(err)
			}
		}
		chain := func(s256 string) ([]string, []evidence.Record) {
			t.Helper()
			stored, err := st.Evidence(ctx, s256)
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			var recs []evidence.Record
			for _, r := range stored {
				types = append(types, r.Record.Type)
				recs = append(recs, r.Record)
			}
			return types, recs
		}
		settle := func() {
			t.Helper()
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if _, ok := rev.Settle(sctx); !ok {
				t.Fatal("the deliveries did not settle")
			}
		}
		results := func(recs []evidence.Record) map[string][]revocationResult {
			out := map[string][]revocationResult{}
			for _, r := range recs {
				if r.Type != evidence.RevocationResult {
					continue
				}
				var b revocationResult
				if err := json.Unmarshal(r.Body, &b); err != nil {
					t.Fatal(err)
				}
				if r.Actor.Kind != "ps" || r.Anchors.AuthorityHash == "" {
					t.Fatalf("a revocation_result's actor and anchors: %+v %+v", r.Actor, r.Anchors)
				}
				out[b.JTI] = append(out[b.JTI], b)
			}
			return out
		}

		// Revoke a mission with outstanding tokens.
		m := mint()
		personToken("pt1", m.S256, now.Add(30*time.Minute))
		personToken("pt-old", m.S256, now.Add(-time.Minute)) // expired: nothing to revoke
		if err := st.RecordAuthToken(ctx, tokens.AuthRecord{JTI: "at1", Aud: rs, Sub: "s", PersonID: "p1", AgentIss: ap, AgentSub: agent,
			AgentTokenJTI: "agt1", CnfThumbprint: "tp", Scope: []string{"read"}, ParentJTI: "pt1", ResourceTokenJTI: "rt", MissionS256: m.S256,
			IssuedAt: now.Add(-time.Minute), Exp: now.Add(45 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		res, err := s.Terminate(ctx, m.S256, mission.ReasonRevoked, Actor{Kind: governance.ByPerson, ID: "p1"})
		if err != nil || res.CascadeID == "" {
			t.Fatalf("Terminate = %+v, %v; want a cascade", res, err)
		}
		settle()
		types, recs := chain(m.S256)
		want := []string{evidence.LifecycleTransition, evidence.ChainHead, evidence.RevocationResult, evidence.RevocationResult}
		if strings.Join(types, ",") != strings.Join(want, ",") {
			t.Fatalf("evidence records %v, want %v", types, want)
		}
		var tr struct {
			Revocations string `json:"revocations"`
			Residual    string `json:"residual_exposure_until"`
		}
		if err := json.Unmarshal(recs[0].Body, &tr); err != nil {
			t.Fatal(err)
		}
		if tr.Revocations != res.CascadeID || tr.Residual != now.Add(45*time.Minute).Format(time.RFC3339) {
			t.Fatalf("the lifecycle_transition: %s; want revocations %s, residual_exposure_until = the auth token's exp %s",
				recs[0].Body, res.CascadeID, now.Add(45*time.Minute).Format(time.RFC3339))
		}
		got := results(recs)
		wantResults := map[string]revocationResult{
			"pt1": {Iss: iss, JTI: "pt1", Exp: now.Add(30 * time.Minute).Format(time.RFC3339), Recipient: rs,
				Outcome: revocation.OutcomeRevoked, Confirmed: true, Attempts: 1, Revocations: res.CascadeID},
			"at1": {Iss: iss, JTI: "at1", Exp: now.Add(45 * time.Minute).Format(time.RFC3339), Recipient: rs,
				Outcome: revocation.OutcomeUnavailable, Attempts: 1, Revocations: res.CascadeID},
		}
		for jti, w := range wantResults {
			if len(got[jti]) != 1 || got[jti][0] != w {
				t.Fatalf("the revocation_result records of %s: %+v; want one %+v", jti, got[jti], w)
			}
		}
		verify := func(s256 string) {
			t.Helper()
			b, err := exporter.Bundle(ctx, s256)
			if err != nil {
				t.Fatal(err)
			}
			ks, err := evidence.ParseKeySet(b.JWKS)
			if err != nil {
				t.Fatal(err)
			}
			if rep := evidence.Verify(*b, ks); !rep.OK {
				t.Fatalf("the bundle does not verify: %+v", rep)
			}
		}
		verify(m.S256)

		// Delivered again: the confirmed revocation is not sent again; the
		// failed one goes back to pending (nothing written) and its new
		// terminal outcome is one more record.
		delete(sender.answers, "at1")
		rev.Deliver(ctx, res.CascadeID)
		settle()
		_, recs = chain(m.S256)
		got = results(recs)
		if sender.sent["pt1"] != 1 || sender.sent["at1"] != 2 || len(got["pt1"]) != 1 || len(got["at1"]) != 2 ||
			got["at1"][1].Outcome != revocation.OutcomeRevoked || !got["at1"][1].Confirmed || got["at1"][1].Attempts != 2 {
			t.Fatalf("after a second delivery: sent %v, results %+v", sender.sent, got)
		}
		verify(m.S256)

		// Nothing outstanding: no cascade, no residual exposure.
		empty := mint()
		if res, err := s.Terminate(ctx, empty.S256, mission.ReasonRevoked, Actor{Kind: governance.ByPerson, ID: "p1"}); err != nil || res.CascadeID != "" {
			t.Fatalf("Terminate = %+v, %v; want no cascade", res, err)
		}
		if _, recs := chain(empty.S256); strings.Contains(string(recs[0].Body), "residual_exposure_until") ||
			strings.Contains(string(recs[0].Body), `"revocations"`) {
			t.Fatalf("a transition that revoked nothing: %s", recs[0].Body)
		}

		// An agent provider's cascade (no mission) revoking a mission's
		// token is not evidenced on the mission's chain.
		other := mint()
		personToken("pt3", other.S256, now.Add(20*time.Minute))
		before, _ := chain(other.S256)
		var cascadeID string
		if err := st.InTx(ctx, func(tx *store.Store) error {
			var err error
			cascadeID, err = rev.CascadeAgent(ctx, tx, revocation.AgentFilter{AgentIss: ap, AgentSub: agent, PersonID: "p1"})
			return err
		}); err != nil || cascadeID == "" {
			t.Fatalf("CascadeAgent = %q, %v", cascadeID, err)
		}
		rev.Deliver(ctx, cascadeID)
		settle()
		ds, err := st.Deliveries(ctx, cascadeID)
		if err != nil || len(ds) != 1 || ds[0].TokenJTI != "pt3" || ds[0].Outcome != revocation.OutcomeRevoked {
			t.Fatalf("the agent cascade's deliveries: %+v, %v", ds, err)
		}
		if after, _ := chain(other.S256); len(after) != len(before) {
			t.Fatalf("an agent cascade wrote on the mission's chain: %v, was %v", after, before)
		}
	})
}
