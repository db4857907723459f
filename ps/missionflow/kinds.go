package missionflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/mission/governance"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/interact"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

// Resources describes resources to the person from their own metadata
// (resource-asserted content; fetched under the egress policy, cached).
type Resources interface {
	Describe(ctx context.Context, resource string) interact.ResourceInfo
}

// Kinds plugs the mission requests into the interaction layer: the
// person reviews a proposal (and may edit it) or a completion; each
// decision runs in one transaction.
type Kinds struct {
	Flows     *Flows
	Tokens    *tokens.Service
	Resources Resources
	Issuer    string
	Now       func() time.Time
	// Log receives one event per mission decision (approved, completed),
	// after commit. nil: discard.
	Log *slog.Logger
}

func (k *Kinds) log() *slog.Logger {
	if k.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return k.Log
}

// Register installs the proposal and completion kinds, and the standing
// approval of proposals (which uses the same approval path).
func (k *Kinds) Register(s *interact.Service) {
	k.Flows.standing = k.approveStanding
	s.RegisterKind(KindProposal, proposalKind{k})
	s.RegisterKind(KindCompletion, completionKind{k})
}

// Info renders a mission as "what you approved".
func (k *Kinds) Info(ctx context.Context, m *mission.Record) (*interact.MissionInfo, error) {
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
		info.Updates = append(info.Updates, interact.MissionUpdate{Markdown: u.Summary, At: u.At})
	}
	return info, nil
}

// clarificationEntries are a request's clarification rounds as mission-log
// entries: the person's question, then the agent's answer if it gave one.
func clarificationEntries(rounds []pending.Exchange) []mission.Entry {
	var out []mission.Entry
	for _, x := range rounds {
		out = append(out, mission.Entry{Kind: "clarification", Actor: "person", Summary: x.Question})
		if x.Answer != "" {
			out = append(out, mission.Entry{Kind: "clarification", Actor: "agent", Summary: x.Answer})
		}
	}
	return out
}

// decision is one transaction's view of the services a decision writes through.
type decision struct {
	store    *store.Store
	missions *Service
	tokens   *tokens.Service
	engine   *pending.Engine
}

// inTx runs fn with every service bound to one transaction: the decision
// and all its effects commit together or not at all.
func (k *Kinds) inTx(ctx context.Context, fn func(d decision) error) error {
	return k.Flows.DB.InTx(ctx, func(tx *store.Store) error {
		return fn(decision{store: tx, missions: k.Flows.Missions.WithStore(tx), tokens: k.Tokens.WithStore(tx), engine: k.Flows.Engine.WithStore(tx)})
	})
}

// errDecided: another decision on the request won (it left the review).
var errDecided = errors.New("missionflow: the request was decided meanwhile")

// claim locks the pending request for this transaction while it is still
// in stage: the version bump makes a concurrent decision (an approval in
// another tab, a denial) wait for this transaction and then find the
// request decided, or makes this one find it decided.
func claim(ctx context.Context, e *pending.Engine, id, stage string) error {
	_, err := e.Update(ctx, id, func(x *pending.Request) error {
		if x.Stage != stage {
			return errDecided
		}
		return nil
	})
	return err
}

type proposalKind struct{ k *Kinds }

func (p proposalKind) Describe(ctx context.Context, r *pending.Request, c *interact.Consent) error {
	var pl ProposalPayload
	if err := decodePayload(r.Payload, &pl); err != nil {
		return err
	}
	c.Statements = append(c.Statements, interact.Statement{Kind: interact.StatementProposedMission, Markdown: pl.Proposal.Description, At: r.CreatedAt})
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
	if r.Stage == StageReview {
		a, err := p.k.reviewAuthority(r, pl)
		if err != nil {
			return err
		}
		rev.Authority = a
	}
	c.Review = rev
	return nil
}

