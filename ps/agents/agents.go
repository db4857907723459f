package agents

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/dberr"
)

// Policy is the operator's agent-provider trust mode.
type Policy string

const (
	// AllowAny admits every provider except blocked ones.
	AllowAny Policy = "allow-any"
	// AllowList admits only providers an operator allowed.
	AllowList Policy = "allow-list"
)

// ParsePolicy validates a policy name.
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(s); p {
	case AllowAny, AllowList:
		return p, nil
	}
	return "", fmt.Errorf("agent provider policy %q: want allow-any or allow-list", s)
}

// ProviderStatus is an operator's decision about a provider.
type ProviderStatus string

const (
	ProviderSeen    ProviderStatus = "seen"
	ProviderAllowed ProviderStatus = "allowed"
	ProviderBlocked ProviderStatus = "blocked"
)

// Provider is an agent provider known to the PS. Name, Description and
// LogoURI come from its metadata: agent-asserted display values.
type Provider struct {
	Issuer      string
	Status      ProviderStatus
	Name        string
	Description string
	LogoURI     string
	FirstSeen   time.Time
	LastSeen    time.Time
}

// Display is what a provider's metadata says about itself.
type Display struct{ Name, Description, LogoURI string }

// BindingState is the state of a binding row.
type BindingState string

const (
	BindingActive  BindingState = "active"
	BindingRevoked BindingState = "revoked"
	BindingUnbound BindingState = "unbound"
)

// Binding ties an agent (provider, agent id) to one person.
type Binding struct {
	ID         string
	Provider   string
	AgentID    string
	PersonID   string
	State      BindingState
	Platform   string
	Device     string
	CreatedAt  time.Time
	LastSeenAt time.Time
	EndedAt    *time.Time
}

// Errors.
var (
	// ErrProviderNotTrusted: the operator's policy refuses this provider.
	ErrProviderNotTrusted = errors.New("agent provider not trusted")
	// ErrAlreadyBound: the agent is bound to (or revoked by) a person already.
	ErrAlreadyBound = errors.New("agent already bound")
	// ErrNotFound: no such binding or provider (the store's kind).
	ErrNotFound = dberr.ErrNotFound
)

// touchInterval throttles last-seen writes: activity is shown to the
// minute, and a busy agent must not write on every request.
const touchInterval = time.Minute

// Store is what the agents service needs from the database (ps/store
// implements it). Lookups report dberr.ErrNotFound; creating a second live
// binding of one agent reports dberr.ErrConflict.
type Store interface {
	LiveBinding(ctx context.Context, provider, agentID string) (*Binding, error)
	PersonBinding(ctx context.Context, personID, id string) (*Binding, error)
	PersonBindings(ctx context.Context, personID string) ([]Binding, error)
	CreateBinding(ctx context.Context, b Binding) error
	TouchBinding(ctx context.Context, id string, at time.Time) error
	EndBinding(ctx context.Context, personID, id string, to BindingState, from []BindingState, at time.Time) error

	AgentProvider(ctx context.Context, issuer string) (*Provider, error)
	AgentProviders(ctx context.Context) ([]Provider, error)
	SawAgentProvider(ctx context.Context, issuer string, d Display, at time.Time) error
	SetAgentProviderStatus(ctx context.Context, issuer string, status ProviderStatus, by string, at time.Time) error
	BlockProviderFor(ctx context.Context, personID, issuer string, at time.Time) error
	UnblockProviderFor(ctx context.Context, personID, issuer string) error
	ProvidersBlockedBy(ctx context.Context, personID string) ([]string, error)
	ProviderBlockedBy(ctx context.Context, personID, issuer string) (bool, error)
	// AfterCommit runs f once the transaction the store belongs to
	// commits (outside one: at once).
	AfterCommit(f func())
}

// Service manages providers and bindings.
type Service struct {
	st       Store
	now      func() time.Time
	policy   Policy
	throttle *throttle
	// policyCache holds providers' statuses for Admit; shared by every
	// WithStore copy.
	policyCache *policyCache
}

// throttle remembers the last activity write per provider or binding.
type throttle struct {
	mu      sync.Mutex
	touched map[string]time.Time // provider issuer or binding id → last write
}

// New builds a Service.
func New(st Store, now func() time.Time, policy Policy) *Service {
	if policy == "" {
		policy = AllowAny
	}
	return &Service{st: st, now: now, policy: policy, throttle: &throttle{touched: map[string]time.Time{}},
		policyCache: newPolicyCache()}
}

// WithStore is the Service bound to st (a transaction).
func (s *Service) WithStore(st Store) *Service {
	c := *s
	c.st = st
	return &c
}

// Policy reports the operator's trust mode.
func (s *Service) Policy() Policy { return s.policy }

func newID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// due reports whether key may be written at now, and records it.
func (t *throttle) due(key string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if last, ok := t.touched[key]; ok && now.Sub(last) < touchInterval {
		return false
	}
	if len(t.touched) > 100_000 { // bound the map; a reset only costs a few writes
		t.touched = map[string]time.Time{}
	}
	t.touched[key] = now
	return true
}
