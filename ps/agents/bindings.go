package agents

import (
	"context"
	"errors"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/dberr"
)

// Lookup returns the live binding (active or revoked) of an agent, by its
// provider and exact, case-sensitive identifier (PS-255), or ErrNotFound.
func (s *Service) Lookup(ctx context.Context, provider, agentID string) (*Binding, error) {
	return s.st.LiveBinding(ctx, provider, agentID)
}

// Bind binds an agent to a person. Binding the same agent to the same
// person again is a no-op; another person's live binding is ErrAlreadyBound
// (the binding invariant: a different person cannot claim the agent).
func (s *Service) Bind(ctx context.Context, provider, agentID, personID, platform, device string) (*Binding, error) {
	if existing, err := s.Lookup(ctx, provider, agentID); err == nil {
		if existing.PersonID == personID && existing.State == BindingActive {
			return existing, nil
		}
		return nil, ErrAlreadyBound
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Second)
	b := Binding{ID: newID(), Provider: provider, AgentID: agentID, PersonID: personID,
		State: BindingActive, Platform: platform, Device: device, CreatedAt: now, LastSeenAt: now}
	if err := s.st.CreateBinding(ctx, b); err != nil {
		if errors.Is(err, dberr.ErrConflict) { // a concurrent bind won
			return nil, ErrAlreadyBound
		}
		return nil, err
	}
	return &b, nil
}

// Touch records activity on a binding (throttled to once a minute).
func (s *Service) Touch(ctx context.Context, bindingID string) error {
	if !s.throttle.due("b:"+bindingID, s.now()) {
		return nil
	}
	return s.st.TouchBinding(ctx, bindingID, s.now())
}

// Bindings lists a person's live bindings (active and revoked), newest activity first.
func (s *Service) Bindings(ctx context.Context, personID string) ([]Binding, error) {
	return s.st.PersonBindings(ctx, personID)
}

// Binding returns one of a person's live bindings by id; another person's
// binding is ErrNotFound.
func (s *Service) Binding(ctx context.Context, personID, id string) (*Binding, error) {
	return s.st.PersonBinding(ctx, personID, id)
}

// Unbind ends a binding: the agent becomes unknown and may enroll again
// through an interaction (with any person).
func (s *Service) Unbind(ctx context.Context, personID, id string) error {
	return s.st.EndBinding(ctx, personID, id, BindingUnbound, []BindingState{BindingActive, BindingRevoked}, s.now())
}

// Revoke keeps the agent held by this person but refuses its requests.
func (s *Service) Revoke(ctx context.Context, personID, id string) error {
	return s.st.EndBinding(ctx, personID, id, BindingRevoked, []BindingState{BindingActive}, s.now())
}
