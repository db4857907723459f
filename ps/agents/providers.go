package agents

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/httpsig"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

type providerRow struct {
	Issuer      string `gorm:"column:issuer;primaryKey"`
	Status      string `gorm:"column:status"`
	Name        string `gorm:"column:name"`
	Description string `gorm:"column:description"`
	LogoURI     string `gorm:"column:logo_uri"`
	FirstSeenAt int64  `gorm:"column:first_seen_at"`
	LastSeenAt  int64  `gorm:"column:last_seen_at"`
	DecidedBy   *string
	DecidedAt   *int64
}

func (providerRow) TableName() string { return "agent_providers" }

func (r providerRow) provider() Provider {
	return Provider{Issuer: r.Issuer, Status: ProviderStatus(r.Status), Name: r.Name, Description: r.Description,
		LogoURI: r.LogoURI, FirstSeen: time.Unix(r.FirstSeenAt, 0).UTC(), LastSeen: time.Unix(r.LastSeenAt, 0).UTC()}
}

// Admit applies the operator's policy to a provider before anything is
// fetched from it: blocked providers are always refused; under allow-list
// only allowed ones pass.
func (s *Service) Admit(ctx context.Context, issuer string) error {
	var r providerRow
	err := s.st.DB().WithContext(ctx).Where("issuer = ?", issuer).Limit(1).Find(&r).Error
	if err != nil {
		return store.Wrap("admit provider", err)
	}
	known := r.Issuer != ""
	switch {
	case known && ProviderStatus(r.Status) == ProviderBlocked:
		return fmt.Errorf("%w: %w", ErrProviderNotTrusted, httpsig.ErrProviderRefused)
	case s.policy == AllowList && (!known || ProviderStatus(r.Status) != ProviderAllowed):
		return fmt.Errorf("%w: %w", ErrProviderNotTrusted, httpsig.ErrProviderRefused)
	}
	return nil
}

// Seen records that an agent of issuer verified, with the provider's
// display values. Writes are throttled to one a minute per provider.
func (s *Service) Seen(ctx context.Context, issuer string, d Display) error {
	if !s.throttle("p:" + issuer) {
		return nil
	}
	now := s.now().Unix()
	err := s.st.DB().WithContext(ctx).Exec(
		`INSERT INTO agent_providers (issuer, status, name, description, logo_uri, first_seen_at, last_seen_at)
		 VALUES (?, 'seen', ?, ?, ?, ?, ?)
		 ON CONFLICT (issuer) DO UPDATE SET name = excluded.name, description = excluded.description,
		   logo_uri = excluded.logo_uri, last_seen_at = excluded.last_seen_at`,
		issuer, d.Name, d.Description, d.LogoURI, now, now).Error
	return store.Wrap("record provider", err)
}

// Provider returns one provider.
func (s *Service) Provider(ctx context.Context, issuer string) (*Provider, error) {
	var r providerRow
	if err := s.st.DB().WithContext(ctx).Where("issuer = ?", issuer).Limit(1).Find(&r).Error; err != nil {
		return nil, store.Wrap("read provider", err)
	}
	if r.Issuer == "" {
		return nil, ErrNotFound
	}
	p := r.provider()
	return &p, nil
}

// Providers lists every known provider, most recently seen first.
func (s *Service) Providers(ctx context.Context) ([]Provider, error) {
	var rows []providerRow
	if err := s.st.DB().WithContext(ctx).Order("last_seen_at DESC, issuer").Find(&rows).Error; err != nil {
		return nil, store.Wrap("list providers", err)
	}
	out := make([]Provider, len(rows))
	for i, r := range rows {
		out[i] = r.provider()
	}
	return out, nil
}

// SetProviderStatus records an operator's decision; the provider need not
// have been seen yet (pre-allowing an issuer under allow-list).
func (s *Service) SetProviderStatus(ctx context.Context, issuer string, status ProviderStatus, by string) error {
	switch status {
	case ProviderSeen, ProviderAllowed, ProviderBlocked:
	default:
		return errors.New("agents: unknown provider status")
	}
	now := s.now().Unix()
	err := s.st.DB().WithContext(ctx).Exec(
		`INSERT INTO agent_providers (issuer, status, first_seen_at, last_seen_at, decided_by, decided_at)
		 VALUES (?, ?, ?, ?, ?, ?)
		 ON CONFLICT (issuer) DO UPDATE SET status = excluded.status, decided_by = excluded.decided_by,
		   decided_at = excluded.decided_at`,
		issuer, string(status), now, now, by, now).Error
	return store.Wrap("decide provider", err)
}

// BlockProvider lets a person refuse agents of a provider for themselves.
func (s *Service) BlockProvider(ctx context.Context, personID, issuer string) error {
	err := s.st.DB().WithContext(ctx).Exec(
		`INSERT INTO person_provider_blocks (person_id, issuer, created_at) VALUES (?, ?, ?)
		 ON CONFLICT (person_id, issuer) DO NOTHING`, personID, issuer, s.now().Unix()).Error
	return store.Wrap("block provider", err)
}

// UnblockProvider removes a person's block.
func (s *Service) UnblockProvider(ctx context.Context, personID, issuer string) error {
	err := s.st.DB().WithContext(ctx).Exec(
		`DELETE FROM person_provider_blocks WHERE person_id = ? AND issuer = ?`, personID, issuer).Error
	return store.Wrap("unblock provider", err)
}

// BlockedProviders lists a person's blocked providers.
func (s *Service) BlockedProviders(ctx context.Context, personID string) ([]string, error) {
	var out []string
	err := s.st.DB().WithContext(ctx).Raw(
		`SELECT issuer FROM person_provider_blocks WHERE person_id = ? ORDER BY issuer`, personID).Scan(&out).Error
	return out, store.Wrap("list blocked providers", err)
}

// BlockedBy reports whether personID blocked issuer.
func (s *Service) BlockedBy(ctx context.Context, personID, issuer string) (bool, error) {
	var n int64
	err := s.st.DB().WithContext(ctx).Raw(
		`SELECT COUNT(*) FROM person_provider_blocks WHERE person_id = ? AND issuer = ?`, personID, issuer).Scan(&n).Error
	return n > 0, store.Wrap("check provider block", err)
}
