package missionflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dunglas/httpsfv"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/agents"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/httpsig"
	"github.com/aauth-ps/aauth-ps/ps/interact"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/strictjson"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Pending-request kinds and stages of the mission layer.
const (
	KindProposal   = "mission"
	KindCompletion = "mission_completion"

	StageReview     = "mission_review"
	StageCompletion = "completion_review"
)

// ProposalPayload is stored with a pending proposal.
type ProposalPayload struct {
	Agent    tokens.Agent     `json:"agent"`
	Proposal mission.Proposal `json:"proposal"`
	// Narrowing is the person's edits of the derived Authority Set so
	// far (consent.go); the approval commits them.
	Narrowing *authority.Narrowing `json:"narrowing,omitempty"`
	// Mission composition (extension): the agent's proposed_authority
	// (checked, still untrusted), when the proposal arrived and the
	// digest of its signed body — what proposal_hash commits to.
	ProposedAuthority json.RawMessage `json:"proposed_authority,omitempty"`
	ReceivedAt        time.Time       `json:"received_at"`
	ContentDigest     string          `json:"content_digest,omitempty"`
}

// CompletionPayload is stored with a pending completion.
type CompletionPayload struct {
	Agent   tokens.Agent `json:"agent"`
	S256    string       `json:"s256"`
	Summary string       `json:"summary"`
}

// Flows is the agent side of the mission endpoint, over the interaction
// layer (binding, reaching the person) and the pending engine.
type Flows struct {
	Missions *Service
	Interact *interact.Service
	Engine   *pending.Engine
	Agents   *agents.Service
	// DB runs multi-write decisions in one transaction.
	DB *store.Store
	// RevokeTokens, when set, revokes in tx the tokens issued to an agent
	// for a person whose binding ends (the revocation cascade, issue 8).
	RevokeTokens func(ctx context.Context, tx *store.Store, personID, agentIss, agentSub string) error
	// Composition is the operator's Mission composition policy (catalog,
	// templates); nil derives every set from its proposal.
	Composition *composition.Config
	// standing approves a proposal under a standing template without the
	// person (Kinds.Register installs it: standing.go).
	standing func(ctx context.Context, person *account.Person, pl ProposalPayload) (*pending.Response, bool, error)
	// Decisions is the decision point (audit attestations record checkpoints).
	Decisions *composition.Point
}

// composition is the policy in force (the zero policy when none is set).
func (f *Flows) composition() *composition.Config {
	if f.Composition == nil {
		return &composition.Config{}
	}
	return f.Composition
}

// proposedAuthority reads the optional proposed_authority extension
// member of a proposal body and checks it is an Authority Set (400
// invalid_request otherwise); it stays untrusted until derivation cuts it
// to the bounds.
func (f *Flows) proposedAuthority(body []byte) (json.RawMessage, error) {
	var m struct {
		ProposedAuthority json.RawMessage `json:"proposed_authority"`
	}
	if err := json.Unmarshal(body, &m); err != nil || len(m.ProposedAuthority) == 0 || string(m.ProposedAuthority) == "null" {
		return nil, nil // ParseProposal already refused a malformed body
	}
	if err := f.composition().CheckProposedAuthority(m.ProposedAuthority); err != nil {
		return nil, err
	}
	return m.ProposedAuthority, nil
}

// EndBinding revokes (or, with unbind, forgets) a person's binding and,
// in the same transaction, ends the missions the agent runs for that
// person (a mission belongs to the agent acting for that person), revokes
// the tokens issued to it for her, and ends its requests waiting for her
// (interact.EndAgentRequests, A-40 (c)): the web UI's Revoke and Unbind
// and the CLI's `agents revoke|unbind` all come here. It returns how many
// missions ended, or agents.ErrNotFound when the person holds no such
// binding.
func (f *Flows) EndBinding(ctx context.Context, personID, bindingID string, unbind bool) (int, error) {
	ended := 0
	err := f.DB.InTx(ctx, func(tx *store.Store) error {
		var err error
		ended, err = f.EndBindingIn(ctx, tx, personID, bindingID, unbind)
		return err
	})
	return ended, err
}

