package tokens

import (
	"context"
	"encoding/json"
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
	// GrantR3 is an auth-token grant of an R3 document's operations (some
	// outright, some per call): the agent may get auth tokens naming that
	// document (by r3_s256) at the resource without asking again.
	GrantR3 GrantKind = "r3"
)

// GrantKey names one standing grant of a person: the kind, the agent and
// the resource.
type GrantKey struct {
	Kind     GrantKind
	AgentIss string
	AgentSub string
	Resource string
	// R3S256 names the R3 document of a GrantR3 ("" otherwise).
	R3S256 string
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
	// R3 is what a GrantR3 lets the agent do (nil otherwise).
	R3 *R3Remembered
}

// R3Remembered is a person's remembered choice on one R3 document: the
// document's identity and summary (for the person's list) and the
// operations granted outright and per call (JSON arrays, subsets of the
// document's operations).
type R3Remembered struct {
	URI, S256, Vocabulary, Summary string
	Granted, PerCall               json.RawMessage
}

// MaxR3GrantsPerResource bounds the remembered R3 grants of one agent at
// one resource: a resource minting ever new documents cannot grow the
// table without bound (the oldest go first).
const MaxR3GrantsPerResource = 50

// R3Grant is the person's remembered choice on the R3 document s256 for
// the agent at resource (dberr.ErrNotFound when there is none).
func (s *Service) R3Grant(ctx context.Context, personID string, key GrantKey) (*R3Remembered, error) {
	return s.o.Store.R3Grant(ctx, personID, key)
}

// GrantR3 remembers the person's choice on an R3 document (replacing an
// earlier one on the same document).
func (s *Service) GrantR3(ctx context.Context, personID string, key GrantKey, g R3Remembered) error {
	return s.o.Store.GrantR3(ctx, personID, key, g, s.o.Now())
}

// Valid reports whether the key names a kind of grant and is complete.
func (k GrantKey) Valid() bool {
	if k.AgentIss == "" || k.AgentSub == "" || k.Resource == "" {
		return false
	}
	switch k.Kind {
	case GrantConsent, GrantScopes:
		return k.R3S256 == ""
	case GrantR3:
		return k.R3S256 != ""
	}
	return false
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
