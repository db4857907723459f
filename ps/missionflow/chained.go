package missionflow

import (
	"context"
	"errors"
	"net/http"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

// Chained is the mission a chained request is judged against: the upstream
// token's mission_s256 (nil without one), owned by the first agent of the
// chain, not the intermediary. It must be the upstream person's and active
// now (403 mission_terminated, PS-137).
func (s *Service) Chained(ctx context.Context, up *tokens.Upstream) (*mission.Record, error) {
	if up == nil || up.MissionS256 == "" {
		return nil, nil
	}
	m, err := s.Get(ctx, up.MissionS256)
	if errors.Is(err, ErrNotFound) || (err == nil && m.PersonID != up.PersonID) {
		return nil, aauth.NewProblem(http.StatusBadRequest, aauth.ErrInvalidUpstreamToken, "the upstream token's mission is not one of its person's")
	}
	if err != nil {
		return nil, err
	}
	return s.activeNow(ctx, m)
}
