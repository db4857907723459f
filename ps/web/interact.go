package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/authtoken"
	"github.com/aauth-ps/aauth-ps/ps/interact"
	"github.com/aauth-ps/aauth-ps/ps/markdown"
	"github.com/aauth-ps/aauth-ps/ps/missionflow"
	"github.com/aauth-ps/aauth-ps/ps/resourcetoken"
	"github.com/aauth-ps/aauth-ps/templates"
)

// interactPage is GET /interact/{id}[?code=…&callback=…].
func (u *UI) interactPage(c *gin.Context, s *session) error {
	id := c.Param("id")
	cons, err := u.opt.Interact.Open(ctx(c), id, s.person, c.Query("code"), c.Query("callback"))
	if err != nil {
		return u.interactError(c, s, id, err)
	}
	v := u.interactView(cons)
	v.Grant = grantSummary(cons, s.person)
	u.renderInteract(c, http.StatusOK, u.pageFor(c, s, "Your agent is asking"), v)
	return nil
}

// grantSummary says what a "yes" on cons grants the agent (issue 9 item
// 4): a mission's approval lets the agent have person tokens within that
// mission only; a person-token consent or a scope grant stands until the
// person removes it. nil when the decision grants no access.
func grantSummary(cons *interact.Consent, p *account.Person) *templates.GrantSummary {
	if cons.NeedCode || cons.Outcome != nil || cons.Outstanding != nil || cons.ASClaims != nil || cons.ASQuestion != nil {
		return nil
	}
	you := "an identifier for you that only this resource sees (not your username or email)"
	key := "the agent's signing key, so only this agent can use the token"
	life := "an expiry of at most one hour; the agent asks this server again for a new token"
	org := []string{}
	if p != nil && p.Tenant != "" {
		org = append(org, "your organisation ("+p.Tenant+")")
	}
	standing := "Until you remove it on \u201cWhat your agents can access\u201d. Until then the agent gets tokens for this resource without asking you."
	switch {
	case cons.Review != nil:
		end := "This mission only: until the mission ends (the end you choose below, when you accept it as done, or when you revoke it). Outside this mission the agent must ask you again."
		return &templates.GrantSummary{Agent: cons.Agent.Sub, Duration: end,
			Receives: append([]string{"for each resource you leave ticked, a person token with " + you, key, "this mission's identifier", life}, org...)}
	case cons.Stage == interact.StageBinding || cons.Stage == interact.StageQuestion || cons.Stage == interact.StageRelay:
		return nil
	case cons.Kind == aauth.PendingPersonToken:
		return &templates.GrantSummary{Agent: cons.Agent.Sub, Duration: standing,
			Receives: append([]string{"a person token with " + you, key, life}, org...)}
	case cons.Kind == authtoken.KindAuthToken:
		scopes := make([]string, len(cons.Scopes))
		for i, sc := range cons.Scopes {
			scopes[i] = sc.Name
		}
		return &templates.GrantSummary{Agent: cons.Agent.Sub, Duration: standing,
			Receives: append([]string{"an auth token with the scopes " + strings.Join(scopes, " ") + " and " + you, key, life}, org...)}
	}
	return nil
}

// stageRefusal words a decision the page no longer offers, or a form the
// request cannot take, as a sentence: the detail after the Go error
// prefixes, never the raw lowercase error string (issue 9 item 9).
func stageRefusal(err error) string {
	msg := strings.TrimPrefix(err.Error(), interact.ErrStage.Error())
	msg = strings.TrimSpace(strings.TrimPrefix(msg, ":"))
	for _, prefix := range []string{"mission: ", "interact: "} {
		msg = strings.TrimPrefix(msg, prefix)
	}
	if msg == "" {
		return "That is not possible now: the request has moved on. Here is how it stands."
	}
	return sentence(msg)
}

