package missions

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/interact"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

// Resources describes resources to the person from their own metadata
// (resource-asserted content; fetched under the egress policy, cached).
type Resources interface {
	Describe(ctx context.Context, resource string) interact.ResourceInfo
}

// Kinds plugs the mission requests into the interaction layer: the
// person reviews a proposal (and may edit it) or a completion.
type Kinds struct {
	Flows     *Flows
	Tokens    *tokens.Service
	Resources Resources
	Issuer    string
	Now       func() time.Time
}

// Register installs the proposal and completion kinds.
func (k *Kinds) Register(s *interact.Service) {
	s.RegisterKind(KindProposal, proposalKind{k})
	s.RegisterKind(KindCompletion, completionKind{k})
}

// Info renders a mission as "what you approved".
func (k *Kinds) Info(ctx context.Context, m *Mission) (*interact.MissionInfo, error) {
	b, err := m.Parsed()
	if err != nil {
		return nil, err
	}
	info := &interact.MissionInfo{S256: m.S256, Description: b.Description, Resources: b.ApprovedResources, ExpiresAt: m.ExpiresAt}
	for _, t := range b.ApprovedTools {
		info.Tools = append(info.Tools, t.Name)
	}
	ups, err := k.Flows.Missions.Updates(ctx, m.S256)
	if err != nil {
		return nil, err
	}
	for _, u := range ups {
		info.Updates = append(info.Updates, u.Summary)
	}
	return info, nil
}

type proposalKind struct{ k *Kinds }

func (p proposalKind) Describe(ctx context.Context, r *pending.Request, c *interact.Consent) error {
	var pl ProposalPayload
	if err := decodePayload(r.Payload, &pl); err != nil {
		return err
	}
	c.Agent.Platform, c.Agent.Device = pl.Platform, pl.Device
	c.Statements = append(c.Statements, interact.Statement{Label: "Proposed mission", Markdown: pl.Proposal.Description, At: r.CreatedAt})
	rev := &interact.Review{Description: pl.Proposal.Description}
	for _, t := range pl.Proposal.Tools {
		rev.Tools = append(rev.Tools, interact.ToolChoice{Name: t.Name, Description: t.Description})
	}
	for i, res := range pl.Proposal.Resources {
		info := interact.ResourceInfo{Issuer: res}
		if i < 10 { // bound the fetches one page view can cause
			info = p.k.Resources.Describe(ctx, res)
		}
		rev.Resources = append(rev.Resources, interact.ResourceChoice{ResourceInfo: info})
	}
	c.Review = rev
	c.Wording = "Approve this mission for the agent? You can edit it first: the agent works within what you approve."
	return nil
}

// stageApproving marks a proposal whose approval is being applied: the
// claim that makes two concurrent approvals (a double click, two tabs)
// create one mission, not one per click.
const stageApproving = "mission_approving"

var errClaimed = errors.New("missions: the proposal is being approved")

