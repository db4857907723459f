package tokens

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/jose"
	"github.com/aauth-ps/aauth-ps/ps/keys"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// Defaults.
const (
	// MaxPersonTokenLifetime is the draft's ceiling (P§person-token-structure).
	MaxPersonTokenLifetime = time.Hour
	// ClockSkew is how long records outlive their token.
	ClockSkew = 300 * time.Second
	// minLifetime: issuing a token with less left than this is pointless.
	minLifetime = 5 * time.Second
)

// ErrTooShort means the caps leave the token less than a few seconds.
var ErrTooShort = errors.New("tokens: the token would expire at once")

// Options configure the issuer.
type Options struct {
	Issuer string
	Keys   *keys.Manager
	Store  *store.Store
	Now    func() time.Time
	// Lifetime of person tokens (≤ 1 h; default 1 h).
	Lifetime time.Duration
}

// Service issues person tokens and keeps their records.
type Service struct{ o Options }

// New builds a Service.
func New(o Options) (*Service, error) {
	if o.Issuer == "" || o.Keys == nil || o.Store == nil {
		return nil, errors.New("tokens: Issuer, Keys and Store are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Lifetime <= 0 || o.Lifetime > MaxPersonTokenLifetime {
		o.Lifetime = MaxPersonTokenLifetime
	}
	return &Service{o: o}, nil
}

// PersonTokenRequest is everything a person token is made of.
type PersonTokenRequest struct {
	PersonID string
	Tenant   string
	Resource string
	// Agent identity and the key bound in cnf.
	AgentIss, AgentSub, AgentTokenJTI string
	AgentKey                          *jose.PublicKey
	// Caps on exp: the agent token's exp (required), and optionally the
	// mission's expires_at and an upstream token's exp.
	AgentTokenExp time.Time
	MissionS256   string
	MissionExp    *time.Time
	UpstreamExp   *time.Time
}

// Issued is a signed person token.
type Issued struct {
	Token string
	JTI   string
	Sub   string
	Exp   time.Time
}

// IssuePersonToken signs a person token and records it.
func (s *Service) IssuePersonToken(ctx context.Context, r PersonTokenRequest) (*Issued, error) {
	now := s.o.Now()
	exp := now.Add(s.o.Lifetime)
	for _, c := range []*time.Time{&r.AgentTokenExp, r.MissionExp, r.UpstreamExp} {
		if c != nil && !c.IsZero() && c.Before(exp) {
			exp = *c
		}
	}
	if exp.Sub(now) < minLifetime {
		return nil, ErrTooShort
	}
	sub, err := s.DirectedSub(ctx, r.PersonID, r.Resource)
	if err != nil {
		return nil, err
	}
	key, err := s.o.Keys.Active(ctx)
	if err != nil {
		return nil, err
	}
	cnf, err := jose.PublicJWK(r.AgentKey.Key, "")
	if err != nil {
		return nil, err
	}
	jti := randomID()
	claims := map[string]any{
		"iss": s.o.Issuer, "dwk": aauth.DWKPerson, "aud": r.Resource, "sub": sub,
		"cnf": map[string]any{"jwk": cnf}, "jti": jti, "iat": now.Unix(), "exp": exp.Unix(),
	}
	if r.MissionS256 != "" {
		claims["mission_s256"] = r.MissionS256
	}
	if r.Tenant != "" {
		claims["tenant"] = r.Tenant
	}
	tok, err := jose.SignJWT(key.Alg, key.KID, aauth.TypPersonToken, key.Signer, claims)
	if err != nil {
		return nil, err
	}
	rec := recordRow{JTI: jti, Aud: r.Resource, Sub: sub, PersonID: r.PersonID, AgentIss: r.AgentIss, AgentSub: r.AgentSub,
		AgentTokenJTI: r.AgentTokenJTI, CnfThumbprint: r.AgentKey.Thumbprint, IssuedAt: now.Unix(), Exp: exp.Unix()}
	if r.MissionS256 != "" {
		rec.MissionS256 = &r.MissionS256
	}
	if r.Tenant != "" {
		rec.Tenant = &r.Tenant
	}
	if err := s.o.Store.DB().WithContext(ctx).Create(&rec).Error; err != nil {
		return nil, store.Wrap("record person token", err)
	}
	return &Issued{Token: tok, JTI: jti, Sub: sub, Exp: exp}, nil
}

type recordRow struct {
	JTI           string  `gorm:"column:jti;primaryKey"`
	Aud           string  `gorm:"column:aud"`
	Sub           string  `gorm:"column:sub"`
	PersonID      string  `gorm:"column:person_id"`
	AgentIss      string  `gorm:"column:agent_iss"`
	AgentSub      string  `gorm:"column:agent_sub"`
	AgentTokenJTI string  `gorm:"column:agent_token_jti"`
	CnfThumbprint string  `gorm:"column:cnf_thumbprint"`
	MissionS256   *string `gorm:"column:mission_s256"`
	Tenant        *string `gorm:"column:tenant"`
	PresentedTo   *string `gorm:"column:presented_to"`
	IssuedAt      int64   `gorm:"column:issued_at"`
	Exp           int64   `gorm:"column:exp"`
}

func (recordRow) TableName() string { return "person_token_records" }

// Record is a person-token issuance record.
type Record struct {
	JTI, Aud, Sub, PersonID, AgentIss, AgentSub, AgentTokenJTI, CnfThumbprint, MissionS256, Tenant string
	IssuedAt, Exp                                                                                  time.Time
}

// Records lists the issuance records of a mission (or all when s256 is "").
func (s *Service) Records(ctx context.Context, missionS256 string) ([]Record, error) {
	var rows []recordRow
	q := s.o.Store.DB().WithContext(ctx).Order("issued_at, jti")
	if missionS256 != "" {
		q = q.Where("mission_s256 = ?", missionS256)
	}
	if err := q.Find(&rows).Error; err != nil {
		return nil, store.Wrap("list person token records", err)
	}
	out := make([]Record, len(rows))
	for i, r := range rows {
		out[i] = Record{JTI: r.JTI, Aud: r.Aud, Sub: r.Sub, PersonID: r.PersonID, AgentIss: r.AgentIss, AgentSub: r.AgentSub,
			AgentTokenJTI: r.AgentTokenJTI, CnfThumbprint: r.CnfThumbprint, IssuedAt: time.Unix(r.IssuedAt, 0).UTC(),
			Exp: time.Unix(r.Exp, 0).UTC()}
		if r.MissionS256 != nil {
			out[i].MissionS256 = *r.MissionS256
		}
		if r.Tenant != nil {
			out[i].Tenant = *r.Tenant
		}
	}
	return out, nil
}

// DirectedSub returns the person's identifier at resource, creating it on
// first use: random, so it reveals nothing and cannot be derived (PS-080),
// and stored, so it is the same in every token for that resource (PS-077).
func (s *Service) DirectedSub(ctx context.Context, personID, resource string) (string, error) {
	db := s.o.Store.DB().WithContext(ctx)
	var sub string
	err := db.Raw(`SELECT sub FROM pairwise_subjects WHERE person_id = ? AND resource = ?`, personID, resource).Scan(&sub).Error
	if err != nil {
		return "", store.Wrap("read directed sub", err)
	}
	if sub != "" {
		return sub, nil
	}
	err = db.Exec(`INSERT INTO pairwise_subjects (person_id, resource, sub, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (person_id, resource) DO NOTHING`, personID, resource, randomID(), s.o.Now().Unix()).Error
	if err != nil {
		return "", store.Wrap("create directed sub", err)
	}
	err = db.Raw(`SELECT sub FROM pairwise_subjects WHERE person_id = ? AND resource = ?`, personID, resource).Scan(&sub).Error
	if err != nil || sub == "" {
		return "", store.Wrap("read directed sub", fmt.Errorf("directed sub missing after insert: %w", err))
	}
	return sub, nil
}

// PersonBySub resolves the person behind a directed sub at a resource (call
// chaining); "" when this PS never minted it.
func (s *Service) PersonBySub(ctx context.Context, resource, sub string) (string, error) {
	var id string
	err := s.o.Store.DB().WithContext(ctx).Raw(
		`SELECT person_id FROM pairwise_subjects WHERE resource = ? AND sub = ?`, resource, sub).Scan(&id).Error
	return id, store.Wrap("resolve directed sub", err)
}

// Purge deletes issuance records past exp + clock skew.
func (s *Service) Purge(ctx context.Context) (int64, error) {
	res := s.o.Store.DB().WithContext(ctx).Exec(`DELETE FROM person_token_records WHERE exp < ?`,
		s.o.Now().Add(-ClockSkew).Unix())
	return res.RowsAffected, store.Wrap("purge person token records", res.Error)
}

func randomID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
