package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

// The auth-token part of the tokens aggregate: auth-token issuance records
// and the scopes persons granted agents at resources (migration 00009).

type authTokenRow struct {
	JTI              string         `gorm:"column:jti;primaryKey"`
	Aud              string         `gorm:"column:aud"`
	Sub              string         `gorm:"column:sub"`
	PersonID         string         `gorm:"column:person_id"`
	AgentIss         string         `gorm:"column:agent_iss"`
	AgentSub         string         `gorm:"column:agent_sub"`
	AgentTokenJTI    string         `gorm:"column:agent_token_jti"`
	CnfThumbprint    string         `gorm:"column:cnf_thumbprint"`
	Scope            string         `gorm:"column:scope"`
	MissionS256      *string        `gorm:"column:mission_s256"`
	Tenant           *string        `gorm:"column:tenant"`
	ParentJTI        string         `gorm:"column:parent_jti"`
	ResourceTokenJTI string         `gorm:"column:resource_token_jti"`
	R3URI            *string        `gorm:"column:r3_uri"`
	R3S256           *string        `gorm:"column:r3_s256"`
	IssuedAt         int64          `gorm:"column:issued_at"`
	Exp              int64          `gorm:"column:exp"`
	Chain            lineageColumns `gorm:"embedded"`
}

func (authTokenRow) TableName() string { return "auth_token_records" }

func (r authTokenRow) record() tokens.AuthRecord {
	return tokens.AuthRecord{JTI: r.JTI, Aud: r.Aud, Sub: r.Sub, PersonID: r.PersonID, AgentIss: r.AgentIss, AgentSub: r.AgentSub,
		AgentTokenJTI: r.AgentTokenJTI, CnfThumbprint: r.CnfThumbprint, Scope: strings.Fields(r.Scope),
		MissionS256: emptyIfNull(r.MissionS256), Tenant: emptyIfNull(r.Tenant), ParentJTI: r.ParentJTI, ResourceTokenJTI: r.ResourceTokenJTI,
		R3URI: emptyIfNull(r.R3URI), R3S256: emptyIfNull(r.R3S256), IssuedAt: time.Unix(r.IssuedAt, 0).UTC(), Exp: time.Unix(r.Exp, 0).UTC(), Lineage: r.Chain.lineage()}
}

// RecordAuthToken stores an auth-token issuance record.
func (s *Store) RecordAuthToken(ctx context.Context, r tokens.AuthRecord) error {
	row := authTokenRow{JTI: r.JTI, Aud: r.Aud, Sub: r.Sub, PersonID: r.PersonID, AgentIss: r.AgentIss, AgentSub: r.AgentSub,
		AgentTokenJTI: r.AgentTokenJTI, CnfThumbprint: r.CnfThumbprint, Scope: strings.Join(r.Scope, " "),
		MissionS256: nullIfEmpty(r.MissionS256), Tenant: nullIfEmpty(r.Tenant), ParentJTI: r.ParentJTI,
		ResourceTokenJTI: r.ResourceTokenJTI, R3URI: nullIfEmpty(r.R3URI), R3S256: nullIfEmpty(r.R3S256),
		IssuedAt: r.IssuedAt.Unix(), Exp: r.Exp.Unix(), Chain: lineageRow(r.Lineage)}
	return s.writeLater(ctx, "record auth token", func(db *gorm.DB) *gorm.DB { return db.Create(&row) })
}

// AuthTokenRecord reads one auth-token record (ErrNotFound when none).
func (s *Store) AuthTokenRecord(ctx context.Context, jti string) (*tokens.AuthRecord, error) {
	return recordByJTI(ctx, s, jti, "read auth token record", authTokenRow.record)
}

// AuthTokenRecords lists the records of a mission (all when missionS256 is
// ""), oldest first.
func (s *Store) AuthTokenRecords(ctx context.Context, missionS256 string) ([]tokens.AuthRecord, error) {
	return issuanceRecords(ctx, s, missionS256, "list auth token records", authTokenRow.record)
}

