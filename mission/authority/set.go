// Package authority is the Authority Set of Mission composition (design
// §2–§3): its types, the embedded JSON Schema and the semantic checks
// (Parse), the operator's catalog, the matcher, and the pure, deterministic,
// fail-closed Evaluate that says whether a request is inside a mission.
// It also derives a set at approval (operator template, the agent's
// untrusted proposed_authority cut to the bounds, or the baseline) and
// renders it as the plain sentences of the consent rendering object.
//
// Nothing here does I/O, reads a clock or imports gin, gorm or templ: the
// flows pass in the facts, the mission snapshot, the catalog and `now`,
// and commit the returned effects in one transaction.
package authority

import (
	"encoding/json"

	"github.com/aauth-ps/aauth-ps/mission/anchor"
)

// Object is the discriminator of an Authority Set.
const Object = "aauth-mm/authority-set/v1"

// Set is an Authority Set (authority-set.schema.json).
type Set struct {
	Object           string         `json:"object"`
	DefaultOutside   string         `json:"default_outside,omitempty"`
	Delegation       *SetDelegation `json:"delegation,omitempty"`
	MaxTokenLifetime int64          `json:"max_token_lifetime,omitempty"`
	Entries          []Entry        `json:"entries"`
	Exclusions       []Exclusion    `json:"exclusions,omitempty"`
	Checkpoints      []Checkpoint   `json:"checkpoints,omitempty"`
}

// Default outside values: what happens to an item no entry matches.
const (
	OutsideDeny    = "deny"
	OutsideConsent = "consent"
)

// SetDelegation is the set-wide delegation policy; nil members take the
// schema defaults (subagents true, call_chaining false, depth 1).
type SetDelegation struct {
	Subagents     *bool  `json:"subagents,omitempty"`
	CallChaining  *bool  `json:"call_chaining,omitempty"`
	MaxChainDepth *int64 `json:"max_chain_depth,omitempty"`
}

// ResourceRef names a resource by exact identifier or by host suffix.
type ResourceRef struct {
	ID         string `json:"id,omitempty"`
	HostSuffix string `json:"host_suffix,omitempty"`
}

// R3 is a set of R3 operations in one vocabulary; each operation is kept
// as its JSON text and compared JSON-equal (anchor.Equal).
type R3 struct {
	Vocabulary string            `json:"vocabulary"`
	Operations []json.RawMessage `json:"operations"`
}

// Delegation is an entry's delegation bounds; unset members inherit the
// set's (design §6: flags AND across set and entry).
type Delegation struct {
	Subagents    *bool         `json:"subagents,omitempty"`
	CallChaining *bool         `json:"call_chaining,omitempty"`
	MaxDepth     *int64        `json:"max_depth,omitempty"`
	Via          []ResourceRef `json:"via,omitempty"`
}

// TimeWindow bounds when an entry applies (UTC; not_after exclusive;
// hours [h0,h1)).
type TimeWindow struct {
	NotBefore string   `json:"not_before,omitempty"`
	NotAfter  string   `json:"not_after,omitempty"`
	Days      []string `json:"days,omitempty"`
	HoursUTC  []int64  `json:"hours_utc,omitempty"`
}

// ParamRule checks one per-call parameter at an RFC 6901 pointer.
type ParamRule struct {
	Pointer string          `json:"pointer"`
	Op      string          `json:"op"`
	Value   json.RawMessage `json:"value"`
}

// Amount bounds money per call and in total (integer minor units).
type Amount struct {
	Pointer         string `json:"pointer"`
	CurrencyPointer string `json:"currency_pointer,omitempty"`
	Currency        string `json:"currency"`
	MaxPerCall      *int64 `json:"max_per_call,omitempty"`
	MaxTotal        *int64 `json:"max_total,omitempty"`
	Budget          string `json:"budget,omitempty"`
}

// Constraints are an entry's conditions.
type Constraints struct {
	TimeWindow  *TimeWindow `json:"time_window,omitempty"`
	MaxGrants   *int64      `json:"max_grants,omitempty"`
	Params      []ParamRule `json:"params,omitempty"`
	Amount      *Amount     `json:"amount,omitempty"`
	OnViolation string      `json:"on_violation,omitempty"`
}

// Entry targets: a resource (scopes, R3 operations) or local tools.
const (
	TargetResource = "resource"
	TargetTool     = "tool"
)

// Grant modes of an entry.
const (
	GrantAuto        = "auto"
	GrantConsentOnce = "consent_once"
	GrantApproveEach = "approve_each"
)

