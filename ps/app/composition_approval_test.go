package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/aauth-ps/aauth-ps/mission/anchor"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestCompositionApproval: an approved mission carries its Authority Set
// and the three anchors in the blob's mission_model member (so its s256
// commits to them) and beside it in the PS's record, with the approval's
// evidence chained under the proposal and the mission (issue 10, design
// §1, §4, §7). An agent's proposed_authority is cut to the baseline
// bounds; one that is not an Authority Set is 400 invalid_request.
func TestCompositionApproval(t *testing.T) {
	t.Parallel()
	w, b, _ := missionWorld(t, pstest.Options{})
	ctx := context.Background()

	// A malformed proposed_authority is refused at the mission endpoint.
	bad := w.post(t, w.agent, "/mission", `{"description":"# X","resources":["https://rs.test"],"proposed_authority":{"object":"nope"}}`)
	if bad.status != http.StatusBadRequest || bad.body["error"] != "invalid_request" {
		t.Fatalf("a malformed proposed_authority: %d %s", bad.status, bad.raw)
	}

	// The agent proposes a set wider than its proposal (another resource):
	// derivation keeps only what the baseline covers; an entry that only
	// narrows the baseline keeps its grant, approving its rendered line
	// being the consent (design §10.1).
	proposed := `{"object":"aauth-mm/authority-set/v1","default_outside":"deny","entries":[` +
		`{"id":"read","target":"resource","resource":{"id":"https://rs.test"},"scopes":["calendar.read"],"grant":"auto"},` +
		`{"id":"other","target":"resource","resource":{"id":"https://other.test"},"scopes_any":true,"grant":"auto"}]}`
	ap := w.approveMission(t, w.agent, b, `{"description":"# Calendar","resources":["https://rs.test"],"capabilities":["interaction"],"proposed_authority":`+proposed+`}`, nil)

	var model authority.MissionModel
	raw, _ := json.Marshal(ap.bl["mission_model"])
	if err := json.Unmarshal(raw, &model); err != nil || model.V != 1 || model.AuthoritySet == nil {
		t.Fatalf("blob mission_model: %s (%v)", raw, err)
	}
	if h, _ := model.AuthoritySet.Hash(); h != model.AuthorityHash {
		t.Fatalf("authority_hash %s does not anchor the blob's set (%s)", model.AuthorityHash, h)
	}
	var ids []string
	for _, e := range model.AuthoritySet.Entries {
		ids = append(ids, e.ID)
	}
	if !slices.Equal(ids, []string{"read"}) || model.AuthoritySet.DefaultOutside != authority.OutsideDeny {
		t.Fatalf("derived entries %v, default_outside %s", ids, model.AuthoritySet.DefaultOutside)
	}

	rec, err := w.ps.App.Store.Mission(ctx, ap.s256)
	if err != nil || rec.Composition == nil {
		t.Fatalf("stored mission: %+v %v", rec, err)
	}
	c := rec.Composition
	if c.AuthorityHash != model.AuthorityHash || c.EffectiveHash != model.AuthorityHash || c.ProposalHash != model.ProposalHash ||
		c.ConsentRenderingHash != model.ConsentRenderingHash {
		t.Fatalf("stored anchors %+v differ from the blob's %+v", c, model)
	}
	if h, _ := anchor.OfJSON(c.ConsentRendering); h != c.ConsentRenderingHash {
		t.Fatal("the stored consent rendering does not hash to its anchor")
	}
	var rendering authority.Rendering
	_ = json.Unmarshal(c.ConsentRendering, &rendering)
	if len(rendering.Removed) == 0 {
		t.Fatalf("the rendering does not say what was cut: %s", c.ConsentRendering)
	}

	// The evidence: the proposal chain and the mission chain, which an
	// offline verifier accepts as a bundle.
	chain, err := w.ps.App.Store.Evidence(ctx, ap.s256)
	if err != nil || len(chain) != 1 || chain[0].Record.Type != evidence.MissionActivated {
		t.Fatalf("mission chain: %+v %v", chain, err)
	}
	var act struct {
		ProposalChain string `json:"proposal_chain"`
	}
	_ = json.Unmarshal(chain[0].Record.Body, &act)
	pre, err := w.ps.App.Store.Evidence(ctx, act.ProposalChain)
	if err != nil || len(pre) != 3 || pre[2].Record.Type != evidence.ConsentDecision || pre[2].Record.Actor.Kind != "person" {
		t.Fatalf("proposal chain %q: %d records, %v", act.ProposalChain, len(pre), err)
	}
	bundle := evidence.NewBundle(evidence.MissionRef{Origin: w.ps.Issuer, ID: ap.s256}, ap.blob, c.Proposal, c.ConsentRendering, chain)
	bundle.ProposalChainID = act.ProposalChain
	for _, p := range pre {
		bundle.ProposalChain = append(bundle.ProposalChain, p.Canonical)
	}
	if rep := evidence.Verify(bundle, nil); !rep.OK {
		t.Fatalf("the approval's evidence does not verify: %+v", rep)
	}
}
