package authtoken

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/aauth-ps/aauth-ps/federation"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/interact"
	"github.com/aauth-ps/aauth-ps/ps/pending"
)

// StageASClaims: an AS asked for the person's details (requirement=claims)
// and the person has not yet chosen whether that AS may have them; they
// are asked in the PS's page (issue 11).
const StageASClaims = "access_server_claims"

// ClaimChoices is the person's choice on releasing claims to an AS
// (*federation.Trust, with the person's claims looked up by the app).
type ClaimChoices struct {
	// Offer is what would be released of required (nothing recorded).
	Offer func(ctx context.Context, personID, as string, required []string) (map[string]any, error)
	// Allow releases it and remembers the person's yes for this AS.
	Allow func(ctx context.Context, personID, as string, required []string) (map[string]any, error)
	// Refuse remembers the person's no for this AS.
	Refuse func(ctx context.Context, personID, as string) error
}

// personStage: the loop with the AS waits on the person's decision.
func personStage(stage string) bool {
	return stage == StageASPayment || stage == StageASClaims || stage == StageASQuestion
}

// backToAS puts request id back to waiting on the AS after the person's
// step (with g as its payload when given) and polls the AS at once.
func (k kind) backToAS(ctx context.Context, id string, g *Grant) error {
	if err := k.toAS(ctx, k.s.o.Engine, id, g); err != nil {
		return err
	}
	k.s.continueAS(ctx, id, 0)
	return nil
}

// toAS is backToAS's change of request id, through eng (the Engine of a
// transaction when the change commits with others).
func (k kind) toAS(ctx context.Context, eng *pending.Engine, id string, g *Grant) error {
	_, err := eng.Update(ctx, id, func(x *pending.Request) error {
		x.Stage = StageAccessServer
		if g == nil {
			return nil
		}
		raw, err := encode(g)
		x.Payload = raw
		return err
	})
	return err
}

// releaseAllowed posts, after the person allowed it, what the operator's
// rule lets this AS have, and follows the loop.
func (s *Service) releaseAllowed(ctx context.Context, req *federation.Request, g *Grant) (*federation.Outcome, error) {
	allow := func(ctx context.Context, as string, required []string) (map[string]any, error) {
		return s.o.Federation.Claims.Allow(ctx, g.PersonID, as, required)
	}
	return s.o.Federation.Client.Claims(ctx, req, g.Federated.Wait, allow)
}

// decideClaims is the person's choice at StageASClaims: yes releases
// (remembered for this AS) and the PS goes on with the AS; no is
// remembered too, nothing is released and the agent gets 403 denied.
func (k kind) decideClaims(ctx context.Context, r *pending.Request, g *Grant, d interact.Decision) (*interact.Outcome, bool, error) {
	switch d.Action {
	case "approve":
		return nil, true, k.backToAS(ctx, r.ID, nil)
	case "deny":
		if err := k.s.o.Federation.Claims.Refuse(ctx, g.PersonID, g.AccessServer); err != nil {
			return nil, true, err
		}
		k.s.o.Logger.InfoContext(ctx, "federation: the person refused to release details", "access_server", g.AccessServer, "pending", r.ID)
		return nil, true, k.s.finish(ctx, r.ID, g, nil, aauth.NewProblem(http.StatusForbidden, aauth.ErrDenied,
			"the person did not allow the resource's access server to receive their details"))
	}
	return nil, false, nil
}

// describeClaims shows the person which AS asks (verified) for what (its
// words) and exactly what this PS would send it.
func (k kind) describeClaims(ctx context.Context, r *pending.Request, g *Grant) (*interact.ASClaims, error) {
	if g.Federated == nil || g.Federated.Wait == nil {
		return nil, fmt.Errorf("authtoken: %s without a wait", r.Stage)
	}
	asked := g.Federated.Wait.Claims
	offer, err := k.s.o.Federation.Claims.Offer(ctx, g.PersonID, g.AccessServer, asked)
	if err != nil {
		return nil, err
	}
	out := &interact.ASClaims{AccessServer: g.AccessServer, Asked: asked}
	// Its name is the AS's metadata: not fetched from an AS distrusted
	// since (the person's answer then ends the request).
	if k.s.o.Federation.Trusted(ctx, g.AccessServer) == nil {
		if md, err := k.s.o.Federation.Client.Discover(ctx, g.AccessServer); err == nil {
			out.Name = md.Name
		}
	}
	for _, c := range asked {
		v, ok := offer[c]
		if !ok {
			out.Withheld = append(out.Withheld, c)
			continue
		}
		out.Release = append(out.Release, interact.ClaimValue{Name: c, Value: claimText(v)})
	}
	slices.SortFunc(out.Release, func(a, b interact.ClaimValue) int {
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

func claimText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "yes"
		}
		return "no"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprint(v)
}