// Decide approves a proposal: the mission, its log, a person token for
// each approved resource, and the approval answer are one
// transaction, so a failure anywhere leaves the proposal as it was (still
// decidable) and a concurrent decision finds it either untouched or decided.
func (p proposalKind) Decide(ctx context.Context, r *pending.Request, person *account.Person, d interact.Decision) (*interact.Outcome, bool, error) {
	if d.Action == "narrow" {
		return nil, true, p.k.narrow(ctx, r, d.Authority)
	}
	if d.Action != "approve" || r.Stage != StageReview {
		return nil, false, nil
	}
	var pl ProposalPayload
	if err := decodePayload(r.Payload, &pl); err != nil {
		return nil, true, err
	}
	a, err := pl.Proposal.Approve(pl.Agent.Iss, pl.Agent.Sub, person.ID, d.Edits, p.k.Now())
	if err != nil {
		return nil, true, fmt.Errorf("%w: %v", interact.ErrStage, err)
	}
	narrowing := d.Narrowing
	if narrowing == nil {
		narrowing = pl.Narrowing // the person's edits on the consent page
	}
	if err := sameSelection(pl, a, narrowing); err != nil {
		return nil, true, err
	}
	composed, err := p.k.Flows.composition().Compose(Intake(pl), a, narrowing)
	if err != nil {
		return nil, true, fmt.Errorf("%w: %v", interact.ErrStage, err)
	}
	if err := composed.Attach(a); err != nil {
		return nil, true, err
	}
	var approved *mission.Record
	err = p.k.inTx(ctx, func(tx decision) error {
		if err := claimReview(ctx, tx.engine, r); err != nil {
			return err
		}
		m, err := tx.missions.Create(ctx, *a)
		if err != nil {
			return err
		}
		if err := composition.RecordApproval(ctx, tx.store, m, composed, composition.Approval{Issuer: p.k.Issuer,
			ProposalChain: r.ID, Agent: evidence.Actor{Kind: "agent", ID: pl.Agent.Sub},
			Approver: evidence.Actor{Kind: "person", ID: person.ID}, Narrowing: narrowing}, p.k.Now()); err != nil {
			return err
		}
		if d.Remember {
			if err := rememberTemplate(ctx, tx, m, person, pl, a, composed, p.k.Now()); err != nil {
				return err
			}
		}
		entries := []mission.Entry{{Kind: "proposal", Actor: "agent", Summary: pl.Proposal.Description}}
		entries = append(entries, clarificationEntries(r.Answers)...)
		entries = append(entries, mission.Entry{Kind: "approval", Actor: "person", Summary: a.Summary(pl.Proposal)})
		for _, e := range entries {
			if err := tx.missions.Log(ctx, m.S256, e); err != nil {
				return err
			}
		}
		pts, err := missionPersonTokens(ctx, tx, pl.Agent, person, a.Resources, m)
		if err != nil {
			return err
		}
		approved = m
		return tx.engine.Complete(ctx, r.ID, http.StatusOK, ApprovalBody(m, psCapabilities(person), pts))
	})
	if errors.Is(err, errDecided) {
		return nil, true, nil // another decision won; show how the request stands
	}
	if err == nil {
		attrs := []any{"mission", approved.S256, "person", person.ID, "username", person.Username, "agent", pl.Agent.Sub,
			"provider", pl.Agent.Iss, "resources", len(a.Resources), "tools", len(a.Tools)}
		if approved.ExpiresAt != nil {
			attrs = append(attrs, "expires_at", approved.ExpiresAt.UTC().Format(time.RFC3339))
		}
		p.k.log().InfoContext(ctx, "mission approved", attrs...)
	}
	return nil, true, err
}

// psCapabilities is what the PS can do for the person now (P§mission-approval):
// with the inbox channel it can reach them and relay interactions.
func psCapabilities(p *account.Person) []string {
	if p.InboxChannel {
		return []string{"interaction"}
	}
	return []string{}
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
	c.Statements = append(c.Statements, interact.Statement{Kind: interact.StatementSummary, Markdown: pl.Summary, At: r.CreatedAt})
	return nil
}

// Decide accepts a completion: the mission ends completed and the agent's
// request completes, together.
func (ck completionKind) Decide(ctx context.Context, r *pending.Request, person *account.Person, d interact.Decision) (*interact.Outcome, bool, error) {
	if d.Action != "approve" || r.Stage != StageCompletion {
		return nil, false, nil
	}
	var pl CompletionPayload
	if err := decodePayload(r.Payload, &pl); err != nil {
		return nil, true, err
	}
	err := ck.k.inTx(ctx, func(tx decision) error {
		if err := claim(ctx, tx.engine, r.ID, StageCompletion); err != nil {
			return err
		}
		// The person's "Not done yet" follow-ups and the agent's answers
		// join the mission log with the decision (issue 9 item 6).
		for _, e := range clarificationEntries(r.Answers) {
			if err := tx.missions.Log(ctx, pl.S256, e); err != nil {
				return err
			}
		}
		// Through the lifecycle: the termination is evidenced as the
		// person's (lifecycle_transition, design §5, §7) and the mission's
		// tokens are revoked, in this transaction.
		by := governance.Actor{Kind: governance.ByPerson, ID: person.ID}
		if err := tx.missions.TerminateBy(ctx, pl.S256, mission.ReasonCompleted, by); err != nil {
			return err
		}
		return tx.engine.Complete(ctx, r.ID, http.StatusOK,
			map[string]any{"mission_status": "terminated", "termination_reason": string(mission.ReasonCompleted)})
	})
	if errors.Is(err, errDecided) {
		return nil, true, nil
	}
	if err == nil {
		ck.k.log().InfoContext(ctx, "mission completed", "mission", pl.S256, "person", person.ID, "username", person.Username,
			"agent", r.Requester.Subject, "provider", r.Requester.Issuer)
	}
	return nil, true, err
}

func (completionKind) Bound(context.Context, *pending.Request, *account.Person) error { return nil }

// Settle ends a pending completion whose mission ended meanwhile (PS-158).
func (ck completionKind) Settle(ctx context.Context, r *pending.Request) error {
	return SettleMission(ctx, ck.k.Flows.Missions, ck.k.Flows.Engine, r, ck.Mission(r))
}

var _ interact.MissionNamer = completionKind{}

// Mission implements interact.MissionNamer: the mission being completed
// (s256).
func (completionKind) Mission(r *pending.Request) string {
	var pl CompletionPayload
	if err := decodePayload(r.Payload, &pl); err != nil {
		return ""
	}
	return pl.S256
}

// SettleMission ends pending request r with 403 mission_terminated when
// the mission s256 it belongs to is no longer active (PS-158, A-39). A
// request held for the mission (interact.StageHeld) while it is active
// and no longer suspended is interact.ErrResumed: its release is due.
func SettleMission(ctx context.Context, ms *Service, e *pending.Engine, r *pending.Request, s256 string) error {
	if s256 == "" {
		return nil
	}
	m, err := ms.Get(ctx, s256)
	if err != nil {
		return nil
	}
	if ok, reason := m.State().Active(ms.o.Now()); !ok {
		return e.CompleteProblem(ctx, r.ID, mission.Terminated(reason))
	}
	if m.Hold == nil && (r.Stage == interact.StageHeld || r.Stage == interact.StageReleasing) {
		return interact.ErrResumed
	}
	return nil
}
