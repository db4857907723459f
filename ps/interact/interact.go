// Package interact connects agents to their person: the agent–person
// binding on an agent's first request, the interaction endpoint through
// which an agent relays an interaction, a payment or a question (E9), and
// the person's side of every pending request — arriving with the code,
// consenting, asking clarification questions, answering, refusing.
//
// It is domain logic over the pending engine, the agents service and the
// accounts service: no gin, no templ. The HTTP adapters are ps/server
// (agent side) and ps/web (browser side).
//
// Implements draft-hardt-oauth-aauth-protocol-11 §User Interaction,
// §Interaction Callback Errors, §Consent Presentation, §Clarification Chat,
// §Interaction Endpoint, §Agent-Person Binding, and PS-REQUIREMENTS §3.13,
// §3.14, §3.20 with.
package interact

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/agents"
	"github.com/aauth-ps/aauth-ps/ps/httpsig"
	"github.com/aauth-ps/aauth-ps/ps/pending"
)

// Kinds of pending requests this package creates.
const (
	KindRelay   = "interaction_relay"
	KindBinding = "binding"
)

// Stages of a pending request, as the person sees it.
const (
	StageBinding  = "binding"  // the person must connect the agent first
	StageQuestion = "question" // the person answers the agent's question
	StageRelay    = "relay"    // the person opens a relayed link
	StageApproval = "approval" // the person approves or denies
)

// Discovery reads an agent provider's metadata (cached; egress-guarded).
type Discovery interface {
	Metadata(ctx context.Context, issuer, dwk string) (map[string]any, error)
}

// Egress admits a URL the PS would send a browser to.
type Egress interface {
	Admit(ctx context.Context, rawURL string) error
}

// BoundPersons reads an agent's live binding together with its person
// (agents.ErrNotFound when the agent has no live binding).
type BoundPersons interface {
	BoundPerson(ctx context.Context, provider, agentID string) (*agents.Binding, *account.Person, error)
}

// Options configure the Service.
type Options struct {
	Issuer   string
	Engine   *pending.Engine
	Agents   *agents.Service
	Accounts *account.Service
	// Bound, when set, reads an agent's live binding and its person in one
	// query (ps/store); without it Agents and Accounts read them in turn.
	Bound       BoundPersons
	Discovery   Discovery
	Egress      Egress
	Identifiers aauth.IdentifierPolicy
	Now         func() time.Time
	Logger      *slog.Logger
	// ClarificationTimeout is how long the agent has to answer a question.
	ClarificationTimeout time.Duration
}

// Service is the binding, relay and person-side logic.
type Service struct {
	o     Options
	log   *slog.Logger
	kinds map[string]Kind
}