// interactAction is POST /interact/{id}/{approve|deny|ask|answer|open}.
func (u *UI) interactAction(c *gin.Context, s *session) error {
	id := c.Param("id")
	d, err := u.decision(c)
	var out *interact.Outcome
	if err == nil {
		out, err = u.opt.Interact.Decide(ctx(c), id, s.person, d)
	}
	if err != nil {
		if errors.Is(err, interact.ErrStage) {
			u.redirectRefusal(c, "/interact/"+id, stageRefusal(err))
			return nil
		}
		return u.interactError(c, s, id, err)
	}
	// POST/redirect/GET: the page after a decision, its outcome included,
	// lives at the request's GET URL, so reload and back work (issue 9
	// item 8). Two outcomes cannot be rebuilt from the request's state and
	// are rendered here: a relayed link being opened (the browser leaves
	// at once) and a link this server refuses to send people to.
	if out == nil || (out.Redirect == "" && out.End != interact.EndLinkRefused) {
		c.Redirect(http.StatusSeeOther, "/interact/"+id)
		return nil
	}
	u.renderInteract(c, http.StatusOK, u.pageFor(c, s, "Done"), outcomeView(id, out))
	return nil
}

// resourceReturned is GET /interact/{id}/resource/{state}[?error=…]: the
// resource's interaction sends the person back (P§resource-initiated-
// interaction step 4); the request's page follows.
func (u *UI) resourceReturned(c *gin.Context, s *session) error {
	id := c.Param("id")
	if err := u.opt.Interact.Returned(ctx(c), id, s.person, c.Param("state"), c.Query("error")); err != nil {
		return u.interactError(c, s, id, err)
	}
	c.Redirect(http.StatusSeeOther, "/interact/"+id)
	return nil
}

// endChoice is one lifetime the review form offers; zero is "when
// completed or revoked".
type endChoice struct {
	value, label string
	life         time.Duration
}

// endChoices are the mission lifetimes the review form offers, bounded
// ones first. The operator's default (Options.MissionDefaultLifetime) is
// selected; a default that is not one of them is offered as "default".
var endChoices = []endChoice{
	{"1h", "in 1 hour", time.Hour},
	{"1d", "in 1 day", 24 * time.Hour},
	{"7d", "in 7 days", 7 * 24 * time.Hour},
	{"30d", "in 30 days", 30 * 24 * time.Hour},
	{"never", "when completed or revoked (no time limit)", 0},
}

// ends is the review form's choices with the default selected.
func (u *UI) ends() []templates.EndChoice {
	def := u.opt.MissionDefaultLifetime
	out := make([]templates.EndChoice, 0, len(endChoices)+1)
	found := false
	for _, e := range endChoices {
		sel := e.life == def
		found = found || sel
		out = append(out, templates.EndChoice{Value: e.value, Label: e.label, Selected: sel})
	}
	if !found {
		out = append([]templates.EndChoice{{Value: "default", Label: "in " + humanDuration(def), Selected: true}}, out...)
	}
	return out
}

// lifetime maps a submitted choice to the mission's lifetime (nil: no
// time limit). A value the form did not offer is ErrStage.
func (u *UI) lifetime(value string) (*time.Duration, error) {
	life, ok := time.Duration(0), false
	if value == "default" {
		life, ok = u.opt.MissionDefaultLifetime, true
	}
	for _, e := range endChoices {
		if e.value == value {
			life, ok = e.life, true
		}
	}
	if !ok {
		return nil, fmt.Errorf("%w: unknown expiry %q", interact.ErrStage, value)
	}
	if life == 0 {
		return nil, nil
	}
	return &life, nil
}

// humanDuration words a lifetime in whole days or hours.
func humanDuration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0 && d >= 48*time.Hour:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d%time.Hour == 0 && d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", d/time.Hour)
	}
	return d.String()
}

