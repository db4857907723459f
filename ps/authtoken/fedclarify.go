package authtoken

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/aauth-ps/aauth-ps/federation"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/interact"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// StageASQuestion: an AS's requirement=clarification is put to the person
// in the PS's page; their answer goes to the AS (issue 11).
const StageASQuestion = "access_server_question"

// maxASAnswer bounds the person's answer to an AS (as a clarification
// response the agent could send).
const maxASAnswer = 8192

// triage decides who answers an AS's question (P§as-response: "the PS
// triages who answers: itself, the user, or the agent") when the PS does
// not answer itself: it speaks only from the person's standing answer
// for the mission (fromMemory, tried first), never from the mission's
// text (see docs/decisions.md). The person answers when they are at the PS's page for this request
// (personHere), otherwise the agent when it declared clarification (the
// PS's clarification relay), otherwise the person if the PS can reach
// them (asked like any other step; 403 user_unreachable if not).
func triage(stage string, personHere bool, caps []string) string {
	if stage != StageASClarification {
		return stage
	}
	if !personHere && slices.Contains(caps, aauth.CapabilityClarification) {
		return StageASClarification
	}
	return StageASQuestion
}

// personHere: the pending request reaches the person through the PS's
// page (it has an interaction code).
func personHere(r *pending.Request) bool { return r.Requirement == pending.RequirementInteraction }

// decideQuestion is the person's answer to the AS's question: it goes to
// the AS (by the poller, signed) and the loop goes on; declining ends the
// request with 403 denied and the AS learns nothing. With "give the same
// answer again" (d.Remember) on a mission-bound request, the answer is
// also kept as the mission's standing answer, in the same transaction
// (fedmemory.go).
func (k kind) decideQuestion(ctx context.Context, r *pending.Request, p *account.Person, g *Grant, d interact.Decision) (*interact.Outcome, bool, error) {
	switch d.Action {
	case "answer":
		a := strings.TrimSpace(d.Answer)
		if a == "" || len(a) > maxASAnswer {
			return nil, true, fmt.Errorf("%w: an answer of 1 to %d characters is needed", interact.ErrStage, maxASAnswer)
		}
		if opts := g.Federated.Wait.Options; len(opts) > 0 {
			if !slices.Contains(opts, d.Answer) {
				return nil, true, fmt.Errorf("%w: the answer must be one of the access server's choices", interact.ErrStage)
			}
			a = d.Answer // the AS's choice exactly as it wrote it
		}
		g.Federated.Answer = a
		if !d.Remember || g.MissionS256 == "" {
			return nil, true, k.backToAS(ctx, r.ID, g)
		}
		if err := k.s.o.DB.InTx(ctx, func(tx *store.Store) error {
			if err := k.s.keepAnswer(ctx, tx, g, p, a); err != nil {
				return err
			}
			return k.toAS(ctx, k.s.o.Engine.WithStore(tx), r.ID, g)
		}); err != nil {
			return nil, true, err
		}
		k.s.continueAS(ctx, r.ID, 0)
		return nil, true, nil
	case "deny":
		return nil, true, k.s.finish(ctx, r.ID, g, nil, aauth.NewProblem(http.StatusForbidden, aauth.ErrDenied,
			"the person declined to answer the resource's access server"))
	}
	return nil, false, nil
}

// describeQuestion shows the AS's question (AS-asserted) and which AS
// asks (verified).
func (k kind) describeQuestion(g *Grant) *interact.ASQuestion {
	if g.Federated == nil || g.Federated.Wait == nil {
		return nil
	}
	w := g.Federated.Wait
	return &interact.ASQuestion{AccessServer: g.AccessServer, Question: w.Question, InMission: g.MissionS256 != "",
		Options: w.Options, Deadline: w.Deadline}
}

// answeringAS: pending request r waits on the agent's answer to an AS's
// question (stage access_server_clarification), which may be an
// updated_request (PS-126).
func answeringAS(r *pending.Request, g *Grant) bool {
	return r.Stage == StageASClarification && g.AccessServer != "" && g.Federated != nil && g.Federated.Wait != nil
}

// updatedForAS is the federated part of g, the agent's updated_request
// verified against old (UpdatedRequest, PS-177), answering the AS's
// question: the same exchange with the AS, fr its new tokens. Nobody is
// asked again, so the scope stays within what the person (or the
// mission) granted old: a broader one is 400 invalid_resource_token.
func updatedForAS(old, g *Grant, fr federation.Request) (*Federated, error) {
	for _, sc := range g.Scope {
		if !slices.Contains(old.Scope, sc) {
			return nil, aauth.NewProblem(http.StatusBadRequest, aauth.ErrInvalidResourceToken,
				"an updated request answering the access server's question may not ask for a scope the request was not granted: "+sc)
		}
	}
	f := *old.Federated
	f.Request = fr
	return &f, nil
}

// forwardAnswer posts the agent's answer a to the AS's question to its
// pending URL (PS-126, P§updated-request): a clarification_response as
// such; an updated_request, its tokens now the request's (updatedForAS),
// with the same members — presented_token included, and the
// justification when the agent sent one — its presented token recorded
// as presented first (PS-274). Any other answer is 403 denied and the AS
// gets nothing.
func (s *Service) forwardAnswer(ctx context.Context, req *federation.Request, g *Grant, a pending.Exchange) (*federation.Outcome, error) {
	var body map[string]any
	switch a.Action {
	case aauth.ActionClarificationResponse:
		body = map[string]any{"action": a.Action, "clarification_response": a.Answer}
	case aauth.ActionUpdatedRequest:
		body = map[string]any{"action": a.Action, "resource_token": g.Federated.Request.ResourceToken,
			"presented_token": g.Federated.Request.PresentedToken}
		if a.Answer != "" {
			body["justification"] = a.Answer
		}
		if err := s.presenting(ctx, g); err != nil {
			return nil, err
		}
	default:
		return nil, aauth.NewProblem(http.StatusForbidden, aauth.ErrDenied, "the agent did not answer the access server's question")
	}
	return s.o.Federation.Client.Answer(ctx, req, g.Federated.Wait.Location, body, s.release(g.PersonID))
}
