package authtoken

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/httpsig"
	"github.com/aauth-ps/aauth-ps/ps/interact"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// Mission composition at the auth token endpoint: a mission-bound request
// is decided by the one decision point (composition.Point). Three-party,
// inside the transaction that issues. Four-party (the resource token's aud
// is an access server) with Mode FourParty: the decision's effects and
// evidence commit first, then the AS is called; a deny sends nothing to
// the AS. The PS cannot narrow what the AS grants: it only bounds the
// delivered token (federation.Expected: scope within the permitted scope,
// exp within the mission's expires_at).

// missionQuery is g as the decision point reads it.
func missionQuery(g *Grant, p *account.Person, capabilities []string) composition.Query {
	mode := authority.ThreeParty
	if g.AccessServer != "" {
		mode = authority.FourParty
	}
	q := composition.Query{S256: g.MissionS256, Point: authority.PointToken, Mode: mode,
		Request:          authority.Request{Resource: g.Resource, Scopes: g.Scope},
		Actor:            authority.Actor{Agent: g.Agent.Sub, Capabilities: capabilities},
		ResourceTokenJTI: g.ResourceTokenJTI, PersonReachable: p != nil && p.InboxChannel}
	if sa := g.Agent.SubAgent; sa != nil {
		q.Actor.Agent, q.Actor.Parent = sa.Sub, g.Agent.Sub
	}
	if up := g.Agent.Upstream; up != nil {
		q.Actor.Chain = &authority.Chain{Intermediary: up.Aud, UpstreamDepth: up.Depth, UpstreamIndexed: true}
	}
	if d := g.R3; d != nil {
		for _, op := range d.Ops {
			q.Request.Operations = append(q.Request.Operations, authority.Operation{Vocabulary: d.Vocabulary, Op: op})
		}
		q.Request.PerCall, q.Request.Parameters = d.Proposal(), d.Parameters
	}
	return q
}

// approvedAnswers are the person's answers when they approved the
// deferred request: every item of it (what each needed — consent, an
// approval, an inline checkpoint — is recorded by the decision).
func approvedAnswers(q composition.Query) map[string]bool {
	out := map[string]bool{}
	for _, s := range q.Request.Scopes {
		out[authority.Item{Kind: authority.ItemScope, Scope: s}.Key()] = true
	}
	for _, op := range q.Request.Operations {
		out[authority.Item{Kind: authority.ItemR3, Vocabulary: op.Vocabulary, Op: op.Op}.Key()] = true
	}
	return out
}

// missionDecided runs the decision point in tx for a mission-bound g;
// nil when the request names no mission or the PS decides none.
func (s *Service) missionDecided(ctx context.Context, tx *store.Store, g *Grant, q composition.Query) (*composition.Result, error) {
	if g.MissionS256 == "" || s.o.Decisions == nil {
		return nil, nil
	}
	return s.o.Decisions.Decide(ctx, tx, q)
}

// narrowTo keeps the requested scopes the decision granted (three-party:
// the PS never issues more than it permitted).
func narrowTo(g *Grant, res *composition.Result) {
	if res == nil || res.Decision.Grant == nil {
		return
	}
	granted := map[string]bool{}
	for _, sc := range res.Decision.Grant.Scopes {
		granted[sc] = true
	}
	kept := g.Scope[:0:0]
	for _, sc := range g.Scope {
		if granted[sc] {
			kept = append(kept, sc)
		}
	}
	g.Scope = kept
}

// decidedAgain decides mission-bound g again in tx with the person's
// approval of deferred request id: the decision and the refusal to answer
// the agent with (unless it waits for a role's step: Result.WaitsForRole),
// or no problem with g narrowed to what was permitted (or no mission to
// decide).
func (k kind) decidedAgain(ctx context.Context, tx *store.Store, id string, g *Grant, p *account.Person) (*composition.Result, *aauth.Problem, error) {
	q := missionQuery(g, p, nil)
	q.Answers, q.Resolves, q.Person = approvedAnswers(q), id, p.ID
	res, err := k.s.missionDecided(ctx, tx, g, q)
	if err != nil {
		return nil, nil, err
	}
	if res != nil && !res.Issue() {
		return res, res.Problem(), nil
	}
	narrowTo(g, res)
	reserve(g, res) // four-party: settled once the AS answers
	return res, nil, nil
}

