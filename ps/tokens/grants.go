package tokens

import (
	"context"
	"time"
)

// GrantKind tells the two standing grants a person gives an agent apart.
type GrantKind string

const (
	// GrantConsent is a person-token consent: the agent may get person
	// tokens for the resource without asking again (PS-070).
	GrantConsent GrantKind = "consent"
	// GrantScopes is an auth-token scope grant: the agent may get auth
	// tokens with these scopes at the resource without asking again.
	GrantScopes GrantKind = "scopes"
)

// GrantKey names one standing grant of a person: the kind, the agent and
// the resource.
type GrantKey struct {
	Kind     GrantKind
	AgentIss string
	AgentSub string
	Resource string
}

// Grant is a standing grant as the person sees it: its key, the scopes
// (GrantScopes only) and when it was first given.
type Grant struct {
	GrantKey
	// LastUsed is when the grant last let the PS issue a token without
	// asking; zero when it never did.
	LastUsed  time.Time
	Scopes    []string
	GrantedAt time.Time
}

// Valid reports whether the key names a kind of grant and is complete.
func (k GrantKey) Valid() bool {
	return (k.Kind == GrantConsent || k.Kind == GrantScopes) && k.AgentIss != "" && k.AgentSub != "" && k.Resource != ""
}

// Grants lists every standing grant the person gave, newest first.
func (s *Service) Grants(ctx context.Context, personID string) ([]Grant, error) {
	return s.o.Store.Grants(ctx, personID)
}

// RemoveGrant removes one of the person's standing grants; the next request
// of the agent for that resource asks the person again. dberr.ErrNotFound when
// the person has no such grant (another person's grant included).
func (s *Service) RemoveGrant(ctx context.Context, personID string, key GrantKey) error {
	return s.o.Store.RemoveGrant(ctx, personID, key)
}

// touchGrant records that key let the PS issue a token now: one UPDATE,
// in the caller's (issuing) transaction when the service is bound to one.
func (s *Service) touchGrant(ctx context.Context, personID string, key GrantKey) error {
	return s.o.Store.TouchGrant(ctx, personID, key, s.o.Now())
}
