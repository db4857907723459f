package templates

import (
	"html/template"
	"time"
)

// Page is what every page needs.
type Page struct {
	Title  string
	Viewer *Viewer // nil when logged out
	CSRF   string  // the session's CSRF token, for forms
	Flash  string  // a one-line notice shown on top
	Error  string  // a one-line error shown on top
	Dev    bool    // development mode banner
	// RefreshURL sends the browser there at once (meta refresh in <head>);
	// Refresh > 0 reloads the page after that many seconds.
	RefreshURL string
	Refresh    int
}

// Viewer is the logged-in person.
type Viewer struct {
	Username string
	Name     string
	IsAdmin  bool
}

// DisplayName is the name to greet the viewer with.
func (v *Viewer) DisplayName() string {
	if v.Name != "" {
		return v.Name
	}
	return v.Username
}

// LoginView is the login page.
type LoginView struct {
	Next      string // where to go after login (a local path)
	Username  string
	Passkeys  bool // offer passkey login
	SignupURL string
}

// ReauthView asks a logged-in person to prove a credential again before
// a credential change.
type ReauthView struct {
	Next     string // where to go after (a local path)
	Password bool   // the person has a password
	Passkeys bool   // passkeys are on and the person has one
}

// WaitingItem is a pending request waiting for the person.
type WaitingItem struct {
	URL         string // the interaction page
	What        string // short PS-written description ("Bind a new agent", "Answer a question")
	AgentID     string
	Provider    string
	Created     time.Time
	Interacting bool
}

// AgentItem is one connected agent.
type AgentItem struct {
	BindingID    string
	AgentID      string
	Provider     string
	ProviderName string
	Platform     string
	Device       string
	Since        time.Time
	LastSeen     time.Time
	Revoked      bool
}

// HomeView is the person's home page.
type HomeView struct {
	Waiting  []WaitingItem
	Agents   []AgentItem
	Missions []MissionItem
	// RoleSteps counts the mission steps waiting for the person's
	// approver roles (issue 10).
	RoleSteps int
}

// AssertedByAgent is agent-asserted content, attributed (P§consent-presentation).
type AssertedByAgent struct {
	AgentID  string
	Platform string
	Device   string
	// Statements are the agent's own words (justification, question,
	// description, clarification answers), already sanitized.
	Statements []Statement
	// Provider display values, attributed to the provider.
	ProviderName        string
	ProviderDescription template.HTML
	ProviderLogo        string
}

// Statement is one sanitized piece of agent text with a label.
type Statement struct {
	Label string
	HTML  template.HTML
	At    time.Time
}

// PSFacts are facts this PS established itself.
type PSFacts struct {
	AgentID        string
	Provider       string
	KeyThumbprint  string
	NewEnrollment  bool
	BoundTo        string // username the agent is bound to, if any
	RequestCreated time.Time
	Expires        time.Time

	// Code is the interaction code the person arrived with, verified by
	// this server, in display form; "" on any later visit.
	Code string
}

// Clarification is one round of the clarification chat.
type Clarification struct {
	Question string // the person's question (their own words, escaped)
	// ByServer: this server asked it of the agent, for the person's
	// mission (a narrowing), not the person.
	ByServer bool
	// ByAccessServer: the access server (its issuer, verified) asked it
	// and the PS passed it to the agent; the question is its words.
	ByAccessServer string
	Answer         template.HTML
	Asked          time.Time
	Answered       *time.Time
}

// InteractStage says what the interaction page shows.
type InteractStage string

const (
	StageEnterCode  InteractStage = "enter_code"
	StageBind       InteractStage = "bind"
	StageQuestion   InteractStage = "question"
	StageRelay      InteractStage = "relay"
	StageApproval   InteractStage = "approval"
	StageDone       InteractStage = "done"
	StageWithdrawn  InteractStage = "withdrawn"
	StageFailed     InteractStage = "failed"
	StageWaitAnswer InteractStage = "wait_answer"
	// StageMissionReview: the person reviews (and may edit) a proposal.
	StageMissionReview InteractStage = "mission_review"
)

// ResourceView is resource-asserted content (P§consent-presentation).
type ResourceView struct {
	Issuer      string
	Name        string
	Description template.HTML
	AccessMode  string
	LogoURI     string
	Unavailable bool
	// Scopes an agent asks for here, in the resource's own words.
	Scopes []ScopeView
	// R3 is the display of the resource's R3 document (sanitized), when
	// the resource token named one.
	R3 *R3View
}

