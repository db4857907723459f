package agents

import (
	"context"
	"errors"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/store"
)

type bindingRow struct {
	ID         string  `gorm:"column:id;primaryKey"`
	Provider   string  `gorm:"column:provider"`
	AgentID    string  `gorm:"column:agent_id"`
	PersonID   string  `gorm:"column:person_id"`
	State      string  `gorm:"column:state"`
	Platform   string  `gorm:"column:platform"`
	Device     string  `gorm:"column:device"`
	CreatedAt  int64   `gorm:"column:created_at"`
	LastSeenAt int64   `gorm:"column:last_seen_at"`
	EndedAt    *int64  `gorm:"column:ended_at"`
	EndedBy    *string `gorm:"column:ended_by"`
}

func (bindingRow) TableName() string { return "agent_bindings" }

func (r bindingRow) binding() Binding {
	b := Binding{ID: r.ID, Provider: r.Provider, AgentID: r.AgentID, PersonID: r.PersonID,
		State: BindingState(r.State), Platform: r.Platform, Device: r.Device,
		CreatedAt: time.Unix(r.CreatedAt, 0).UTC(), LastSeenAt: time.Unix(r.LastSeenAt, 0).UTC()}
	if r.EndedAt != nil {
		t := time.Unix(*r.EndedAt, 0).UTC()
		b.EndedAt = &t
	}
	return b
}

// Lookup returns the live binding (active or revoked) of an agent, by its
// provider and exact, case-sensitive identifier (PS-255), or ErrNotFound.
func (s *Service) Lookup(ctx context.Context, provider, agentID string) (*Binding, error) {
	var r bindingRow
	err := s.st.DB().WithContext(ctx).
		Where("provider = ? AND agent_id = ? AND state IN ('active','revoked')", provider, agentID).
		Limit(1).Find(&r).Error
	if err != nil {
		return nil, store.Wrap("look up binding", err)
	}
	if r.ID == "" {
		return nil, ErrNotFound
	}
	b := r.binding()
	return &b, nil
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
	now := s.now().Unix()
	r := bindingRow{ID: newID(), Provider: provider, AgentID: agentID, PersonID: personID,
		State: string(BindingActive), Platform: platform, Device: device, CreatedAt: now, LastSeenAt: now}
	if err := s.st.DB().WithContext(ctx).Create(&r).Error; err != nil {
		err = store.Wrap("bind agent", err)
		if errors.Is(err, store.ErrConflict) { // a concurrent bind won
			return nil, ErrAlreadyBound
		}
		return nil, err
	}
	b := r.binding()
	return &b, nil
}

// Touch records activity on a binding (throttled to once a minute).
func (s *Service) Touch(ctx context.Context, bindingID string) error {
	if !s.throttle("b:" + bindingID) {
		return nil
	}
	err := s.st.DB().WithContext(ctx).Exec(
		`UPDATE agent_bindings SET last_seen_at = ? WHERE id = ?`, s.now().Unix(), bindingID).Error
	return store.Wrap("touch binding", err)
}

// Bindings lists a person's live bindings (active and revoked), newest activity first.
func (s *Service) Bindings(ctx context.Context, personID string) ([]Binding, error) {
	var rows []bindingRow
	err := s.st.DB().WithContext(ctx).
		Where("person_id = ? AND state IN ('active','revoked')", personID).
		Order("last_seen_at DESC, created_at DESC").Find(&rows).Error
	if err != nil {
		return nil, store.Wrap("list bindings", err)
	}
	out := make([]Binding, len(rows))
	for i, r := range rows {
		out[i] = r.binding()
	}
	return out, nil
}

// Binding returns one of a person's live bindings by id; another person's
// binding is ErrNotFound.
func (s *Service) Binding(ctx context.Context, personID, id string) (*Binding, error) {
	var r bindingRow
	err := s.st.DB().WithContext(ctx).
		Where("id = ? AND person_id = ? AND state IN ('active','revoked')", id, personID).Limit(1).Find(&r).Error
	if err != nil {
		return nil, store.Wrap("read binding", err)
	}
	if r.ID == "" {
		return nil, ErrNotFound
	}
	b := r.binding()
	return &b, nil
}

// Unbind ends a binding: the agent becomes unknown and may enroll again
// through an interaction (with any person).
func (s *Service) Unbind(ctx context.Context, personID, id string) error {
	return s.end(ctx, personID, id, BindingUnbound, []BindingState{BindingActive, BindingRevoked})
}

// Revoke keeps the agent held by this person but refuses its requests.
func (s *Service) Revoke(ctx context.Context, personID, id string) error {
	return s.end(ctx, personID, id, BindingRevoked, []BindingState{BindingActive})
}

func (s *Service) end(ctx context.Context, personID, id string, to BindingState, from []BindingState) error {
	states := make([]string, len(from))
	for i, f := range from {
		states[i] = string(f)
	}
	res := s.st.DB().WithContext(ctx).Exec(
		`UPDATE agent_bindings SET state = ?, ended_at = ?, ended_by = ? WHERE id = ? AND person_id = ? AND state IN ?`,
		string(to), s.now().Unix(), personID, id, personID, states)
	if res.Error != nil {
		return store.Wrap("end binding", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}
