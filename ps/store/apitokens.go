package store

import (
	"context"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/apitoken"
)

// The API tokens aggregate (apitoken.Store, migration 00016).

type apiTokenRow struct {
	ID         string `gorm:"primaryKey"`
	TokenHash  string
	Name       string
	PersonID   string
	Scope      string
	CreatedAt  int64 `gorm:"autoCreateTime:false"`
	ExpiresAt  int64
	RevokedAt  *int64
	LastUsedAt *int64
}

func (apiTokenRow) TableName() string { return "api_tokens" }

func (r apiTokenRow) token() apitoken.Token {
	return apitoken.Token{ID: r.ID, Name: r.Name, PersonID: r.PersonID, Scope: apitoken.Scope(r.Scope),
		CreatedAt: unixTime(r.CreatedAt), ExpiresAt: unixTime(r.ExpiresAt), RevokedAt: unixTimePtr(r.RevokedAt), LastUsedAt: unixTimePtr(r.LastUsedAt)}
}

// InsertAPIToken stores a new token (its hash, never its secret).
func (s *Store) InsertAPIToken(ctx context.Context, r apitoken.Record) error {
	row := apiTokenRow{ID: r.ID, TokenHash: r.Hash, Name: r.Name, PersonID: r.PersonID, Scope: string(r.Scope),
		CreatedAt: r.CreatedAt.Unix(), ExpiresAt: r.ExpiresAt.Unix()}
	return wrap("create api token", s.stmt(ctx).Create(&row).Error)
}

// APITokenByHash returns a token by its secret's hash, or ErrNotFound.
func (s *Store) APITokenByHash(ctx context.Context, hash string) (*apitoken.Token, error) {
	var r apiTokenRow
	if err := s.stmt(ctx).Where("token_hash = ?", hash).Take(&r).Error; err != nil {
		return nil, wrap("get api token", err)
	}
	t := r.token()
	return &t, nil
}

// APITokens lists tokens, newest first, at most limit.
func (s *Store) APITokens(ctx context.Context, limit int) ([]apitoken.Token, error) {
	var rows []apiTokenRow
	if err := s.stmt(ctx).Order("created_at DESC, id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, wrap("list api tokens", err)
	}
	out := make([]apitoken.Token, len(rows))
	for i, r := range rows {
		out[i] = r.token()
	}
	return out, nil
}

// RevokeAPIToken revokes an unrevoked token; false when there is none.
func (s *Store) RevokeAPIToken(ctx context.Context, id string, at time.Time) (bool, error) {
	res := s.stmt(ctx).Exec(`UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, at.Unix(), id)
	return res.RowsAffected == 1, wrap("revoke api token", res.Error)
}

// TouchAPIToken records a use.
func (s *Store) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	return wrap("touch api token", s.stmt(ctx).Exec(`UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, at.Unix(), id).Error)
}

// CountLiveAPITokens counts the unrevoked tokens not expired at now.
func (s *Store) CountLiveAPITokens(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.stmt(ctx).Model(&apiTokenRow{}).Where("revoked_at IS NULL AND expires_at > ?", now.Unix()).Count(&n).Error
	return n, wrap("count api tokens", err)
}

var _ apitoken.Store = (*Store)(nil)
