package authtoken

import (
	"context"
	"errors"
	"strings"

	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/interact"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// Requests waiting for mission steps (issue 10, role approvers): a
// request the mission's decision deferred for checkpoints keeps them in
// its payload (Grant.StepWait); when one is recorded — by a role holder
// on /roles, on the mission page, by a call-back or an audit record
// (composition.Point.StepsRecorded) — the request is decided again at the
// decision point (StepRecorded). The person's yes to a request that then
// only waits for a role's step keeps it waiting (waitForRole).

// stepWait is what deferred request g keeps of decision dec's waits (nil
// when it waits for no step); approved: the person said yes.
func stepWait(g *Grant, dec *composition.Result, approved bool) *interact.StepWait {
	if len(dec.Waits) == 0 {
		return nil
	}
	asked := "access to " + g.Resource
	if len(g.Scope) > 0 {
		asked += " (scope " + strings.Join(g.Scope, " ") + ")"
	}
	if g.R3 != nil {
		asked += " (an R3 document)"
	}
	return &interact.StepWait{Mission: g.MissionS256, Steps: dec.Waits, Approved: approved, Asked: asked,
		Says: strings.TrimSpace(g.Justification)}
}

// waitForRole keeps request id, whose person said yes, waiting in tx for
// the role steps decision res still needs: stage role_step, the agent's
// polls a 202 requirement=approval, the person's answer kept (g, narrowed
// to what they allowed) for when a role holder records the step.
func (k kind) waitForRole(ctx context.Context, tx *store.Store, id string, g *Grant, res *composition.Result) error {
	g.StepWait = stepWait(g, res, true)
	raw, err := encode(g)
	if err != nil {
		return err
	}
	_, err = k.s.o.Engine.WithStore(tx).Update(ctx, id, func(x *pending.Request) error {
		x.Stage, x.Payload, x.Requirement = interact.StageRoleStep, raw, pending.RequirementApproval
		return nil
	})
	return err
}

// notNow answers request id in tx with prob, the person's yes decided
// again and refused, unless decision res only waits for a role's step:
// then the request keeps waiting for it (waitForRole).
func (k kind) notNow(ctx context.Context, tx *store.Store, id string, g *Grant, res *composition.Result, prob *aauth.Problem) error {
	if res.WaitsForRole() {
		return k.waitForRole(ctx, tx, id, g, res)
	}
	return k.s.o.Engine.WithStore(tx).Answer(ctx, id, nil, prob)
}

// errResumed: the request moved on (answered, or taken by another
// recording) while it was decided again; the decision rolls back.
var errResumed = errors.New("authtoken: the request is no longer waiting for a step")

// StepRecorded decides r again now that a step it waits for is recorded
// (interact.StepResumer), as if it had just arrived — with the person's
// yes when they gave it (they are then the decision's actor). The answer
// commits in the decision's transaction, so two recordings at once issue
// at most one token: issued (three-party; four-party the AS is then
// asked), refused with its mission_decision, still waiting for a role
// (its steps updated), or left to the person (stage consent, as asked).
func (k kind) StepRecorded(ctx context.Context, r *pending.Request, p *account.Person) error {
	g, err := k.load(r)
	if err != nil {
		return err
	}
	if g.StepWait == nil || g.MissionS256 == "" || k.s.o.Decisions == nil || g.PersonID != p.ID || !waitingStage(r.Stage) {
		return nil
	}
	if err := g.checkTenant(p); err != nil {
		return k.s.finish(ctx, r.ID, g, nil, err)
	}
	g.Username = p.Username
	approved := g.StepWait.Approved
	iss, sub := g.Agent.Grantee()
	consented, err := k.s.o.Tokens.GrantedScopes(ctx, g.PersonID, iss, sub, g.Resource)
	if err != nil {
		return err
	}
	q := missionQuery(g, p, r.Capabilities)
	q.Consented, q.Resolves = consented, r.ID
	if approved {
		q.Answers, q.Person = approvedAnswers(q), p.ID
	}
	res, err := k.s.o.Decisions.DecideIn(ctx, k.s.o.DB, q, true, func(tx *store.Store, res *composition.Result) error {
		engine := k.s.o.Engine.WithStore(tx)
		if !res.Issue() {
			return engine.Answer(ctx, r.ID, nil, res.Problem())
		}
		narrowTo(g, res)
		if g.AccessServer != "" {
			// Four-party: taken from the waiting stages in this
			// transaction; the AS is asked once it commits.
			reserve(g, res)
			return k.moveOn(ctx, engine, r.ID, g, StageAccessServer, r.Requirement)
		}
		out, err := k.s.issue(ctx, k.s.o.Tokens.WithStore(tx), k.s.o.Missions.Missions.WithStore(tx), g, res.Mission, p, nil) // decided again after a step: not presigned
		if err != nil {
			return err // nothing of the decision stays; a problem answers the agent below
		}
		return engine.Answer(ctx, r.ID, out, nil)
	})
	_, refused := aauth.AsProblem(err)
	switch {
	case errors.Is(err, errResumed):
		return nil
	case refused:
		return k.s.finish(ctx, r.ID, g, nil, err)
	case err != nil:
		return err
	case narrowing(res) && g.Federated != nil:
		// Four-party, partly refused now: the agent is asked for an
		// updated_request on this same request (mission.go).
		_, err := k.s.askForLess(ctx, r.ID, g, res)
		return err
	case narrowing(res):
		return k.s.finish(ctx, r.ID, g, nil, res.Problem())
	case res.Issue() && g.AccessServer != "":
		ms, err := k.mission(ctx, g)
		if err != nil {
			return k.s.finish(ctx, r.ID, g, nil, err)
		}
		return k.approveAS(ctx, r, g, ms)
	case res.Issue() || res.Deny():
		return nil // answered in the decision's transaction
	}
	// Deferred again: held when the mission is suspended (its resumption
	// releases it), waiting for (other) role steps as it was, or for the
	// person, who is asked as for any deferred request.
	stage, req := StageConsent, r.Requirement
	switch {
	case res.Decision.Reason == authority.ReasonSuspended:
		stage, req = interact.StageHeld, pending.RequirementApproval
	default:
		g.StepWait = stepWait(g, res, approved && res.WaitsForRole())
		if g.StepWait != nil && g.StepWait.Approved {
			stage = interact.StageRoleStep
		} else if r.Stage != StageConsent {
			req = pending.RequirementApproval
		}
	}
	err = k.moveOn(ctx, k.s.o.Engine, r.ID, g, stage, req)
	if errors.Is(err, errResumed) {
		return nil
	}
	return err
}

// moveOn sets request id, still in a stage that waits for a step, to
// stage with payload g; errResumed when it is in another stage now.
func (k kind) moveOn(ctx context.Context, engine *pending.Engine, id string, g *Grant, stage string, req pending.Requirement) error {
	raw, err := encode(g)
	if err != nil {
		return err
	}
	_, err = engine.Update(ctx, id, func(x *pending.Request) error {
		if !waitingStage(x.Stage) {
			return errResumed
		}
		x.Stage, x.Payload = stage, raw
		if req != pending.RequirementInteraction || x.HasCode {
			x.Requirement = req
		}
		return nil
	})
	return err
}

// waitingStage: a request in stage may be waiting for a mission step.
func waitingStage(stage string) bool {
	return stage == StageConsent || stage == interact.StageRoleStep
}
