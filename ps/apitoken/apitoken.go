// Package apitoken is automation's credential for the PS's JSON API:
// administrator-made bearer tokens, shown once, stored only as a SHA-256
// hash, scoped, expiring, revocable, with the time they were last used
// (issue 14). A token acts as the person it was made for, within its
// scope; it never grants more than that person has.
package apitoken

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aauth-ps/aauth-ps/ps/dberr"
)

// Scope is what a token may do.
type Scope string

// The scopes, each including the ones before it.
const (
	// ScopeRead: safe (GET) requests of mission control.
	ScopeRead Scope = "read"
	// ScopeMissionControl: also changes to missions (revoke, terminate).
	ScopeMissionControl Scope = "mission-control"
	// ScopeAdmin: also what an administrator may do (every person's
	// missions), when the token's person is an administrator.
	ScopeAdmin Scope = "admin"
)

// ParseScope accepts one of the three scopes.
func ParseScope(s string) (Scope, error) {
	switch sc := Scope(s); sc {
	case ScopeRead, ScopeMissionControl, ScopeAdmin:
		return sc, nil
	}
	return "", fmt.Errorf("%w: %q (want read, mission-control or admin)", ErrBadScope, s)
}

// AllowsChanges: the scope admits unsafe methods.
func (s Scope) AllowsChanges() bool { return s == ScopeMissionControl || s == ScopeAdmin }

// AllowsAdmin: the scope carries its person's administrator rights.
func (s Scope) AllowsAdmin() bool { return s == ScopeAdmin }

// Limits.
const (
	// Prefix marks a secret as this PS's API token (secret scanners can
	// find leaked ones).
	Prefix = "aaps_"
	// DefaultLifetime and MaxLifetime bound a token's life: every token
	// expires.
	DefaultLifetime = 90 * 24 * time.Hour
	MaxLifetime     = 366 * 24 * time.Hour
	// MaxLive bounds the table: live (unexpired, unrevoked) tokens at once.
	MaxLive = 200
	// MaxNameLength bounds the operator's label.
	MaxNameLength = 100
	// touchEvery spares a write per request: last-used is kept to a minute.
	touchEvery = time.Minute
)

// Errors.
var (
	// ErrInvalid: unknown, malformed, revoked or expired — one answer for
	// all, so a caller learns nothing about which.
	ErrInvalid = errors.New("api token: invalid")
	// ErrNotFound: no token with that id (revoke).
	ErrNotFound = errors.New("api token: not found")
	// ErrBadScope, ErrBadLifetime, ErrBadName: refused creation input.
	ErrBadScope    = errors.New("api token: unknown scope")
	ErrBadLifetime = errors.New("api token: lifetime out of range")
	ErrBadName     = errors.New("api token: name")
	// ErrTooMany: MaxLive live tokens exist; revoke one first.
	ErrTooMany = errors.New("api token: too many live tokens")
)

// Token is what the PS knows about a token (never its secret).
type Token struct {
	ID         string
	Name       string
	PersonID   string
	Scope      Scope
	CreatedAt  time.Time
	ExpiresAt  time.Time
	RevokedAt  *time.Time
	LastUsedAt *time.Time
}

// Live reports whether the token is usable at now.
func (t *Token) Live(now time.Time) bool { return t.RevokedAt == nil && now.Before(t.ExpiresAt) }

// Record is a token row: the token and its secret's hash.
type Record struct {
	Token
	Hash string
}

// Store is the storage the service needs (ps/store implements it).
type Store interface {
	InsertAPIToken(ctx context.Context, r Record) error
	// APITokenByHash returns the token whose secret hashes to hash, or
	// dberr.ErrNotFound.
	APITokenByHash(ctx context.Context, hash string) (*Token, error)
	// APITokens lists tokens, newest first, at most limit.
	APITokens(ctx context.Context, limit int) ([]Token, error)
	// RevokeAPIToken sets revoked_at once; false when no unrevoked token
	// has that id.
	RevokeAPIToken(ctx context.Context, id string, at time.Time) (bool, error)
	TouchAPIToken(ctx context.Context, id string, at time.Time) error
	CountLiveAPITokens(ctx context.Context, now time.Time) (int64, error)
}

// Service creates, checks and revokes API tokens.
type Service struct {
	st  Store
	now func() time.Time
}

// New returns the service; now defaults to time.Now.
func New(st Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, now: now}
}

// WithStore is the service on st (a transaction), so that a change joins
// the caller's transaction (its audit row commits with it).
func (s *Service) WithStore(st Store) *Service {
	c := *s
	c.st = st
	return &c
}

// Hash is how a secret is stored and looked up.
func Hash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// Create makes a token for personID and returns its secret, which exists
// only in this answer. lifetime 0 is DefaultLifetime.
func (s *Service) Create(ctx context.Context, personID, name string, scope Scope, lifetime time.Duration) (string, *Token, error) {
	if _, err := ParseScope(string(scope)); err != nil {
		return "", nil, err
	}
	if lifetime == 0 {
		lifetime = DefaultLifetime
	}
	if lifetime < time.Minute || lifetime > MaxLifetime {
		return "", nil, fmt.Errorf("%w: %s (1m to %s)", ErrBadLifetime, lifetime, MaxLifetime)
	}
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > MaxNameLength || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", nil, fmt.Errorf("%w: 1 to %d printable characters", ErrBadName, MaxNameLength)
	}
	now := s.now().Truncate(time.Second).UTC()
	if n, err := s.st.CountLiveAPITokens(ctx, now); err != nil {
		return "", nil, err
	} else if n >= MaxLive {
		return "", nil, ErrTooMany
	}
	secret := Prefix + random(32)
	t := Token{ID: random(12), Name: name, PersonID: personID, Scope: scope, CreatedAt: now, ExpiresAt: now.Add(lifetime)}
	if err := s.st.InsertAPIToken(ctx, Record{Token: t, Hash: Hash(secret)}); err != nil {
		return "", nil, err
	}
	return secret, &t, nil
}

// Authenticate returns the live token whose secret this is and records
// its use; anything else is ErrInvalid.
func (s *Service) Authenticate(ctx context.Context, secret string) (*Token, error) {
	if !strings.HasPrefix(secret, Prefix) || len(secret) > 200 {
		return nil, ErrInvalid
	}
	t, err := s.st.APITokenByHash(ctx, Hash(secret))
	if errors.Is(err, dberr.ErrNotFound) {
		return nil, ErrInvalid
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	if !t.Live(now) {
		return nil, ErrInvalid
	}
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= touchEvery {
		if err := s.st.TouchAPIToken(ctx, t.ID, now); err != nil {
			return nil, err
		}
		at := now.Truncate(time.Second).UTC()
		t.LastUsedAt = &at
	}
	return t, nil
}

// List returns the tokens, newest first.
func (s *Service) List(ctx context.Context) ([]Token, error) { return s.st.APITokens(ctx, 1000) }

// Revoke makes a token unusable at once.
func (s *Service) Revoke(ctx context.Context, id string) error {
	ok, err := s.st.RevokeAPIToken(ctx, id, s.now())
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotFound
	}
	return nil
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}
