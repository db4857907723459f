package store

import (
	"context"
	"errors"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/tokens"

	"gorm.io/gorm"
)

// The tokens aggregate: person-token issuance records, directed
// identifiers and the persons' consents (ps/tokens declares the interface).

type personTokenRow struct {
	JTI           string         `gorm:"column:jti;primaryKey"`
	Aud           string         `gorm:"column:aud"`
	Sub           string         `gorm:"column:sub"`
	PersonID      string         `gorm:"column:person_id"`
	AgentIss      string         `gorm:"column:agent_iss"`
	AgentSub      string         `gorm:"column:agent_sub"`
	AgentTokenJTI string         `gorm:"column:agent_token_jti"`
	CnfThumbprint string         `gorm:"column:cnf_thumbprint"`
	MissionS256   *string        `gorm:"column:mission_s256"`
	Tenant        *string        `gorm:"column:tenant"`
	PresentedTo   *string        `gorm:"column:presented_to"`
	IssuedAt      int64          `gorm:"column:issued_at"`
	Exp           int64          `gorm:"column:exp"`
	Chain         lineageColumns `gorm:"embedded"`
}

func (personTokenRow) TableName() string { return "person_token_records" }

// RecordPersonToken stores an issuance record.
func (s *Store) RecordPersonToken(ctx context.Context, r tokens.Record) error {
	row := personTokenRow{JTI: r.JTI, Aud: r.Aud, Sub: r.Sub, PersonID: r.PersonID, AgentIss: r.AgentIss, AgentSub: r.AgentSub,
		AgentTokenJTI: r.AgentTokenJTI, CnfThumbprint: r.CnfThumbprint, MissionS256: nullIfEmpty(r.MissionS256),
		Tenant: nullIfEmpty(r.Tenant), IssuedAt: r.IssuedAt.Unix(), Exp: r.Exp.Unix(), Chain: lineageRow(r.Lineage)}
	return s.writeLater(ctx, "record person token", func(db *gorm.DB) *gorm.DB { return db.Create(&row) })
}

// PersonTokenRecords lists the records of a mission (all when missionS256
// is ""), oldest first.
func (s *Store) PersonTokenRecords(ctx context.Context, missionS256 string) ([]tokens.Record, error) {
	return issuanceRecords(ctx, s, missionS256, "list person token records", personTokenRow.record)
}

func (r personTokenRow) record() tokens.Record {
	return tokens.Record{JTI: r.JTI, Aud: r.Aud, Sub: r.Sub, PersonID: r.PersonID, AgentIss: r.AgentIss, AgentSub: r.AgentSub,
		AgentTokenJTI: r.AgentTokenJTI, CnfThumbprint: r.CnfThumbprint, MissionS256: emptyIfNull(r.MissionS256),
		Tenant: emptyIfNull(r.Tenant), IssuedAt: time.Unix(r.IssuedAt, 0).UTC(), Exp: time.Unix(r.Exp, 0).UTC(),
		Lineage: r.Chain.lineage()}
}

// PurgePersonTokenRecords deletes the records whose exp is before t.
func (s *Store) PurgePersonTokenRecords(ctx context.Context, expiredBefore time.Time) (int64, error) {
	return s.purge(ctx, "purge person token records", "person_token_records", "jti", `exp < ?`, expiredBefore.Unix())
}

// DirectedSub returns the sub stored for (person, resource), storing
// candidate first when there is none; concurrent first uses all get the
// one value that was stored (PS-077).
func (s *Store) DirectedSub(ctx context.Context, personID, resource, candidate string, at time.Time) (string, error) {
	if sub, err := s.StoredDirectedSub(ctx, personID, resource); err != nil || sub != "" {
		return sub, err
	}
	err := s.stmt(ctx).Exec(`INSERT INTO pairwise_subjects (person_id, resource, sub, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (person_id, resource) DO NOTHING`, personID, resource, candidate, at.Unix()).Error
	if err != nil {
		return "", wrap("create directed sub", err)
	}
	sub, err := s.StoredDirectedSub(ctx, personID, resource)
	if err == nil && sub == "" {
		err = wrap("read directed sub", errors.New("directed sub missing after insert"))
	}
	return sub, err
}

// StoredDirectedSub reads the stored sub of (person, resource) without
// storing one ("" when none): from the committed-subjects cache
// (pairwise.go) when this process has seen it, else from the table, and
// then remembered once s's transaction (if any) commits.
func (s *Store) StoredDirectedSub(ctx context.Context, personID, resource string) (string, error) {
	if s.pairwise != nil {
		if sub, ok := s.pairwise.sub.Get([2]string{personID, resource}); ok {
			return sub, nil
		}
	}
	var sub string
	err := s.stmt(ctx).Raw(`SELECT sub FROM pairwise_subjects WHERE person_id = ? AND resource = ?`, personID, resource).Scan(&sub).Error
	if err != nil {
		return "", wrap("read directed sub", err)
	}
	s.rememberPairwise(personID, resource, sub)
	return sub, nil
}

// PersonBySub resolves the person behind a directed sub at a resource; ""
// when none.
func (s *Store) PersonBySub(ctx context.Context, resource, sub string) (string, error) {
	if s.pairwise != nil {
		if id, ok := s.pairwise.person.Get([2]string{resource, sub}); ok {
			return id, nil
		}
	}
	var id string
	err := s.stmt(ctx).Raw(
		`SELECT person_id FROM pairwise_subjects WHERE resource = ? AND sub = ?`, resource, sub).Scan(&id).Error
	if err == nil {
		s.rememberPairwise(id, resource, sub)
	}
	return id, wrap("resolve directed sub", err)
}

// HasConsent reports whether the person consented to the agent acting at resource.
func (s *Store) HasConsent(ctx context.Context, personID, agentIss, agentSub, resource string) (bool, error) {
	var ok bool
	err := s.stmt(ctx).Raw(`SELECT EXISTS (SELECT 1 FROM resource_consents
		WHERE person_id = ? AND agent_iss = ? AND agent_sub = ? AND resource = ?)`,
		personID, agentIss, agentSub, resource).Scan(&ok).Error
	return ok, wrap("read consent", err)
}

// GrantConsent records a consent; granting it again keeps the first.
func (s *Store) GrantConsent(ctx context.Context, personID, agentIss, agentSub, resource string, at time.Time) error {
	err := s.stmt(ctx).Exec(`INSERT INTO resource_consents
		(person_id, agent_iss, agent_sub, resource, granted_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (person_id, agent_iss, agent_sub, resource) DO NOTHING`,
		personID, agentIss, agentSub, resource, at.Unix()).Error
	return wrap("grant consent", err)
}

// NewResourcesSince counts the distinct resources an agent was let act at
// since t: consents granted, and resources it got person tokens for under a
// mission (an approval writes no consent, issue 9 item 4).
func (s *Store) NewResourcesSince(ctx context.Context, agentIss, agentSub string, since time.Time) (int64, error) {
	var n int64
	err := s.stmt(ctx).Raw(`SELECT COUNT(*) FROM (
		SELECT resource FROM resource_consents WHERE agent_iss = ? AND agent_sub = ? AND granted_at >= ?
		UNION
		SELECT aud FROM person_token_records WHERE agent_iss = ? AND agent_sub = ? AND issued_at >= ? AND mission_s256 IS NOT NULL AND mission_s256 <> ''
	) AS resources`, agentIss, agentSub, since.Unix(), agentIss, agentSub, since.Unix()).Scan(&n).Error
	return n, wrap("count new resources", err)
}
