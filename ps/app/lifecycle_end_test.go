package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// endTransition is what a lifecycle_transition record's body says.
type endTransition struct {
	From         string         `json:"from"`
	To           string         `json:"to"`
	Reason       string         `json:"reason"`
	Actor        evidence.Actor `json:"actor"`
	RevokeTokens bool           `json:"revoke_tokens"`
	Revocations  string         `json:"revocations"`
}

// expectEndEvidenced exports the mission's evidence bundle (mission
// control, the file `aauth-ps evidence export` writes) and checks, with
// the verification `aauth-ps evidence verify` runs, that the chain
// verifies and ends with the termination: one lifecycle_transition
// record from active to terminated for reason, by actor (design §5, §7:
// from, to, reason, actor, revocations), after mission_activated,
// followed by the chain_head signing it (Level 4: a signed head at each
// transition), then only the revocation_result records of the tokens it
// revoked (once every delivery settled) and the heads over them. A copy
// of the bundle whose transition record was changed fails at that
// record. It returns the transition's body.
func expectEndEvidenced(t *testing.T, w *world, b *pstest.Browser, s256, reason string, actor evidence.Actor) endTransition {
	t.Helper()
	settleRevocations(t, w)
	bundle := exportBundle(t, w, b, s256)
	keys, err := evidence.ParseKeySet(bundle.JWKS)
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]evidence.Record, len(bundle.Records))
	var types []string
	for i, raw := range bundle.Records {
		if err := json.Unmarshal(raw, &recs[i]); err != nil {
			t.Fatal(err)
		}
		types = append(types, recs[i].Type)
	}
	rep := evidence.Verify(bundle, keys)
	if !rep.OK {
		t.Fatalf("the bundle does not verify: %+v %v", rep, types)
	}
	var at []int
	for i, typ := range types {
		if typ == evidence.LifecycleTransition {
			at = append(at, i)
		}
	}
	if len(at) != 1 || types[0] != evidence.MissionActivated || at[0] > len(types)-2 || types[at[0]+1] != evidence.ChainHead ||
		types[len(types)-1] != evidence.ChainHead {
		t.Fatalf("evidence records %v: want mission_activated first and one lifecycle_transition, signed by the chain_head after it", types)
	}
	for _, typ := range types[at[0]+1:] {
		if typ != evidence.RevocationResult && typ != evidence.ChainHead {
			t.Fatalf("evidence records %v: after the transition, only its revocation results and heads", types)
		}
	}
	i := at[0]
	rec := recs[i]
	var tr endTransition
	if err := json.Unmarshal(rec.Body, &tr); err != nil {
		t.Fatal(err)
	}
	if tr.From != "active" || tr.To != "terminated" || tr.Reason != reason || tr.Actor != actor || rec.Actor != actor {
		t.Fatalf("the lifecycle_transition: %s (actor %+v); want active → terminated, %s, by %+v", rec.Body, rec.Actor, reason, actor)
	}
	if rec.Anchors.AuthorityHash == "" || rec.Mission.ID != s256 {
		t.Fatalf("the lifecycle_transition's anchors and mission: %+v %+v", rec.Anchors, rec.Mission)
	}
	var head evidence.HeadBody
	if err := json.Unmarshal(recs[i+1].Body, &head); err != nil || head.Signed.Seq != rec.Seq || rep.LastSignedSeq != recs[len(recs)-1].Seq-1 {
		t.Fatalf("the chain_head after the transition signs %+v (%v), want seq %d", head.Signed, err, rec.Seq)
	}

	// Tamper: the record's reason is changed; its hash no longer matches
	// the next record's prev nor the head the PS signed.
	var raw map[string]any
	if err := json.Unmarshal(bundle.Records[i], &raw); err != nil {
		t.Fatal(err)
	}
	raw["body"].(map[string]any)["reason"] = "tampered"
	tampered, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	bundle.Records[i] = tampered
	if rep := evidence.Verify(bundle, keys); rep.OK || rep.Chain != "mission" || (rep.FirstBad != i && rep.FirstBad != i+1) {
		t.Fatalf("a tampered lifecycle_transition: %+v, want a failure at record %d", rep, i)
	}
	return tr
}