// R3View is an R3 document's display, each member sanitized Markdown
// ("" when absent).
type R3View struct {
	Summary, Implications, DataAccessed, Irreversible, Detail template.HTML
	// Operations name the document's operations (plain text); the
	// approve form lets the person grant each outright, per call or not
	// at all, unless the document is a per-call proposal.
	Operations []string
	// Parameters is a per-call proposal's parameters (indented JSON,
	// shown as text); "" for a class document.
	Parameters string
}

// ScopeView is a requested scope with the resource's scope_descriptions
// entry (plain text; "" when the resource describes none).
type ScopeView struct{ Name, Description string }

// MissionView is "what you approved".
type MissionView struct {
	S256        string
	URL         string // the person's page for it
	Description template.HTML
	Tools       []string
	Resources   []string
	ExpiresAt   *time.Time
	// Updates are the agent's reports since the approval (sanitized,
	// timed): shown apart from what the person approved, as the agent's.
	Updates []Statement
}

// ReviewView is a proposal the person may edit.
type ReviewView struct {
	Description string // raw Markdown for the textarea
	Tools       []ToolView
	Resources   []ResourceView
	// Ends are the lifetimes the person may choose; one is Selected (the
	// operator's default, bounded unless configured otherwise).
	Ends []EndChoice
	// Authority is the Authority Set the approval commits (nil: none derived).
	Authority *AuthorityView
}

// EndChoice is one option of the review's "The mission ends" field.
type EndChoice struct {
	Value, Label string
	Selected     bool
}

// ToolView is a proposed tool.
type ToolView struct{ Name, Description string }

// InteractView is the interaction / consent page.
type InteractView struct {
	ID       string
	Action   string // form action base: /interact/{id}
	Shown    string // the request as shown; every decision form sends it back (PS-177)
	Stage    InteractStage
	Headline string
	Facts    PSFacts
	Agent    AssertedByAgent
	Chat     []Clarification
	CanAsk   bool   // the agent declared clarification and rounds remain
	AskNote  string // why asking is not possible
	RelayURL string // the https URL the person may open (relay)
	// RelayByResource: RelayURL is the resource's own interaction, which
	// comes before the PS's consent (P§resource-initiated-interaction).
	RelayByResource bool
	Wording         string // the PS's own sentence for the decision
	// ApproveLabel and DenyLabel name the two decision buttons (default
	// "Approve" and "Deny").
	ApproveLabel, DenyLabel string
	// FollowUp: the completion review's "Not done yet" sends the person's
	// words to the agent as a clarification question instead of refusing.
	FollowUp bool
	// Remember offers "remember my answer for this agent" with the two
	// buttons (a permission request).
	Remember bool
	// ScopeChoice: the approve form lists the resource's scopes as ticks,
	// so the person can approve some of them (auth-token consent).
	ScopeChoice bool
	Resource    *ResourceView
	Approved    *MissionView
	Review      *ReviewView
	// Grant says what deciding yes grants, to whom, for how long and what
	// the resource receives (issue 9 item 4); nil when nothing is granted.
	Grant   *GrantSummary
	Message string // for done/failed/withdrawn
	Refresh int    // seconds; >0 adds a meta refresh while waiting for the agent
	// WaitNote replaces the waiting stage's words when the PS waits on
	// someone else than the agent (an access server, four-party).
	WaitNote string
	Callback string // where to return the browser after completion (validated)
	// RefreshURL, when set, sends the browser there at once (the agent's
	// callback, or a relayed link); a visible link is shown as well. A meta
	// refresh rather than a redirect: form-action 'self' forbids
	// redirecting a form submission off-site.
	RefreshURL string
	// ASClaims: an access server asks for the person's details.
	ASClaims *ASClaimsView
	// ASQuestion: an access server's question to the person; AnswerLabel
	// names the answer field (default "Your answer to the agent").
	ASQuestion  *ASQuestionView
	AnswerLabel string
}

// AgentsView is the connected-agents page.
type AgentsView struct {
	Agents  []AgentItem
	Blocked []string
}

// SettingsView is the settings page.
type SettingsView struct {
	Username     string
	Name         string
	Email        string
	InboxChannel bool
	HasPassword  bool
	Passkeys     []PasskeyItem
	Claims       []Claim
}

// PasskeyItem is one registered passkey.
type PasskeyItem struct {
	ID       string
	Name     string
	Created  time.Time
	LastUsed *time.Time
}

// Claim is an identity claim the PS can assert.
type Claim struct{ Name, Value string }

// AdminPersonsView lists persons and invites.
type AdminPersonsView struct {
	Persons   []PersonItem
	InviteURL string // a freshly created invite link, shown once
	Invites   []InviteItem
	// ApproverRoles are the approver roles persons hold (issue 10).
	ApproverRoles []ApproverRoleItem
}

