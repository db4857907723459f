package interact

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/httpsig"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/strictjson"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

// Relay types (P§interaction-request).
const (
	RelayInteraction = "interaction"
	RelayPayment     = "payment"
	RelayQuestion    = "question"
)

// maxMarkdown caps agent Markdown members.
const maxMarkdown = 8 << 10

// RelayRequest is a parsed interaction-endpoint request (E9).
type RelayRequest struct {
	Type         string   `json:"type"`
	Description  string   `json:"description,omitempty"`
	URL          string   `json:"url,omitempty"`
	Code         string   `json:"code,omitempty"`
	Question     string   `json:"question,omitempty"`
	MaxWait      *int     `json:"max_wait,omitempty"`
	MissionS256  string   `json:"mission_s256,omitempty"`
	Capabilities []string `json:"capabilities,omitempty"`
}

// relayPayload is what a relay pending request stores.
type relayPayload struct {
	Request RelayRequest `json:"request"`
	Agent   tokens.Agent `json:"agent"`
}

// ParseRelay validates an E9 body (PS-224, PS-225, PS-052).
func ParseRelay(body []byte) (*RelayRequest, error) {
	m, err := decodeBody(body)
	if err != nil {
		return nil, err
	}
	var r RelayRequest
	if r.Type, err = optString(m, "type", 64); err != nil {
		return nil, err
	}
	switch r.Type {
	case RelayInteraction, RelayPayment, RelayQuestion:
	case "":
		return nil, aauth.BadRequest("type is required: interaction, payment or question")
	default:
		return nil, aauth.BadRequest("type must be interaction, payment or question")
	}
	if r.Description, err = optString(m, "description", maxMarkdown); err != nil {
		return nil, err
	}
	if r.URL, err = optString(m, "url", 2048); err != nil {
		return nil, err
	}
	if r.Code, err = optString(m, "code", 64); err != nil {
		return nil, err
	}
	if r.Question, err = optString(m, "question", maxMarkdown); err != nil {
		return nil, err
	}
	if r.MissionS256, err = optString(m, "mission_s256", 128); err != nil {
		return nil, err
	}
	if v, ok := m["max_wait"]; ok {
		n, isNum := v.(json.Number)
		i, ierr := n.Int64()
		if !isNum || ierr != nil || i < 0 || i > 86400 {
			return nil, aauth.BadRequest("max_wait must be a non-negative integer number of seconds")
		}
		w := int(i)
		r.MaxWait = &w
	}
	if r.Capabilities, err = ParseCapabilities(m); err != nil {
		return nil, err
	}
	switch r.Type {
	case RelayInteraction, RelayPayment:
		u, perr := url.Parse(r.URL)
		if r.URL == "" || perr != nil || u.Scheme != "https" || u.Host == "" || u.Fragment != "" || u.User != nil {
			return nil, aauth.BadRequest("url is required for " + r.Type + " and must be an https URL without a fragment")
		}
	case RelayQuestion:
		if trimmed(r.Question) == "" {
			return nil, aauth.BadRequest("question is required for type question")
		}
	}
	return &r, nil
}

// decodeBody is the common JSON-body check: a JSON object with valid UTF-8
// and no duplicate members (PS-048, PS-051).
func decodeBody(body []byte) (map[string]any, error) {
	if len(body) == 0 {
		return nil, aauth.BadRequest("a JSON object body is required")
	}
	m, err := strictjson.DecodeObject(body)
	if err != nil {
		return nil, aauth.BadRequest("the body must be a JSON object: " + err.Error())
	}
	return m, nil
}

// Relay handles an interaction-endpoint request from a verified agent.
func (s *Service) Relay(ctx context.Context, a *httpsig.Agent, r *RelayRequest) (Result, error) {
	person, res, err := s.RelayPerson(ctx, a, r)
	if err != nil || res != nil {
		return res, err
	}
	return s.RelayTo(ctx, a, person, r)
}

// RelayPerson is the first step of Relay: the agent's person, or the
// binding request (Person) that brings one.
func (s *Service) RelayPerson(ctx context.Context, a *httpsig.Agent, r *RelayRequest) (*account.Person, Result, error) {
	return s.Person(ctx, a, r.Capabilities, KindRelay, relayPayload{Request: *r, Agent: tokens.AgentOf(a)})
}

