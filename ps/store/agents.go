package store

import (
	"context"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/agents"
)

// The agents aggregate: agent providers, persons' provider blocks and
// agent–person bindings (ps/agents declares the interface).

type bindingRow struct {
	ID         string  `gorm:"column:id;primaryKey"`
	Provider   string  `gorm:"column:provider"`
	AgentID    string  `gorm:"column:agent_id"`
	PersonID   string  `gorm:"column:person_id"`
	State      string  `gorm:"column:state"`
	Platform   string  `gorm:"column:platform"`
	Device     string  `gorm:"column:device"`
	CreatedAt  int64   `gorm:"column:created_at"`
	LastSeenAt int64   `gorm:"column:last_seen_at"`
	EndedAt    *int64  `gorm:"column:ended_at"`
	EndedBy    *string `gorm:"column:ended_by"`
}

func (bindingRow) TableName() string { return "agent_bindings" }

func (r bindingRow) binding() *agents.Binding {
	return &agents.Binding{ID: r.ID, Provider: r.Provider, AgentID: r.AgentID, PersonID: r.PersonID,
		State: agents.BindingState(r.State), Platform: r.Platform, Device: r.Device,
		CreatedAt: time.Unix(r.CreatedAt, 0).UTC(), LastSeenAt: time.Unix(r.LastSeenAt, 0).UTC(), EndedAt: timeOf(r.EndedAt)}
}

// liveBinding: active and revoked bindings hold their agent; unbound ones
// are history.
const liveBinding = "state IN ('active','revoked')"

// LiveBinding returns the live binding of an agent, by its provider and
// exact, case-sensitive identifier (PS-255), or ErrNotFound.
func (s *Store) LiveBinding(ctx context.Context, provider, agentID string) (*agents.Binding, error) {
	return s.findBinding(ctx, "look up binding", "provider = ? AND agent_id = ? AND "+liveBinding, provider, agentID)
}

// boundRow is a live binding with its person, read in one query.
type boundRow struct {
	Binding bindingRow `gorm:"embedded"`
	Person  personRow  `gorm:"embedded;embeddedPrefix:p_"`
}

// boundPersonQuery joins a live binding to its person, the person's
// columns prefixed p_ (boundRow). Plain SQL: gorm's join preloading cost
// more CPU per request than the round trip it saves on SQLite. It reads
// whether the person has a password, never the hash: agent requests have
// no use for it.
const boundPersonQuery = `SELECT ` + boundPersonColumns + `
FROM agent_bindings b JOIN persons p ON p.id = b.person_id
WHERE b.provider = ? AND b.agent_id = ? AND b.` + liveBinding + ` LIMIT 1`

// boundPersonColumns are boundRow's columns, of bindings b and persons p.
const boundPersonColumns = `b.id, b.provider, b.agent_id, b.person_id, b.state, b.platform, b.device,
  b.created_at, b.last_seen_at, b.ended_at, b.ended_by,
  p.id AS p_id, p.username AS p_username, p.email AS p_email, p.email_verified AS p_email_verified,
  p.name AS p_name, p.tenant AS p_tenant, p.groups_json AS p_groups_json, p.roles_json AS p_roles_json,
  p.is_admin AS p_is_admin, p.inbox_channel AS p_inbox_channel,
  CASE WHEN p.password_hash IS NULL THEN NULL ELSE '' END AS p_password_hash,
  p.created_at AS p_created_at, p.updated_at AS p_updated_at, p.disabled_at AS p_disabled_at`