// narrowing: four-party, some items are refused and the rest permitted,
// and the agent declared `clarification` (else the decision is a deny).
// The PS cannot tell the AS to narrow, so it asks the agent for an
// updated_request naming only what would be permitted (design row 6).
func narrowing(res *composition.Result) bool {
	return res.Decision.Outcome == authority.Defer && res.Decision.Requirement == "clarification"
}

// refusedInMission applies the person's refusal of the deferred
// mission-bound request r: decided again with every item answered no, a
// deny (user_denied) evidenced as the person's decision, committed with
// the agent's answer. handled is false for a request under no mission
// (interact's plain refusal answers it).
func (k kind) refusedInMission(ctx context.Context, r *pending.Request, p *account.Person) (bool, error) {
	g, err := k.load(r)
	if err != nil || g.MissionS256 == "" || k.s.o.Decisions == nil {
		return false, nil
	}
	return true, k.s.o.DB.InTx(ctx, func(tx *store.Store) error {
		q := missionQuery(g, p, nil)
		q.Resolves, q.Person, q.RefuseAll = r.ID, p.ID, true
		res, err := k.s.o.Decisions.Decide(ctx, tx, q)
		if err != nil {
			return err
		}
		prob := res.Problem()
		if res.Issue() {
			prob = aauth.NewProblem(http.StatusForbidden, aauth.ErrDenied, "the person declined")
		}
		return k.s.o.Engine.WithStore(tx).Answer(ctx, r.ID, nil, prob)
	})
}

// StageNarrowed: a four-party mission decision refused some items and
// permits the rest; the agent is asked (202 requirement=clarification)
// for an updated_request with only the permitted ones.
const StageNarrowed = "mission_narrowed"

// askNarrower answers a narrowing decision dec: a pending request whose
// clarification question is the decision's explanation (what is refused
// and what it may ask again for), decided again when the agent answers
// (narrowedAgain, by the same poll loop as an AS's question). Created
// with an interaction code when the agent can bring the person, kept for
// an updated request that needs them (personNeeded); until then the
// request waits on the agent, not the person.
func (s *Service) askNarrower(ctx context.Context, a *httpsig.Agent, r *Request, g *Grant, p *account.Person, dec *composition.Result) (*pending.Response, error) {
	req := pending.RequirementApproval
	if slices.Contains(r.Capabilities, aauth.CapabilityInteraction) {
		req = pending.RequirementInteraction
	}
	pr, err := s.waitingFor(ctx, a, r, g, p, StageNarrowed, req)
	if err != nil {
		return nil, err
	}
	if pr, err = s.askForLess(ctx, pr.ID, g, dec); err != nil {
		return nil, err
	}
	resp := s.o.Engine.Respond(pr)
	return &resp, nil
}

// askForLess puts open request id (a new narrowing, or a held request
// released into one) to the agent: stage mission_narrowed, the
// decision's mission_decision kept in the payload for the 202s while the
// question is outstanding (PendingMembers), the question asked, and the
// poll loop that decides the agent's answer started.
func (s *Service) askForLess(ctx context.Context, id string, g *Grant, dec *composition.Result) (*pending.Request, error) {
	md := dec.Decision.Problem(dec.ID)
	g.Federated.Narrowed = &md
	raw, err := encode(g)
	if err != nil {
		return nil, err
	}
	if _, err := s.o.Engine.Update(ctx, id, func(x *pending.Request) error {
		x.Stage, x.Payload, x.Requirement = StageNarrowed, raw, pending.RequirementApproval
		return nil
	}); err != nil {
		return nil, err
	}
	question := dec.Decision.Explanation + narrowingAsk + dec.ID + ")."
	if len(question) > pending.MaxMarkdown {
		question = strings.ToValidUTF8(question[:pending.MaxMarkdown-len(narrowingAsk)-len(dec.ID)-2], "") + narrowingAsk + dec.ID + ")."
	}
	if err := s.o.Engine.Ask(ctx, id, question, nil, 0); err != nil {
		return nil, err
	}
	pr, err := s.o.Engine.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	s.continueAS(ctx, id, time.Second)
	return pr, nil
}

// narrowingAsk ends every narrowing question before its decision id.
const narrowingAsk = " Send an updated_request with a resource token for only that (decision "