// decision reads the person's form: the action, the question or answer,
// and a mission review's edits (description, the tools and resources kept,
// an end). A form the PS did not offer is ErrStage.
func (u *UI) decision(c *gin.Context) (interact.Decision, error) {
	d := interact.Decision{Action: c.Param("action")}
	if err := c.Request.ParseForm(); err != nil {
		return d, nil
	}
	form := c.Request.PostForm
	d.Question, d.Answer = form.Get("question"), form.Get("answer")
	d.Remember = form.Get("remember") == "on"
	d.Shown = form.Get("shown")
	if desc, ok := form["description"]; ok {
		joined := strings.Join(desc, "\n")
		d.Edits.Description = &joined
	}
	_, toolsSubmitted := form["tools_submitted"]
	d.Edits.Tools = mission.Selection{Edited: toolsSubmitted, Keep: lines(form["tools"])}
	_, resSubmitted := form["resources_submitted"]
	d.Edits.Resources = mission.Selection{Edited: resSubmitted, Keep: lines(form["resources"])}
	if _, ok := form["scopes_submitted"]; ok {
		d.Scopes = interact.ScopeChoice{Submitted: true, Approved: form["scope"]}
	}
	if _, ok := form["r3_submitted"]; ok {
		// r3_op_<index> = granted | per_call | none, one per operation.
		d.R3 = interact.R3Choice{Submitted: true, Modes: map[int]string{}}
		for name, vs := range form {
			i, err := strconv.Atoi(strings.TrimPrefix(name, "r3_op_"))
			if !strings.HasPrefix(name, "r3_op_") || err != nil || i < 0 || i >= resourcetoken.MaxR3Operations || len(vs) == 0 {
				continue
			}
			d.R3.Modes[i] = vs[0]
		}
	}
	if d.Action == "narrow" {
		d.Authority = authorityEdit(form)
	}
	if exp := form.Get("expires"); exp != "" {
		life, err := u.lifetime(exp)
		if err != nil {
			return d, err
		}
		d.Edits.Lifetime = life
	}
	return d, nil
}

// lines splits form values on newlines, trimmed, without empty lines.
func lines(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, l := range strings.Split(v, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, l)
			}
		}
	}
	return out
}

func (u *UI) interactError(c *gin.Context, s *session, id string, err error) error {
	status, heading, msg := http.StatusBadRequest, "", ""
	switch {
	case errors.Is(err, interact.ErrNotFound):
		status, heading, msg = http.StatusNotFound, "Request not found", "There is no such request. The agent may have given you a wrong link."
	case errors.Is(err, interact.ErrNotYours):
		status, heading, msg = http.StatusForbidden, "Not your request", "This request is addressed to another person. Log out and let them decide."
	case errors.Is(err, interact.ErrCode):
		heading, msg = "Code not valid", "The code is wrong or was already used. Check the code the agent shows you, or ask it to start again."
		var ce *interact.CodeError
		if errors.As(err, &ce) {
			switch {
			case ce.LockedOut:
				u.renderStatus(c, http.StatusGone, s, "Request ended",
					"This request ended because a wrong code was entered too many times, so that no one can guess it. "+
						"The agent has been told. Ask the agent to start again if you still want it.")
				return nil
			case ce.UsedByYou:
				u.renderUsedLink(c, s, id, ce)
				return nil
			case ce.Left > 0:
				tries := "1 more wrong code ends this request."
				if ce.Left > 1 {
					tries = strconv.Itoa(ce.Left) + " more wrong codes end this request."
				}
				if u.codeForm(c, s, id, "That code is not valid. "+tries) {
					return nil
				}
			}
		}
	case errors.Is(err, interact.ErrExpired):
		status, heading, msg = http.StatusGone, "Request expired", "This request expired. Ask the agent to start again."
	case errors.Is(err, interact.ErrBadCallback):
		heading, msg = "Unknown return address", "The agent asked to send you back to an address its provider did not register, so this server will not follow it."
	default:
		return err
	}
	u.renderStatus(c, status, s, heading, msg)
	return nil
}

// renderUsedLink tells the person who used an interaction link what
// became of it, without showing the request through the code again
// (PS-162): when they used it and how the request ended.
func (u *UI) renderUsedLink(c *gin.Context, s *session, id string, ce *interact.CodeError) {
	p := u.pageFor(c, s, "Link already used")
	v := templates.UsedLinkView{RequestURL: "/interact/" + id, UsedAt: ce.UsedAt}
	if o := ce.Outcome; o != nil {
		v.Ended, v.What = true, endings[o.End]
		if said, ok := decided[o.Kind]; ok && o.OK && o.End == interact.EndDone {
			v.What = said
		}
	}
	u.render(c, http.StatusBadRequest, templates.UsedLinkPage(p, v))
}