// Entry is one grant of authority.
type Entry struct {
	ID               string       `json:"id"`
	Label            string       `json:"label,omitempty"`
	Stage            string       `json:"stage,omitempty"`
	Target           string       `json:"target"`
	Resource         *ResourceRef `json:"resource,omitempty"`
	ResourceClass    string       `json:"resource_class,omitempty"`
	Actions          []string     `json:"actions,omitempty"`
	Scopes           []string     `json:"scopes,omitempty"`
	ScopesAny        bool         `json:"scopes_any,omitempty"`
	R3               *R3          `json:"r3,omitempty"`
	Tools            []string     `json:"tools,omitempty"`
	Accounts         []string     `json:"accounts,omitempty"`
	Constraints      *Constraints `json:"constraints,omitempty"`
	Grant            string       `json:"grant,omitempty"`
	Requires         []string     `json:"requires,omitempty"`
	Delegation       *Delegation  `json:"delegation,omitempty"`
	MaxTokenLifetime int64        `json:"max_token_lifetime,omitempty"`
}

// Exclusion is something the mission may never do; it always wins.
type Exclusion struct {
	ID            string       `json:"id"`
	Label         string       `json:"label,omitempty"`
	Resource      *ResourceRef `json:"resource,omitempty"`
	ResourceClass string       `json:"resource_class,omitempty"`
	Actions       []string     `json:"actions,omitempty"`
	Scopes        []string     `json:"scopes,omitempty"`
	R3            *R3          `json:"r3,omitempty"`
	Tools         []string     `json:"tools,omitempty"`
}

// Checkpoint kinds.
const (
	KindApproval    = "approval"
	KindAttestation = "attestation"
)

// Ways a checkpoint is satisfied.
const (
	ViaInline     = "inline"
	ViaPermission = "permission"
	ViaControl    = "control"
	ViaAudit      = "audit"
)

// Approver is who records an approval checkpoint: the person (Person
// true, from the JSON string "person") or an organisation role.
type Approver struct {
	Person bool
	Role   string
}

// MarshalJSON renders "person" or {"role": …}.
func (a Approver) MarshalJSON() ([]byte, error) {
	if a.Person {
		return json.Marshal("person")
	}
	return json.Marshal(struct {
		Role string `json:"role"`
	}{a.Role})
}

// UnmarshalJSON reads "person" or {"role": …} (the schema has already
// refused anything else).
func (a *Approver) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*a = Approver{Person: s == "person"}
		return nil
	}
	var r struct {
		Role string `json:"role"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return err
	}
	*a = Approver{Role: r.Role}
	return nil
}

// Checkpoint is a stage gate.
type Checkpoint struct {
	ID          string    `json:"id"`
	Label       string    `json:"label,omitempty"`
	Kind        string    `json:"kind"`
	Approver    *Approver `json:"approver,omitempty"`
	SatisfyVia  []string  `json:"satisfy_via"`
	AuditAction string    `json:"audit_action,omitempty"`
	After       []string  `json:"after,omitempty"`
	SingleUse   bool      `json:"single_use,omitempty"`
	ValidFor    int64     `json:"valid_for,omitempty"`
}

// Role is the organisation role that records c, or "" when the person
// does (issue 10: a role checkpoint is never recorded by the person's
// answer, only by a role holder).
func (c *Checkpoint) Role() string {
	if c == nil || c.Approver == nil {
		return ""
	}
	return c.Approver.Role
}

// Hash is the set's anchor (authority_hash, or effective_authority_hash
// for a narrowed set).
func (s *Set) Hash() (string, error) { return anchor.Of(s) }

// Entry returns the entry with id, or nil.
func (s *Set) Entry(id string) *Entry {
	for i := range s.Entries {
		if s.Entries[i].ID == id {
			return &s.Entries[i]
		}
	}
	return nil
}

// Checkpoint returns the checkpoint with id, or nil.
func (s *Set) Checkpoint(id string) *Checkpoint {
	for i := range s.Checkpoints {
		if s.Checkpoints[i].ID == id {
			return &s.Checkpoints[i]
		}
	}
	return nil
}

func (e *Entry) grant() string {
	if e.Grant == "" {
		return GrantAuto
	}
	return e.Grant
}

func (s *Set) defaultOutside() string {
	if s.DefaultOutside == "" {
		return OutsideDeny
	}
	return s.DefaultOutside
}
