package authtoken

import (
	"context"
	"errors"
	"net/http"

	"github.com/aauth-ps/aauth-ps/federation"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/jose"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// Four-party effects (issue 11): a mission-bound four-party request's
// decision commits its effects before the AS is called (a reservation:
// concurrent requests cannot both spend a single grant); what came of the
// AS exchange settles them in one transaction with its evidence
// (composition.Point.Settle): kept when the agent received the AS's
// token, given back when it did not.

// reserve keeps res as g's reservation, to settle once the AS answers.
func reserve(g *Grant, res *composition.Result) {
	if g.Federated == nil || res == nil {
		return
	}
	g.Federated.Provisional = res.Provisional(g.Agent.Sub)
}

// settle records what came of g's reservation in tx: delivered d, or not
// (failure). Nothing to do without one.
func (s *Service) settle(ctx context.Context, tx *store.Store, g *Grant, d *federation.Delivered, failure error) error {
	if g == nil || g.Federated == nil || g.Federated.Provisional == nil || s.o.Decisions == nil {
		return nil
	}
	out := composition.Delivery{AccessServer: g.AccessServer, Resource: g.Resource}
	switch {
	case failure != nil:
		out.Error = aauth.ErrServerError
		if p, ok := aauth.AsProblem(failure); ok {
			out.Error = p.Code
		}
	case d != nil:
		out.Delivered, out.JTI, out.Scope, out.Exp = true, d.JTI, d.Scope, d.Exp
	default:
		out.Delivered = true
	}
	if err := s.o.Decisions.Settle(ctx, tx, g.Federated.Provisional, out); err != nil {
		return err
	}
	g.Federated.Provisional = nil
	return nil
}

// settled settles g's reservation in its own transaction and returns the
// agent's error (failure, or the settlement's own).
func (s *Service) settled(ctx context.Context, g *Grant, d *federation.Delivered, failure error) error {
	if err := s.o.DB.InTx(ctx, func(tx *store.Store) error { return s.settle(ctx, tx, g, d, failure) }); err != nil {
		return errors.Join(failure, err)
	}
	return failure
}

// finish answers pending request id with body or failure and settles the
// reservation of its grant (g, or the one stored with the request) in
// the same transaction. An answer the request can no longer take (it
// ended meanwhile) leaves the token undelivered: the reservation is given
// back all the same.
func (s *Service) finish(ctx context.Context, id string, g *Grant, body any, failure error) error {
	if g == nil {
		if pr, err := s.o.Engine.Get(ctx, id); err == nil {
			g, _ = kind{s}.load(pr)
		}
	}
	d := deliveredOf(body)
	return s.o.DB.InTx(ctx, func(tx *store.Store) error {
		aerr := s.o.Engine.WithStore(tx).Answer(ctx, id, body, failure)
		if errors.Is(aerr, pending.ErrClosed) || errors.Is(aerr, pending.ErrExpired) {
			s.o.Logger.WarnContext(ctx, "auth token: the pending request ended before the answer", "pending", id)
			if failure == nil {
				failure = aauth.NewProblem(0, aauth.ErrExpired, "the pending request ended before the token could be delivered")
			}
		} else if aerr != nil {
			return aerr
		}
		return s.settle(ctx, tx, g, d, failure)
	})
}

// deliveredOf is what the token_delivered record names of an answer
// body carrying the AS's token.
func deliveredOf(body any) *federation.Delivered {
	m, _ := body.(map[string]any)
	tok, _ := m["auth_token"].(string)
	if tok == "" {
		return nil
	}
	d := &federation.Delivered{Token: tok}
	if t, err := jose.ParseCompact(tok); err == nil {
		d.JTI, _ = t.ClaimString("jti")
	}
	return d
}

// SweepExpired settles the reservation of every open four-party request
// past its expiry (the AS never answered in time, or no poll loop was
// left to hear it): the request ends as expired and the reservation is
// given back in one transaction, with its token_delivered record
// (outcome not_delivered). Run it before the pending engine's ExpireDue,
// which would end those requests without settling them. It returns how
// many it settled.
func (s *Service) SweepExpired(ctx context.Context) (int, error) {
	return s.eachFederated(ctx, func(r *pending.Request, g *Grant) (bool, error) {
		if r.ExpiresAt.After(s.o.Now()) || g.Federated.Provisional == nil {
			return false, nil
		}
		return true, s.expire(ctx, r.ID, g)
	})
}

// settleIfExpired is the agent's own poll finding a four-party request
// past its expiry before the sweep did: it ends it as expired and gives
// its reservation back in the same transaction (the poll then answers the
// stored 408). Nothing to do for any other request.
func (s *Service) settleIfExpired(ctx context.Context, r *pending.Request, g *Grant) error {
	if !r.State.Open() || r.ExpiresAt.After(s.o.Now()) || g.Federated == nil || g.Federated.Provisional == nil {
		return nil
	}
	err := s.expire(ctx, r.ID, g)
	if errors.Is(err, pending.ErrClosed) {
		return nil // someone else ended it meanwhile
	}
	return err
}

// expire ends pending request id as expired and settles g's reservation
// in one transaction.
func (s *Service) expire(ctx context.Context, id string, g *Grant) error {
	expired := aauth.NewProblem(http.StatusRequestTimeout, aauth.ErrExpired, "the access server did not answer before the request expired")
	if err := s.finish(ctx, id, g, nil, expired); err != nil && !errors.Is(err, expired) {
		return err
	}
	return nil
}