// markNarrowingQuestions marks the narrowing questions of c's exchanges
// as this server's (the person's page does not say "You asked").
func markNarrowingQuestions(c *interact.Consent) {
	qs := make([]string, 0, len(c.Chat)+1)
	for _, x := range c.Chat {
		qs = append(qs, x.Question)
	}
	if c.Outstanding != nil {
		qs = append(qs, c.Outstanding.Text)
	}
	for _, q := range qs {
		if i := strings.LastIndex(q, narrowingAsk); i >= 0 && strings.HasPrefix(q[i+len(narrowingAsk):], "dec_") && strings.HasSuffix(q, ").") {
			if c.ServerAsked == nil {
				c.ServerAsked = map[string]bool{}
			}
			c.ServerAsked[q] = true
		}
	}
}

// PendingMembers is the pending engine's Members hook: while a
// narrowing's question is outstanding, its 202 carries the decision's
// mission_decision (the extension member denials carry: what refused
// which item, and the permitted subset), which an AAuth-only agent
// ignores.
func (s *Service) PendingMembers(r *pending.Request) map[string]any {
	if r.Kind != KindAuthToken || r.Stage != StageNarrowed || r.Question == nil {
		return nil
	}
	g, err := kind{s}.load(r)
	if err != nil || g.Federated == nil || g.Federated.Narrowed == nil {
		return nil
	}
	return map[string]any{"mission_decision": g.Federated.Narrowed}
}

// narrowedAgain follows the agent's answer to a narrowing (stepAS): its
// updated_request (verified by UpdatedRequest, now the payload) is decided
// again, resolving the request; permitted, it goes to the AS; needing the
// person (consent, an approval, a checkpoint), the same request goes to
// them (personNeeded); items still refused end it 403 denied with the
// decision. Any other answer ends it 403 denied.
func (s *Service) narrowedAgain(ctx context.Context, pr *pending.Request) (bool, time.Duration) {
	if pr.Question != nil || len(pr.Answers) == 0 {
		return true, time.Second // the agent has not answered yet
	}
	if pr.Answers[len(pr.Answers)-1].Action != aauth.ActionUpdatedRequest {
		s.answerAS(ctx, pr.ID, nil, aauth.NewProblem(http.StatusForbidden, aauth.ErrDenied,
			"the agent did not ask again for only what the mission permits"))
		return false, 0
	}
	k := kind{s}
	g, err := k.load(pr)
	var p *account.Person
	if err == nil {
		var rec *account.PersonRecord
		if rec, err = s.o.DB.PersonByID(ctx, g.PersonID); err == nil {
			p = &rec.Person
		}
	}
	var dec *composition.Result
	if err == nil {
		dec, _, err = s.decideInMission(ctx, g, p, pr.Capabilities, pr.ID, nil)
	}
	var ms *mission.Record
	if err == nil && dec.Issue() {
		if ms, err = k.mission(ctx, g); err == nil {
			err = k.approveAS(ctx, pr, g, ms)
		}
		if err != nil {
			s.o.Logger.WarnContext(ctx, "federation: narrowed request", "pending", pr.ID, "err", err)
		}
		return false, 0
	}
	if err == nil && dec.Decision.Outcome == authority.Defer && !narrowing(dec) {
		err = s.personNeeded(ctx, pr, g, dec)
		if err == nil {
			return false, 0 // the person decides (kind.Decide)
		}
	} else if err == nil {
		err = dec.Problem() // still partly refused: 403 denied, mission_decision
	}
	s.answerAS(ctx, pr.ID, nil, err)
	return false, 0
}

// personNeeded puts narrowed request pr, whose updated request dec defers
// to the person, to them as any deferred request: stage consent, where
// their approval is decided again (resolving pr) and federated, their
// refusal a deny. The agent's polls then say how the person is reached:
// requirement=interaction with the code kept since askNarrower (none
// once the person used it: they are at the PS already, "interacting"),
// or approval (their inbox; also a released held request, which has no
// code). prompt=none forbids asking: 403 user_unreachable, as at once.
func (s *Service) personNeeded(ctx context.Context, pr *pending.Request, g *Grant, dec *composition.Result) error {
	if g.Prompt == "none" {
		return aauth.NewProblem(http.StatusForbidden, aauth.ErrUserUnreachable, "the person must be asked, and prompt=none forbids it")
	}
	req := pending.Requirement(dec.Decision.Requirement)
	if req != pending.RequirementInteraction || !pr.HasCode {
		req = pending.RequirementApproval
	}
	raw, err := encode(g)
	if err != nil {
		return err
	}
	_, err = s.o.Engine.Update(ctx, pr.ID, func(x *pending.Request) error {
		x.Stage, x.Payload, x.Requirement = StageConsent, raw, req
		return nil
	})
	return err
}
