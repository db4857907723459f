package persontoken

import (
	"context"
	"net/http"

	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/pending"
)

// Release continues a request held while its mission was suspended
// (interact.Releaser): the mission's decision runs as if the request had
// just arrived — issued, refused with its mission_decision, or left to
// the person's consent (Bound).
func (k kind) Release(ctx context.Context, r *pending.Request, p *account.Person) error {
	pl, err := k.load(r)
	if err != nil {
		return err
	}
	ms, err := k.mission(ctx, pl)
	if err != nil || ms == nil || k.s.o.Decisions == nil || pl.Request.Prompt == "consent" || ms.PersonID != p.ID {
		return k.Bound(ctx, r, p)
	}
	status, out, err := k.s.decideInMission(ctx, p, pl, ms)
	switch {
	case err != nil:
		return k.s.o.Engine.Answer(ctx, r.ID, nil, err)
	case status == http.StatusOK:
		// Issued in the decision's transaction; the answer follows it.
		return k.s.o.Engine.Answer(ctx, r.ID, out, nil)
	}
	return k.Bound(ctx, r, p) // the set leaves it to the person
}
