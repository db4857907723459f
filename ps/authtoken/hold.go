package authtoken

import (
	"context"

	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/pending"
)

// Release continues a request held while its mission was suspended
// (interact.Releaser): a mission-bound request goes to the mission's
// decision as if it had just arrived — issued, refused with its
// mission_decision, or asked of the person (Bound) — and any other
// continues as after a binding.
func (k kind) Release(ctx context.Context, r *pending.Request, p *account.Person) error {
	g, err := k.load(r)
	if err != nil {
		return err
	}
	if g.MissionS256 == "" || k.s.o.Decisions == nil || g.Prompt == "consent" || g.Interaction != nil || g.PersonID != p.ID {
		return k.Bound(ctx, r, p)
	}
	if err := g.checkTenant(p); err != nil {
		return k.s.o.Engine.Answer(ctx, r.ID, nil, err)
	}
	g.Username = p.Username
	dec, out, err := k.s.decideInMission(ctx, g, p, r.Capabilities, "")
	switch {
	case err != nil:
		return err
	case dec.Deny() || narrowing(dec):
		// (A narrowing after a hold is refused as before: this request
		// is not re-asked as a clarification.)
		return k.s.o.Engine.Answer(ctx, r.ID, nil, dec.Problem())
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
		return k.s.o.Engine.Answer(ctx, r.ID, out, nil)
	}
	return k.Bound(ctx, r, p) // the set leaves it to the person
}
