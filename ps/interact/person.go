package interact

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/agents"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/resourcetoken"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

// Person-side errors; the web layer turns them into pages.
var (
	// ErrNotFound: no such pending request (or one the person may not see).
	ErrNotFound = errors.New("interact: no such request")
	// ErrNotYours: the request is addressed to another person (PS-165).
	ErrNotYours = errors.New("interact: this request is for another person")
	// ErrCode: the code is wrong, already used, or the request failed after
	// too many wrong codes (PS-162, PS-163).
	ErrCode = errors.New("interact: the code is not valid")
	// ErrExpired: the request expired before the person arrived (PS-162).
	ErrExpired = errors.New("interact: the request has expired")
	// ErrBadCallback: the callback is not one the agent's provider registered (PS-170).
	ErrBadCallback = errors.New("interact: the agent's return address is not registered by its provider")
	// ErrStage: the action does not fit the request's current stage.
	ErrStage = errors.New("interact: that action is not available now")
	// ErrChanged: the request changed after the person's page was shown
	// (an agent's updated_request, PS-177, or a new stage); nothing was
	// decided and the page shows the request as it is now.
	ErrChanged = fmt.Errorf("%w: the request changed while you were reading it (the agent may have sent a new version). "+
		"Nothing was decided: review it as it is now, then decide again", ErrStage)
)

// CodeError is an ErrCode with the facts the person is told (issue 9 item
// 9): how many wrong codes remain before the request ends, that it ended
// for that reason, or, for the person who used the code, when.
type CodeError struct {
	// Left is how many more wrong codes end the request (wrong code, the
	// request still open).
	Left int
	// LockedOut: the request ended after too many wrong codes (PS-163).
	LockedOut bool
	// UsedByYou: the person presenting it used this code at UsedAt; Ended
	// says whether the request has ended since, Outcome how.
	UsedByYou bool
	UsedAt    time.Time
	Outcome   *Outcome
}

func (e *CodeError) Error() string        { return ErrCode.Error() }
func (e *CodeError) Is(target error) bool { return target == ErrCode }

// codeError explains why the code presented for r is not valid to p,
// logging a lockout for the operator.
func (s *Service) codeError(ctx context.Context, r *pending.Request, p *account.Person) error {
	maxAttempts := s.o.Engine.Options().MaxCodeAttempts
	switch {
	case r.CodeConsumedAt != nil && r.PersonID == p.ID:
		e := &CodeError{UsedByYou: true, UsedAt: *r.CodeConsumedAt}
		if !r.State.Open() {
			e.Outcome = outcomeOf(r)
		}
		return e
	case r.CodeConsumedAt == nil && r.CodeAttempts >= maxAttempts:
		return &CodeError{LockedOut: true}
	case r.State.Open() && r.CodeConsumedAt == nil:
		return &CodeError{Left: maxAttempts - r.CodeAttempts}
	}
	return ErrCode
}

// StatementKind says what an agent-asserted statement is; the UI words it.
type StatementKind string

// Kinds of statements an agent makes to its person.
const (
	StatementWhy             StatementKind = "why"              // a relay's description
	StatementQuestion        StatementKind = "question"         // a relayed question
	StatementJustification   StatementKind = "justification"    // a person-token request's justification
	StatementProposedMission StatementKind = "proposed_mission" // a mission proposal's description
	StatementSummary         StatementKind = "summary"          // a completion's summary of the work
	StatementPermission      StatementKind = "permission"       // a permission request: the action, its description and parameters
)

// Statement is agent-asserted Markdown (sanitized by the UI).
type Statement struct {
	Kind     StatementKind
	Markdown string
	At       time.Time
}

// AskBlock is why the person cannot ask the agent a question now.
type AskBlock string

// Reasons the person cannot ask a clarification question.
const (
	AskAllowed        AskBlock = ""
	AskNoCapability   AskBlock = "no_capability"   // the agent did not declare clarification
	AskOutstanding    AskBlock = "outstanding"     // the previous question is unanswered
	AskRoundsExceeded AskBlock = "rounds_exceeded" // the PS's round limit is reached
	AskClosed         AskBlock = "closed"          // the request ended
)

