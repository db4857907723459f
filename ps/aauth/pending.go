package aauth

// Vocabulary of deferred responses (P§deferred-responses) and of the
// agent's side of them.

// HTTP header fields of a deferred response and its polls.
const (
	HeaderLocation          = "Location"
	HeaderRetryAfter        = "Retry-After"
	HeaderCacheControl      = "Cache-Control"
	HeaderContentType       = "Content-Type"
	HeaderPrefer            = "Prefer"
	HeaderPreferenceApplied = "Preference-Applied"
)

// `requirement` values of a 202 (P§requirement-values) that a PS sends.
const (
	RequirementInteraction   = "interaction"
	RequirementApproval      = "approval"
	RequirementClarification = "clarification"
)

// Capabilities an agent may declare (P§aauth-capabilities; at PS
// endpoints in the body's `capabilities` member, A-11).
const (
	CapabilityInteraction   = "interaction"
	CapabilityClarification = "clarification"
	CapabilityPayment       = "payment"
)

// Actions of a POST to a pending URL (P§agent-response-to-clarification,
//
const (
	ActionClarificationResponse = "clarification_response"
	ActionUpdatedRequest        = "updated_request"
	ActionCancel                = "cancel"
)

// Kinds of pending requests that the deferred-response rules tell apart:
// `updated_request` applies only to token requests (A-12, PS-176), and a
// revocation's pending URL takes no POST (E10). Other kinds are the PS's
// own.
const (
	PendingAuthToken   = "auth_token"
	PendingPersonToken = "person_token"
	PendingRevocation  = "revocation"
	// PendingPermission is a permission request (E7) waiting for the person.
	PendingPermission = "permission"
)