// RelayTo is the second step of Relay: the request to person. A caller
// that writes with it (a mission's log) runs it on a Service whose engine
// is bound to its transaction (WithEngine).
func (s *Service) RelayTo(ctx context.Context, a *httpsig.Agent, person *account.Person, r *RelayRequest) (Result, error) {
	// A mission the request names was checked by the caller (it belongs to
	// the mission layer, which builds on this package).
	pl := relayPayload{Request: *r, Agent: tokens.AgentOf(a)}
	switch r.Type {
	case RelayQuestion:
		return s.AskPerson(ctx, a, person, r.Capabilities, KindRelay, StageQuestion, pl)
	default:
		// A relayed link reaches the person only through a channel of the
		// PS's own (the inbox); an agent that can bring the person somewhere
		// should bring them to the link itself (P§interaction-relay).
		if !person.InboxChannel {
			if slices.Contains(r.Capabilities, aauth.CapabilityInteraction) {
				return nil, aauth.NewProblem(http.StatusFailedDependency, "interaction_unavailable",
					"the person server has no channel to relay this; direct the person to the url yourself")
			}
			return nil, aauth.NewProblem(http.StatusForbidden, aauth.ErrUserUnreachable,
				"the person cannot be reached and the agent did not declare the interaction capability")
		}
		return s.AskPerson(ctx, a, person, []string{}, KindRelay, StageRelay, pl)
	}
}

// Settle applies conditions the engine does not know before the
// requester polls: a relay whose max_wait passed without the person
// engaging ends with engaged=false (A-27, PS-229), and registered kinds
// apply theirs (a mission that ended). Only the request's own requester
// triggers it, so a refused poll writes nothing.
func (s *Service) Settle(ctx context.Context, id string, who pending.Requester) error {
	r, err := s.o.Engine.Get(ctx, id)
	if err != nil || !r.Requester.Equal(who) {
		return nil
	}
	if err := s.settleRequest(ctx, r); err != nil && !ended(err) {
		return err
	}
	return nil
}

// settle is Settle for the person's side (the holder is checked by the caller).
func (s *Service) settle(ctx context.Context, id string) error {
	r, err := s.o.Engine.Get(ctx, id)
	if err != nil {
		return nil
	}
	return s.settleRequest(ctx, r)
}

func (s *Service) settleRequest(ctx context.Context, r *pending.Request) error {
	if !r.State.Open() {
		return nil
	}
	if k := s.kind(r.Kind); k != nil {
		err := k.Settle(ctx, r)
		if errors.Is(err, ErrResumed) {
			return s.releaseResumed(ctx, r)
		}
		return s.endRefused(ctx, r.ID, err)
	}
	if r.Kind != KindRelay {
		return nil
	}
	id := r.ID
	var pl relayPayload
	if json.Unmarshal(r.Payload, &pl) != nil || pl.Request.MaxWait == nil || pl.Request.Type == RelayQuestion {
		return nil
	}
	if s.o.Now().Before(r.CreatedAt.Add(time.Duration(*pl.Request.MaxWait) * time.Second)) {
		return nil
	}
	return s.endRefused(ctx, id, s.o.Engine.Complete(ctx, id, http.StatusOK, map[string]any{"status": "relayed", "engaged": false}))
}

// Waiting lists what waits for a person: open requests addressed to them.
func (s *Service) Waiting(ctx context.Context, personID string) ([]WaitingItem, error) {
	rs, err := s.o.Engine.ForPerson(ctx, personID)
	if err != nil {
		return nil, err
	}
	out := make([]WaitingItem, 0, len(rs))
	for _, r := range rs {
		if !r.State.Open() || held(&r) || r.Stage == StageRoleStep {
			continue // a held request waits for the mission, one they allowed for a role holder: not the person
		}
		it := WaitingItem{
			URL: "/interact/" + r.ID, Kind: r.Kind, Stage: r.Stage, AgentID: r.Requester.Subject,
			Provider: r.Requester.Issuer, Created: r.CreatedAt, Interacting: r.State == pending.StateInteracting,
		}
		it.Resource, it.Scopes, it.Text = subjectOf(&r)
		out = append(out, it)
	}
	return out, nil
}

// subjectOf reads what a request is about from its stored payload, the
// same for every kind: the resource (and scopes) of a token request, the
// agent's Markdown of a proposal, completion or relayed question. No
// fetch: the inbox lists many requests.
func subjectOf(r *pending.Request) (resource string, scopes []string, text string) {
	var peek struct {
		Request struct {
			Resource    string `json:"resource"`
			Type        string `json:"type"`
			Question    string `json:"question"`
			Description string `json:"description"`
		} `json:"request"`
		Resource string   `json:"resource"`
		Scope    []string `json:"scope"`
		Proposal struct {
			Description string `json:"description"`
		} `json:"proposal"`
		Summary string `json:"summary"`
	}
	if json.Unmarshal(r.Payload, &peek) != nil {
		return "", nil, ""
	}
	resource = cmp.Or(peek.Request.Resource, peek.Resource)
	text = cmp.Or(peek.Proposal.Description, peek.Summary, peek.Request.Question, peek.Request.Description)
	return resource, peek.Scope, text
}

// WaitingItem is an open request waiting for a person (the home page);
// the UI words it from its kind and stage.
type WaitingItem struct {
	URL         string
	Kind, Stage string
	// Resource, Scopes and Text say what the request is about: a token
	// request's resource and scopes; a proposal's description, a
	// completion's summary or a relayed question (agent Markdown).
	Resource    string
	Scopes      []string
	Text        string
	AgentID     string
	Provider    string
	Created     time.Time
	Interacting bool
}
