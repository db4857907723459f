package store

import (
	"context"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/permission"
)

// The permission aggregate: the answers persons remembered at the
// permission endpoint (migration 00012).

type permissionRuleRow struct {
	Permission string `gorm:"column:permission"`
	DecidedAt  int64  `gorm:"column:decided_at"`
}

// PermissionRule reads one remembered answer; ErrNotFound when none.
func (s *Store) PermissionRule(ctx context.Context, key permission.RuleKey) (*permission.Rule, error) {
	var rows []permissionRuleRow
	err := s.stmt(ctx).Raw(`SELECT permission, decided_at FROM permission_rules
		WHERE person_id = ? AND agent_iss = ? AND agent_sub = ? AND action = ?`,
		key.PersonID, key.AgentIss, key.AgentSub, key.Action).Scan(&rows).Error
	if err != nil {
		return nil, wrap("read permission rule", err)
	}
	if len(rows) == 0 {
		return nil, ErrNotFound
	}
	return &permission.Rule{RuleKey: key, Permission: rows[0].Permission, DecidedAt: time.Unix(rows[0].DecidedAt, 0).UTC()}, nil
}

// SavePermissionRule remembers an answer, replacing an earlier one.
func (s *Store) SavePermissionRule(ctx context.Context, r permission.Rule) error {
	err := s.stmt(ctx).Exec(`INSERT INTO permission_rules
		(person_id, agent_iss, agent_sub, action, permission, decided_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (person_id, agent_iss, agent_sub, action) DO UPDATE
		SET permission = excluded.permission, decided_at = excluded.decided_at`,
		r.PersonID, r.AgentIss, r.AgentSub, r.Action, r.Permission, r.DecidedAt.Unix()).Error
	return wrap("save permission rule", err)
}

// CountPermissionRules is how many answers the person remembered.
func (s *Store) CountPermissionRules(ctx context.Context, personID string) (int64, error) {
	var n int64
	err := s.stmt(ctx).Raw(`SELECT COUNT(*) FROM permission_rules WHERE person_id = ?`, personID).Scan(&n).Error
	return n, wrap("count permission rules", err)
}

type permissionRuleListRow struct {
	AgentIss   string `gorm:"column:agent_iss"`
	AgentSub   string `gorm:"column:agent_sub"`
	Action     string `gorm:"column:action"`
	Permission string `gorm:"column:permission"`
	DecidedAt  int64  `gorm:"column:decided_at"`
}

// PermissionRules lists the person's remembered answers, newest first.
func (s *Store) PermissionRules(ctx context.Context, personID string) ([]permission.Rule, error) {
	var rows []permissionRuleListRow
	err := s.stmt(ctx).Raw(`SELECT agent_iss, agent_sub, action, permission, decided_at FROM permission_rules
		WHERE person_id = ? ORDER BY decided_at DESC, agent_sub, agent_iss, action`, personID).Scan(&rows).Error
	if err != nil {
		return nil, wrap("list permission rules", err)
	}
	out := make([]permission.Rule, len(rows))
	for i, r := range rows {
		out[i] = permission.Rule{RuleKey: permission.RuleKey{PersonID: personID, AgentIss: r.AgentIss, AgentSub: r.AgentSub, Action: r.Action},
			Permission: r.Permission, DecidedAt: time.Unix(r.DecidedAt, 0).UTC()}
	}
	return out, nil
}

// RemovePermissionRule forgets one remembered answer; ErrNotFound when the
// person has none under that key.
func (s *Store) RemovePermissionRule(ctx context.Context, key permission.RuleKey) error {
	res := s.stmt(ctx).Exec(`DELETE FROM permission_rules
		WHERE person_id = ? AND agent_iss = ? AND agent_sub = ? AND action = ?`,
		key.PersonID, key.AgentIss, key.AgentSub, key.Action)
	if res.Error != nil {
		return wrap("remove permission rule", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}