// codeForm re-shows the code entry for a wrong code (the request still open).
func (u *UI) codeForm(c *gin.Context, s *session, id, msg string) bool {
	r, err := u.opt.Interact.Open(ctx(c), id, s.person, "", "")
	if err != nil || r == nil || !r.NeedCode {
		return false
	}
	p := u.pageFor(c, s, "Enter the code")
	p.Error = msg
	v := u.interactView(r)
	v.Grant = grantSummary(r, s.person)
	u.renderInteract(c, http.StatusBadRequest, p, v)
	return true
}

// interactView maps the domain consent onto the page, sanitizing every
// piece of agent-asserted Markdown (PS-168) and keeping it attributed.
func (u *UI) interactView(cons *interact.Consent) templates.InteractView {
	v := templates.InteractView{ID: cons.ID, Action: "/interact/" + cons.ID, Shown: cons.Shown}
	if cons.NeedCode {
		v.Stage, v.Headline = templates.StageEnterCode, "Enter the code from your agent"
		return v
	}
	if cons.Outcome != nil {
		return outcomeView(cons.ID, cons.Outcome)
	}
	v.Facts = templates.PSFacts{AgentID: cons.Agent.Sub, Provider: cons.Agent.Iss, KeyThumbprint: cons.Agent.Thumbprint(),
		NewEnrollment: cons.NewEnrollment, RequestCreated: cons.Created, Expires: cons.Expires, Code: cons.Code}
	if cons.Bound {
		v.Facts.BoundTo = "you"
	}
	v.Agent = templates.AssertedByAgent{AgentID: cons.Agent.Sub, Platform: cons.Agent.Platform, Device: cons.Agent.Device,
		ProviderName: markdown.Plain(cons.ProviderName), ProviderDescription: markdown.Render(cons.ProviderDescription)}
	if cons.ProviderLogo != "" && len(cons.ProviderLogo) < 2048 && hasHTTPS(cons.ProviderLogo) {
		v.Agent.ProviderLogo = cons.ProviderLogo
	}
	for _, st := range cons.Statements {
		v.Agent.Statements = append(v.Agent.Statements, templates.Statement{Label: statementLabels[st.Kind], HTML: markdown.Render(st.Markdown), At: st.At})
	}
	for _, x := range cons.Chat {
		cl := templates.Clarification{Question: x.Question, Asked: x.AskedAt, ByServer: cons.ServerAsked[x.Question],
			ByAccessServer: cons.ASAsked[x.Question]}
		if x.Action == aauth.ActionClarificationResponse || x.Answer != "" {
			at := x.AnsweredAt
			cl.Answer, cl.Answered = markdown.Render(x.Answer), &at
		}
		v.Chat = append(v.Chat, cl)
	}
	if cons.Outstanding != nil {
		v.Chat = append(v.Chat, templates.Clarification{Question: cons.Outstanding.Text, Asked: cons.Outstanding.AskedAt,
			ByServer: cons.ServerAsked[cons.Outstanding.Text], ByAccessServer: cons.ASAsked[cons.Outstanding.Text]})
	}
	v.CanAsk, v.AskNote, v.RelayURL, v.Wording = cons.AskBlocked == interact.AskAllowed, askNotes[cons.AskBlocked], cons.RelayURL, wording(cons)
	if cons.Resource != nil {
		rv := resourceView(*cons.Resource)
		for _, sc := range cons.Scopes {
			rv.Scopes = append(rv.Scopes, templates.ScopeView{Name: sc.Name, Description: markdown.Plain(sc.Description)})
		}
		if d := cons.R3; d != nil {
			rv.R3 = &templates.R3View{Summary: markdown.Render(d.Summary), Implications: markdown.Render(d.Implications),
				DataAccessed: markdown.Render(d.DataAccessed), Irreversible: markdown.Render(d.Irreversible), Detail: markdown.Render(d.Detail),
				Operations: cons.R3Operations, Parameters: cons.R3Parameters}
		}
		v.Resource = &rv
	}
	if cons.Mission != nil {
		v.Approved = missionView(cons.Mission)
	}
	if cons.Review != nil {
		rv := &templates.ReviewView{Description: cons.Review.Description, Ends: u.ends()}
		for _, t := range cons.Review.Tools {
			rv.Tools = append(rv.Tools, templates.ToolView{Name: t.Name, Description: markdown.Plain(t.Description)})
		}
		for _, r := range cons.Review.Resources {
			rv.Resources = append(rv.Resources, resourceView(r.ResourceInfo))
		}
		if cons.Review.Authority != nil {
			rv.Authority = authorityView(cons.Review.Authority)
		}
		v.Review = rv
	}
	switch {
	case cons.Kind == authtoken.KindAuthToken && cons.Stage == authtoken.StageNarrowed:
		// Before a question outstanding: the question is this server's.
		v.Stage, v.Headline, v.Refresh = templates.StageWaitAnswer, "Waiting for your agent to ask for less", 3
		v.WaitNote = "Your mission does not allow all of this request. The agent is asked to send it again with only what the mission allows; this page updates by itself."
		v.AskNote = ""
	case cons.Outstanding != nil:
		v.Stage, v.Headline, v.Refresh = templates.StageWaitAnswer, "Waiting for the agent's answer", 3
	case cons.Stage == interact.StageRoleStep:
		v.Stage, v.Headline, v.Refresh = templates.StageWaitAnswer, "Waiting for a step someone else records", 10
		v.WaitNote = "You allowed it. Your mission also needs a step that only someone with an approver role records; the agent is told the outcome once it is recorded. You may still refuse."
		v.AskNote = ""
	case cons.Stage == interact.StageBinding:
		v.Stage, v.Headline = templates.StageBind, "An agent wants to act for you"
	case cons.Stage == interact.StageQuestion:
		v.Stage, v.Headline = templates.StageQuestion, "Your agent has a question"
	case cons.Stage == interact.StageRelay:
		v.Stage, v.Headline = templates.StageRelay, "Your agent asks you to continue elsewhere"
	case cons.Kind == authtoken.KindAuthToken && cons.Stage == authtoken.StageResource:
		v.Stage, v.Headline, v.RelayByResource = templates.StageRelay, "The resource needs you first", true
	case cons.Kind == authtoken.KindAuthToken && cons.Stage == authtoken.StageASInteraction:
		v.Stage, v.Headline, v.RelayByResource = templates.StageRelay, "The resource's access server needs you first", true
	case cons.Kind == authtoken.KindAuthToken && cons.Stage == authtoken.StageASQuestion && cons.ASQuestion != nil:
		v.Stage, v.Headline = templates.StageQuestion, "The resource's access server has a question"
		v.AnswerLabel, v.ASQuestion = "Your answer to the access server", asQuestionView(cons.ASQuestion)
	case cons.Kind == authtoken.KindAuthToken && cons.Stage == authtoken.StageASClaims:
		v.Stage, v.Headline = templates.StageApproval, "The resource's access server asks for your details"
		v.ApproveLabel, v.DenyLabel = "Share these details", "Refuse"
		v.ASClaims = asClaimsView(cons.ASClaims)
	case cons.Kind == authtoken.KindAuthToken && cons.Stage == authtoken.StageASPayment:
		v.Stage, v.Headline = templates.StageApproval, "The resource's access server asks for a billing relationship"
		v.ApproveLabel, v.DenyLabel = "Accept billing with this access server", "Refuse"
	case cons.Kind == authtoken.KindAuthToken && (cons.Stage == authtoken.StageAccessServer || cons.Stage == authtoken.StageASClarification):
		v.Stage, v.Headline, v.Refresh = templates.StageWaitAnswer, "Waiting for the resource's access server", 3
		v.WaitNote = "You allowed it. The resource's access server is deciding now; this page updates by itself, and the agent is told the outcome."
	case cons.Review != nil:
		v.Stage, v.Headline = templates.StageMissionReview, "Your agent proposes a mission"
	case cons.Kind == aauth.PendingPersonToken:
		v.Stage, v.Headline = templates.StageApproval, "Your agent wants to act as you"
		v.ApproveLabel, v.DenyLabel = "Allow", "Refuse"
	case cons.Kind == authtoken.KindAuthToken:
		v.Stage, v.Headline = templates.StageApproval, "Your agent asks for access"
		v.ApproveLabel, v.DenyLabel = "Allow", "Refuse"
		v.ScopeChoice = v.Resource != nil && (len(v.Resource.Scopes) > 0 || (v.Resource.R3 != nil && v.Resource.R3.Parameters == "" && len(v.Resource.R3.Operations) > 0))
	case cons.Kind == aauth.PendingPermission:
		v.Stage, v.Headline = templates.StageApproval, "Your agent asks for permission"
		v.ApproveLabel, v.DenyLabel, v.Remember = "Allow", "Refuse", true
	case cons.Kind == missionflow.KindCompletion:
		v.Stage, v.Headline = templates.StageApproval, "Your agent says the mission is done"
		v.ApproveLabel, v.DenyLabel = "Accept: the mission is done", "Not done yet"
		// "Not done yet" is a follow-up question to the agent when it
		// can answer one: the mission stays active and the exchange is
		// logged (issue 9 item 6). Otherwise it can only refuse.
		v.FollowUp = v.CanAsk
	default:
		v.Stage, v.Headline = templates.StageApproval, "Your agent asks for your approval"
	}
	return v
}

