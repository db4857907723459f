package interact

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/agents"
	"github.com/aauth-ps/aauth-ps/ps/pending"
)

// endedByPerson is the refusal of an agent whose person revoked it
// (unbind: disconnected it), A-40 (c): 403 denied, the person's own
// refusal of everything it asks (P§polling-error-codes), for its new
// requests (Person) and for those that were waiting (EndAgentRequests,
// Deliverable). Its reason, stored with a waiting request's result, is
// the ending the person's page shows (outcomeOf).
func endedByPerson(unbind bool) *pending.Refusal {
	if unbind {
		return &pending.Refusal{Reason: string(EndAgentUnbound),
			Problem: aauth.NewProblem(http.StatusForbidden, aauth.ErrDenied, "the person disconnected this agent")}
	}
	return &pending.Refusal{Reason: string(EndAgentRevoked),
		Problem: aauth.NewProblem(http.StatusForbidden, aauth.ErrDenied, "the person revoked this agent")}
}

// EndAgentRequests ends, at once, the open requests of agent (provider,
// agentID) that wait for personID, or for no one yet, because the person
// revoked it (unbind: disconnected it), A-40 (c). Each ends with the
// answer the same request would get if the agent made it now: 403
// mission_terminated (termination_reason revoked) when it belongs to one
// of missions (its payload's mission, missionOf), the missions that ended
// with the binding (PS-158, as a poll would have settled it), else 403
// denied. A chained request
// (upstream_token) neither uses nor establishes a binding (PS-277) and
// goes on: its upstream token's revocation ends it (PS-280).
//
// Call it on the Service bound to the revocation's transaction
// (WithEngine(engine.WithStore(tx))): the requests end with the binding,
// or not at all, and their long polls wake once it commits. It returns
// how many requests it ended.
func (s *Service) EndAgentRequests(ctx context.Context, personID, provider, agentID string, unbind bool, missions []string) (int, error) {
	reqs, err := s.o.Engine.ForRequester(ctx, pending.Requester{Scheme: aauth.SchemeJWT, Issuer: provider, Subject: agentID})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range reqs {
		if (r.PersonID != personID && r.PersonID != "") || chained(&r) {
			continue
		}
		end := endedByPerson(unbind)
		if m := s.missionOf(&r); m != "" && slices.Contains(missions, m) {
			p := mission.Terminated(mission.ReasonRevoked)
			p.Detail = "the mission ended: " + end.Problem.Detail
			end.Problem = p
		}
		switch err := s.o.Engine.Refuse(ctx, r.ID, end); {
		case err == nil:
			n++
		case errors.Is(err, pending.ErrClosed), errors.Is(err, pending.ErrExpired):
		default:
			return n, err
		}
	}
	return n, nil
}

// chained reports a request made with an upstream_token (the payload's
// agent carries it, tokens.Agent).
func chained(r *pending.Request) bool {
	var pl struct {
		Agent struct {
			Upstream json.RawMessage `json:"upstream"`
		} `json:"agent"`
	}
	return json.Unmarshal(r.Payload, &pl) == nil && len(pl.Agent.Upstream) > 0 && string(pl.Agent.Upstream) != "null"
}

// BindingReader reads an agent's live binding (ps/store, bound to the
// caller's transaction); agents.ErrNotFound when it has none.
type BindingReader interface {
	LiveBinding(ctx context.Context, provider, agentID string) (*agents.Binding, error)
}

// Deliverable is pending.Options.Deliverable: a success goes to the agent
// only while it is still bound to the request's person, read through st
// (the deciding transaction). An agent the person revoked (or unbound, or
// that is now someone else's) is refused 403 denied, whatever the person
// decided on a page left open (A-40 (c), PS-165): nothing is delivered,
// and the caller's transaction, which wrote the token or grant, rolls
// back. Requests that wait for no one yet (binding) and chained requests
// (PS-277) use no binding. st may be nil (then the agents service reads).
func (s *Service) Deliverable(ctx context.Context, st BindingReader, r *pending.Request) error {
	if r.Requester.Scheme != aauth.SchemeJWT || r.PersonID == "" || chained(r) {
		return nil
	}
	var b *agents.Binding
	var err error
	if st != nil {
		b, err = st.LiveBinding(ctx, r.Requester.Issuer, r.Requester.Subject)
	} else {
		b, err = s.o.Agents.Lookup(ctx, r.Requester.Issuer, r.Requester.Subject)
	}
	switch {
	case errors.Is(err, agents.ErrNotFound):
		return endedByPerson(true)
	case err != nil:
		return err
	case b.PersonID != r.PersonID:
		return endedByPerson(true)
	case b.State == agents.BindingRevoked:
		return endedByPerson(false)
	}
	return nil
}
