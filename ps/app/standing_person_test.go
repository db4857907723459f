package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/missionflow"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestPersonStandingApproval (issue 10, the person-approved template): the
// person ticks "Let missions like this start without asking me" on the
// mission consent page; the agent's later proposal that fits (same
// resources, no more) activates at once — 200 at the mission endpoint, no
// person present — and its evidence names the person's template as the
// consent anchor (the chain verifies offline). A proposal beyond it (one
// more resource, or a tool) is reviewed as before (202). The person sees the
// template on /access and removes it there (PRG); afterwards the same
// proposal asks again (202), while the mission it started stays active.
// Removing an id the person does not hold is 404 and changes nothing.
// PS-283: the fit never reads agent-asserted text (the second proposal's
// description differs and still fits).
func TestPersonStandingApproval(t *testing.T) {
	t.Parallel()
	w, b, _ := missionWorld(t, pstest.Options{})
	ctx := context.Background()
	const proposal = `{"description":"# Read my calendar","resources":["https://rs.test"],"capabilities":["interaction"]}`

	s := w.propose(t, w.agent, proposal)
	if pg := open(t, b, s); !strings.Contains(pg.HTML, "Let missions like this start without asking me") {
		t.Fatalf("the consent page does not offer the standing approval:\n%s", pg.HTML)
	}
	if pg := b.Post(t, s.path()+"/approve", map[string]string{"remember": "on"}); pg.Status != http.StatusSeeOther {
		t.Fatalf("approve: %d\n%s", pg.Status, pg.HTML)
	}
	first := decodeApproval(t, w.poll(t, w.agent, s.loc))
	rec, err := w.ps.App.Store.Mission(ctx, first.s256)
	if err != nil {
		t.Fatal(err)
	}
	person := rec.PersonID
	stored, err := w.ps.App.Store.PersonTemplates(ctx, person, "", "")
	if err != nil || len(stored) != 1 || stored[0].AgentSub != w.agent.ID || stored[0].AuthorityHash != rec.Composition.AuthorityHash {
		t.Fatalf("the stored template: %+v %v (mission set %s)", stored, err, rec.Composition.AuthorityHash)
	}
	name := missionflow.PersonTemplateName(stored[0].ID)

	// Fits: 200 at once, the evidence anchored on the person's template.
	r := w.post(t, w.agent, "/mission", `{"description":"# Read my calendar again","resources":["https://rs.test"],"capabilities":["interaction"]}`)
	if r.status != http.StatusOK {
		t.Fatalf("a proposal within the person's template: %d %s, want 200 at once", r.status, r.raw)
	}
	ap := decodeApproval(t, r)
	rec2, err := w.ps.App.Store.Mission(ctx, ap.s256)
	if err != nil || rec2.PersonID != person || rec2.Composition == nil || !rec2.Composition.Standing ||
		rec2.Composition.AuthorityHash != stored[0].AuthorityHash {
		t.Fatalf("the headless mission: %+v %v", rec2, err)
	}
	expectStandingEvidence(t, w, ap, rec2, "person_template", name)

	// Beyond it (one more resource): the person reviews it.
	r = w.post(t, w.agent, "/mission", `{"description":"# And mail","resources":["https://rs.test","https://mail.test"],"capabilities":["interaction"]}`)
	if r.status != http.StatusAccepted {
		t.Fatalf("a proposal beyond the person's template: %d %s, want 202", r.status, r.raw)
	}
	r = w.post(t, w.agent, "/mission", `{"description":"# And pay","tools":[{"name":"Pay"}],"resources":["https://rs.test"],"capabilities":["interaction"]}`)
	if r.status != http.StatusAccepted {
		t.Fatalf("a proposal with a tool the person's template lacks: %d %s, want 202", r.status, r.raw)
	}

	// /access lists it; a made-up id is not found and changes nothing.
	if pg := b.Get(t, "/access"); !strings.Contains(pg.HTML, "Missions that start without asking you") || !strings.Contains(pg.HTML, stored[0].ID) {
		t.Fatalf("/access does not list the standing approval:\n%s", pg.HTML)
	}
	if pg := b.Post(t, "/access/standing/remove", map[string]string{"id": "NOSUCHTEMPLATE"}); pg.Status != http.StatusNotFound {
		t.Fatalf("removing a made-up id: %d", pg.Status)
	}
	if pg := b.Post(t, "/access/standing/remove", map[string]string{"id": stored[0].ID}); pg.Status != http.StatusSeeOther {
		t.Fatalf("remove: %d\n%s", pg.Status, pg.HTML)
	}
	if left, _ := w.ps.App.Store.PersonTemplates(ctx, person, "", ""); len(left) != 0 {
		t.Fatalf("after removal: %+v", left)
	}
	// Removed: the same proposal asks again; the headless mission stays.
	r = w.post(t, w.agent, "/mission", proposal)
	if r.status != http.StatusAccepted {
		t.Fatalf("after removal: %d %s, want 202", r.status, r.raw)
	}
	if m, err := w.ps.App.Store.Mission(ctx, ap.s256); err != nil || m.State().Terminated {
		t.Fatalf("the mission it started: %+v %v", m, err)
	}
}

// expectStandingEvidence checks a headless approval's evidence: the
// mission chain's activation names the template (actorKind, template) as
// the consent anchor, the consent decision's actor is that template, and
// the whole bundle verifies offline.
func expectStandingEvidence(t *testing.T, w *world, ap approved, rec *mission.Record, actorKind, template string) {
	t.Helper()
	ctx := context.Background()
	chain, err := w.ps.App.Store.Evidence(ctx, ap.s256)
	if err != nil || len(chain) != 1 || chain[0].Record.Type != evidence.MissionActivated {
		t.Fatalf("mission chain: %+v %v", chain, err)
	}
	var act struct {
		ProposalChain string         `json:"proposal_chain"`
		Consent       map[string]any `json:"consent_anchor"`
	}
	_ = json.Unmarshal(chain[0].Record.Body, &act)
	if act.Consent["template"] != template || act.Consent["consent_rendering_hash"] != nil {
		t.Fatalf("the consent anchor is %v, want the template %s", act.Consent, template)
	}
	pre, err := w.ps.App.Store.Evidence(ctx, act.ProposalChain)
	if err != nil || len(pre) != 3 || pre[2].Record.Type != evidence.ConsentDecision ||
		pre[2].Record.Actor.Kind != actorKind || pre[2].Record.Actor.ID != template {
		t.Fatalf("proposal chain %q: %+v %v", act.ProposalChain, pre, err)
	}
	bundle := evidence.NewBundle(evidence.MissionRef{Origin: w.ps.Issuer, ID: ap.s256}, ap.blob, rec.Composition.Proposal,
		rec.Composition.ConsentRendering, chain)
	bundle.ProposalChainID = act.ProposalChain
	for _, p := range pre {
		bundle.ProposalChain = append(bundle.ProposalChain, p.Canonical)
	}
	if rep := evidence.Verify(bundle, nil); !rep.OK {
		t.Fatalf("the standing approval's evidence does not verify: %+v", rep)
	}
}
