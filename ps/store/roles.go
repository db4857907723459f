package store

import (
	"context"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
)

// Approver roles (issue 10, migration 00031): the organisation roles a
// person holds for Mission composition checkpoints ({"role": R}); see
// account.RoleStore.

// AddPersonRole gives personID role at at; false when they held it
// already. A person that does not exist is ErrNotFound.
func (s *Store) AddPersonRole(ctx context.Context, personID, role string, at time.Time) (bool, error) {
	var n int64
	if err := s.stmt(ctx).Raw(`SELECT COUNT(*) FROM persons WHERE id = ?`, personID).Scan(&n).Error; err != nil {
		return false, wrap("add role", err)
	}
	if n == 0 {
		return false, &Error{Op: "add role", Kind: ErrNotFound}
	}
	res := s.stmt(ctx).Exec(`INSERT INTO person_roles (person_id, role, granted_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		personID, role, at.Unix())
	return res.RowsAffected == 1, wrap("add role", res.Error)
}

// RemovePersonRole takes role from personID; false when they did not hold it.
func (s *Store) RemovePersonRole(ctx context.Context, personID, role string) (bool, error) {
	res := s.stmt(ctx).Exec(`DELETE FROM person_roles WHERE person_id = ? AND role = ?`, personID, role)
	return res.RowsAffected == 1, wrap("remove role", res.Error)
}

// PersonRoles lists the roles personID holds, sorted (never nil).
func (s *Store) PersonRoles(ctx context.Context, personID string) ([]string, error) {
	out := []string{}
	err := s.stmt(ctx).Raw(`SELECT role FROM person_roles WHERE person_id = ? ORDER BY role`, personID).Scan(&out).Error
	return out, wrap("list roles", err)
}

// RoleCheckpointMissions lists active missions whose effective Authority
// Set names a role approver (the role inbox reads their checkpoints),
// newest first, at most limit. The stored set is JCS, so the member
// reads "role": without spaces; the caller parses and checks each set.
func (s *Store) RoleCheckpointMissions(ctx context.Context, limit int) ([]*mission.Record, error) {
	var rows []missionRow
	err := s.stmt(ctx).Where(`state = 'active' AND effective_authority_set LIKE ?`, `%"role":%`).
		Order("approved_at_ms DESC").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, wrap("list role missions", err)
	}
	return missionRecords(rows), nil
}
