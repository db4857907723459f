package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

// Remembered R3 grants of the tokens aggregate (r3_grants): the person's
// choice on one R3 document for one agent at one resource.

type r3GrantRow struct {
	AgentIss   string `gorm:"column:agent_iss"`
	AgentSub   string `gorm:"column:agent_sub"`
	Resource   string `gorm:"column:resource"`
	R3S256     string `gorm:"column:r3_s256"`
	R3URI      string `gorm:"column:r3_uri"`
	Vocabulary string `gorm:"column:vocabulary"`
	Summary    string `gorm:"column:summary"`
	GrantedOps string `gorm:"column:granted_ops"`
	PerCallOps string `gorm:"column:per_call_ops"`
	GrantedAt  int64  `gorm:"column:granted_at"`
	LastUsed   *int64 `gorm:"column:last_used_at"`
}

func (r r3GrantRow) remembered() *tokens.R3Remembered {
	return &tokens.R3Remembered{URI: r.R3URI, S256: r.R3S256, Vocabulary: r.Vocabulary, Summary: r.Summary,
		Granted: json.RawMessage(r.GrantedOps), PerCall: json.RawMessage(r.PerCallOps)}
}

func (r r3GrantRow) grant() tokens.Grant {
	g := tokens.Grant{GrantKey: tokens.GrantKey{Kind: tokens.GrantR3, AgentIss: r.AgentIss, AgentSub: r.AgentSub,
		Resource: r.Resource, R3S256: r.R3S256}, GrantedAt: time.Unix(r.GrantedAt, 0).UTC(), R3: r.remembered()}
	if r.LastUsed != nil {
		g.LastUsed = time.Unix(*r.LastUsed, 0).UTC()
	}
	return g
}

const r3GrantColumns = `agent_iss, agent_sub, resource, r3_s256, r3_uri, vocabulary, summary, granted_ops, per_call_ops, granted_at, last_used_at`

// R3Grant reads the person's remembered choice on one R3 document;
// ErrNotFound when there is none.
func (s *Store) R3Grant(ctx context.Context, personID string, key tokens.GrantKey) (*tokens.R3Remembered, error) {
	var rows []r3GrantRow
	if err := s.stmt(ctx).Raw(`SELECT `+r3GrantColumns+` FROM r3_grants
		WHERE person_id = ? AND agent_iss = ? AND agent_sub = ? AND resource = ? AND r3_s256 = ?`,
		personID, key.AgentIss, key.AgentSub, key.Resource, key.R3S256).Scan(&rows).Error; err != nil {
		return nil, wrap("read R3 grant", err)
	}
	if len(rows) == 0 {
		return nil, ErrNotFound
	}
	return rows[0].remembered(), nil
}

// GrantR3 stores the person's choice on one R3 document, replacing an
// earlier choice on it, and keeps at most tokens.MaxR3GrantsPerResource
// per agent and resource (the oldest go).
func (s *Store) GrantR3(ctx context.Context, personID string, key tokens.GrantKey, g tokens.R3Remembered, at time.Time) error {
	db := s.db.WithContext(ctx)
	granted, perCall := string(g.Granted), string(g.PerCall)
	if granted == "" || granted == "null" {
		granted = "[]"
	}
	if perCall == "" || perCall == "null" {
		perCall = "[]"
	}
	err := db.Exec(`INSERT INTO r3_grants
		(person_id, agent_iss, agent_sub, resource, r3_s256, r3_uri, vocabulary, summary, granted_ops, per_call_ops, granted_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (person_id, agent_iss, agent_sub, resource, r3_s256) DO UPDATE SET
		r3_uri = excluded.r3_uri, vocabulary = excluded.vocabulary, summary = excluded.summary,
		granted_ops = excluded.granted_ops, per_call_ops = excluded.per_call_ops, granted_at = excluded.granted_at`,
		personID, key.AgentIss, key.AgentSub, key.Resource, key.R3S256, g.URI, g.Vocabulary, g.Summary, granted, perCall, at.Unix()).Error
	if err != nil {
		return wrap("grant R3", err)
	}
	return wrap("bound R3 grants", db.Exec(`DELETE FROM r3_grants
		WHERE person_id = ? AND agent_iss = ? AND agent_sub = ? AND resource = ? AND r3_s256 NOT IN (
			SELECT r3_s256 FROM r3_grants WHERE person_id = ? AND agent_iss = ? AND agent_sub = ? AND resource = ?
			ORDER BY granted_at DESC, r3_s256 LIMIT ?)`,
		personID, key.AgentIss, key.AgentSub, key.Resource,
		personID, key.AgentIss, key.AgentSub, key.Resource, tokens.MaxR3GrantsPerResource).Error)
}

// r3Grants lists the person's remembered R3 grants.
func (s *Store) r3Grants(ctx context.Context, personID string) ([]tokens.Grant, error) {
	var rows []r3GrantRow
	if err := s.stmt(ctx).Raw(`SELECT `+r3GrantColumns+` FROM r3_grants WHERE person_id = ?`,
		personID).Scan(&rows).Error; err != nil {
		return nil, wrap("list R3 grants", err)
	}
	out := make([]tokens.Grant, len(rows))
	for i, r := range rows {
		out[i] = r.grant()
	}
	return out, nil
}