// EndBindingIn is EndBinding in the caller's transaction tx (whose audit
// row commits with it).
func (f *Flows) EndBindingIn(ctx context.Context, tx *store.Store, personID, bindingID string, unbind bool) (int, error) {
	ag := f.Agents.WithStore(tx)
	b, err := ag.Binding(ctx, personID, bindingID)
	if err != nil {
		return 0, err
	}
	end := ag.Revoke
	if unbind {
		end = ag.Unbind
	}
	if err := end(ctx, personID, b.ID); err != nil {
		return 0, err
	}
	ended, err := f.Missions.WithStore(tx).TerminateForAgent(ctx, b.Provider, b.AgentID, personID, mission.ReasonRevoked)
	if err != nil {
		return 0, err
	}
	if f.RevokeTokens != nil {
		// Before the requests: the cascade takes the revocation lock
		// first, as an issuing decision does (no lock-order inversion
		// with a decision that is about to answer one of them).
		if err := f.RevokeTokens(ctx, tx, personID, b.Provider, b.AgentID); err != nil {
			return 0, err
		}
	}
	if _, err := f.Interact.WithEngine(f.Engine.WithStore(tx)).EndAgentRequests(ctx, personID, b.Provider, b.AgentID, unbind, ended); err != nil {
		return 0, err
	}
	return len(ended), nil
}

// BlockProviderIn records personID's block of the agent provider issuer
// and, in the caller's transaction tx, revokes each of that provider's
// agents connected to her as EndBindingIn does (missions ended, tokens
// revoked, waiting requests ended): a block refuses the agents already
// connected, not only new ones (docs/decisions.md, "Blocking a
// provider"). Revoked, they stay listed and cannot reconnect until she
// unbinds them. It returns how many agents and missions ended.
func (f *Flows) BlockProviderIn(ctx context.Context, tx *store.Store, personID, issuer string) (agentsEnded, missionsEnded int, err error) {
	ag := f.Agents.WithStore(tx)
	if err := ag.BlockProvider(ctx, personID, issuer); err != nil {
		return 0, 0, err
	}
	bs, err := ag.Bindings(ctx, personID)
	if err != nil {
		return 0, 0, err
	}
	for _, b := range bs {
		if b.Provider != issuer || b.State != agents.BindingActive {
			continue
		}
		n, err := f.EndBindingIn(ctx, tx, personID, b.ID, false)
		if err != nil {
			return 0, 0, err
		}
		agentsEnded, missionsEnded = agentsEnded+1, missionsEnded+n
	}
	return agentsEnded, missionsEnded, nil
}

// Propose handles POST {mission_endpoint}: the person reviews a
// proposal, so the answer is a 202 (or a binding 202 first, or 403
// user_unreachable when neither the agent nor the person's inbox can
// bring the person) — unless it fits a standing template (standing.go):
// then it is approved at once, 200.
func (f *Flows) Propose(ctx context.Context, a *httpsig.Agent, body []byte, ids aauth.IdentifierPolicy) (*pending.Response, error) {
	p, err := mission.ParseProposal(body, ids)
	if err != nil {
		return nil, err
	}
	proposed, err := f.proposedAuthority(body)
	if err != nil {
		return nil, err
	}
	pl := ProposalPayload{Agent: tokens.AgentOf(a), Proposal: *p, ProposedAuthority: proposed,
		ReceivedAt: f.Missions.o.Now().UTC(), ContentDigest: authority.ContentDigest(body)}
	person, res, err := f.Interact.Person(ctx, a, p.Capabilities, KindProposal, pl)
	if err != nil || res != nil {
		return res, err
	}
	if f.standing != nil {
		if res, ok, err := f.standing(ctx, person, pl); ok || err != nil {
			return res, err
		}
	}
	return f.Interact.AskPerson(ctx, a, person, p.Capabilities, KindProposal, StageReview, pl)
}

// MissionURL handles POST {mission_endpoint}/{s256}: update or completion
// (P§mission-update, P§mission-completion).
func (f *Flows) MissionURL(ctx context.Context, a *httpsig.Agent, s256 string, body []byte) (*pending.Response, map[string]any, error) {
	if !mission.ValidS256(s256) {
		return nil, nil, aauth.BadRequest("the mission identifier in the path is malformed")
	}
	m, err := strictjson.DecodeObject(body)
	if err != nil {
		return nil, nil, aauth.BadRequest("the body must be a JSON object: " + err.Error())
	}
	action, _ := m["action"].(string)
	if action != "update" && action != "completion" {
		return nil, nil, aauth.BadRequest("action must be update or completion")
	}
	ms, err := f.Missions.Active(ctx, s256, a.Provider, a.ID)
	if err != nil {
		return nil, nil, err
	}
	switch action {
	case "update":
		d, ok := m["description"].(string)
		if !ok || strings.TrimSpace(d) == "" || len(d) > mission.MaxDescription {
			return nil, nil, aauth.BadRequest("update needs a string description of at most 8 KiB")
		}
		// The exact request bytes are persisted and hashed.
		digest := mission.S256(body)
		err := f.DB.InTx(ctx, func(tx *store.Store) error {
			return f.Missions.WithStore(tx).LogWhileActive(ctx, ms.S256, a.Provider, a.ID,
				mission.Entry{Kind: "update", Actor: "agent", Summary: d, Body: body, Digest: digest})
		})
		if err != nil {
			return nil, nil, err
		}
		return nil, map[string]any{"s256": digest}, nil
	default:
		summary, ok := m["summary"].(string)
		if !ok || strings.TrimSpace(summary) == "" || len(summary) > mission.MaxDescription {
			return nil, nil, aauth.BadRequest("completion needs a string summary of at most 8 KiB")
		}
		caps, err := interact.ParseCapabilities(m)
		if err != nil {
			return nil, nil, err
		}
		if caps == nil {
			caps = ms.Capabilities
		}
		person, err := f.Interact.PersonByID(ctx, ms.PersonID)
		if err != nil {
			return nil, nil, err
		}
		// The log entry and the request to the person commit together: a
		// completion the person cannot be asked about leaves no trace.
		var res *pending.Response
		err = f.DB.InTx(ctx, func(tx *store.Store) error {
			if err := f.Missions.WithStore(tx).LogWhileActive(ctx, ms.S256, a.Provider, a.ID,
				mission.Entry{Kind: "completion", Actor: "agent", Summary: summary}); err != nil {
				return err
			}
			res, err = f.Interact.WithEngine(f.Engine.WithStore(tx)).AskPerson(ctx, a, person, caps, KindCompletion, StageCompletion,
				CompletionPayload{Agent: tokens.AgentOf(a), S256: ms.S256, Summary: summary})
			return err
		})
		return res, nil, err
	}
}

