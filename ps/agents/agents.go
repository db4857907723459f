package agents

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/store"
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
	// ErrNotFound: no such binding or provider.
	ErrNotFound = errors.New("not found")
)

// touchInterval throttles last-seen writes: activity is shown to the
// minute, and a busy agent must not write on every request.
const touchInterval = time.Minute

// Service manages providers and bindings.
type Service struct {
	st     *store.Store
	now    func() time.Time
	policy Policy

	mu      sync.Mutex
	touched map[string]time.Time // provider issuer or binding id → last write
}

// New builds a Service.
func New(st *store.Store, now func() time.Time, policy Policy) *Service {
	if policy == "" {
		policy = AllowAny
	}
	return &Service{st: st, now: now, policy: policy, touched: map[string]time.Time{}}
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

// throttle reports whether key may be written now, and records it.
func (s *Service) throttle(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if t, ok := s.touched[key]; ok && now.Sub(t) < touchInterval {
		return false
	}
	if len(s.touched) > 100_000 { // bound the map; a reset only costs a few writes
		s.touched = map[string]time.Time{}
	}
	s.touched[key] = now
	return true
}
