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

// StageReleasing is a held request claimed by its release (the
// resumption's ReleaseHeld, or the agent's poll after a resumption whose
// release never ran): one releaser decides it. A claim older than
// releaseLease is taken over by the next poll: its releaser died (the
// process killed between the resumption's commit and the answer).
const StageReleasing = "releasing"

// releaseLease outlasts one release (a decision's transaction) by far,
// and is short enough for an agent that polls to get its answer soon
// after a crash. A release slower than it may be decided twice (the
// second answer is refused: its token stays undelivered, recorded and
// revocable, as when a request expires between decision and answer).
const releaseLease = 3 * time.Second

// ErrResumed is a kind's Settle finding a held request whose mission is
// active and no longer held: the request is released (Settle).
var ErrResumed = errors.New("interact: the held request's mission resumed")

// errNotHeld: the request is no longer held, or another releaser holds
// its claim.
var errNotHeld = errors.New("interact: the request is not held")

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
		if !held(r) || s.kind(r.Kind) == nil || s.missionOf(r) != s256 {
			continue
		}
		switch err := s.release(ctx, r, p); {
		case errors.Is(err, errNotHeld):
			continue // another releaser has it
		case err != nil:
			s.log.WarnContext(ctx, "release a held request", "pending", r.ID, "err", err)
			continue
		}
		n++
	}
	return n, nil
}

func held(r *pending.Request) bool { return r.Stage == StageHeld || r.Stage == StageReleasing }

// release claims held request r (errNotHeld when it has ended, is no
// longer held or another releaser's claim is live) and continues it through its kind's
// decision (Releaser, else Bound) for person p.
func (s *Service) release(ctx context.Context, r *pending.Request, p *account.Person) error {
	k := s.kind(r.Kind)
	claimed, err := s.o.Engine.Update(ctx, r.ID, func(x *pending.Request) error {
		if x.Stage != StageHeld && (x.Stage != StageReleasing || s.o.Now().Sub(x.UpdatedAt) < releaseLease) {
			return errNotHeld
		}
		x.Stage = StageReleasing
		return nil
	})
	switch {
	case ended(err), errors.Is(err, pending.ErrNotFound):
		return errNotHeld // answered meanwhile
	case err != nil:
		return err
	}
	decide := k.Bound
	if rk, ok := k.(Releaser); ok {
		decide = rk.Release
	}
	if err := s.endRefused(ctx, r.ID, decide(ctx, claimed, p)); err != nil && !ended(err) && !errors.Is(err, pending.ErrNotFound) {
		return err
	}
	return nil
}

// releaseResumed releases held request r at its agent's poll once its
// mission resumed (ErrResumed): the resumption's own release did not
// run, or not to its end.
func (s *Service) releaseResumed(ctx context.Context, r *pending.Request) error {
	p, err := s.o.Accounts.Person(ctx, r.PersonID)
	if err != nil {
		return err
	}
	if err := s.release(ctx, r, p); err != nil && !errors.Is(err, errNotHeld) {
		return err
	}
	s.log.InfoContext(ctx, "held request released at its poll: its mission resumed", "pending", r.ID)
	return nil
}