// BoundPerson returns the live binding of an agent (as LiveBinding) and
// the person it is bound to, without the person's secrets, in one query:
// every signed request of a bound agent reads both (issue 12: they were
// two round trips). ErrNotFound when the agent has no live binding.
func (s *Store) BoundPerson(ctx context.Context, provider, agentID string) (*agents.Binding, *account.Person, error) {
	const op = "look up binding"
	if row, ok := takeAhead(s, ctx, bindingOf, [2]string{provider, agentID}); ok {
		if row == nil {
			return nil, nil, &Error{Op: op, Kind: ErrNotFound}
		}
		return row.Binding.binding(), &row.Person.record().Person, nil
	}
	rows := make([]boundRow, 0, 1) // gorm makes room for 20 in a nil slice (finding 62)
	if err := s.stmt(ctx).Raw(boundPersonQuery, provider, agentID).Scan(&rows).Error; err != nil {
		return nil, nil, wrap(op, err)
	}
	if len(rows) == 0 {
		return nil, nil, &Error{Op: op, Kind: ErrNotFound}
	}
	return rows[0].Binding.binding(), &rows[0].Person.record().Person, nil
}

// PersonBinding returns one of a person's live bindings by id, or ErrNotFound.
func (s *Store) PersonBinding(ctx context.Context, personID, id string) (*agents.Binding, error) {
	return s.findBinding(ctx, "read binding", "id = ? AND person_id = ? AND "+liveBinding, id, personID)
}

func (s *Store) findBinding(ctx context.Context, op, where string, args ...any) (*agents.Binding, error) {
	var r bindingRow
	if err := s.stmt(ctx).Where(where, args...).Limit(1).Find(&r).Error; err != nil {
		return nil, wrap(op, err)
	}
	if r.ID == "" {
		return nil, &Error{Op: op, Kind: ErrNotFound}
	}
	return r.binding(), nil
}

// CreateBinding stores a new binding; a live binding of the same agent
// is ErrConflict.
func (s *Store) CreateBinding(ctx context.Context, b agents.Binding) error {
	r := bindingRow{ID: b.ID, Provider: b.Provider, AgentID: b.AgentID, PersonID: b.PersonID, State: string(b.State),
		Platform: b.Platform, Device: b.Device, CreatedAt: b.CreatedAt.Unix(), LastSeenAt: b.LastSeenAt.Unix()}
	return wrap("bind agent", s.stmt(ctx).Create(&r).Error)
}

// TouchBinding records activity on a binding.
func (s *Store) TouchBinding(ctx context.Context, id string, at time.Time) error {
	err := s.stmt(ctx).Exec(`UPDATE agent_bindings SET last_seen_at = ? WHERE id = ?`, at.Unix(), id).Error
	return wrap("touch binding", err)
}

// PersonBindings lists a person's live bindings, newest activity first.
func (s *Store) PersonBindings(ctx context.Context, personID string) ([]agents.Binding, error) {
	var rows []bindingRow
	err := s.stmt(ctx).Where("person_id = ? AND "+liveBinding, personID).
		Order("last_seen_at DESC, created_at DESC").Find(&rows).Error
	if err != nil {
		return nil, wrap("list bindings", err)
	}
	out := make([]agents.Binding, len(rows))
	for i, r := range rows {
		out[i] = *r.binding()
	}
	return out, nil
}

// EndBinding moves a person's binding from one of the states from to to;
// ErrNotFound when no such binding is in those states.
func (s *Store) EndBinding(ctx context.Context, personID, id string, to agents.BindingState, from []agents.BindingState, at time.Time) error {
	states := make([]string, len(from))
	for i, f := range from {
		states[i] = string(f)
	}
	res := s.stmt(ctx).Exec(
		`UPDATE agent_bindings SET state = ?, ended_at = ?, ended_by = ? WHERE id = ? AND person_id = ? AND state IN ?`,
		string(to), at.Unix(), personID, id, personID, states)
	if res.Error != nil {
		return wrap("end binding", res.Error)
	}
	if res.RowsAffected == 0 {
		return &Error{Op: "end binding", Kind: ErrNotFound}
	}
	return nil
}

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

func (r providerRow) provider() agents.Provider {
	return agents.Provider{Issuer: r.Issuer, Status: agents.ProviderStatus(r.Status), Name: r.Name, Description: r.Description,
		LogoURI: r.LogoURI, FirstSeen: time.Unix(r.FirstSeenAt, 0).UTC(), LastSeen: time.Unix(r.LastSeenAt, 0).UTC()}
}

