package store

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"time"
)

// Person mission templates (issue 10, migration 00023): a person's
// standing approval of an agent's missions, bounded per person.

// MaxPersonTemplates bounds a person's standing approvals.
const MaxPersonTemplates = 20

// ErrTooManyTemplates: the person already has MaxPersonTemplates.
var ErrTooManyTemplates = errors.New("store: too many standing approvals")

// PersonTemplate is one standing approval: missions of agent (Iss, Sub)
// whose resources, tools and derived set fit within these bounds start
// without asking the person.
type PersonTemplate struct {
	ID            string
	PersonID      string
	AgentIss      string
	AgentSub      string
	Resources     []string
	Tools         []string
	AuthoritySet  json.RawMessage // the approved set's JCS bytes
	AuthorityHash string
	CreatedAt     time.Time
}

type personTemplateRow struct {
	ID            string `gorm:"primaryKey"`
	PersonID      string
	AgentIss      string
	AgentSub      string
	Resources     string
	Tools         string
	AuthoritySet  string
	AuthorityHash string
	CreatedAt     int64 `gorm:"autoCreateTime:false"`
}

func (personTemplateRow) TableName() string { return "person_mission_templates" }

func (r personTemplateRow) template() (PersonTemplate, error) {
	t := PersonTemplate{ID: r.ID, PersonID: r.PersonID, AgentIss: r.AgentIss, AgentSub: r.AgentSub,
		AuthoritySet: json.RawMessage(r.AuthoritySet), AuthorityHash: r.AuthorityHash, CreatedAt: unixTime(r.CreatedAt)}
	if err := json.Unmarshal([]byte(r.Resources), &t.Resources); err != nil {
		return t, wrap("read standing approval", err)
	}
	return t, wrap("read standing approval", json.Unmarshal([]byte(r.Tools), &t.Tools))
}

// CreatePersonTemplate stores t (its ID is set here) unless the person
// has MaxPersonTemplates already (ErrTooManyTemplates). Call it in the
// approval's transaction: on PostgreSQL the person's row is locked so
// concurrent approvals cannot pass the bound together.
func (s *Store) CreatePersonTemplate(ctx context.Context, t *PersonTemplate) error {
	db := s.db.WithContext(ctx)
	if s.dialect == DialectPostgres {
		var one int
		if err := db.Raw(`SELECT 1 FROM persons WHERE id = ? FOR UPDATE`, t.PersonID).Scan(&one).Error; err != nil {
			return wrap("create standing approval", err)
		}
	}
	var n int64
	if err := db.Model(&personTemplateRow{}).Where("person_id = ?", t.PersonID).Count(&n).Error; err != nil {
		return wrap("create standing approval", err)
	}
	if n >= MaxPersonTemplates {
		return ErrTooManyTemplates
	}
	resources, err := json.Marshal(nonNilStrings(t.Resources))
	if err != nil {
		return err
	}
	tools, err := json.Marshal(nonNilStrings(t.Tools))
	if err != nil {
		return err
	}
	t.ID = rand.Text()
	return wrap("create standing approval", db.Create(&personTemplateRow{ID: t.ID, PersonID: t.PersonID, AgentIss: t.AgentIss,
		AgentSub: t.AgentSub, Resources: string(resources), Tools: string(tools), AuthoritySet: string(t.AuthoritySet),
		AuthorityHash: t.AuthorityHash, CreatedAt: t.CreatedAt.Unix()}).Error)
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// PersonTemplates lists a person's standing approvals, newest first;
// with agentIss and agentSub set, only that agent's.
func (s *Store) PersonTemplates(ctx context.Context, personID, agentIss, agentSub string) ([]PersonTemplate, error) {
	q := s.db.WithContext(ctx).Where("person_id = ?", personID)
	if agentIss != "" || agentSub != "" {
		q = q.Where("agent_iss = ? AND agent_sub = ?", agentIss, agentSub)
	}
	var rows []personTemplateRow
	if err := q.Order("created_at DESC, id").Limit(MaxPersonTemplates).Find(&rows).Error; err != nil {
		return nil, wrap("list standing approvals", err)
	}
	out := make([]PersonTemplate, 0, len(rows))
	for _, r := range rows {
		t, err := r.template()
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// DeletePersonTemplate removes one of the person's standing approvals
// (ErrNotFound when the person has none with that id: another person's
// id is not found either).
func (s *Store) DeletePersonTemplate(ctx context.Context, personID, id string) error {
	res := s.stmt(ctx).Where("person_id = ? AND id = ?", personID, id).Delete(&personTemplateRow{})
	if res.Error != nil {
		return wrap("remove standing approval", res.Error)
	}
	if res.RowsAffected == 0 {
		return &Error{Op: "remove standing approval", Kind: ErrNotFound}
	}
	return nil
}