func (p proposalKind) Decide(ctx context.Context, r *pending.Request, person *account.Person, action string, form map[string]string) (*interact.Outcome, bool, error) {
	if action != "approve" || (r.Stage != StageReview && r.Stage != stageApproving) {
		return nil, false, nil
	}
	if r.Stage == stageApproving {
		return nil, true, nil // another approval is being applied
	}
	var pl ProposalPayload
	if err := decodePayload(r.Payload, &pl); err != nil {
		return nil, true, err
	}
	a, err := p.k.approval(pl, person, form)
	if err != nil {
		return nil, true, fmt.Errorf("%w: %v", interact.ErrStage, err)
	}
	// Claim the review (optimistic concurrency on the pending request).
	engine := p.k.Flows.Engine
	if _, err := engine.Update(ctx, r.ID, func(x *pending.Request) error {
		if x.Stage != StageReview {
			return errClaimed
		}
		x.Stage = stageApproving
		return nil
	}); err != nil {
		if errors.Is(err, errClaimed) {
			return nil, true, nil
		}
		return nil, true, err
	}
	m, err := p.k.Flows.Missions.Create(ctx, *a)
	if err != nil {
		_, _ = engine.Update(ctx, r.ID, func(x *pending.Request) error { x.Stage = StageReview; return nil })
		return nil, true, err
	}
	ms := p.k.Flows.Missions
	_ = ms.Log(ctx, m.S256, Entry{Kind: "proposal", Actor: "agent", Summary: pl.Proposal.Description})
	for _, x := range r.Answers {
		_ = ms.Log(ctx, m.S256, Entry{Kind: "clarification", Actor: "person", Summary: x.Question})
		if x.Answer != "" {
			_ = ms.Log(ctx, m.S256, Entry{Kind: "clarification", Actor: "agent", Summary: x.Answer})
		}
	}
	_ = ms.Log(ctx, m.S256, Entry{Kind: "approval", Actor: "person", Summary: approvalSummary(pl.Proposal, a)})

	key, err := pl.Agent.Key()
	if err != nil {
		return nil, true, err
	}
	pts := map[string]string{}
	for _, res := range a.Resources {
		iss, err := p.k.Tokens.IssuePersonToken(ctx, tokens.PersonTokenRequest{
			PersonID: person.ID, Tenant: person.Tenant, Resource: res,
			AgentIss: pl.Agent.Iss, AgentSub: pl.Agent.Sub, AgentTokenJTI: pl.Agent.TokenJTI, AgentKey: key,
			AgentTokenExp: time.Unix(pl.Agent.TokenExp, 0), MissionS256: m.S256, MissionExp: m.ExpiresAt,
		})
		if err != nil {
			// A resource the PS cannot issue for is left out; the agent may
			// ask for it later (P§mission-approval, person_tokens).
			continue
		}
		pts[res] = iss.Token
		_ = p.k.Tokens.GrantConsent(ctx, person.ID, pl.Agent.Iss, pl.Agent.Sub, res)
		_ = ms.Log(ctx, m.S256, Entry{Kind: "person_token", Actor: "ps", Summary: "Person token issued for " + res + "."})
	}
	caps := psCapabilities(person)
	if err := engine.Complete(ctx, r.ID, http.StatusOK, ApprovalBody(m, caps, pts)); err != nil {
		return nil, true, err
	}
	return nil, true, nil
}

// psCapabilities is what the PS can do for the person now (P§mission-approval):
// with the inbox channel it can reach them and relay interactions.
func psCapabilities(p *account.Person) []string {
	if p.InboxChannel {
		return []string{"interaction"}
	}
	return []string{}
}

// approval reads the person's edits: the description, the tools and
// resources they kept (subsets of the proposal, PS-185), an expiry.
func (k *Kinds) approval(pl ProposalPayload, person *account.Person, form map[string]string) (*Approval, error) {
	a := &Approval{AgentIss: pl.Agent.Iss, AgentSub: pl.Agent.Sub, PersonID: person.ID,
		Description: pl.Proposal.Description, Capabilities: pl.Proposal.Capabilities}
	if d, ok := form["description"]; ok {
		d = strings.TrimSpace(strings.ReplaceAll(d, "\r\n", "\n"))
		if d == "" || len(d) > mission.MaxDescription {
			return nil, fmt.Errorf("the description must be 1 to %d bytes", mission.MaxDescription)
		}
		a.Description = d
	}
	keepTools := lines(form["tools"])
	_, toolsSubmitted := form["tools_submitted"]
	for _, t := range pl.Proposal.Tools {
		if !toolsSubmitted || slices.Contains(keepTools, t.Name) {
			a.Tools = append(a.Tools, t)
		}
	}
	keepRes := lines(form["resources"])
	_, resSubmitted := form["resources_submitted"]
	for _, res := range pl.Proposal.Resources {
		if !resSubmitted || slices.Contains(keepRes, res) {
			a.Resources = append(a.Resources, res)
		}
	}
	switch form["expires"] {
	case "", "never":
	case "1h", "1d", "7d", "30d":
		d := map[string]time.Duration{"1h": time.Hour, "1d": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour}[form["expires"]]
		e := k.Now().Add(d).UTC().Truncate(time.Second)
		a.ExpiresAt = &e
	default:
		return nil, fmt.Errorf("unknown expiry %q", form["expires"])
	}
	return a, nil
}

