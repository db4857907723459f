package authtoken

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

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
