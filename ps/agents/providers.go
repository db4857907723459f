package agents

import (
	"context"
	"errors"
	"fmt"

	"github.com/aauth-ps/aauth-ps/ps/httpsig"
)

// Admit applies the operator's policy to a provider before anything is
// fetched from it: blocked providers are always refused; under allow-list
// only allowed ones pass.
// The provider's status is cached for at most policyTTL (see policyCache).
func (s *Service) Admit(ctx context.Context, issuer string) error {
	status, ok := s.policyCache.get(issuer, s.now())
	if !ok {
		gen := s.policyCache.generation()
		p, err := s.st.AgentProvider(ctx, issuer)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		status = "" // unknown provider
		if err == nil {
			status = p.Status
		}
		s.policyCache.put(issuer, status, gen, s.now())
	}
	switch {
	case status == ProviderBlocked:
		return fmt.Errorf("%w: %w", ErrProviderNotTrusted, httpsig.ErrProviderRefused)
	case s.policy == AllowList && status != ProviderAllowed:
		return fmt.Errorf("%w: %w", ErrProviderNotTrusted, httpsig.ErrProviderRefused)
	}
	return nil
}

// Seen records that an agent of issuer verified, with the provider's
// display values. Writes are throttled to one a minute per provider.
func (s *Service) Seen(ctx context.Context, issuer string, d Display) error {
	if !s.throttle.due("p:"+issuer, s.now()) {
		return nil
	}
	return s.st.SawAgentProvider(ctx, issuer, d, s.now())
}

// Provider returns one provider.
func (s *Service) Provider(ctx context.Context, issuer string) (*Provider, error) {
	return s.st.AgentProvider(ctx, issuer)
}

// Providers lists every known provider, most recently seen first.
func (s *Service) Providers(ctx context.Context) ([]Provider, error) {
	return s.st.AgentProviders(ctx)
}

// SetProviderStatus records an operator's decision; the provider need not
// have been seen yet (pre-allowing an issuer under allow-list).
func (s *Service) SetProviderStatus(ctx context.Context, issuer string, status ProviderStatus, by string) error {
	switch status {
	case ProviderSeen, ProviderAllowed, ProviderBlocked:
	default:
		return errors.New("agents: unknown provider status")
	}
	err := s.st.SetAgentProviderStatus(ctx, issuer, status, by, s.now())
	s.policyCache.forget() // this process applies it at once, whatever happened
	// In a caller's transaction an Admit before the commit could cache the
	// old status again: forget once more when the decision is visible.
	s.st.AfterCommit(s.policyCache.forget)
	return err
}

// BlockProvider lets a person refuse agents of a provider for themselves.
func (s *Service) BlockProvider(ctx context.Context, personID, issuer string) error {
	return s.st.BlockProviderFor(ctx, personID, issuer, s.now())
}

// UnblockProvider removes a person's block.
func (s *Service) UnblockProvider(ctx context.Context, personID, issuer string) error {
	return s.st.UnblockProviderFor(ctx, personID, issuer)
}

// BlockedProviders lists a person's blocked providers.
func (s *Service) BlockedProviders(ctx context.Context, personID string) ([]string, error) {
	return s.st.ProvidersBlockedBy(ctx, personID)
}

// BlockedBy reports whether personID blocked issuer.
func (s *Service) BlockedBy(ctx context.Context, personID, issuer string) (bool, error) {
	return s.st.ProviderBlockedBy(ctx, personID, issuer)
}
