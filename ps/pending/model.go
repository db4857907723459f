package pending

import (
	"encoding/json"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"slices"
	"time"
)

// Requester is the verified identity that created a pending request and the
// only one allowed to use its pending URL. For an agent it is the Signature-
// Key scheme "jwt", the agent token's `iss` (agent provider) and `sub`
// (agent id); for a server polling a revocation it is "jwks_uri" and the
// verified server `id` in Issuer. The three fields are compared
// exactly, so an agent whose key rotated (same iss and sub) may still poll
// and the same identity under another scheme may not.
type Requester struct {
	Scheme  string
	Issuer  string
	Subject string
}

// Equal reports whether r and o are the same requester (byte-exact).
func (r Requester) Equal(o Requester) bool {
	return r.Scheme == o.Scheme && r.Issuer == o.Issuer && r.Subject == o.Subject
}

func (r Requester) valid() bool {
	return r.Scheme != "" && r.Issuer != "" && (r.Subject != "" || r.Scheme != "jwt")
}

// State is the life-cycle state of a pending request.
type State string

// States. Pending and Interacting are open; every other state is terminal.
const (
	StatePending     State = "pending"     // waiting (for the person, an approver or an upstream server)
	StateInteracting State = "interacting" // the person consumed the interaction code (PS-150)
	StateCompleted   State = "completed"   // ended with a success answer (Complete with a 2xx)
	StateDenied      State = "denied"      // 403 denied (the person, or the clarification round cap, A-38)
	StateAbandoned   State = "abandoned"   // 403 abandoned
	StateExpired     State = "expired"     // 408 expired (lifetime or clarification timeout)
	StateCancelled   State = "cancelled"   // the agent withdrew it (DELETE or action=cancel)
	StateFailed      State = "failed"      // any other terminal error (410 invalid_code, 403 revoked, 502 …)
)

// Open reports whether s is a non-terminal state.
func (s State) Open() bool { return s == StatePending || s == StateInteracting }

// Valid reports whether s is one of the states above.
func (s State) Valid() bool {
	switch s {
	case StatePending, StateInteracting, StateCompleted, StateDenied, StateAbandoned,
		StateExpired, StateCancelled, StateFailed:
		return true
	}
	return false
}

// Requirement is what the request is waiting for; it selects the
// AAuth-Requirement header of the 202 (P§requirement-values).
type Requirement string

// Requirements. RequirementNone sends no AAuth-Requirement header (for
// example while the PS waits on an access server).
const (
	RequirementNone          Requirement = ""
	RequirementInteraction   Requirement = aauth.RequirementInteraction
	RequirementApproval      Requirement = aauth.RequirementApproval
	RequirementClarification Requirement = aauth.RequirementClarification
)

// Valid reports whether q is one of the requirements above.
func (q Requirement) Valid() bool {
	switch q {
	case RequirementNone, RequirementInteraction, RequirementApproval, RequirementClarification:
		return true
	}
	return false
}

// Exchange is one clarification round: the person's question and how the
// agent answered it. Answer is agent-asserted Markdown (stored raw; the web
// UI sanitizes and attributes it, P§consent-presentation).
type Exchange struct {
	Question string    `json:"question"`
	Options  []string  `json:"options,omitempty"`
	AskedAt  time.Time `json:"asked_at"`
	// Action is how the round ended: "clarification_response",
	// "updated_request" (Answer then holds the justification, if any) or
	// "timeout" (no answer; the request ended 408).
	Action     string    `json:"action"`
	Answer     string    `json:"answer,omitempty"`
	AnsweredAt time.Time `json:"answered_at"`
}

// Question is an outstanding clarification question (person → agent).
type Question struct {
	Text     string
	Options  []string
	AskedAt  time.Time
	Deadline time.Time
}

// Request is a pending request as stored. Callers get copies; change one
// through Engine.Update (or the other Engine methods), never by writing the
// row directly.
type Request struct {
	// ID is 128 random bits, base64url without padding. The pending URL is
	// Issuer + "/pending/" + ID and the interaction URL Issuer + "/interact/" + ID.
	ID string
	// Kind is caller-defined ("person_token", "auth_token", "mission",
	// "interaction_relay", "revocation", …); it never changes.
	Kind string
	// Stage is a caller-defined sub-state ("consent", "binding", …).
	Stage     string
	Requester Requester
	// PersonID is "" until the person is known.
	PersonID    string
	State       State
	Requirement Requirement
	// Capabilities are those the agent declared (interaction, clarification, payment).
	Capabilities []string
	// Payload is the caller's copy of the original request (JSON).
	Payload json.RawMessage
	// Callback was validated by the caller before it was stored.
	Callback string

	// HasCode is true when an interaction code was issued; only its hash is
	// stored. CodeAttempts counts wrong codes; CodeConsumedAt is set once
	// the person (or an out-of-band channel) used it.
	HasCode        bool
	CodeAttempts   int
	CodeConsumedAt *time.Time

	// Question is the outstanding clarification, nil when none.
	Question *Question
	// Rounds counts the questions asked so far (A-38 cap).
	Rounds int
	// Answers is the clarification history, oldest first.
	Answers []Exchange

	// ResultStatus and ResultBody are the terminal answer (0/nil while
	// open). ResultDelivered is true once it was sent to the requester (or
	// for a cancelled request, which has no answer to deliver).
	ResultStatus    int
	ResultBody      json.RawMessage
	ResultDelivered bool
	// ResultReason is the caller's own code for why the request ended
	// (Refusal.Reason), for its pages; never sent. "" when none was given.
	ResultReason string

	// RetryAfter is the advised polling interval of the current
	// requirement, in seconds.
	RetryAfter int
	LastPollAt *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
	ExpiresAt  time.Time
	// Version increases with every state change (optimistic concurrency).
	Version int64

	// code is the display form of the interaction code while it is unused
	// (the hash is what codes are compared against).
	code string
}

// HasCapability reports whether the agent declared capability c.
func (r *Request) HasCapability(c string) bool { return slices.Contains(r.Capabilities, c) }

// EffectiveRequirement is what a poll advertises now: clarification while
// a question is outstanding, otherwise the stored Requirement.
func (r *Request) EffectiveRequirement() Requirement {
	if r.Question != nil {
		return RequirementClarification
	}
	return r.Requirement
}

// Code returns the display form of the interaction code while the code is
// unused, "" afterwards.
func (r *Request) Code() string { return r.code }

func (r *Request) clone() *Request {
	c := *r
	c.Capabilities = slices.Clone(r.Capabilities)
	c.Payload = slices.Clone(r.Payload)
	c.ResultBody = slices.Clone(r.ResultBody)
	c.Answers = slices.Clone(r.Answers)
	if r.Question != nil {
		q := *r.Question
		q.Options = slices.Clone(q.Options)
		c.Question = &q
	}
	if r.CodeConsumedAt != nil {
		t := *r.CodeConsumedAt
		c.CodeConsumedAt = &t
	}
	if r.LastPollAt != nil {
		t := *r.LastPollAt
		c.LastPollAt = &t
	}
	return &c
}