// AgentProvider returns one provider, or ErrNotFound.
func (s *Store) AgentProvider(ctx context.Context, issuer string) (*agents.Provider, error) {
	var r providerRow
	if err := s.stmt(ctx).Where("issuer = ?", issuer).Limit(1).Find(&r).Error; err != nil {
		return nil, wrap("read provider", err)
	}
	if r.Issuer == "" {
		return nil, &Error{Op: "read provider", Kind: ErrNotFound}
	}
	p := r.provider()
	return &p, nil
}

// AgentProviders lists every known provider, most recently seen first.
func (s *Store) AgentProviders(ctx context.Context) ([]agents.Provider, error) {
	var rows []providerRow
	if err := s.stmt(ctx).Order("last_seen_at DESC, issuer").Find(&rows).Error; err != nil {
		return nil, wrap("list providers", err)
	}
	out := make([]agents.Provider, len(rows))
	for i, r := range rows {
		out[i] = r.provider()
	}
	return out, nil
}

// SawAgentProvider records a provider seen at at with its display values;
// an operator's decision about it is kept.
func (s *Store) SawAgentProvider(ctx context.Context, issuer string, d agents.Display, at time.Time) error {
	err := s.stmt(ctx).Exec(
		`INSERT INTO agent_providers (issuer, status, name, description, logo_uri, first_seen_at, last_seen_at)
		 VALUES (?, 'seen', ?, ?, ?, ?, ?)
		 ON CONFLICT (issuer) DO UPDATE SET name = excluded.name, description = excluded.description,
		   logo_uri = excluded.logo_uri, last_seen_at = excluded.last_seen_at`,
		issuer, d.Name, d.Description, d.LogoURI, at.Unix(), at.Unix()).Error
	return wrap("record provider", err)
}

// SetAgentProviderStatus records an operator's decision about a provider,
// seen or not.
func (s *Store) SetAgentProviderStatus(ctx context.Context, issuer string, status agents.ProviderStatus, by string, at time.Time) error {
	err := s.stmt(ctx).Exec(
		`INSERT INTO agent_providers (issuer, status, first_seen_at, last_seen_at, decided_by, decided_at)
		 VALUES (?, ?, ?, ?, ?, ?)
		 ON CONFLICT (issuer) DO UPDATE SET status = excluded.status, decided_by = excluded.decided_by,
		   decided_at = excluded.decided_at`,
		issuer, string(status), at.Unix(), at.Unix(), by, at.Unix()).Error
	return wrap("decide provider", err)
}

// BlockProviderFor records a person's block of a provider (idempotent).
func (s *Store) BlockProviderFor(ctx context.Context, personID, issuer string, at time.Time) error {
	err := s.stmt(ctx).Exec(
		`INSERT INTO person_provider_blocks (person_id, issuer, created_at) VALUES (?, ?, ?)
		 ON CONFLICT (person_id, issuer) DO NOTHING`, personID, issuer, at.Unix()).Error
	return wrap("block provider", err)
}

// UnblockProviderFor removes a person's block.
func (s *Store) UnblockProviderFor(ctx context.Context, personID, issuer string) error {
	err := s.stmt(ctx).Exec(
		`DELETE FROM person_provider_blocks WHERE person_id = ? AND issuer = ?`, personID, issuer).Error
	return wrap("unblock provider", err)
}

// ProvidersBlockedBy lists a person's blocked providers in order.
func (s *Store) ProvidersBlockedBy(ctx context.Context, personID string) ([]string, error) {
	var out []string
	err := s.stmt(ctx).Raw(
		`SELECT issuer FROM person_provider_blocks WHERE person_id = ? ORDER BY issuer`, personID).Scan(&out).Error
	return out, wrap("list blocked providers", err)
}

// ProviderBlockedBy reports whether a person blocked a provider.
func (s *Store) ProviderBlockedBy(ctx context.Context, personID, issuer string) (bool, error) {
	var n int64
	err := s.stmt(ctx).Raw(
		`SELECT COUNT(*) FROM person_provider_blocks WHERE person_id = ? AND issuer = ?`, personID, issuer).Scan(&n).Error
	return n > 0, wrap("check provider block", err)
}
