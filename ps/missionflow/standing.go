package missionflow

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

// Standing approval (issue 10, design §5 "proposed → active … or
// admin-set standing policy"): a proposal that fits an operator template
// marked standing, taken as it is (the agent's proposed_authority, if any,
// cut by nothing), activates without the person: headless agents get
// their mission at once. The evidence names the template as the consent
// anchor (composition.RecordApproval), the mission log says so, and the
// person sees it on the mission page and can revoke it there.

// standingActor is the approver a headless approval's evidence names
// under an operator template; personTemplateActor under one of the
// person's own standing approvals.
const (
	standingActor       = "standing_template"
	personTemplateActor = "person_template"
)

// PersonTemplateName is the template name a person's standing approval
// id goes by in the evidence and the consent rendering.
func PersonTemplateName(id string) string { return "person-template:" + id }

// approveStanding approves pl for person under a standing template (the
// operator's, else one the person approved), in one transaction (the
// mission, its evidence, its log, its person tokens), and answers the
// agent 200 with the approval. ok is false when no standing template
// fits: the person reviews the proposal as usual.
func (k *Kinds) approveStanding(ctx context.Context, person *account.Person, pl ProposalPayload) (res *pending.Response, ok bool, err error) {
	a, err := pl.Proposal.Approve(pl.Agent.Iss, pl.Agent.Sub, person.ID, mission.Edits{}, k.Now())
	if err != nil {
		return nil, false, err
	}
	composed, err := k.Flows.composition().Compose(Intake(pl), a, nil)
	if err != nil {
		return nil, false, err
	}
	actor, why := standingActor, " set by your administrator. "
	if composed.Rendering.Standing == "" {
		if a, err = pl.Proposal.Approve(pl.Agent.Iss, pl.Agent.Sub, person.ID, mission.Edits{}, k.Now()); err != nil {
			return nil, false, err
		}
		if composed, err = k.composePersonTemplate(ctx, person, pl, a, composed); composed == nil || err != nil {
			return nil, false, err
		}
		actor, why = personTemplateActor, " you approved (\"Let missions like this start without asking me\"). "
	}
	if err := composed.Attach(a); err != nil {
		return nil, false, err
	}
	template := composed.Rendering.Standing
	var body []byte
	var approved *mission.Record
	err = k.inTx(ctx, func(tx decision) error {
		m, err := tx.missions.Create(ctx, *a)
		if err != nil {
			return err
		}
		if err := composition.RecordApproval(ctx, tx.store, m, composed, composition.Approval{Issuer: k.Issuer,
			ProposalChain: composed.ProposalHash, Agent: evidence.Actor{Kind: "agent", ID: pl.Agent.Sub},
			Approver: evidence.Actor{Kind: actor, ID: template}}, k.Now()); err != nil {
			return err
		}
		for _, e := range []mission.Entry{{Kind: "proposal", Actor: "agent", Summary: pl.Proposal.Description},
			{Kind: "approval", Actor: "ps", Summary: "Approved without asking you, under the standing template " + template +
				why + a.Summary(pl.Proposal)}} {
			if err := tx.missions.Log(ctx, m.S256, e); err != nil {
				return err
			}
		}
		pts, err := missionPersonTokens(ctx, tx, pl.Agent, person, a.Resources, m)
		if err != nil {
			return err
		}
		approved = m
		body, err = json.Marshal(ApprovalBody(m, psCapabilities(person), pts))
		return err
	})
	if err != nil {
		return nil, true, err
	}
	k.log().InfoContext(ctx, "mission approved", "mission", approved.S256, "person", person.ID, "username", person.Username,
		"agent", pl.Agent.Sub, "provider", pl.Agent.Iss, "standing_template", template, "resources", len(a.Resources), "tools", len(a.Tools))
	h := http.Header{}
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json")
	return &pending.Response{Status: http.StatusOK, Header: h, Body: body}, true, nil
}

// missionPersonTokens issues, in the approval's transaction, a person
// token for each approved resource, logged on the mission.
func missionPersonTokens(ctx context.Context, tx decision, agent tokens.Agent, person *account.Person, resources []string, m *mission.Record) (map[string]string, error) {
	pts := map[string]string{}
	for _, res := range resources {
		iss, err := tx.tokens.IssuePersonToken(ctx, tokens.PersonTokenRequest{
			Agent: agent, PersonID: person.ID, Username: person.Username, Tenant: person.Tenant, Resource: res, Mission: m})
		if errors.Is(err, tokens.ErrTooShort) {
			// A resource the PS cannot issue for now (the agent token is
			// about to expire) is left out; the agent may ask for it
			// later (P§mission-approval, person_tokens).
			continue
		}
		if err != nil {
			return nil, err
		}
		// No standing consent: the approval lets the agent have person
		// tokens for res within this mission only (decisions.md,
		// "Mission approval is consent within the mission").
		pts[res] = iss.Token
		if err := tx.missions.Log(ctx, m.S256, mission.Entry{Kind: "person_token", Actor: "ps", Summary: "Person token issued for " + res + "."}); err != nil {
			return nil, err
		}
	}
	return pts, nil
}