// recordByJTI reads one issuance record of either token table.
func recordByJTI[Row, Rec any](ctx context.Context, s *Store, jti, op string, conv func(Row) Rec) (*Rec, error) {
	var row Row
	err := s.stmt(ctx).Where("jti = ?", jti).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, wrap(op, err)
	}
	rec := conv(row)
	return &rec, nil
}

// issuanceRecords lists the issuance records of either token table for a
// mission (all when missionS256 is ""), oldest first.
func issuanceRecords[Row, Rec any](ctx context.Context, s *Store, missionS256, op string, conv func(Row) Rec) ([]Rec, error) {
	var rows []Row
	q := s.db.WithContext(ctx).Order("issued_at, jti")
	if missionS256 != "" {
		q = q.Where("mission_s256 = ?", missionS256)
	}
	if err := q.Find(&rows).Error; err != nil {
		return nil, wrap(op, err)
	}
	out := make([]Rec, len(rows))
	for i, r := range rows {
		out[i] = conv(r)
	}
	return out, nil
}

// PurgeAuthTokenRecords deletes the records whose exp is before t.
func (s *Store) PurgeAuthTokenRecords(ctx context.Context, expiredBefore time.Time) (int64, error) {
	return s.purge(ctx, "purge auth token records", "auth_token_records", "jti", `exp < ?`, expiredBefore.Unix())
}

// PersonTokenRecord reads one person-token record (ErrNotFound when none).
func (s *Store) PersonTokenRecord(ctx context.Context, jti string) (*tokens.Record, error) {
	return recordByJTI(ctx, s, jti, "read person token record", personTokenRow.record)
}

// GrantedScopes lists the scopes a person granted an agent at resource, in
// byte order (none: nil).
func (s *Store) GrantedScopes(ctx context.Context, personID, agentIss, agentSub, resource string) ([]string, error) {
	if scopes, ok := takeAhead(s, ctx, scopesOf, [4]string{personID, agentIss, agentSub, resource}); ok {
		return scopes, nil
	}
	var scopes []string
	err := s.stmt(ctx).Raw(`SELECT scope FROM scope_grants
		WHERE person_id = ? AND agent_iss = ? AND agent_sub = ? AND resource = ?`,
		personID, agentIss, agentSub, resource).Scan(&scopes).Error
	if err != nil {
		return nil, wrap("read scope grants", err)
	}
	return sortedScopes(scopes), nil
}

// sortedScopes is scopes in byte order, whatever the database's collation
// (the read ahead and the read alone agree), or nil for none.
func sortedScopes(scopes []string) []string {
	if len(scopes) == 0 {
		return nil
	}
	slices.Sort(scopes)
	return scopes
}

// GrantScopes records grants; granting a scope again keeps the first.
func (s *Store) GrantScopes(ctx context.Context, personID, agentIss, agentSub, resource string, scopes []string, at time.Time) error {
	for _, sc := range scopes {
		err := s.stmt(ctx).Exec(`INSERT INTO scope_grants
			(person_id, agent_iss, agent_sub, resource, scope, granted_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (person_id, agent_iss, agent_sub, resource, scope) DO NOTHING`,
			personID, agentIss, agentSub, resource, sc, at.Unix()).Error
		if err != nil {
			return wrap("grant scope", err)
		}
	}
	return nil
}

// PresentedPersonTokens lists the records of the person tokens this PS
// presented to access server as for resource aud and directed sub
// (access_server_presentations joined with person_token_records), newest
// first: what admits an auth token that AS issued as an upstream or
// presented token (P§upstream-token-verification (2), PS-133, PS-268).
func (s *Store) PresentedPersonTokens(ctx context.Context, as, aud, sub string) ([]tokens.Record, error) {
	var rows []personTokenRow
	err := s.stmt(ctx).Where(`aud = ? AND sub = ? AND jti IN (SELECT jti FROM access_server_presentations WHERE access_server = ?)`,
		aud, sub, as).Order("issued_at DESC, jti").Limit(maxPresented).Find(&rows).Error
	if err != nil {
		return nil, wrap("list presented person tokens", err)
	}
	out := make([]tokens.Record, len(rows))
	for i, r := range rows {
		out[i] = r.record()
	}
	return out, nil
}

// maxPresented bounds PresentedPersonTokens (the live person tokens of one
// person at one resource).
const maxPresented = 100