// Consent is what the person sees for a pending request.
type Consent struct {
	ID            string
	Kind, Stage   string
	State         pending.State
	Agent         tokens.Agent
	NewEnrollment bool
	// Provider display values from its metadata: agent-asserted.
	ProviderName, ProviderDescription, ProviderLogo string
	Statements                                      []Statement
	Chat                                            []pending.Exchange
	Outstanding                                     *pending.Question
	// ServerAsked are the questions (by text) of Chat and Outstanding that
	// this server asked the agent itself, not the person (a mission's
	// narrowing: "ask again for less"); set by Kind.Describe.
	ServerAsked map[string]bool
	// ASAsked are the questions (by text) an access server asked that the
	// PS passed to the agent (four-party), each with the AS's issuer.
	ASAsked map[string]string
	// AskBlocked is why the person cannot ask a question now (AskAllowed: they can).
	AskBlocked AskBlock
	RelayURL   string
	Expires    time.Time
	Created    time.Time
	// Bound: the agent is connected to this person (PS facts).
	Bound bool
	// Kind-specific content (see Kind.Describe).
	Resource *ResourceInfo // resource-asserted
	Scopes   []ScopeInfo   // resource-asserted: the scopes asked, described by the resource
	// R3 is the display of the R3 document the resource named
	// (resource-asserted, R3§r3-processing).
	R3 *resourcetoken.R3Display
	// R3Operations name the document's operations in its order, each the
	// person may grant outright, per call or not at all; R3Parameters is
	// a per-call proposal's parameters (indented JSON, resource-asserted),
	// approved for that one call: then there is no per-operation choice.
	R3Operations []string
	R3Parameters string
	Mission      *MissionInfo // what the person approved before
	Review       *Review      // a proposal the person may edit
	// NeedCode is set when the person must enter the code first.
	NeedCode bool
	// Code is the interaction code the person arrived with, in display
	// form, on the visit that used it ("" on any other).
	Code string
	// Shown names the request as this view shows it (pending.Request.Digest):
	// the page sends it back with a decision (Decision.Shown).
	Shown string
	// Outcome is set once the request ended.
	Outcome *Outcome
	// ASClaims is an access server's request for the person's details
	// (four-party requirement=claims), asked the first time.
	ASClaims *ASClaims
	// ASQuestion is an access server's question put to the person
	// (four-party requirement=clarification).
	ASQuestion *ASQuestion
}

// Ending is how a request ended, as the person is told.
type Ending string

// The endings of a request.
const (
	EndDone         Ending = "done"          // completed; the agent has been told
	EndUnengaged    Ending = "unengaged"     // a relay whose max_wait passed first
	EndWithdrawn    Ending = "withdrawn"     // the agent cancelled it
	EndExpired      Ending = "expired"       // it expired
	EndAbandoned    Ending = "abandoned"     // it was abandoned
	EndRefused      Ending = "refused"       // denied or failed
	EndRevoked      Ending = "revoked"       // a token it was started with was revoked (PS-280)
	EndAgentRevoked Ending = "agent_revoked" // the person revoked the agent (A-40 (c))
	EndAgentUnbound Ending = "agent_unbound" // the person disconnected the agent
	EndLinkRefused  Ending = "link_refused"  // a relayed link into a private network
	EndOpeningLink  Ending = "opening_link"  // the person follows a relayed link
)

// Outcome is how a decision ended, for the completion page.
type Outcome struct {
	// Kind and Stage are the request's when it ended: the UI restates
	// the decision from them.
	Kind, Stage string
	OK          bool
	End         Ending
	Callback    string // the agent's callback, with ?error= on failure; "" when none
	Redirect    string // an external https URL to send the browser to (a relayed link)
}

