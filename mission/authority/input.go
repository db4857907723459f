package authority

import (
	"encoding/json"
	"time"
)

// Point is where a decision is made (design §3 "In").
type Point string

// The three decision points.
const (
	PointToken       Point = "token"        // auth token (three- or four-party)
	PointPersonToken Point = "person_token" // one identity item
	PointPermission  Point = "permission"   // a permission action (tool)
)

// Mode is three-party when the resource token's aud is this PS, else
// four-party (an AS issues, so the PS cannot narrow what it grants).
type Mode string

// Modes.
const (
	ThreeParty Mode = "three-party"
	FourParty  Mode = "four-party"
)

// Operation is one R3 operation in a vocabulary.
type Operation struct {
	Vocabulary string          `json:"vocabulary"`
	Op         json.RawMessage `json:"op"`
}

// Request holds the draft-verified facts of the request.
type Request struct {
	// Resource is the resource token's iss, or the person-token resource.
	Resource string
	// Account is the resource token's account, if any.
	Account string
	Scopes  []string
	// Operations are the R3 operations (document or per-call proposal,
	// already checked against r3_s256).
	Operations []Operation
	// PerCall marks a per-call proposal; Parameters are its concrete
	// parameters (or a permission request's parameters).
	PerCall    bool
	Parameters json.RawMessage
	// Action is the permission endpoint's action (a tool name).
	Action string
}

// Chain describes a call-chaining request: the intermediary resource
// (the upstream token's aud) and the upstream token's indexed depth.
type Chain struct {
	Intermediary    string
	UpstreamDepth   int
	UpstreamIndexed bool
}

// Attenuation is what a parent agent lets its sub-agent have (extension
// request member `attenuation`): entry ids and scopes, intersected in.
type Attenuation struct {
	Entries []string `json:"entries,omitempty"`
	Scope   []string `json:"scope,omitempty"`
}

// Actor is who asks.
type Actor struct {
	Agent string
	// Parent is set for a sub-agent: the agent it acts for.
	Parent       string
	Chain        *Chain
	Capabilities []string
	Attenuation  *Attenuation
}

// Lifecycle states of the PS record. On the wire only active and
// terminated exist: a suspended mission is a bounded hold (design §5).
const (
	StateActive     = "active"
	StateSuspended  = "suspended"
	StateTerminated = "terminated"
)

// Lifecycle is the mission's state as Evaluate needs it.
type Lifecycle struct {
	State     string
	Reason    string // termination reason when terminated
	ExpiresAt *time.Time
	// HoldUntil ends a suspension: at or after it the mission terminates
	// (administrative) instead of holding again.
	HoldUntil *time.Time
}

// CheckpointRecord is a recorded checkpoint.
type CheckpointRecord struct {
	RecordedAt time.Time `json:"recorded_at"`
	Consumed   bool      `json:"consumed,omitempty"`
	// AgentAsserted marks attestations: ordering only, never proof.
	AgentAsserted bool `json:"agent_asserted,omitempty"`
}

// Snapshot is the mission as read in the deciding transaction.
type Snapshot struct {
	Lifecycle Lifecycle
	// Set is the effective Authority Set; EffectiveHash is the hash it
	// was stored under, recomputed before any use (integrity, §3 step 4).
	Set           *Set
	EffectiveHash string
	// Verified, when it is the proof for Set under EffectiveHash (Verify),
	// stands for that recomputation: the set was checked when the caller
	// loaded it (ps/composition caches it per mission and stored hash).
	Verified *Verified
	Version  int64
	// Consent is the consent memory: MemoryKey values remembered.
	Consent     map[string]bool
	Checkpoints map[string]CheckpointRecord
	// Grants counts tokens issued under each entry (max_grants).
	Grants map[string]int64
	// Spent is the amount reserved per budget key (BudgetKey), by lineage.
	Spent map[string]int64
}

// Input is everything Evaluate reads. Now is read once by the caller.
type Input struct {
	Point   Point
	Mode    Mode
	Request Request
	Actor   Actor
	Mission Snapshot
	Catalog *Catalog
	Now     time.Time
	// PersonReachable: the PS can reach the person itself (their inbox is
	// on), so a need is requirement=approval (design §10.6).
	PersonReachable bool
	// Answers are the person's answers to a deferred request, by Item.Key:
	// true permits the item (and records what it needed), false refuses it.
	Answers map[string]bool
}

// MemoryKey is the consent-memory key of an item granted under an entry
// ("" for default_outside) at a resource.
func MemoryKey(entry, resource string, it Item) string {
	if entry == "" {
		entry = "default_outside"
	}
	return entry + "|" + resource + "|" + it.Key()
}

// BudgetKey is the key amounts are reserved under: the shared budget, or
// the entry when it has none. The store keys it by lineage.
func BudgetKey(e *Entry) string {
	if a := e.Constraints.Amount; a != nil && a.Budget != "" {
		return "budget:" + a.Budget
	}
	return "entry:" + e.ID
}

func hasCapability(a Actor, c string) bool {
	for _, x := range a.Capabilities {
		if x == c {
			return true
		}
	}
	return false
}
