package interact

import (
	"context"
	"errors"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/httpsig"
	"github.com/aauth-ps/aauth-ps/ps/pending"
)

// StageHeld is the stage of a request held while its mission is suspended
// (Mission composition, design §5): the agent polls a `202` with
// requirement=approval; on resume the request continues through its
// kind's normal decision (Kind.Bound), on the hold's timeout it ends with
// the mission's termination (Kind.Settle).
const StageHeld = "held"

// Hold creates a pending request of kind for a bound person's agent whose
// mission is suspended until until. It is held whatever the agent can do
// (no interaction needed: nothing is asked of anyone), and lives until
// just past the hold — its own deadline, however the engine's default
// lifetime compares (the hold timeout may be longer).
func (s *Service) Hold(ctx context.Context, a *httpsig.Agent, p *account.Person, caps []string, kind string, payload any, until time.Time) (Result, error) {
	raw, err := encodePayload(payload)
	if err != nil {
		return nil, err
	}
	// A minute past the hold, so the poll after the timeout is answered
	// with the mission's end rather than a bare 408.
	r, _, err := s.o.Engine.Create(ctx, pending.NewRequest{
		Kind: kind, Stage: StageHeld, Requester: requester(a), PersonID: p.ID, Capabilities: caps,
		Payload: raw, Requirement: pending.RequirementApproval, ClientAddr: a.ClientAddr, Until: until.Add(time.Minute),
	})
	if err != nil {
		return nil, err
	}
	resp := s.o.Engine.Respond(r)
	s.log.InfoContext(ctx, "request held: mission suspended", "agent", a.ID, "provider", a.Provider, "pending", r.ID, "kind", kind)
	return &resp, nil
}

// Releaser is a Kind whose held requests continue otherwise than after a
// binding (Kind.Bound): through the mission's decision, for example.
type Releaser interface {
	Release(ctx context.Context, r *pending.Request, p *account.Person) error
}

// ReleaseHeld continues, through their kinds' normal decision, the open
// requests held for mission s256 of person personID (its resumption). A
// request belongs to the mission its stored payload names (missionOf). It
// returns how many were released; one that fails is logged and the
// others go on.
func (s *Service) ReleaseHeld(ctx context.Context, personID, s256 string) (int, error) {
	reqs, err := s.o.Engine.ForPerson(ctx, personID)
	if err != nil {
		return 0, err
	}
	p, err := s.o.Accounts.Person(ctx, personID)
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range reqs {
		r := &reqs[i]
		k := s.kind(r.Kind)
		if r.Stage != StageHeld || k == nil || s.missionOf(r) != s256 {
			continue
		}
		release := k.Bound
		if rk, ok := k.(Releaser); ok {
			release = rk.Release
		}
		if err := s.endRefused(ctx, r.ID, release(ctx, r, p)); err != nil && !ended(err) && !errors.Is(err, pending.ErrNotFound) {
			s.log.WarnContext(ctx, "release a held request", "pending", r.ID, "err", err)
			continue
		}
		n++
	}
	return n, nil
}
