package interact

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/pending"
)

// Kind is what another package plugs in for the pending requests it
// creates (person tokens, missions, completions): how the person sees
// them, what their decisions do, and what happens once the agent is bound.
// The interaction layer keeps the generic parts: the code, binding,
// clarification questions, refusal, callbacks.
type Kind interface {
	// Describe adds the kind's content to the person's view.
	Describe(ctx context.Context, r *pending.Request, c *Consent) error
	// Decide applies a person's action. handled=false leaves the action
	// to the generic handling (deny, ask); a nil Outcome with handled=true
	// shows the request again.
	Decide(ctx context.Context, r *pending.Request, p *account.Person, d Decision) (out *Outcome, handled bool, err error)
	// Bound continues a request once the person connected the agent.
	Bound(ctx context.Context, r *pending.Request, p *account.Person) error
	// Settle applies conditions the engine does not know (for example the
	// mission the request belongs to has ended) before a poll or a visit.
	Settle(ctx context.Context, r *pending.Request) error
}

// MissionNamer is a Kind whose requests may belong to a mission.
type MissionNamer interface {
	// Mission is the s256 of the mission r's stored payload names (its
	// kind's own member, mission_s256 or s256); "" when it names none or
	// does not decode.
	Mission(r *pending.Request) string
}

// missionOf is the s256 of the mission request r belongs to: what its
// kind reads from its payload (MissionNamer; a relay's
// request.mission_s256), "" when none.
func (s *Service) missionOf(r *pending.Request) string {
	if r.Kind == KindRelay {
		var pl relayPayload
		if json.Unmarshal(r.Payload, &pl) != nil {
			return ""
		}
		return pl.Request.MissionS256
	}
	if k, ok := s.kind(r.Kind).(MissionNamer); ok {
		return k.Mission(r)
	}
	return ""
}

// Returner is a Kind whose request sends the person through another
// party's interaction first (a resource's, P§resource-initiated-
// interaction) and continues when the person comes back with state, or
// with that party's callback error.
type Returner interface {
	Returned(ctx context.Context, r *pending.Request, p *account.Person, state, callbackError string) error
}

// Returned continues request id after the person came back from another
// party's interaction (see Returner). Unknown ids, other persons' requests
// and wrong states are the same ErrNotFound.
func (s *Service) Returned(ctx context.Context, id string, p *account.Person, state, callbackError string) error {
	r, err := s.o.Engine.Get(ctx, id)
	if err != nil {
		if errors.Is(err, pending.ErrNotFound) {
			return ErrNotFound
		}
		return err
	}
	rk, ok := s.kind(r.Kind).(Returner)
	if !ok || r.PersonID != p.ID || !r.State.Open() {
		return ErrNotFound
	}
	return s.endRefused(ctx, id, rk.Returned(ctx, r, p, state, callbackError))
}

// RegisterKind plugs k in for requests of kind. Call it at start-up only.
func (s *Service) RegisterKind(kind string, k Kind) {
	if s.kinds == nil {
		s.kinds = map[string]Kind{}
	}
	s.kinds[kind] = k
}

func (s *Service) kind(name string) Kind { return s.kinds[name] }

// ASClaims is what the person sees when an access server asks for their
// details (four-party requirement=claims): the AS this PS verified and
// trusts, and what it would release (PS facts), apart from what the AS
// says (its name, the claims it asks for).
type ASClaims struct {
	// AccessServer is the AS's issuer, verified (metadata, signature).
	AccessServer string
	// Release are the details this PS would send, with their values:
	// the asked ones the operator's rule for this AS allows.
	Release []ClaimValue
	// Withheld are the asked ones it never sends (not allowed, unknown,
	// or sub).
	Withheld []string
	// Name and Asked are AS-asserted: its metadata name, and the
	// required_claims it sent.
	Name  string
	Asked []string
}

// ASQuestion is an access server's question to the person: the AS this
// PS verified, and its question (AS-asserted Markdown).
type ASQuestion struct {
	AccessServer string
	Question     string
	// InMission: the request is mission-bound, so the person may keep
	// their answer for the same question from the same AS.
	InMission bool
	// Options (AS-asserted): its discrete answers; the person's answer
	// must be one of them. Deadline: when it said it stops waiting.
	Options  []string
	Deadline time.Time
}

// ClaimValue is one released detail.
type ClaimValue struct {
	Name, Value string
}

// ResourceInfo is resource-asserted content: what the resource's metadata
// says about itself (P§consent-presentation).
type ResourceInfo struct {
	Issuer      string
	Name        string
	Description string // Markdown, sanitized by the UI
	AccessMode  string
	LogoURI     string
	Unavailable bool // the metadata could not be fetched
}

// ScopeInfo is a scope an agent asks for, with the resource's own
// description of it (its metadata's scope_descriptions): resource-asserted.
type ScopeInfo struct{ Name, Description string }

// MissionInfo is "what you approved": an approved mission and its
// accepted updates.
type MissionInfo struct {
	S256        string
	Description string
	Tools       []string
	Resources   []string
	ExpiresAt   *time.Time
	// Updates are what the agent reported since the approval, oldest
	// first: the agent's words, never part of what was approved.
	Updates []MissionUpdate
}

// MissionUpdate is one mission update the agent sent (agent-asserted
// Markdown) and when the PS received it.
type MissionUpdate struct {
	Markdown string
	At       time.Time
}

// Review is a mission proposal the person may edit before approving.
type Review struct {
	Description string
	Tools       []ToolChoice
	Resources   []ResourceChoice
	// Authority is the set the approval would commit (nil when the PS
	// derives none).
	Authority *ReviewAuthority
}

// ToolChoice is a proposed tool with its checkbox.
type ToolChoice struct{ Name, Description string }

// ResourceChoice is a proposed resource, with what it says about itself.
type ResourceChoice struct{ ResourceInfo }

// PersonByID reads a person (for kinds that know the person already).
func (s *Service) PersonByID(ctx context.Context, id string) (*account.Person, error) {
	return s.o.Accounts.Person(ctx, id)
}
