package authtoken

import (
	"context"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/pending"
)

// Release continues a request held while its mission was suspended
// (interact.Releaser): a mission-bound request goes to the mission's
// decision as if it had just arrived — issued, refused with its
// mission_decision, put to the agent to ask for less (a four-party
// narrowing, as askNarrower), or asked of the person (Bound) — and any
// other continues as after a binding. Every end goes through finish, so
// a reservation is settled however the request ends.
func (k kind) Release(ctx context.Context, r *pending.Request, p *account.Person) error {
	g, err := k.load(r)
	if err != nil {
		return err
	}
	if g.MissionS256 == "" || k.s.o.Decisions == nil || g.Prompt == "consent" || g.Interaction != nil || g.PersonID != p.ID {
		return k.Bound(ctx, r, p)
	}
	if err := g.checkTenant(p); err != nil {
		return k.s.finish(ctx, r.ID, g, nil, err)
	}
	g.Username = p.Username
	dec, out, err := k.s.decideInMission(ctx, g, p, r.Capabilities, "", nil)
	if _, refused := aauth.AsProblem(err); refused {
		// Refused before any decision (a presented token revoked by the
		// suspension, say): the agent is answered, not left held.
		return k.s.finish(ctx, r.ID, g, nil, err)
	}
	switch {
	case err != nil:
		return err
	case narrowing(dec) && g.Federated != nil:
		// Four-party, partly refused: the agent is asked for an
		// updated_request on this same request (mission.go).
		_, err := k.s.askForLess(ctx, r.ID, g, dec)
		return err
	case dec.Deny() || narrowing(dec):
		return k.s.finish(ctx, r.ID, g, nil, dec.Problem())
	case dec.Issue() && g.AccessServer != "":
		// Four-party, permitted: the AS issues (its reservation settled by
		// the answer).
		ms, err := k.mission(ctx, g)
		if err != nil {
			return k.s.finish(ctx, r.ID, g, nil, err)
		}
		return k.approveAS(ctx, r, g, ms)
	case dec.Issue():
		// Issued in the decision's transaction; the answer follows it (a
		// request that expired in between leaves the token undelivered,
		// recorded and revocable like any other).
		return k.s.finish(ctx, r.ID, g, out, nil)
	}
	// The set leaves it to the person; it also waits for the steps the
	// decision names, if any (steps.go).
	if g.StepWait = stepWait(g, dec, false); g.StepWait != nil {
		raw, err := encode(g)
		if err != nil {
			return err
		}
		if r, err = k.s.o.Engine.Update(ctx, r.ID, func(x *pending.Request) error {
			x.Payload = raw
			return nil
		}); err != nil {
			return err
		}
	}
	return k.Bound(ctx, r, p)
}
