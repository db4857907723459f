package account

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Approver roles (issue 10): the organisation roles a person holds for
// Mission composition. A checkpoint whose approver is {"role": R} is
// recorded by a person holding R. They are authority inside this PS,
// apart from Person.Roles (the A-42 identity claim a resource may be
// told): granting one never changes what a token says, and an identity
// claim never lets anyone approve.

// RoleStore keeps approver roles (migration 00031).
type RoleStore interface {
	// AddPersonRole gives the person role; false when they held it.
	// No such person is dberr.ErrNotFound.
	AddPersonRole(ctx context.Context, personID, role string, at time.Time) (bool, error)
	// RemovePersonRole takes it; false when they did not hold it.
	RemovePersonRole(ctx context.Context, personID, role string) (bool, error)
	// PersonRoles lists the person's roles, sorted (never nil).
	PersonRoles(ctx context.Context, personID string) ([]string, error)
}

// NormalizeRole trims role and checks it is 1 to 128 printable
// characters; otherwise ErrInvalidField.
func NormalizeRole(role string) (string, error) {
	role = strings.TrimSpace(role)
	if role == "" {
		return "", fmt.Errorf("%w: a role must not be empty", ErrInvalidField)
	}
	if err := checkText("role", role, MaxLabelLength); err != nil {
		return "", err
	}
	return role, nil
}

// AddApproverRole gives person id the approver role; it reports whether
// the person did not hold it yet. ErrNotFound, ErrInvalidField.
func (s *Service) AddApproverRole(ctx context.Context, id, role string) (bool, error) {
	role, err := NormalizeRole(role)
	if err != nil {
		return false, err
	}
	added, err := s.st.AddPersonRole(ctx, id, role, s.now())
	return added, notFound(err, ErrNotFound)
}

// RemoveApproverRole takes the approver role from person id; it reports
// whether they held it. ErrInvalidField.
func (s *Service) RemoveApproverRole(ctx context.Context, id, role string) (bool, error) {
	role, err := NormalizeRole(role)
	if err != nil {
		return false, err
	}
	return s.st.RemovePersonRole(ctx, id, role)
}

// ApproverRoles lists the approver roles person id holds, sorted.
func (s *Service) ApproverRoles(ctx context.Context, id string) ([]string, error) {
	return s.st.PersonRoles(ctx, id)
}