func outcomeView(id string, o *interact.Outcome) templates.InteractView {
	v := templates.InteractView{ID: id, Action: "/interact/" + id, Message: endings[o.End], Callback: o.Callback}
	switch {
	case o.Redirect != "":
		v.Stage, v.Headline, v.Callback = templates.StageDone, "Opening the link", o.Redirect
		v.RefreshURL = o.Redirect
	case o.OK:
		v.Stage, v.Headline = templates.StageDone, "Done"
		v.RefreshURL = o.Callback
		if said, ok := decided[o.Kind]; ok && o.End == interact.EndDone {
			v.Message = said
		}
	default:
		v.Stage, v.Headline = templates.StageFailed, "Request ended"
		v.RefreshURL = o.Callback
	}
	return v
}

// decided restates the person's decision on a request that ended well,
// by kind (issue 9 item 9).
var decided = map[string]string{
	aauth.PendingPersonToken:   "You let the agent act as you at this resource. It stands until you remove it on \u201cWhat your agents can access\u201d. The agent has been told.",
	authtoken.KindAuthToken:    "You gave the agent the access it asked for. It stands until you remove it on \u201cWhat your agents can access\u201d. The agent has been told.",
	missionflow.KindProposal:   "You approved the mission. The agent may act as you within it until it ends. The agent has been told.",
	missionflow.KindCompletion: "You accepted that the mission is done: it has ended. The agent has been told.",
	interact.KindBinding:       "You connected this agent. The agent has been told.",
	interact.KindRelay:         "You answered the agent. The agent has been told.",
}

