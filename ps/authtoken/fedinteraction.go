package authtoken

import (
	"context"
	"errors"
	"time"

	"github.com/dunglas/httpsfv"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/httpsig"
	"github.com/aauth-ps/aauth-ps/ps/interact"
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
// interaction requirement back to the agent"): the agent's 202 carries the
// AS's url and code, the agent directs the person there (P§interaction-
// relay) and polls its pending URL here while the PS polls the AS and
// delivers the token as usual. Later polls answer a plain pending 202.
func (s *Service) passInteraction(ctx context.Context, a *httpsig.Agent, r *Request, g *Grant, p *account.Person) (interact.Result, error) {
	w := g.Federated.Wait
	item := httpsfv.NewItem(httpsfv.Token(aauth.RequirementInteraction))
	item.Params.Add("url", w.URL)
	item.Params.Add("code", w.Code)
	d := httpsfv.NewDictionary()
	d.Add("requirement", item)
	header, err := httpsfv.Marshal(d)
	if err != nil {
		return nil, err
	}
	pr, err := s.waiting(ctx, a, r, g, p, StageASInteraction)
	if err != nil {
		return nil, err
	}
	resp := s.o.Engine.Respond(pr)
	resp.Header.Set(aauth.HeaderAAuthRequirement, header)
	s.o.Logger.InfoContext(ctx, "federation: the access server's interaction passed to the agent", "access_server", g.AccessServer, "pending", pr.ID)
	s.continueAS(ctx, pr.ID, time.Second)
	return &resp, nil
}
