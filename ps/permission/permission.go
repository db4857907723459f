// Package permission holds the rules of the permission endpoint (E7): an
// agent asks "may I do this?" before an action no remote resource governs
// (a tool call, a file write, a message sent on the person's behalf). The
// request is parsed here, and one pure function, Decide, answers it from
// the person's remembered answers and the mission's approved tools, or
// says the person must be asked. The flow (person, mission lookup,
// pending request, log) is ps/permissionflow.
//
// Implements draft-hardt-oauth-aauth-protocol-11 §Permission Endpoint
// (Permission Request, Permission Response) with PS-214…PS-218.
package permission

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/interact"
	"github.com/aauth-ps/aauth-ps/ps/strictjson"
)

// The two answers of the permission endpoint (P§permission-response).
const (
	Granted = "granted"
	Denied  = "denied"
)

// Bounds (IMPL): the endpoint's body cap bounds the whole request; these
// bound what the person reads and what the PS remembers.
const (
	MaxAction         = 256
	MaxParameters     = 16 << 10 // re-encoded JSON
	MaxRulesPerPerson = 1000     // remembered answers; past it nothing more is remembered
)

// Request is a validated permission request.
type Request struct {
	Action      string          `json:"action"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	MissionS256 string          `json:"mission_s256,omitempty"`
	// Capabilities is the optional body member of the token endpoints
	// without it, the mission's captured ones apply.
	Capabilities []string `json:"capabilities,omitempty"`
}

// Parse validates a permission body (PS-215): action is a required
// non-empty string, description a string, parameters an object,
// mission_s256 (or the April mission object) well formed. Unknown members
// are ignored, as at the other endpoints; duplicates and bad JSON are
// refused by strictjson.
func Parse(body []byte, issuer string) (*Request, error) {
	m, err := strictjson.DecodeObject(body)
	if err != nil {
		return nil, aauth.BadRequest("the body must be a JSON object: " + err.Error())
	}
	action, ok := m["action"].(string)
	if !ok || strings.TrimSpace(action) == "" || len(action) > MaxAction {
		return nil, aauth.BadRequest("action is required: a non-empty string of at most 256 bytes")
	}
	r := &Request{Action: action}
	if v, present := m["description"]; present {
		d, ok := v.(string)
		if !ok || len(d) > mission.MaxDescription {
			return nil, aauth.BadRequest("description must be a Markdown string of at most 8 KiB")
		}
		r.Description = d
	}
	if v, present := m["parameters"]; present {
		o, ok := v.(map[string]any)
		if !ok {
			return nil, aauth.BadRequest("parameters must be a JSON object")
		}
		b, err := json.Marshal(o)
		if err != nil || len(b) > MaxParameters {
			return nil, aauth.BadRequest("parameters must be a JSON object of at most 16 KiB")
		}
		r.Parameters = b
	}
	if r.MissionS256, err = mission.Reference(m, issuer); err != nil {
		return nil, err
	}
	if r.Capabilities, err = interact.ParseCapabilities(m); err != nil {
		return nil, err
	}
	return r, nil
}

// RuleKey names one remembered answer: a person's, for one agent and one
// action (the action string exactly as the agent sent it).
type RuleKey struct {
	PersonID string
	AgentIss string
	AgentSub string
	Action   string
}

// Rule is a person's remembered answer ("always allow" or "always refuse").
type Rule struct {
	RuleKey
	Permission string // Granted or Denied
	DecidedAt  time.Time
}

// Store keeps the remembered answers (SQL in ps/store/permissions.go).
type Store interface {
	// PermissionRule reads one remembered answer; dberr.ErrNotFound when none.
	PermissionRule(ctx context.Context, key RuleKey) (*Rule, error)
	// SavePermissionRule remembers an answer, replacing an earlier one for
	// the same key.
	SavePermissionRule(ctx context.Context, r Rule) error
	// CountPermissionRules is how many answers the person has remembered.
	CountPermissionRules(ctx context.Context, personID string) (int64, error)
	// PermissionRules lists the person's remembered answers, newest first.
	PermissionRules(ctx context.Context, personID string) ([]Rule, error)
	// RemovePermissionRule forgets one; dberr.ErrNotFound when the person
	// has no such rule (another person's included).
	RemovePermissionRule(ctx context.Context, key RuleKey) error
}

// Basis says what a decision rests on, for the mission log.
type Basis string

// The bases of a decision.
const (
	BasisRule    Basis = "rule"    // the person's remembered answer
	BasisMission Basis = "mission" // a tool the person approved in the mission
	BasisPerson  Basis = "person"  // the person answered this request
)

// Verdict is Decide's answer: Ask, or a Permission with its basis.
type Verdict struct {
	Ask        bool
	Permission string
	Reason     string // Markdown, only with Denied
	Basis      Basis
}

// Facts are what a decision rests on.
type Facts struct {
	Action string
	// Rule is the person's remembered answer for this agent and action,
	// nil when none.
	Rule *Rule
	// Mission is the approved blob of the active mission the request
	// names, nil outside a mission.
	Mission *mission.Blob
}

// Decide is the one decision rule of the permission endpoint: the
// person's own remembered answer first (their explicit word on this very
// action, whichever way), then the tools they approved in the mission
// (P§permission-endpoint: the agent calls the endpoint only for actions
// not covered by approved_tools, and one that does is granted), else the
// person is asked.
func Decide(f Facts) Verdict {
	if f.Rule != nil {
		switch f.Rule.Permission {
		case Granted:
			return Verdict{Permission: Granted, Basis: BasisRule}
		case Denied:
			return Verdict{Permission: Denied, Basis: BasisRule, Reason: "The person has refused this action for this agent."}
		}
	}
	if f.Mission != nil {
		for _, t := range f.Mission.ApprovedTools {
			if t.Name == f.Action {
				return Verdict{Permission: Granted, Basis: BasisMission}
			}
		}
	}
	return Verdict{Ask: true}
}

// PersonAnswer is the verdict of the person's own answer on the page.
func PersonAnswer(granted bool) Verdict {
	if granted {
		return Verdict{Permission: Granted, Basis: BasisPerson}
	}
	return Verdict{Permission: Denied, Basis: BasisPerson, Reason: "The person refused this action."}
}

// Body is the 200 body of a verdict (PS-218): permission is exactly
// granted or denied, and reason appears only with denied.
func (v Verdict) Body() map[string]any {
	out := map[string]any{"permission": v.Permission}
	if v.Permission == Denied && v.Reason != "" {
		out["reason"] = v.Reason
	}
	return out
}

// KindLog is the mission-log kind of permission requests and responses.
const KindLog = "permission"

// RequestEntry is the request as the person reads it in the mission log:
// the agent's words (Markdown, shown as agent-asserted), with the
// parameters as a JSON block and the exact request bytes as the body.
func (r *Request) RequestEntry(body []byte) mission.Entry {
	return mission.Entry{Kind: KindLog, Actor: "agent", Summary: r.Markdown(), Body: body}
}

// Markdown is the request in the agent's words, for the log and the page.
func (r *Request) Markdown() string {
	var b strings.Builder
	b.WriteString("Permission requested: " + r.Action)
	if strings.TrimSpace(r.Description) != "" {
		b.WriteString("\n\n" + r.Description)
	}
	if r.Parameters != nil {
		b.WriteString("\n\nParameters:\n\n```json\n" + string(r.Parameters) + "\n```")
	}
	return b.String()
}

// ResponseEntry is the PS's answer as the mission log keeps it.
func (v Verdict) ResponseEntry(action string) mission.Entry {
	why := map[Basis]string{BasisRule: "the person's standing answer", BasisMission: "a tool approved in this mission",
		BasisPerson: "the person's answer"}[v.Basis]
	return mission.Entry{Kind: KindLog, Actor: "ps", Summary: "Permission " + v.Permission + " for " + action + " (" + why + ")."}
}