// statementLabels title what an agent asserted.
var statementLabels = map[interact.StatementKind]string{
	interact.StatementWhy:             "Why",
	interact.StatementQuestion:        "Question for you",
	interact.StatementJustification:   "Justification",
	interact.StatementProposedMission: "Proposed mission",
	interact.StatementSummary:         "Summary of the work",
	interact.StatementPermission:      "What it wants to do",
}

// askNotes explain why the person cannot ask the agent a question now.
var askNotes = map[interact.AskBlock]string{
	interact.AskNoCapability:   "This agent did not say it can answer questions.",
	interact.AskOutstanding:    "Wait for the agent to answer your question.",
	interact.AskRoundsExceeded: "You have asked the agent as many questions as this server allows.",
}

// endings tell the person how a request ended.
var endings = map[interact.Ending]string{
	interact.EndDone:         "Done. The agent has been told.",
	interact.EndUnengaged:    "The agent stopped waiting for this link.",
	interact.EndWithdrawn:    "The agent withdrew this request.",
	interact.EndExpired:      "This request expired.",
	interact.EndAbandoned:    "This request was abandoned.",
	interact.EndRefused:      "This request was refused.",
	interact.EndRevoked:      "This request ended: a token it was started with was revoked, so nothing can be granted on it.",
	interact.EndAgentRevoked: "This request ended: you revoked this agent, so nothing was sent to it and nothing can be granted on it.",
	interact.EndAgentUnbound: "This request ended: you disconnected this agent, so nothing was sent to it and nothing can be granted on it.",
	interact.EndLinkRefused:  "This link points somewhere this server does not send people.",
	interact.EndOpeningLink:  "Opening the link…",
}

