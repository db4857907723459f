package store

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/tokens"

	"gorm.io/gorm"
)

// The standing grants of the tokens aggregate as the person manages them:
// resource_consents (person tokens) and scope_grants (auth tokens).

type grantRow struct {
	AgentIss  string `gorm:"column:agent_iss"`
	AgentSub  string `gorm:"column:agent_sub"`
	Resource  string `gorm:"column:resource"`
	Scope     string `gorm:"column:scope"`
	GrantedAt int64  `gorm:"column:granted_at"`
	LastUsed  *int64 `gorm:"column:last_used_at"`
}

// Grants lists the person's consents and scope grants, the scopes of one
// agent at one resource folded into one grant (granted when the first
// was), newest first.
func (s *Store) Grants(ctx context.Context, personID string) ([]tokens.Grant, error) {
	db := s.db.WithContext(ctx)
	var consents, scopes []grantRow
	if err := db.Raw(`SELECT agent_iss, agent_sub, resource, granted_at, last_used_at FROM resource_consents
		WHERE person_id = ?`, personID).Scan(&consents).Error; err != nil {
		return nil, wrap("list consents", err)
	}
	if err := db.Raw(`SELECT agent_iss, agent_sub, resource, scope, granted_at, last_used_at FROM scope_grants
		WHERE person_id = ? ORDER BY agent_iss, agent_sub, resource, scope`, personID).Scan(&scopes).Error; err != nil {
		return nil, wrap("list scope grants", err)
	}
	out := make([]tokens.Grant, 0, len(consents)+len(scopes))
	for _, r := range consents {
		out = append(out, tokens.Grant{GrantKey: r.key(tokens.GrantConsent), GrantedAt: time.Unix(r.GrantedAt, 0).UTC(), LastUsed: r.lastUsed()})
	}
	for _, r := range scopes {
		at := time.Unix(r.GrantedAt, 0).UTC()
		if last := len(out) - 1; last >= len(consents) && out[last].GrantKey == r.key(tokens.GrantScopes) {
			out[last].Scopes = append(out[last].Scopes, r.Scope)
			if at.Before(out[last].GrantedAt) {
				out[last].GrantedAt = at
			}
			if used := r.lastUsed(); used.After(out[last].LastUsed) {
				out[last].LastUsed = used
			}
			continue
		}
		out = append(out, tokens.Grant{GrantKey: r.key(tokens.GrantScopes), Scopes: []string{r.Scope}, GrantedAt: at, LastUsed: r.lastUsed()})
	}
	r3, err := s.r3Grants(ctx, personID)
	if err != nil {
		return nil, err
	}
	out = append(out, r3...)
	slices.SortStableFunc(out, func(a, b tokens.Grant) int {
		return cmp.Or(b.GrantedAt.Compare(a.GrantedAt), cmp.Compare(a.Resource, b.Resource),
			cmp.Compare(a.AgentSub, b.AgentSub), cmp.Compare(a.AgentIss, b.AgentIss), cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.R3S256, b.R3S256))
	})
	return out, nil
}

func (r grantRow) lastUsed() time.Time {
	if r.LastUsed == nil {
		return time.Time{}
	}
	return time.Unix(*r.LastUsed, 0).UTC()
}

func (r grantRow) key(kind tokens.GrantKind) tokens.GrantKey {
	return tokens.GrantKey{Kind: kind, AgentIss: r.AgentIss, AgentSub: r.AgentSub, Resource: r.Resource}
}

// RemoveGrant deletes one of the person's grants (all the scopes of a scope
// grant); ErrNotFound when the person has no such grant.
func (s *Store) RemoveGrant(ctx context.Context, personID string, key tokens.GrantKey) error {
	table := "resource_consents"
	if key.Kind == tokens.GrantR3 {
		res := s.stmt(ctx).Exec(`DELETE FROM r3_grants
			WHERE person_id = ? AND agent_iss = ? AND agent_sub = ? AND resource = ? AND r3_s256 = ?`,
			personID, key.AgentIss, key.AgentSub, key.Resource, key.R3S256)
		if res.Error != nil {
			return wrap("remove R3 grant", res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	}
	if key.Kind == tokens.GrantScopes {
		table = "scope_grants"
	} else if key.Kind != tokens.GrantConsent {
		return ErrNotFound
	}
	res := s.stmt(ctx).Exec(`DELETE FROM `+table+`
		WHERE person_id = ? AND agent_iss = ? AND agent_sub = ? AND resource = ?`,
		personID, key.AgentIss, key.AgentSub, key.Resource)
	if res.Error != nil {
		return wrap("remove grant", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// TouchGrant sets the last use of the person's grant to at (every scope
// row of a scope grant): one UPDATE, in the issuing transaction. No such
// grant: nothing changes. A last use less than grantTouchInterval before
// at is left as it is: the use is shown to the minute, and rewriting the
// row on every issuance cost a row version and its WAL on PostgreSQL and
// a page write on SQLite per request (issue 12).
func (s *Store) TouchGrant(ctx context.Context, personID string, key tokens.GrantKey, at time.Time) error {
	table := "resource_consents"
	switch key.Kind {
	case tokens.GrantConsent:
	case tokens.GrantScopes:
		table = "scope_grants"
	case tokens.GrantR3:
		return s.writeLater(ctx, "touch R3 grant", func(db *gorm.DB) *gorm.DB {
			return db.Exec(`UPDATE r3_grants SET last_used_at = ?
			WHERE person_id = ? AND agent_iss = ? AND agent_sub = ? AND resource = ? AND r3_s256 = ?
			AND (last_used_at IS NULL OR last_used_at <= ? OR last_used_at > ?)`,
				at.Unix(), personID, key.AgentIss, key.AgentSub, key.Resource, key.R3S256,
				at.Add(-grantTouchInterval).Unix(), at.Unix())
		})
	default:
		return nil
	}
	return s.writeLater(ctx, "touch grant", func(db *gorm.DB) *gorm.DB {
		return db.Exec(`UPDATE `+table+` SET last_used_at = ?
		WHERE person_id = ? AND agent_iss = ? AND agent_sub = ? AND resource = ?
		AND (last_used_at IS NULL OR last_used_at <= ? OR last_used_at > ?)`,
			at.Unix(), personID, key.AgentIss, key.AgentSub, key.Resource,
			at.Add(-grantTouchInterval).Unix(), at.Unix())
	})
}

// grantTouchInterval: see TouchGrant.
const grantTouchInterval = time.Minute
