package permissionflow

import (
	"context"
	"net/http"

	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/permission"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// Mission composition at the permission endpoint: a mission-bound action
// is decided by the one decision point, in the transaction that records
// the answer. `mission.checkpoint` with {"checkpoint": id} is the design's
// call-back that records an approval checkpoint once the person agrees.

// missionQuery is the permission request as the decision point reads it.
func missionQuery(pl payload, p *account.Person) composition.Query {
	return composition.Query{S256: pl.Request.MissionS256, Point: authority.PointPermission, Mode: authority.ThreeParty,
		Request: authority.Request{Action: pl.Request.Action, Parameters: pl.Request.Parameters},
		Actor:   authority.Actor{Agent: pl.Agent.Sub, Capabilities: pl.Request.Capabilities}, PersonReachable: p != nil && p.InboxChannel}
}

// verdictOf is the permission answer of a decision that did not defer.
func verdictOf(res *composition.Result) permission.Verdict {
	if res.Issue() {
		return permission.Verdict{Permission: permission.Granted, Basis: permission.BasisMission}
	}
	return permission.Verdict{Permission: permission.Denied, Basis: permission.BasisMission, Reason: res.Decision.Explanation}
}

// bodyOf is the 200 body: a refusal carries the mission_decision member
// (extension) naming the entry, exclusion or stage that refused.
func bodyOf(res *composition.Result) map[string]any {
	out := verdictOf(res).Body()
	if res.Deny() {
		out["mission_decision"] = res.Decision.Problem(res.ID)
	}
	return out
}

// decideInMission decides and, unless the person must be asked, records
// the answer in the same transaction; status 0 asks the person (pl then
// keeps the steps the decision waits for).
func (s *Service) decideInMission(ctx context.Context, pl *payload, p *account.Person) (status int, body map[string]any, err error) {
	res, err := s.o.Decisions.DecideIn(ctx, s.o.DB, missionQuery(*pl, p), true, func(tx *store.Store, res *composition.Result) error {
		return s.record(ctx, tx, *pl, verdictOf(res), true)
	})
	if err != nil {
		return 0, nil, unraced(err)
	}
	if res.Decision.Outcome == authority.Defer {
		pl.StepWait = stepWait(*pl, res, false)
		return 0, nil, nil
	}
	if res.Deny() && res.Decision.Status != http.StatusForbidden {
		return 0, nil, res.Problem() // mission_terminated, user_unreachable …: the draft's errors
	}
	s.logAnswer(ctx, *pl, verdictOf(res))
	return http.StatusOK, bodyOf(res), nil
}

// answerInMission re-decides a deferred mission-bound request with the
// person's answer, in tx: approve answers every item yes; a refusal every
// item no, a deny (user_denied) evidenced as the person's decision.
func (k kind) answerInMission(ctx context.Context, tx *store.Store, pl payload, p *account.Person, resolves string, approved bool) (*composition.Result, error) {
	q := missionQuery(pl, p)
	q.Resolves, q.Person, q.ApproveAll, q.RefuseAll = resolves, p.ID, approved, !approved
	return k.s.o.Decisions.Decide(ctx, tx, q)
}