// Relay handles an interaction-endpoint request under the agent's
// mission ms (Mission checked it): the request to the person and its
// mission-log entry commit together, with the mission checked again under
// the append's lock, so a relay racing a termination is refused with
// mission_terminated and leaves nothing (P§mission-management). The
// person is found first, outside the transaction: a binding request (the
// agent is not bound) is not the mission's and is answered as it is.
func (f *Flows) Relay(ctx context.Context, a *httpsig.Agent, r *interact.RelayRequest, ms *mission.Record) (*pending.Response, error) {
	person, res, err := f.Interact.RelayPerson(ctx, a, r)
	if err != nil || res != nil {
		return res, err
	}
	what := r.Type
	if r.Type == interact.RelayQuestion {
		what += ": " + r.Question
	}
	err = f.DB.InTx(ctx, func(tx *store.Store) error {
		if res, err = f.Interact.WithEngine(f.Engine.WithStore(tx)).RelayTo(ctx, a, person, r); err != nil {
			return err
		}
		return f.Missions.WithStore(tx).LogWhileActive(ctx, ms.S256, a.Provider, a.ID,
			mission.Entry{Kind: "interaction", Actor: "agent", Summary: "Interaction request (" + what + ")."})
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// Mission resolves the mission a request names (either form) and checks it
// is the agent's and active; ("", nil) when the request names none.
func (f *Flows) Mission(ctx context.Context, a *httpsig.Agent, m map[string]any, issuer string) (*mission.Record, error) {
	s256, err := mission.Reference(m, issuer)
	if err != nil || s256 == "" {
		return nil, err
	}
	return f.Missions.Active(ctx, s256, a.Provider, a.ID)
}

// HeaderAAuthMission is the April-form response header.
const HeaderAAuthMission = "AAuth-Mission"

// ApprovalHeader is the April form carried on every approval response,
// `AAuth-Mission: approver="<issuer>";s256="<s256>"`: a structured-field
// dictionary whose approver member carries s256 as a parameter.
func ApprovalHeader(issuer, s256 string) string {
	params := httpsfv.NewParams()
	params.Add("s256", s256)
	d := httpsfv.NewDictionary()
	d.Add("approver", httpsfv.Item{Value: issuer, Params: params})
	v, err := httpsfv.Marshal(d)
	if err != nil {
		return fmt.Sprintf(`approver=%q;s256=%q`, issuer, s256)
	}
	return v
}

// ApprovalBody is the approval response (P§mission-approval).
func ApprovalBody(m *mission.Record, caps []string, personTokens map[string]string) map[string]any {
	b := map[string]any{"s256": m.S256, "mission": mission.Encode(m.Blob), "capabilities": nonNil(caps)}
	if len(personTokens) > 0 {
		b["person_tokens"] = personTokens
	}
	return b
}

// decodePayload reads a pending request's payload.
func decodePayload(raw json.RawMessage, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return errors.New("missions: pending payload is unreadable")
	}
	return nil
}

// Intake is a pending proposal as Mission composition derives from it.
func Intake(pl ProposalPayload) composition.Intake {
	return composition.Intake{Agent: pl.Agent.Sub, Proposal: pl.Proposal, ProposedAuthority: pl.ProposedAuthority,
		ContentDigest: pl.ContentDigest, ReceivedAt: pl.ReceivedAt}
}
