package interact

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/pending"
)

// StageRoleStep is the stage of a mission-bound request the person
// allowed that still waits for a checkpoint only an organisation role
// records (issue 10, role approvers): the agent polls a 202 with
// requirement=approval until a role holder records the step (the request
// is then decided again), the person refuses it, or it expires.
const StageRoleStep = "role_step"

// StepWait is what a mission-bound request the decision deferred for
// checkpoints keeps in its payload (member "step_wait"): the steps it
// waits for, so that recording one decides it again (ResumeSteps), and
// what a role holder is shown of it.
type StepWait struct {
	Mission string   `json:"mission"`
	Steps   []string `json:"steps"`
	// Approved: the person allowed the request; only role steps are
	// missing (StageRoleStep), and their yes is applied when it is
	// decided again.
	Approved bool `json:"approved,omitempty"`
	// Asked is the request as this PS verified it (a resource token's
	// resource and scopes); Says is what the agent said of it (its
	// justification, its permission request): its words, not verified.
	Asked string `json:"asked,omitempty"`
	Says  string `json:"says,omitempty"`
}

// StepResumer is a Kind whose requests may wait for mission steps.
type StepResumer interface {
	// StepRecorded decides r again now that a step it waits for is
	// recorded; the outcome reaches the agent through its poll.
	StepRecorded(ctx context.Context, r *pending.Request, p *account.Person) error
}

// stepWaitOf reads r's step_wait member (nil: it waits for no step).
func stepWaitOf(r *pending.Request) *StepWait {
	var pl struct {
		StepWait *StepWait `json:"step_wait"`
	}
	if json.Unmarshal(r.Payload, &pl) != nil {
		return nil
	}
	return pl.StepWait
}

// waiting lists personID's open requests of a kind that can be resumed
// that wait for a step of mission s256, with what each keeps.
func (s *Service) waiting(ctx context.Context, personID, s256 string) ([]pending.Request, []*StepWait, error) {
	reqs, err := s.o.Engine.ForPerson(ctx, personID)
	if err != nil {
		return nil, nil, err
	}
	var out []pending.Request
	var waits []*StepWait
	for _, r := range reqs {
		if _, ok := s.kind(r.Kind).(StepResumer); !ok {
			continue
		}
		if w := stepWaitOf(&r); w != nil && w.Mission == s256 && len(w.Steps) > 0 {
			out, waits = append(out, r), append(waits, w)
		}
	}
	return out, waits, nil
}

// ResumeSteps decides again, through their kinds, the open requests of
// mission s256 (its person personID) that wait for one of steps, just
// recorded. It returns how many were decided; one that fails is logged
// and the others go on.
func (s *Service) ResumeSteps(ctx context.Context, personID, s256 string, steps []string) (int, error) {
	reqs, waits, err := s.waiting(ctx, personID, s256)
	if err != nil || len(reqs) == 0 {
		return 0, err
	}
	p, err := s.o.Accounts.Person(ctx, personID)
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range reqs {
		r := &reqs[i]
		if !slices.ContainsFunc(waits[i].Steps, func(id string) bool { return slices.Contains(steps, id) }) {
			continue
		}
		if err := s.endRefused(ctx, r.ID, s.kind(r.Kind).(StepResumer).StepRecorded(ctx, r, p)); err != nil && !ended(err) && !errors.Is(err, pending.ErrNotFound) {
			s.log.WarnContext(ctx, "decide a request waiting for a mission step", "pending", r.ID, "mission", s256, "err", err)
			continue
		}
		n++
	}
	if n > 0 {
		s.log.InfoContext(ctx, "requests waiting for a mission step decided again", "mission", s256, "steps", steps, "requests", n)
	}
	return n, nil
}

// StepWaiting is a request waiting for a mission step, as a role holder sees
// it: what the PS verified (Asked) apart from the agent's words (Says).
type StepWaiting struct {
	Asked, Says string
}

// WaitingForSteps lists, by step, the open requests of mission s256 (its
// person personID) that wait for it.
func (s *Service) WaitingForSteps(ctx context.Context, personID, s256 string) (map[string][]StepWaiting, error) {
	_, waits, err := s.waiting(ctx, personID, s256)
	if err != nil {
		return nil, err
	}
	out := map[string][]StepWaiting{}
	for _, w := range waits {
		for _, id := range w.Steps {
			out[id] = append(out[id], StepWaiting{Asked: w.Asked, Says: w.Says})
		}
	}
	return out, nil
}
