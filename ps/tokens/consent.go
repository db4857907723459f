package tokens

import (
	"context"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/store"
)

// HasConsent reports whether the person let this agent act at resource
// as them (P§person-token-endpoint: asked on first use).
func (s *Service) HasConsent(ctx context.Context, personID, agentIss, agentSub, resource string) (bool, error) {
	var n int64
	err := s.o.Store.DB().WithContext(ctx).Raw(`SELECT COUNT(*) FROM resource_consents
		WHERE person_id = ? AND agent_iss = ? AND agent_sub = ? AND resource = ?`,
		personID, agentIss, agentSub, resource).Scan(&n).Error
	return n > 0, store.Wrap("read consent", err)
}

// GrantConsent records the person's consent (idempotent).
func (s *Service) GrantConsent(ctx context.Context, personID, agentIss, agentSub, resource string) error {
	err := s.o.Store.DB().WithContext(ctx).Exec(`INSERT INTO resource_consents
		(person_id, agent_iss, agent_sub, resource, granted_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (person_id, agent_iss, agent_sub, resource) DO NOTHING`,
		personID, agentIss, agentSub, resource, s.o.Now().Unix()).Error
	return store.Wrap("grant consent", err)
}

// NewResourcesSince counts the resources an agent was granted since t:
// the input of the distinct-resources rate limit (PS-070).
func (s *Service) NewResourcesSince(ctx context.Context, agentIss, agentSub string, t time.Time) (int64, error) {
	var n int64
	err := s.o.Store.DB().WithContext(ctx).Raw(`SELECT COUNT(*) FROM resource_consents
		WHERE agent_iss = ? AND agent_sub = ? AND granted_at >= ?`, agentIss, agentSub, t.Unix()).Scan(&n).Error
	return n, store.Wrap("count new resources", err)
}