// TestMissionCompletionEvidenced (design §5 "→ terminated(completed):
// agent proposes completion, person accepts", §7 lifecycle_transition;
// PS-203, PS-212): the agent's completion the person accepts ends the
// mission through the lifecycle, on both databases: the agent's poll is
// 200 completed, the mission's outstanding tokens are revoked (design §5:
// a terminated mission's tokens are revoked, except after expired), and
// the exported evidence chain has the lifecycle_transition (active →
// terminated, completed, by the person) with its signed head, and
// verifies; a tampered transition record fails verification.
func TestMissionCompletionEvidenced(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		t.Parallel()
		w, b, rs := authWorldWith(t, opt)
		m := w.approveMission(t, w.agent, b, `{"description":"# Finish me","resources":["https://rs.test"],"capabilities":["interaction"]}`, nil)
		pt := m.res.body["person_tokens"].(map[string]any)["https://rs.test"].(string)
		rec, err := w.ps.App.Missions.Get(ctxT(), m.s256)
		if err != nil {
			t.Fatal(err)
		}

		cs := w.expectInteraction(t, w.post(t, w.agent, "/mission/"+m.s256, `{"action":"completion","summary":"Done."}`))
		open(t, b, cs)
		if pg := b.Post(t, cs.path()+"/approve", nil); pg.Status != http.StatusSeeOther && pg.Status != http.StatusOK {
			t.Fatalf("accept the completion: %d\n%s", pg.Status, pg.HTML)
		}
		done := w.poll(t, w.agent, cs.loc)
		if done.status != http.StatusOK || string(done.raw) != `{"mission_status":"terminated","termination_reason":"completed"}` {
			t.Fatalf("completion poll: %d %s", done.status, done.raw)
		}
		expectTerminated(t, w.post(t, w.agent, "/person", missionBody("https://rs.test", m.s256)), "completed")
		log := mc(t, w, b, http.MethodGet, "/missions/"+m.s256+"/log", "", "")
		if n := strings.Count(string(log.raw), `"kind":"termination"`); n != 1 {
			t.Fatalf("the mission log has %d termination entries: %s", n, log.raw)
		}

		tr := expectEndEvidenced(t, w, b, m.s256, "completed", evidence.Actor{Kind: "person", ID: rec.PersonID})
		if !tr.RevokeTokens || tr.Revocations == "" {
			t.Fatalf("the completion's transition names no revocations: %+v", tr)
		}
		if ok, err := w.ps.App.Store.IsRevoked(ctxT(), w.ps.Issuer, jtiOf(t, pt)); err != nil || !ok {
			t.Fatalf("the completed mission's person token is not revoked at the PS: %v %v", ok, err)
		}
		waitRevoked(t, w, rs, pt)
	})
}

// TestMissionExpiryEvidenced (design §5 "→ terminated(expired): timer +
// lazy check on every path", §7; PS-211, A-39): the first request that
// observes a mission past its expires_at ends it through the lifecycle:
// the exported chain has the lifecycle_transition (active → terminated,
// expired, by the system), which revokes nothing (tokens are capped by
// expires_at), with its signed head, and verifies.
func TestMissionExpiryEvidenced(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		t.Parallel()
		w, b, _ := missionWorld(t, opt)
		m := w.approveMission(t, w.agent, b, `{"description":"Short","capabilities":["interaction"]}`, map[string]string{"expires": "1h"})
		w.clock.Advance(time.Hour)
		fresh := w.mint(t, conformance.TokenSpec{IssuedAt: w.clock.Now()})
		expectTerminated(t, w.post(t, fresh, "/mission/"+m.s256, `{"action":"update","description":"late"}`), "expired")
		tr := expectEndEvidenced(t, w, b, m.s256, "expired", evidence.Actor{Kind: "system"})
		if tr.RevokeTokens || tr.Revocations != "" {
			t.Fatalf("an expiry revokes nothing: %+v", tr)
		}
	})
}

// TestAgentUnboundEndsMissionsEvidenced (design §5 "terminated(revoked)",
// §7): the person unbinding the agent ends its active missions through
// the lifecycle: each has the lifecycle_transition (active → terminated,
// revoked, by the person) and its signed head, and verifies.
func TestAgentUnboundEndsMissionsEvidenced(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, opt pstest.Options) {
		t.Parallel()
		w, b, _ := missionWorld(t, opt)
		m := w.approveMission(t, w.agent, b, `{"description":"Unbind me","capabilities":["interaction"]}`, nil)
		rec, err := w.ps.App.Missions.Get(ctxT(), m.s256)
		if err != nil {
			t.Fatal(err)
		}
		if pg := b.Post(t, "/agents/"+agentBindingID(t, b, w.agent.ID)+"/unbind", nil); pg.Status != http.StatusSeeOther {
			t.Fatalf("unbind: %d\n%s", pg.Status, pg.HTML)
		}
		expectEndEvidenced(t, w, b, m.s256, "revoked", evidence.Actor{Kind: "person", ID: rec.PersonID})
	})
}