// Open is the person arriving at the interaction URL, with the code and
// the agent's callback when they came from the agent (P§user-interaction).
// The code only correlates the browser with the request; the decision
// needs the authenticated person (PS-164).
func (s *Service) Open(ctx context.Context, id string, p *account.Person, code, callback string) (*Consent, error) {
	if err := s.settle(ctx, id); err != nil && !ended(err) {
		return nil, err
	}
	r, err := s.o.Engine.Get(ctx, id)
	if err != nil {
		if errors.Is(err, pending.ErrNotFound) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	// A code is single-use (PS-162, P§interaction-code-format): once
	// consumed, any later presentation of it, the holder's included, is
	// invalid_code; the holder returns through the URL without the code.
	usedCode := code != "" && r.CodeConsumedAt != nil
	if r.PersonID != "" && r.PersonID != p.ID && !usedCode {
		return nil, ErrNotYours
	}
	if !r.State.Open() {
		switch {
		case r.State == pending.StateExpired && (code != "" || r.PersonID == ""):
			return nil, ErrExpired // PS-162
		case code != "":
			// The code was used, or the request failed after too many wrong
			// codes, or it was decided out of band: a code presented now is
			// not valid (PS-162, PS-163, PS-281).
			return nil, s.codeError(ctx, r, p)
		case r.PersonID == "":
			return &Consent{ID: id, NeedCode: true}, nil
		}
		return s.consent(ctx, r)
	}
	if usedCode {
		return nil, s.codeError(ctx, r, p)
	}
	holder := r.PersonID == p.ID
	if code != "" {
		cb := ""
		if callback != "" {
			if cb, err = s.checkCallback(ctx, r.Requester.Issuer, callback); err != nil {
				return nil, err
			}
		}
		if _, err = s.o.Engine.ConsumeCode(ctx, id, code); err != nil {
			switch {
			case errors.Is(err, pending.ErrExpired):
				return nil, ErrExpired
			case errors.Is(err, pending.ErrInvalidCode):
				after, gerr := s.o.Engine.Get(ctx, id)
				if gerr != nil {
					return nil, ErrCode
				}
				cerr := s.codeError(ctx, after, p)
				if ce, ok := cerr.(*CodeError); ok && ce.LockedOut && r.State.Open() {
					// This wrong code ended the request (PS-163).
					s.log.WarnContext(ctx, "interaction code lockout", "pending", id, "kind", r.Kind, "agent", r.Requester.Subject,
						"provider", r.Requester.Issuer, "person", p.ID, "username", p.Username, "attempts", after.CodeAttempts)
				}
				return nil, cerr
			}
			return nil, err
		}
		r, err = s.o.Engine.Update(ctx, id, func(x *pending.Request) error {
			if x.PersonID == "" {
				x.PersonID = p.ID
			}
			if cb != "" {
				x.Callback = cb
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		s.log.InfoContext(ctx, "person arrived with the interaction code", "pending", id, "person", p.ID)
	} else if !holder {
		return &Consent{ID: id, NeedCode: true}, nil
	}
	if r.State == pending.StatePending {
		if err := s.o.Engine.MarkInteracting(ctx, id); err != nil && !errors.Is(err, pending.ErrClosed) {
			return nil, err
		}
		if r, err = s.o.Engine.Get(ctx, id); err != nil {
			return nil, err
		}
	}
	c, err := s.consent(ctx, r)
	if err != nil {
		return nil, err
	}
	// The code just verified is shown for the person to compare with the
	// one their agent shows (P§interaction-code-format,
	// P§interaction-code-misdirection).
	c.Code = pending.DisplayCode(code)
	return c, nil
}

// checkCallback admits an agent's callback only when its provider's
// metadata registers it: https on the origin of callback_endpoint, or a
// loopback http URL when localhost_callback_allowed (PS-170).
func (s *Service) checkCallback(ctx context.Context, provider, callback string) (string, error) {
	u, err := url.Parse(callback)
	if err != nil || u.User != nil || u.Fragment != "" || u.Host == "" {
		return "", ErrBadCallback
	}
	md, err := s.o.Discovery.Metadata(ctx, provider, aauth.DWKAgent)
	if err != nil {
		return "", ErrBadCallback
	}
	if u.Scheme == "http" {
		allowed, _ := md["localhost_callback_allowed"].(bool)
		host := u.Hostname()
		if allowed && (host == "localhost" || net.ParseIP(host).IsLoopback()) {
			return u.String(), nil
		}
		return "", ErrBadCallback
	}
	ep, _ := md["callback_endpoint"].(string)
	reg, err := url.Parse(ep)
	if ep == "" || err != nil || u.Scheme != "https" || reg.Scheme != "https" || !strings.EqualFold(u.Host, reg.Host) {
		return "", ErrBadCallback
	}
	return u.String(), nil
}

// consent builds the person's view of a request.
func (s *Service) consent(ctx context.Context, r *pending.Request) (*Consent, error) {
	c := &Consent{ID: r.ID, Kind: r.Kind, Stage: r.Stage, State: r.State, Chat: r.Answers, Outstanding: r.Question,
		Expires: r.ExpiresAt, Created: r.CreatedAt, Shown: r.Digest()}
	// Every kind stores the agent under "agent" (tokens.Agent).
	var withAgent struct {
		Agent tokens.Agent `json:"agent"`
	}
	if json.Unmarshal(r.Payload, &withAgent) == nil {
		c.Agent = withAgent.Agent
	}
	if c.Agent.Sub == "" {
		c.Agent = tokens.Agent{Sub: r.Requester.Subject, Iss: r.Requester.Issuer}
	}
	var pl relayPayload
	if r.Kind == KindRelay && json.Unmarshal(r.Payload, &pl) == nil {
		req := pl.Request
		if req.Description != "" {
			c.Statements = append(c.Statements, Statement{Kind: StatementWhy, Markdown: req.Description, At: r.CreatedAt})
		}
		switch req.Type {
		case RelayQuestion:
			c.Statements = append(c.Statements, Statement{Kind: StatementQuestion, Markdown: req.Question, At: r.CreatedAt})
		case RelayInteraction, RelayPayment:
			c.RelayURL = relayTarget(req)
		}
	}
	if prov, err := s.o.Agents.Provider(ctx, r.Requester.Issuer); err == nil {
		c.ProviderName, c.ProviderDescription, c.ProviderLogo = prov.Name, prov.Description, prov.LogoURI
	}
	if b, err := s.o.Agents.Lookup(ctx, r.Requester.Issuer, r.Requester.Subject); errors.Is(err, agents.ErrNotFound) {
		c.NewEnrollment = r.Stage == StageBinding
	} else if err == nil {
		c.Bound = b.PersonID == r.PersonID && b.State == agents.BindingActive
	}
	if k := s.kind(r.Kind); k != nil {
		if err := k.Describe(ctx, r, c); err != nil {
			return nil, err
		}
	}
	switch {
	case !r.HasCapability(aauth.CapabilityClarification):
		c.AskBlocked = AskNoCapability
	case r.Question != nil:
		c.AskBlocked = AskOutstanding
	case r.Rounds >= s.o.Engine.Options().MaxClarificationRounds:
		c.AskBlocked = AskRoundsExceeded
	case !r.State.Open():
		c.AskBlocked = AskClosed
	}
	if !r.State.Open() {
		c.Outcome = outcomeOf(r)
	}
	return c, nil
}

// relayTarget is the link shown to the person: {url}?code={code}, with the
// code URL-encoded (PS-231).
func relayTarget(req RelayRequest) string {
	if req.Code == "" {
		return req.URL
	}
	sep := "?"
	if strings.Contains(req.URL, "?") {
		sep = "&"
	}
	return req.URL + sep + "code=" + url.QueryEscape(req.Code)
}

// outcomeOf describes a finished request to its person.
func outcomeOf(r *pending.Request) *Outcome {
	o := &Outcome{Kind: r.Kind, Stage: r.Stage}
	switch r.State {
	case pending.StateCompleted:
		var relayed struct {
			Engaged *bool `json:"engaged"`
		}
		if r.Kind == KindRelay && json.Unmarshal(r.ResultBody, &relayed) == nil && relayed.Engaged != nil && !*relayed.Engaged {
			o.End = EndUnengaged
			break
		}
		o.OK, o.End = true, EndDone
		o.Callback = r.Callback
	case pending.StateCancelled:
		o.End = EndWithdrawn
	case pending.StateExpired:
		o.End = EndExpired
		o.Callback = withError(r.Callback, "interaction_expired")
	case pending.StateAbandoned:
		o.End = EndAbandoned
		o.Callback = withError(r.Callback, "user_abandoned")
	default:
		o.End = EndRefused
		var failed struct {
			Error string `json:"error"`
		}
		switch end := Ending(r.ResultReason); {
		case end == EndAgentRevoked, end == EndAgentUnbound: // endedByPerson
			o.End = end
		case r.State == pending.StateFailed && json.Unmarshal(r.ResultBody, &failed) == nil && failed.Error == aauth.ErrRevoked:
			o.End = EndRevoked
		}
		o.Callback = withError(r.Callback, "access_denied")
	}
	return o
}

// withError appends ?error=code to a callback (P§interaction-callback-errors).
func withError(callback, code string) string {
	if callback == "" {
		return ""
	}
	u, err := url.Parse(callback)
	if err != nil {
		return ""
	}
	q := u.Query()
	q.Set("error", code)
	u.RawQuery = q.Encode()
	return u.String()
}

// Decide carries out a person's decision on a request they hold: approve
// (connect the agent, or approve the request), deny, ask (a clarification
// question), answer (the agent's question), open (a relayed link). An
// answer the agent may no longer get (Deliverable: the person revoked it
// meanwhile) delivers nothing: the request ends with the refusal.
func (s *Service) Decide(ctx context.Context, id string, p *account.Person, d Decision) (*Outcome, error) {
	out, err := s.decide(ctx, id, p, d)
	if errors.Is(err, pending.ErrChanged) {
		return nil, ErrChanged // the request moved under the decision's transaction
	}
	var re *pending.RefusedError
	if !errors.As(err, &re) {
		return out, err
	}
	if err := s.endWithRefusal(ctx, id, re); err != nil {
		return nil, err
	}
	return s.afterDecision(ctx, id)
}

// endRefused returns err unchanged unless it is a pending.RefusedError,
// which endWithRefusal then handles (and endRefused returns its error).
func (s *Service) endRefused(ctx context.Context, id string, err error) error {
	var re *pending.RefusedError
	if !errors.As(err, &re) {
		return err
	}
	return s.endWithRefusal(ctx, id, re)
}

// endWithRefusal ends request id with re's refusal: its answer may not
// be delivered (Deliverable), and the transaction that would have
// delivered it rolled back with the refusal it wrote. Outside a
// transaction the request has ended already (ErrClosed, ignored).
func (s *Service) endWithRefusal(ctx context.Context, id string, re *pending.RefusedError) error {
	if err := s.o.Engine.Refuse(ctx, id, &re.Refusal); err != nil && !ended(err) {
		return err
	}
	s.log.InfoContext(ctx, "answer not delivered", "pending", id, "reason", re.Problem.Detail)
	return nil
}

func (s *Service) decide(ctx context.Context, id string, p *account.Person, d Decision) (*Outcome, error) {
	action := d.Action
	// A relay whose max_wait passed ends unengaged before the person's
	// click counts (A-27: engaged is false when max_wait passed first).
	if err := s.settle(ctx, id); err != nil && !ended(err) {
		return nil, err
	}
	r, err := s.o.Engine.Get(ctx, id)
	if err != nil {
		if errors.Is(err, pending.ErrNotFound) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	if r.PersonID != p.ID {
		if r.PersonID == "" {
			return nil, ErrCode // the code was never presented by this person
		}
		return nil, ErrNotYours
	}
	if !r.State.Open() {
		return outcomeOf(r), nil
	}
	if givesSomething(action) && d.Shown != r.Digest() {
		s.log.InfoContext(ctx, "decision on a request that changed since it was shown", "pending", id, "action", action, "person", p.ID)
		return nil, ErrChanged
	}
	// Out-of-band completion (PS-281): a decision made without the code
	// consumes it, so a later visit with it fails.
	if r.HasCode && r.CodeConsumedAt == nil {
		if err := s.o.Engine.ConsumeOutOfBand(ctx, id); err != nil && !ended(err) {
			return nil, err
		}
	}
	if k := s.kind(r.Kind); k != nil && !(action == "approve" && r.Stage == StageBinding) {
		out, handled, err := k.Decide(ctx, r, p, d)
		if err != nil && !ended(err) {
			return nil, err
		}
		if handled {
			if out != nil {
				return out, nil
			}
			return s.afterDecision(ctx, id)
		}
	}
	switch action {
	case "deny":
		if err := s.o.Engine.Fail(ctx, id, http.StatusForbidden, aauth.ErrDenied, "the person declined"); err != nil && !ended(err) {
			return nil, err
		}
		s.log.InfoContext(ctx, "person declined", "pending", id, "person", p.ID)
	case "ask":
		q := trimmed(d.Question)
		if q == "" || len(q) > 2000 {
			return nil, fmt.Errorf("%w: a question of 1 to 2000 characters is needed", ErrStage)
		}
		if err := s.o.Engine.Ask(ctx, id, q, nil, s.o.ClarificationTimeout); err != nil {
			switch {
			case errors.Is(err, pending.ErrNoClarificationCapability):
				return nil, fmt.Errorf("%w: this agent cannot answer questions", ErrStage)
			case errors.Is(err, pending.ErrQuestionOutstanding):
				return nil, fmt.Errorf("%w: wait for the agent to answer your previous question", ErrStage)
			case !ended(err):
				return nil, err
			}
		}
	case "approve":
		if r.Stage != StageBinding {
			return nil, ErrStage
		}
		if err := s.bind(ctx, r, p); err != nil && !ended(err) {
			return nil, err
		}
	case "answer":
		a := trimmed(d.Answer)
		if r.Stage != StageQuestion || a == "" || len(a) > maxMarkdown {
			return nil, ErrStage
		}
		if err := s.o.Engine.Complete(ctx, id, http.StatusOK, map[string]any{"answer": a}); err != nil && !ended(err) {
			return nil, err
		}
	case "open":
		if r.Stage != StageRelay {
			return nil, ErrStage
		}
		var pl relayPayload
		if err := json.Unmarshal(r.Payload, &pl); err != nil {
			return nil, err
		}
		target := relayTarget(pl.Request)
		if err := s.o.Egress.Admit(ctx, target); err != nil {
			// A relayed link into a private network is not followed.
			_ = s.o.Engine.Fail(ctx, id, http.StatusForbidden, aauth.ErrDenied, "the relayed URL is not allowed")
			return &Outcome{End: EndLinkRefused}, nil
		}
		if err := s.o.Engine.Complete(ctx, id, http.StatusOK, map[string]any{"status": "relayed", "engaged": true}); err != nil {
			if !ended(err) {
				return nil, err
			}
			break // ended meanwhile (expired, withdrawn): show how
		}
		return &Outcome{OK: true, End: EndOpeningLink, Redirect: target}, nil
	default:
		return nil, ErrStage
	}
	return s.afterDecision(ctx, id)
}

// givesSomething reports the actions that give the agent something (a
// grant, an answer, a followed link): they count only on the request as
// the person's page showed it (Decision.Shown). Refusing, asking a
// question and narrowing a proposal give nothing, so a page made stale
// meanwhile still does them.
func givesSomething(action string) bool {
	return action == "approve" || action == "answer" || action == "open"
}

// afterDecision reports how a request stands after a decision: nil while
// it is still open (show it again), else its outcome.
func (s *Service) afterDecision(ctx context.Context, id string) (*Outcome, error) {
	r, err := s.o.Engine.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.State.Open() {
		return nil, nil
	}
	return outcomeOf(r), nil
}

// ended reports the errors that mean the request ended before or while the
// person's decision was applied: it expired (recorded by the engine), the
// agent withdrew it, another decision won, or the clarification round limit
// denied it. The person is then shown how it ended, never an error.
func ended(err error) bool {
	return errors.Is(err, pending.ErrClosed) || errors.Is(err, pending.ErrExpired) ||
		errors.Is(err, pending.ErrClarificationLimit)
}

// bind connects the agent to the person and moves the request on.
func (s *Service) bind(ctx context.Context, r *pending.Request, p *account.Person) error {
	blocked, err := s.o.Agents.BlockedBy(ctx, p.ID, r.Requester.Issuer)
	if err != nil {
		return err
	}
	if blocked {
		return s.o.Engine.Fail(ctx, r.ID, http.StatusForbidden, aauth.ErrDenied, "the person blocks this agent provider")
	}
	var pl relayPayload
	_ = json.Unmarshal(r.Payload, &pl)
	if _, err := s.o.Agents.Bind(ctx, r.Requester.Issuer, r.Requester.Subject, p.ID, pl.Agent.Platform, pl.Agent.Device); err != nil {
		if errors.Is(err, agents.ErrAlreadyBound) {
			end := &pending.Refusal{Problem: aauth.NewProblem(http.StatusForbidden, aauth.ErrDenied, "the agent is bound to another person")}
			if b, err := s.o.Agents.Lookup(ctx, r.Requester.Issuer, r.Requester.Subject); err == nil && b.PersonID == p.ID {
				end = endedByPerson(false) // hers, revoked: it cannot reconnect
			}
			_ = s.o.Engine.Refuse(ctx, r.ID, end)
			return nil
		}
		return err
	}
	s.log.InfoContext(ctx, "agent connected", "agent", r.Requester.Subject, "provider", r.Requester.Issuer, "person", p.ID, "username", p.Username)
	next := ""
	switch r.Kind {
	case KindRelay:
		next = StageRelay
		if pl.Request.Type == RelayQuestion {
			next = StageQuestion
		}
	default:
		if k := s.kind(r.Kind); k != nil {
			return k.Bound(ctx, r, p)
		}
		// A pure binding: the agent learns it is connected.
		return s.o.Engine.Complete(ctx, r.ID, http.StatusOK, map[string]any{"status": "bound"})
	}
	_, err = s.o.Engine.Update(ctx, r.ID, func(x *pending.Request) error {
		x.Stage = next
		return nil
	})
	return err
}
