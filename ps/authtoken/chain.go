package authtoken

import (
	"context"
	"errors"
	"net/http"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/chain"
	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/httpsig"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/resourcetoken"
)

func invalidUpstream(detail string) *aauth.Problem {
	return aauth.NewProblem(http.StatusBadRequest, aauth.ErrInvalidUpstreamToken, detail)
}

// chained checks a chained request's grant against its verified upstream
// token (P§call-chaining, A-66, PS-279): the presented token is one this
// PS issued on a call chain, for the person the upstream token names, and
// the resource token's mission is the upstream token's. The mission is
// the upstream one, owned by the chain's first agent.
func (s *Service) chained(ctx context.Context, g *Grant, p *resourcetoken.Presented) (*mission.Record, error) {
	up := g.Agent.Upstream
	if g.PersonID != up.PersonID {
		return nil, invalidUpstream("the presented token names another person than the upstream token")
	}
	var upstreamJTI string
	if rec, err := s.o.Tokens.PersonTokenRecord(ctx, p.JTI); err == nil {
		upstreamJTI = rec.UpstreamJTI
	} else if !errors.Is(err, dberr.ErrNotFound) {
		return nil, err
	} else if rec, err := s.o.Tokens.AuthTokenRecord(ctx, p.JTI); err == nil {
		upstreamJTI = rec.UpstreamJTI
	} else if !errors.Is(err, dberr.ErrNotFound) {
		return nil, err
	}
	if upstreamJTI == "" {
		return nil, invalidUpstream("the presented token was not issued on a call chain by this person server")
	}
	if g.MissionS256 != up.MissionS256 {
		return nil, invalidUpstream("the resource token's mission_s256 is not the upstream token's")
	}
	return s.o.Missions.Missions.Chained(ctx, up)
}

// person is the person the grant is for: on a chained request the one the
// upstream token names, without using or creating a binding (PS-277);
// else the one bound to the agent.
func (s *Service) person(ctx context.Context, a *httpsig.Agent, r *Request, g *Grant) (*account.Person, *pending.Response, error) {
	if g.Agent.Upstream != nil {
		p, err := chain.Person(ctx, s.o.Interact, g.Agent.Upstream)
		return p, nil, err
	}
	return s.o.Interact.Person(ctx, a, r.Capabilities, KindAuthToken, g)
}
