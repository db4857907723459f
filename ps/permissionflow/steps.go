package permissionflow

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/interact"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// Permission requests waiting for mission steps (issue 10, role
// approvers): a call-back `mission.checkpoint` for a role's step, or an
// action gated by one, keeps the steps in its payload; recording one
// decides it again (StepRecorded). The person's yes to one that then only
// waits for a role's step keeps it waiting (waitForRole).

// stepWait is what deferred request pl keeps of decision dec's waits (nil
// when it waits for no step). The action and its description are the
// agent's words.
func stepWait(pl payload, dec *composition.Result, approved bool) *interact.StepWait {
	if len(dec.Waits) == 0 {
		return nil
	}
	says := "Permission requested: " + pl.Request.Action
	if d := strings.TrimSpace(pl.Request.Description); d != "" {
		says += ". " + d
	}
	return &interact.StepWait{Mission: pl.Request.MissionS256, Steps: dec.Waits, Approved: approved, Says: says}
}

// waitForRole keeps request id, whose person said yes, waiting in tx for
// the role steps decision res still needs (stage role_step, a 202
// requirement=approval to the agent).
func (k kind) waitForRole(ctx context.Context, tx *store.Store, id string, pl payload, res *composition.Result) error {
	pl.StepWait = stepWait(pl, res, true)
	return k.moveOn(ctx, k.s.o.Engine.WithStore(tx), id, pl, interact.StageRoleStep)
}

// errResumed: the request moved on while it was decided again.
var errResumed = errors.New("permissionflow: the request is no longer waiting for a step")

// StepRecorded decides r again now that a step it waits for is recorded
// (interact.StepResumer), with the person's yes when they gave it. The
// answer and its log entry commit in the decision's transaction: granted
// (the call-back's step is recorded), denied with its mission_decision,
// still waiting (its steps updated), or left to the person as asked. On
// a suspended mission it is held until the mission resumes.
func (k kind) StepRecorded(ctx context.Context, r *pending.Request, p *account.Person) error {
	pl, err := k.load(r)
	if err != nil {
		return err
	}
	if pl.StepWait == nil || pl.Request.MissionS256 == "" || k.s.o.Decisions == nil || !waitingStage(r.Stage) {
		return nil
	}
	approved := pl.StepWait.Approved
	q := missionQuery(pl, p)
	q.Resolves = r.ID
	if approved {
		q.ApproveAll, q.Person = true, p.ID
	}
	res, err := k.s.o.Decisions.DecideIn(ctx, k.s.o.DB, q, true, func(tx *store.Store, res *composition.Result) error {
		v := verdictOf(res)
		if err := k.s.record(ctx, tx, pl, v, false); err != nil {
			return err
		}
		engine := k.s.o.Engine.WithStore(tx)
		if res.Deny() && res.Decision.Status != http.StatusForbidden {
			return engine.Answer(ctx, r.ID, nil, res.Problem())
		}
		return engine.Answer(ctx, r.ID, bodyOf(res), nil)
	})
	switch {
	case err != nil:
		if _, refused := aauth.AsProblem(unraced(err)); refused {
			// The mission ended meanwhile: nothing of the decision stays,
			// and the agent is told.
			return k.s.o.Engine.Answer(ctx, r.ID, nil, unraced(err))
		}
		return err
	case res.Decision.Outcome != authority.Defer:
		k.s.logAnswer(ctx, pl, verdictOf(res))
		return nil
	}
	stage := StageConsent
	if res.Decision.Reason == authority.ReasonSuspended {
		// Held: the resumption continues it (as any held request).
		stage = interact.StageHeld
	} else if pl.StepWait = stepWait(pl, res, approved && res.WaitsForRole()); pl.StepWait != nil && pl.StepWait.Approved {
		stage = interact.StageRoleStep
	}
	if err := k.moveOn(ctx, k.s.o.Engine, r.ID, pl, stage); !errors.Is(err, errResumed) {
		return err
	}
	return nil
}

// moveOn sets request id, still in a stage that waits for a step, to
// stage with payload pl; errResumed when it is in another stage now.
func (k kind) moveOn(ctx context.Context, engine *pending.Engine, id string, pl payload, stage string) error {
	raw, err := json.Marshal(pl)
	if err != nil {
		return err
	}
	_, err = engine.Update(ctx, id, func(x *pending.Request) error {
		if !waitingStage(x.Stage) {
			return errResumed
		}
		if x.Stage != stage {
			x.Requirement = pending.RequirementApproval
		}
		x.Stage, x.Payload = stage, raw
		return nil
	})
	return err
}

// waitingStage: a request in stage may be waiting for a mission step.
func waitingStage(stage string) bool {
	return stage == StageConsent || stage == interact.StageRoleStep
}