// InviteItem is an open invitation for administrators (issue 9 item 10).
type InviteItem struct {
	ID        string // the token's hash: the token itself is not kept
	Email     string
	IsAdmin   bool
	CreatedBy string // username; "" for the operator (command line)
	Created   time.Time
	Expires   time.Time
}

// PersonItem is one person for administrators.
type PersonItem struct {
	ID       string
	Username string
	Name     string
	Email    string
	IsAdmin  bool
	Disabled bool
	Created  time.Time
}

// AdminProvidersView lists agent providers and the policy.
type AdminProvidersView struct {
	Policy    string
	Providers []ProviderItem
}

// ProviderItem is one agent provider.
type ProviderItem struct {
	Issuer      string
	Status      string
	Name        string
	Description template.HTML
	LogoURI     string
	LastSeen    time.Time
}

// InviteView is the invite redemption page.
type InviteView struct {
	Token    string
	Email    string // the account's email, set by the invitation ("" for none)
	IsAdmin  bool   // the invitation makes an administrator
	Username string
	Signup   bool // open sign-up rather than an invite
}

// toHTML renders a log summary that is already sanitized HTML.
func toHTML(v any) string {
	if h, ok := v.(template.HTML); ok {
		return string(h)
	}
	return ""
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// GrantItem is one standing grant on the access page: a person-token
// consent (Kind "consent") or the scopes granted for auth tokens (Kind
// "scopes").
type GrantItem struct {
	Kind               string
	AgentIss, AgentSub string
	Resource           string
	Scopes             []string
	GrantedAt          time.Time
	LastUsed           time.Time // zero: never used
	// R3 is a remembered R3 grant ("r3" kind, nil otherwise).
	R3 *R3GrantView
}

// R3GrantView is the person's remembered choice on one R3 document: its
// hash (the grant's key), the resource's summary (plain text) and the
// operations allowed outright and only call by call.
type R3GrantView struct {
	S256, Summary    string
	Granted, PerCall []string
}

// MissionGrantItem is access an active mission gives its agent: it lasts
// as long as the mission and is ended on the mission's page.
type MissionGrantItem struct {
	AgentSub   string
	Resources  []string
	Title      string // the mission's first line, plain text
	URL        string // the mission's page
	ApprovedAt time.Time
	ExpiresAt  *time.Time // nil: until completed or revoked
}

// GrantsView is the "What your agents can access" page.
type GrantsView struct {
	Grants   []GrantItem        // standing: until the person removes them
	Missions []MissionGrantItem // for a mission only
	// Permissions are the person's remembered answers to permission
	// requests.
	Permissions []PermissionRuleItem
	// Releases are the claims released to access servers (four-party).
	Releases []ClaimReleaseItem
	// Standing are the person's standing approvals of missions (issue 10).
	Standing []StandingApprovalItem
}

// StandingApprovalItem is one "Let missions like this start without
// asking me": missions of the agent within these resources, tools and
// rules start without asking the person.
type StandingApprovalItem struct {
	ID                 string
	AgentIss, AgentSub string
	Resources, Tools   []string
	CreatedAt          time.Time
}

// ClaimReleaseItem is what one access server received about the person.
type ClaimReleaseItem struct {
	AccessServer string
	Claims       []string
	LastSent     *time.Time
	Stopped      *time.Time // future release stopped by the person
}

// PermissionRuleItem is one remembered answer to an agent's permission
// request: always allow (Granted) or always refuse that action.
type PermissionRuleItem struct {
	AgentIss, AgentSub string
	Action             string
	Granted            bool
	DecidedAt          time.Time
}

// GrantSummary is the PS's own statement of what a "yes" grants.
type GrantSummary struct {
	Agent    string   // the agent identifier the grant is for
	Duration string   // "This mission only: …" or "Until you remove it …"
	Receives []string // what each resource receives, one item a line
}

// UsedLinkView is what the person who used an interaction link sees when
// they open it again.
type UsedLinkView struct {
	RequestURL string
	UsedAt     time.Time
	Ended      bool
	What       string // how the request ended, when it did
}

// RoleStepsView is the "Steps for your roles" page (issue 10).
type RoleStepsView struct {
	Roles []string
	Steps []RoleStepItem
}

// RoleStepItem is one mission step waiting for one of the viewer's roles.
type RoleStepItem struct {
	S256, Mission, Agent, ID, Text, Role string
	Consumed                             bool
	// Waiting are the agent's requests that wait for the step.
	Waiting []RoleWaitingItem
}

// RoleWaitingItem is a request waiting for a role step: what this server
// verified of it (Asked) apart from the agent's words (Says).
type RoleWaitingItem struct {
	Asked, Says string
}

// ApproverRoleItem is one approver role a person holds.
type ApproverRoleItem struct {
	PersonID, Username, Role string
}