// New builds a Service.
func New(o Options) (*Service, error) {
	if o.Engine == nil || o.Agents == nil || o.Accounts == nil || o.Discovery == nil || o.Egress == nil || o.Issuer == "" {
		return nil, errors.New("interact: Issuer, Engine, Agents, Accounts, Discovery and Egress are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ClarificationTimeout == 0 {
		o.ClarificationTimeout = 5 * time.Minute
	}
	return &Service{o: o, log: o.Logger}, nil
}

// WithEngine is the Service creating and changing pending requests
// through e (an engine bound to a transaction, so that a request is created
// together with the caller's other writes).
func (s *Service) WithEngine(e *pending.Engine) *Service {
	c := *s
	c.o.Engine = e
	return &c
}

// CheckIssuer validates an agent-provider identifier typed by a person.
func (s *Service) CheckIssuer(iss string) error { return s.o.Identifiers.CheckServer(iss) }

// requester is the pending-request owner for a verified agent: its
// provider and identifier, so a rotated key may still poll.
func requester(a *httpsig.Agent) pending.Requester {
	return pending.Requester{Scheme: aauth.SchemeJWT, Issuer: a.Provider, Subject: a.ID}
}

// Requester is exported for the pending-URL handlers.
func Requester(a *httpsig.Agent) pending.Requester { return requester(a) }

// Decision is a person's action on a request they hold, with what they
// entered for it (the web layer parses its form into this).
type Decision struct {
	Action   string // approve, deny, ask, answer, open
	Question string // ask: the clarification question
	Answer   string // answer: the answer to the agent's question
	// Edits are the person's changes to a mission proposal (approve).
	Edits mission.Edits
	// Narrowing is the person's edit of the mission's derived Authority
	// Set (approve): it may only narrow it (remove entries, add
	// exclusions and checkpoints, lower limits).
	Narrowing *authority.Narrowing
	// Remember: apply this answer to the agent's later requests of the
	// same kind too (a permission request's "always").
	Remember bool
	// Scopes is the person's per-scope choice on an auth-token consent
	// (approve).
	Scopes ScopeChoice
	// R3 is the person's per-operation choice on an R3 document (approve).
	R3 R3Choice
	// Authority is one edit of a proposed mission's Authority Set (narrow).
	Authority AuthorityEdit
	// Shown is Consent.Shown of the page the decision was made on: an
	// approval, answer or opened link on a request that changed since is
	// refused with ErrChanged (PS-177, P§updated-request).
	Shown string
}

// R3Choice is how the person lets the agent use each operation of an R3
// document, by its index in the document: resourcetoken.R3Granted,
// R3PerCall or R3Refused. Submitted is false when the form offered no
// choice (approve means every operation outright).
type R3Choice struct {
	Submitted bool
	Modes     map[int]string
}

// Of is the choice for a document of n operations, one mode per operation
// ("" for an operation the form did not answer, which is refused); nil
// when no choice was submitted.
func (c R3Choice) Of(n int) []string {
	if !c.Submitted {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = c.Modes[i]
	}
	return out
}

// ScopeChoice is which of the asked scopes the person ticked. Submitted
// is false when the form offered no choice (approve means every scope).
type ScopeChoice struct {
	Submitted bool
	Approved  []string
}

// Of returns the asked scopes the person approved, in the asked order:
// never a scope that was not asked.
func (c ScopeChoice) Of(asked []string) []string {
	if !c.Submitted {
		return asked
	}
	var out []string
	for _, s := range asked {
		if slices.Contains(c.Approved, s) {
			out = append(out, s)
		}
	}
	return out
}

// Result is what an agent endpoint answers: either a wire response from
// the pending engine (a 202) or nil with the caller continuing.
type Result = *pending.Response

// Person resolves the person an agent acts for. A bound agent gets its
// person; a revoked one is refused (403 denied); an unbound one needs the
// person to connect it, which takes an interaction: without the
// `interaction` capability the answer is 403 user_unreachable, otherwise a
// pending request of kind `kind` in stage `binding` is created and its 202
// returned. payload is stored for when the binding completes.
func (s *Service) Person(ctx context.Context, a *httpsig.Agent, caps []string, kind string, payload any) (*account.Person, Result, error) {
	b, p, err := s.boundPerson(ctx, a)
	switch {
	case err == nil && b.State == agents.BindingRevoked:
		return nil, nil, endedByPerson(false)
	case err == nil:
		if p.Disabled {
			return nil, nil, aauth.NewProblem(http.StatusForbidden, aauth.ErrDenied, "the person's account is disabled")
		}
		if err := s.o.Agents.Touch(ctx, b.ID); err != nil {
			s.log.WarnContext(ctx, "record agent activity", "err", err)
		}
		return p, nil, nil
	case !errors.Is(err, agents.ErrNotFound):
		return nil, nil, err
	}
	if !slices.Contains(caps, aauth.CapabilityInteraction) {
		return nil, nil, aauth.NewProblem(http.StatusForbidden, aauth.ErrUserUnreachable,
			"this agent is not connected to a person yet, and it did not declare the interaction capability to bring one")
	}
	raw, err := encodePayload(payload)
	if err != nil {
		return nil, nil, err
	}
	r, _, err := s.o.Engine.Create(ctx, pending.NewRequest{
		Kind: kind, Stage: StageBinding, Requester: requester(a), Capabilities: caps,
		Payload: raw, Requirement: pending.RequirementInteraction,
		ClientAddr: a.ClientAddr, FirstContact: true,
	})
	if err != nil {
		return nil, nil, err
	}
	resp := s.o.Engine.Respond(r)
	s.log.InfoContext(ctx, "binding interaction started", "agent", a.ID, "provider", a.Provider, "pending", r.ID)
	return nil, &resp, nil
}

// boundPerson is an agent's live binding and, unless it is revoked, its
// person: one query with Bound, else two reads.
func (s *Service) boundPerson(ctx context.Context, a *httpsig.Agent) (*agents.Binding, *account.Person, error) {
	if s.o.Bound != nil {
		b, p, err := s.o.Bound.BoundPerson(ctx, a.Provider, a.ID)
		if err != nil {
			return nil, nil, err
		}
		return b, p, nil
	}
	b, err := s.o.Agents.Lookup(ctx, a.Provider, a.ID)
	if err != nil || b.State == agents.BindingRevoked {
		return b, nil, err
	}
	p, err := s.o.Accounts.Person(ctx, b.PersonID)
	return b, p, err
}

// encodePayload is a pending request's stored payload: JSON without
// HTML escaping, so agent text full of '<', '>' or '&' is stored at the
// size it was sent (escaped, each costs six bytes against the pending
// request's byte bound).
func encodePayload(payload any) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(payload); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// reach decides how the PS gets a bound person's attention (PS-171,
// PS-172): the agent brings them (interaction), or they asked to be reached
// through their inbox (approval); otherwise they cannot be reached.
func reach(p *account.Person, caps []string) (pending.Requirement, bool) {
	switch {
	case slices.Contains(caps, aauth.CapabilityInteraction):
		return pending.RequirementInteraction, true
	case p.InboxChannel:
		return pending.RequirementApproval, true
	}
	return "", false
}

// AskPerson creates a pending request that needs a bound person's input.
func (s *Service) AskPerson(ctx context.Context, a *httpsig.Agent, p *account.Person, caps []string, kind, stage string, payload any) (Result, error) {
	return s.AskPersonUntil(ctx, a, p, caps, kind, stage, payload, time.Time{})
}

// AskPersonUntil is AskPerson for a request that cannot outlive until (a
// chained request ends with 408 expired when its upstream token does,
// PS-278); the zero time leaves the engine's lifetime.
func (s *Service) AskPersonUntil(ctx context.Context, a *httpsig.Agent, p *account.Person, caps []string, kind, stage string, payload any, until time.Time) (Result, error) {
	var life time.Duration
	if !until.IsZero() {
		if life = until.Sub(s.o.Now()); life < time.Second {
			return nil, aauth.NewProblem(http.StatusBadRequest, aauth.ErrExpiredUpstreamToken, "the upstream token expires before the person could be asked")
		}
	}
	req, ok := reach(p, caps)
	if !ok {
		return nil, aauth.NewProblem(http.StatusForbidden, aauth.ErrUserUnreachable,
			"the person cannot be reached: the agent did not declare interaction and the person has no inbox channel")
	}
	raw, err := encodePayload(payload)
	if err != nil {
		return nil, err
	}
	r, _, err := s.o.Engine.Create(ctx, pending.NewRequest{
		Kind: kind, Stage: stage, Requester: requester(a), PersonID: p.ID, Capabilities: caps,
		Payload: raw, Requirement: req, ClientAddr: a.ClientAddr, Lifetime: life,
	})
	if err != nil {
		return nil, err
	}
	resp := s.o.Engine.Respond(r)
	return &resp, nil
}

// ParseCapabilities reads the optional `capabilities` member: an array of
// strings (PS-052); unknown values are kept and ignored.
func ParseCapabilities(m map[string]any) ([]string, error) {
	v, ok := m["capabilities"]
	if !ok {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, aauth.BadRequest("capabilities must be an array of strings")
	}
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		str, ok := x.(string)
		if !ok {
			return nil, aauth.BadRequest("capabilities must be an array of strings")
		}
		out = append(out, str)
	}
	return out, nil
}

// RequestString reads an optional string member of a token request body
// (both token endpoints): absent is "", anything but a string of at most
// max bytes — null included — is 400 invalid_request.
func RequestString(m map[string]any, name string, max int) (string, error) {
	v, ok := m[name]
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok || len(s) > max {
		return "", aauth.BadRequest(fmt.Sprintf("%s must be a string of at most %d bytes", name, max))
	}
	return s, nil
}

// optString reads an optional string member (null is absent).
func optString(m map[string]any, name string, max int) (string, error) {
	v, ok := m[name]
	if !ok || v == nil {
		return "", nil
	}
	str, ok := v.(string)
	if !ok {
		return "", aauth.BadRequest(name + " must be a string")
	}
	if len(str) > max {
		return "", aauth.BadRequest(fmt.Sprintf("%s is longer than %d bytes", name, max))
	}
	return str, nil
}

// trimmed is strings.TrimSpace, named for readability at call sites.
func trimmed(s string) string { return strings.TrimSpace(s) }