// wording is the PS's own sentence for the decision the person makes.
func wording(cons *interact.Consent) string {
	switch {
	case cons.Review != nil:
		return "Approve this mission for the agent? You can edit it first: the agent works within what you approve."
	case cons.Kind == aauth.PendingPersonToken && cons.Resource != nil:
		name := cons.Resource.Name
		if name == "" {
			name = cons.Resource.Issuer
		}
		return fmt.Sprintf("Let this agent act at %s as you? The resource will know it is you, and may serve the agent on that alone.", name)
	case cons.ASClaims != nil:
		return "You already allowed the access. May " + cons.ASClaims.AccessServer +
			" receive the details listed above? Whatever you choose is remembered for this access server; if you refuse, it receives nothing and the agent is told no."
	case cons.Kind == authtoken.KindAuthToken && cons.Resource != nil:
		name := cons.Resource.Name
		if name == "" {
			name = cons.Resource.Issuer
		}
		return fmt.Sprintf("Give this agent the access listed above at %s, as you?", name)
	case cons.Kind == aauth.PendingPermission:
		return "May the agent do what it describes above? Only the agent says what it will do; this server cannot check it."
	case cons.Kind == missionflow.KindCompletion:
		return "The agent says this mission is done. Accept, and the mission ends; or ask a question, and it stays active."
	}
	return ""
}

// waitingItem words an open request on the person's home page: what kind
// of thing waits (mission, token, question) and its title (issue 9 item 9).
func waitingItem(w interact.WaitingItem) templates.WaitingItem {
	what := "Decide on an agent's request"
	switch {
	case w.Stage == interact.StageBinding:
		what = "Connect a new agent"
	case w.Kind == missionflow.KindProposal:
		what = "Mission proposed: " + title(w.Text)
	case w.Kind == missionflow.KindCompletion:
		what = "Mission done? " + title(w.Text)
	case w.Kind == aauth.PendingPersonToken && w.Resource != "":
		what = "Token: act as you at " + w.Resource
	case w.Kind == authtoken.KindAuthToken && w.Resource != "":
		what = "Token: access at " + w.Resource
		if len(w.Scopes) > 0 {
			what += " (" + strings.Join(w.Scopes, " ") + ")"
		}
	case w.Stage == interact.StageQuestion && w.Text != "":
		what = "Question: " + title(w.Text)
	case w.Stage == interact.StageQuestion:
		what = "Answer an agent's question"
	case w.Stage == interact.StageRelay:
		what = "Open a link an agent relayed"
		if w.Text != "" {
			what += ": " + title(w.Text)
		}
	}
	return templates.WaitingItem{URL: w.URL, What: what, AgentID: w.AgentID, Provider: w.Provider, Created: w.Created, Interacting: w.Interacting}
}

func resourceView(r interact.ResourceInfo) templates.ResourceView {
	return templates.ResourceView{Issuer: r.Issuer, Name: markdown.Plain(r.Name), Description: markdown.Render(r.Description),
		AccessMode: r.AccessMode, LogoURI: r.LogoURI, Unavailable: r.Unavailable}
}

func missionView(m *interact.MissionInfo) *templates.MissionView {
	v := &templates.MissionView{S256: m.S256, URL: "/missions/" + m.S256, Description: markdown.Render(m.Description),
		Tools: m.Tools, Resources: m.Resources, ExpiresAt: m.ExpiresAt}
	for _, up := range m.Updates {
		v.Updates = append(v.Updates, templates.Statement{Label: "Reported by the agent", HTML: markdown.Render(up.Markdown), At: up.At})
	}
	return v
}

// renderInteract renders an interaction page; its refresh goes in <head>.
func (u *UI) renderInteract(c *gin.Context, status int, p templates.Page, v templates.InteractView) {
	p.Refresh, p.RefreshURL = v.Refresh, v.RefreshURL
	u.render(c, status, templates.InteractPage(p, v))
}

func hasHTTPS(s string) bool { return len(s) > 8 && s[:8] == "https://" }