// approvalSummary is the PS's log line for an approval, naming the edits.
func approvalSummary(p mission.Proposal, a *Approval) string {
	out := "Mission approved."
	if a.Description != p.Description {
		out += " The person edited the description."
	}
	var dropped []string
	for _, t := range p.Tools {
		if !slices.ContainsFunc(a.Tools, func(x mission.Tool) bool { return x.Name == t.Name }) {
			dropped = append(dropped, "tool "+t.Name)
		}
	}
	for _, r := range p.Resources {
		if !slices.Contains(a.Resources, r) {
			dropped = append(dropped, "resource "+r)
		}
	}
	if len(dropped) > 0 {
		out += " The person removed: " + strings.Join(dropped, ", ") + "."
	}
	if a.ExpiresAt != nil {
		out += " It ends " + mission.FormatTime(*a.ExpiresAt) + "."
	}
	return out
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func (p proposalKind) Bound(ctx context.Context, r *pending.Request, _ *account.Person) error {
	_, err := p.k.Flows.Engine.Update(ctx, r.ID, func(x *pending.Request) error {
		x.Stage = StageReview
		return nil
	})
	return err
}

func (proposalKind) Settle(context.Context, *pending.Request) error { return nil }

type completionKind struct{ k *Kinds }

func (ck completionKind) Describe(ctx context.Context, r *pending.Request, c *interact.Consent) error {
	var pl CompletionPayload
	if err := decodePayload(r.Payload, &pl); err != nil {
		return err
	}
	m, err := ck.k.Flows.Missions.Get(ctx, pl.S256)
	if err != nil {
		return err
	}
	if c.Mission, err = ck.k.Info(ctx, m); err != nil {
		return err
	}
	c.Statements = append(c.Statements, interact.Statement{Label: "Summary of the work", Markdown: pl.Summary, At: r.CreatedAt})
	c.Wording = "The agent says this mission is done. Accept, and the mission ends; or ask a question, and it stays active."
	return nil
}

func (ck completionKind) Decide(ctx context.Context, r *pending.Request, person *account.Person, action string, _ map[string]string) (*interact.Outcome, bool, error) {
	if action != "approve" || r.Stage != StageCompletion {
		return nil, false, nil
	}
	var pl CompletionPayload
	if err := decodePayload(r.Payload, &pl); err != nil {
		return nil, true, err
	}
	if err := ck.k.Flows.Missions.Terminate(ctx, pl.S256, mission.ReasonCompleted, "person"); err != nil {
		return nil, true, err
	}
	err := ck.k.Flows.Engine.Complete(ctx, r.ID, http.StatusOK,
		map[string]any{"mission_status": "terminated", "termination_reason": string(mission.ReasonCompleted)})
	return nil, true, err
}

func (completionKind) Bound(context.Context, *pending.Request, *account.Person) error { return nil }

// Settle ends a pending completion whose mission ended meanwhile (PS-158).
func (ck completionKind) Settle(ctx context.Context, r *pending.Request) error {
	var pl CompletionPayload
	if err := decodePayload(r.Payload, &pl); err != nil {
		return nil
	}
	return SettleMission(ctx, ck.k.Flows.Missions, ck.k.Flows.Engine, r.ID, pl.S256)
}

// SettleMission ends a pending request with 403 mission_terminated when
// the mission it belongs to is no longer active (PS-158, A-39).
func SettleMission(ctx context.Context, ms *Service, e *pending.Engine, id, s256 string) error {
	if s256 == "" {
		return nil
	}
	m, err := ms.Get(ctx, s256)
	if err != nil {
		return nil
	}
	if ok, reason := m.State().Active(ms.o.Now()); !ok {
		p := Terminated(reason)
		return e.Complete(ctx, id, p.Status, p.Body())
	}
	return nil
}
