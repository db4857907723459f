package authtoken

import (
	"context"
	"errors"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/httpsig"
	"github.com/aauth-ps/aauth-ps/ps/interact"
	"github.com/aauth-ps/aauth-ps/ps/pending"
)

// unreachable reports whether err is the PS's 403 user_unreachable: the
// person cannot be reached through this PS (the agent did not declare
// interaction and the person has no inbox channel).
func unreachable(err error) bool {
	var p *aauth.Problem
	return errors.As(err, &p) && p.Code == aauth.ErrUserUnreachable
}

// passInteraction hands an AS's requirement=interaction to the agent when
// the PS cannot reach the person itself (P§as-response: "or passes the
// interaction requirement back to the agent"): every 202 of the agent's
// pending URL carries the AS's url and code while that interaction is
// outstanding (PassedInteraction), the agent directs the person there
// (P§interaction-relay) and polls here while the PS polls the AS and
// delivers the token as usual.
func (s *Service) passInteraction(ctx context.Context, a *httpsig.Agent, r *Request, g *Grant, p *account.Person) (interact.Result, error) {
	g.Federated.Passed = true
	pr, err := s.waiting(ctx, a, r, g, p, StageASInteraction)
	if err != nil {
		return nil, err
	}
	resp := s.o.Engine.Respond(pr)
	s.o.Logger.InfoContext(ctx, "federation: the access server's interaction passed to the agent", "access_server", g.AccessServer, "pending", pr.ID)
	s.continueAS(ctx, pr.ID, time.Second)
	return &resp, nil
}

// PassedInteraction is pending.Options.PassedInteraction: the AS's
// interaction url and code of an open four-party request whose AS
// interaction was passed to the agent and is still outstanding (its stage
// is the AS interaction); "" for any other request.
func (s *Service) PassedInteraction(r *pending.Request) (url, code string) {
	if r.Kind != KindAuthToken || r.Stage != StageASInteraction {
		return "", ""
	}
	g, err := kind{s}.load(r)
	if err != nil || g.Federated == nil || !g.Federated.Passed || g.Federated.Wait == nil {
		return "", ""
	}
	return g.Federated.Wait.URL, g.Federated.Wait.Code
}
