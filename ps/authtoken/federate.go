package authtoken

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/aauth-ps/aauth-ps/federation"
	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/httpsig"
	"github.com/aauth-ps/aauth-ps/ps/interact"
	"github.com/aauth-ps/aauth-ps/ps/pending"
)

// The four-party branch (issue 11, P§ps-as-federation): when the resource
// token's aud is an access server, the PS makes its own decision exactly as
// in three-party (verified agent, person, mission, the person's consent)
// and then, instead of issuing, hands the request to federation/, which
// obtains and checks the AS's auth token. The stages below are the AS's
// needs that involve the person.
const (
	// StageAccessServer: the PS waits on the AS (approval, or polling).
	StageAccessServer = "access_server"
	// StageASInteraction: the person goes to the AS's interaction URL.
	StageASInteraction = "access_server_interaction"
	// StageASPayment: the AS asks for a billing relationship (402).
	StageASPayment = "access_server_payment"
	// StageASClarification: the AS's question is passed to the agent
	// (requirement=clarification on its pending URL); its answer goes on
	// to the AS.
	StageASClarification = "access_server_clarification"
)

// Federation is what the four-party branch needs besides the client.
type Federation struct {
	Client *federation.Client
	// Trusted admits an access server under the operator's policy, before
	// anything is fetched from it.
	Trusted func(ctx context.Context, as string) error
	// Release returns the claims of the person this PS releases to as out
	// of required (the operator's per-AS rules and the person's choice).
	Release func(ctx context.Context, personID, as string, required []string) (map[string]any, error)
	// Presented records that this PS presented a person token to as, so
	// its revocation reaches the AS (PS-274, PS-259).
	Presented func(ctx context.Context, personID, as, jti string, exp time.Time) error
	// Billing reports whether this PS has a billing relationship with as;
	// SetBilling records one (P§as-response: cached per AS).
	Billing    func(ctx context.Context, as string) (bool, error)
	SetBilling func(ctx context.Context, as, by string) error
	// Claims is the person's choice on releasing claims to an AS (see
	// fedclaims.go).
	Claims ClaimChoices
}

// Federated is the four-party part of a Grant.
type Federated struct {
	Request federation.Request `json:"request"`
	Wait    *federation.Wait   `json:"wait,omitempty"`
	// Asked is how many clarification exchanges the pending request had
	// when the AS's current question was passed to the agent.
	Asked int `json:"asked,omitempty"`
	// Answer is the person's answer to the AS's question, on its way.
	Answer string `json:"answer,omitempty"`
	// AgentAsked are the AS's questions passed to the agent, so the
	// person's page says the access server asked them, not the person.
	AgentAsked []string `json:"agent_asked,omitempty"`
	// Provisional is the mission decision's reservation, settled once the
	// AS's exchange ends (compensate.go).
	Provisional *composition.Provisional `json:"provisional,omitempty"`
	// Narrowed is the narrowing decision's mission_decision while the
	// agent is asked for less (stage mission_narrowed, mission.go).
	Narrowed *authority.MissionDecision `json:"narrowed,omitempty"`
	// Passed: the AS's interaction was passed to the agent (the PS cannot
	// reach the person); every 202 of its pending URL carries it
	// (fedinteraction.go).
	Passed bool `json:"passed,omitempty"`
	// FromMemory counts the AS's questions on this request the PS
	// answered from the person's standing answers (fedmemory.go).
	FromMemory int `json:"from_memory,omitempty"`
}

// accessServerCheck admits an aud that is not this PS when federation is
// configured and the operator trusts that AS.
func (s *Service) accessServerCheck(ctx context.Context) func(string) error {
	if s.o.Federation == nil {
		return nil
	}
	return func(as string) error {
		if err := s.o.Identifiers.CheckServer(as); err != nil {
			return err
		}
		return s.o.Federation.Trusted(ctx, as)
	}
}

// federable prepares g for the AS: the exact tokens the agent sent
// (PS-121). Without presented_token there is nothing to present. The AS
// is discovered now, before the person is asked about a request that
// could go nowhere: unusable metadata is 502 as_unreachable (PS-118).
func (s *Service) federable(ctx context.Context, g *Grant, a *httpsig.Agent, r *Request) error {
	if err := federableGrant(g); err != nil {
		return err
	}
	if r.PresentedToken == "" {
		return aauth.BadRequest("presented_token is required when the resource has an access server")
	}
	if _, err := s.o.Federation.Client.Discover(ctx, g.AccessServer); err != nil {
		s.o.Logger.WarnContext(ctx, "federation: as_unreachable", "access_server", g.AccessServer, "stage", "discovery", "reason", err.Error())
		p := federation.Unreachable()
		p.Cause = err
		return p
	}
	g.Federated = &Federated{Request: federation.Request{ResourceToken: r.ResourceToken, AgentToken: a.Token,
		PresentedToken: r.PresentedToken, SubagentToken: r.Chain.SubagentToken, UpstreamToken: r.Chain.UpstreamToken}}
	return nil
}

// federableGrant: g names neither an R3 document nor a resource
// interaction, which this PS does not federate.
func federableGrant(g *Grant) error {
	if g.R3 != nil || g.Interaction != nil {
		return aauth.NewProblem(http.StatusBadRequest, aauth.ErrInvalidResourceToken,
			"this person server does not federate R3 documents or resource interactions with an access server")
	}
	return nil
}

// expect is what the delivered token must carry: the scope the person
// granted bounds it (never broader than requested, PS-122).
func (s *Service) expect(g *Grant) federation.Request {
	req := g.Federated.Request
	req.Expect = federation.Expected{AccessServer: g.AccessServer, Resource: g.Resource, HolderJKT: g.Agent.HolderThumbprint(),
		Sub: g.Sub, Scope: g.Scope, PresentedExp: time.Unix(g.PresentedExp, 0)}
	if g.R3 != nil {
		req.Expect.R3URI, req.Expect.R3S256 = g.R3.URI, g.R3.S256
	}
	return req
}

func (s *Service) release(personID string) federation.ReleaseFunc {
	return func(ctx context.Context, as string, required []string) (map[string]any, error) {
		return s.o.Federation.Release(ctx, personID, as, required)
	}
}

// presentable: never an expired or revoked presented token (PS-274).
func (s *Service) presentable(ctx context.Context, g *Grant) error {
	if !time.Unix(g.PresentedExp, 0).After(s.o.Now()) {
		return aauth.NewProblem(http.StatusBadRequest, aauth.ErrExpiredPresentedToken,
			"the presented token has expired; obtain a fresh person token, then a fresh resource token")
	}
	if i, err := s.o.DB.FirstRevoked(ctx, s.presentedKeys(g.PresentedAS, g.PresentedJTI, g.PresentedVia)); err != nil {
		return err
	} else if i >= 0 {
		return revokedPresented(g.PresentedAS, i)
	}
	return nil
}

// exchangeable is asked before every exchange with g's AS: the operator
// may have distrusted it since the resource token was verified (then the
// request ends as a new one naming that AS would: 400
// invalid_resource_token), and the presented token must still be
// presentable.
func (s *Service) exchangeable(ctx context.Context, g *Grant) error {
	if err := s.o.Federation.Trusted(ctx, g.AccessServer); err != nil {
		if errors.Is(err, federation.ErrNotTrusted) {
			p := aauth.NewProblem(http.StatusBadRequest, aauth.ErrInvalidResourceToken,
				"the resource token's aud is no longer an access server this person server federates with")
			p.Cause = err
			return p
		}
		return err
	}
	return s.presentable(ctx, g)
}

// startAS sends the request to the AS and runs the loop as far as it goes.
func (s *Service) startAS(ctx context.Context, g *Grant) (*federation.Outcome, error) {
	if err := s.exchangeable(ctx, g); err != nil {
		return nil, err
	}
	req := s.expect(g)
	if err := s.presenting(ctx, g); err != nil {
		return nil, err
	}
	return s.o.Federation.Client.Start(ctx, &req, s.release(g.PersonID))
}

// presenting records that g's presented token goes to the AS (PS-274,
// PS-259): a person token (or auth token) of this PS; an AS's auth token
// is no token of this PS, and the person token it was obtained with is
// recorded as presented to the AS that issued it already.
func (s *Service) presenting(ctx context.Context, g *Grant) error {
	if g.PresentedAS != "" {
		return nil
	}
	return s.o.Federation.Presented(ctx, g.PersonID, g.AccessServer, g.PresentedJTI, time.Unix(g.PresentedExp, 0))
}

// delivered is the agent's answer for a verified AS token, logged in the
// mission.
func (s *Service) delivered(ctx context.Context, g *Grant, ms *mission.Record, d *federation.Delivered) (map[string]any, error) {
	if ms != nil && g.MissionS256 != "" && s.o.Decisions != nil {
		// The mission's four-party bound: withheld when the AS granted
		// more than the decision permitted (g.Scope, narrowed to it) or
		// past the mission's end.
		if err := authority.DeliveryCheck(&authority.Grant{Scopes: g.Scope}, d.Scope, nil, d.Exp, ms.ExpiresAt); err != nil {
			s.o.Logger.WarnContext(ctx, "federation: delivered token withheld", "access_server", g.AccessServer, "reason", err.Error())
			p := federation.Unreachable()
			p.Cause = err
			return nil, p
		}
	}
	if ms != nil {
		summary := "Auth token obtained from " + g.AccessServer + " for " + g.Resource + "."
		if err := s.o.Missions.Missions.Log(ctx, ms.S256, mission.Entry{Kind: "auth_token", Actor: "ps", Summary: summary}); err != nil {
			return nil, err
		}
	}
	s.o.Logger.InfoContext(ctx, "federation: auth token delivered", "access_server", g.AccessServer, "resource", g.Resource, "jti", d.JTI)
	return map[string]any{"auth_token": d.Token, "expires_in": max(0, int(d.Exp.Sub(s.o.Now()).Round(time.Second)/time.Second))}, nil
}

// federateNow is the covered path: the person's consent exists, so the AS
// is called at once; the agent gets 200, the relayed error, or a 202 while
// the AS needs time, the person or payment. A mission decision's
// reservation is settled by the answer when there is one (compensate.go).
func (s *Service) federateNow(ctx context.Context, a *httpsig.Agent, r *Request, g *Grant, ms *mission.Record, p *account.Person) (int, any, *pending.Response, error) {
	status, body, res, err := s.federateOnce(ctx, a, r, g, ms, p)
	switch {
	case err != nil:
		return 0, nil, nil, s.settled(ctx, g, nil, err)
	case status == http.StatusOK:
		if err := s.settled(ctx, g, deliveredOf(body), nil); err != nil {
			return 0, nil, nil, err
		}
	}
	return status, body, res, nil
}

func (s *Service) federateOnce(ctx context.Context, a *httpsig.Agent, r *Request, g *Grant, ms *mission.Record, p *account.Person) (int, any, *pending.Response, error) {
	out, err := s.startAS(ctx, g)
	if err != nil {
		return 0, nil, nil, err
	}
	if out.Token != nil {
		body, err := s.delivered(ctx, g, ms, out.Token)
		if err != nil {
			return 0, nil, nil, err
		}
		return http.StatusOK, body, nil, nil
	}
	g.Federated.Wait = out.Wait
	stage, err := s.waitStage(ctx, g)
	if err != nil {
		return 0, nil, nil, err
	}
	if stage == StageASClarification && s.remembered(ctx, g) != nil {
		// The person's standing answer: the request waits on the AS while
		// the PS answers (fromMemory). Should the mission stop meanwhile,
		// the poll meets the AS's question again and triages it.
		pr, err := s.waiting(ctx, a, r, g, p, StageAccessServer)
		if err != nil {
			return 0, nil, nil, err
		}
		s.fromMemory(ctx, pr.ID, g)
		if pr, err = s.o.Engine.Get(ctx, pr.ID); err != nil {
			return 0, nil, nil, err
		}
		resp := s.o.Engine.Respond(pr)
		s.continueAS(ctx, pr.ID, 0)
		return 0, nil, &resp, nil
	}
	stage = triage(stage, false, r.Capabilities)
	g.Federated.passedToAgent(stage)
	var res interact.Result
	if stage == StageAccessServer || stage == StageASClarification {
		pr, err := s.waiting(ctx, a, r, g, p, stage)
		if err != nil {
			return 0, nil, nil, err
		}
		if stage == StageASClarification {
			if err := s.askAgent(ctx, pr.ID, g); err != nil {
				return 0, nil, nil, err
			}
			if pr, err = s.o.Engine.Get(ctx, pr.ID); err != nil {
				return 0, nil, nil, err
			}
		}
		resp := s.o.Engine.Respond(pr)
		res = &resp
		s.continueAS(ctx, pr.ID, out.Wait.RetryAfter)
	} else {
		res, err = s.o.Interact.AskPerson(ctx, a, p, r.Capabilities, KindAuthToken, stage, g)
		if err != nil && stage == StageASInteraction && unreachable(err) {
			res, err = s.passInteraction(ctx, a, r, g, p)
			return 0, nil, res, err
		}
		if err != nil {
			return 0, nil, nil, err
		}
		if stage == StageASInteraction {
			s.continueAS(ctx, pendingID(res), time.Second)
		}
	}
	return 0, nil, res, nil
}

// waiting creates the pending request for g at stage where the PS, the
// AS or the agent acts next (not the person: Requirement approval).
func (s *Service) waiting(ctx context.Context, a *httpsig.Agent, r *Request, g *Grant, p *account.Person, stage string) (*pending.Request, error) {
	return s.waitingFor(ctx, a, r, g, p, stage, pending.RequirementApproval)
}

// waitingFor is waiting with requirement req (interaction: the request
// gets an interaction code).
func (s *Service) waitingFor(ctx context.Context, a *httpsig.Agent, r *Request, g *Grant, p *account.Person, stage string, req pending.Requirement) (*pending.Request, error) {
	raw, err := encode(g)
	if err != nil {
		return nil, err
	}
	pr, _, err := s.o.Engine.Create(ctx, pending.NewRequest{Kind: KindAuthToken, Stage: stage, Requester: interact.Requester(a),
		PersonID: p.ID, Capabilities: r.Capabilities, Payload: raw, Requirement: req, ClientAddr: a.ClientAddr})
	return pr, err
}

// pendingID is the id at the end of a 202's Location.
func pendingID(res interact.Result) string {
	if res == nil {
		return ""
	}
	u, err := url.Parse(res.Header.Get(aauth.HeaderLocation))
	if err != nil {
		return ""
	}
	return path(u.Path)
}

func path(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}

// waitStage is the stage for an AS wait: approval and polling need only
// time; payment needs the person unless a billing relationship exists;
// interaction sends the person to the AS; a clarification is answered
// from the person's standing answer (fedmemory.go) or triaged (triage).
func (s *Service) waitStage(ctx context.Context, g *Grant) (string, error) {
	w := g.Federated.Wait
	switch w.Requirement {
	case federation.WaitPayment:
		ok, err := s.o.Federation.Billing(ctx, g.AccessServer)
		if err != nil {
			return "", err
		}
		if ok {
			return StageAccessServer, nil
		}
		return StageASPayment, nil
	case aauth.RequirementInteraction:
		return StageASInteraction, nil
	case aauth.RequirementClarification:
		return StageASClarification, nil
	case federation.WaitClaims:
		return StageASClaims, nil
	}
	return StageAccessServer, nil
}

// continueAS keeps polling the AS for pending request id in the
// background until it ends: a token, an error, or a stage that waits on
// the person (payment). Only the replica holding the request's poll lease
// polls (poller.go). False when no loop started (shut down).
func (s *Service) continueAS(ctx context.Context, id string, first time.Duration) bool {
	if id == "" {
		return false
	}
	return s.polls.start(ctx, s.o.Engine.Options().Lifetime, func(bg context.Context) {
		defer s.unlease(bg, id)
		held := s.lease(bg, id, first)
		wait := first // the AS's Retry-After before the first poll
		for {
			if !held {
				wait = s.o.PollLease // another replica polls: check back
			}
			select {
			case <-time.After(wait):
			case <-bg.Done():
				return
			}
			// The step may poll for up to the client's budget: the lease
			// must outlast it, or another replica would poll meanwhile.
			if held = s.lease(bg, id, s.o.Federation.Client.Budget()); !held {
				if !s.open(bg, id) {
					return
				}
				continue
			}
			var again bool
			if again, wait = s.stepAS(bg, id); !again {
				return
			}
			held = s.lease(bg, id, wait)
		}
	})
}

// stepAS polls once (one Resume) and records where it stands; it reports
// whether to poll again, and after how long.
func (s *Service) stepAS(ctx context.Context, id string) (bool, time.Duration) {
	pr, err := s.o.Engine.Get(ctx, id)
	if err != nil || !pr.State.Open() {
		return false, 0
	}
	if pr.Stage == StageNarrowed {
		return s.narrowedAgain(ctx, pr)
	}
	g, err := kind{s}.load(pr)
	if err != nil || g.Federated == nil || g.Federated.Wait == nil {
		return false, 0
	}
	if personStage(pr.Stage) {
		return false, 0 // the person decides first
	}
	if err := s.exchangeable(ctx, g); err != nil {
		s.answerAS(ctx, id, nil, err)
		return false, 0
	}
	req := s.expect(g)
	var out *federation.Outcome
	if pr.Stage == StageASClarification {
		if pr.Question != nil || len(pr.Answers) <= g.Federated.Asked {
			return true, time.Second // the agent has not answered yet
		}
		out, err = s.forwardAnswer(ctx, &req, g, pr.Answers[len(pr.Answers)-1])
	} else if ans := g.Federated.Answer; ans != "" && g.Federated.Wait.Requirement == aauth.RequirementClarification {
		g.Federated.Answer = ""
		out, err = s.o.Federation.Client.Answer(ctx, &req, g.Federated.Wait.Location,
			map[string]any{"action": aauth.ActionClarificationResponse, "clarification_response": ans}, s.release(g.PersonID))
	} else if g.Federated.Wait.Requirement == federation.WaitClaims {
		out, err = s.releaseAllowed(ctx, &req, g)
	} else {
		out, err = s.o.Federation.Client.Resume(ctx, &req, g.Federated.Wait.Location, s.release(g.PersonID))
	}
	if err != nil {
		s.answerAS(ctx, id, nil, err)
		return false, 0
	}
	if out.Token != nil {
		ms, err := kind{s}.mission(ctx, g)
		if err != nil {
			s.answerAS(ctx, id, nil, err)
			return false, 0
		}
		body, err := s.delivered(ctx, g, ms, out.Token)
		s.answerAS(ctx, id, body, err)
		return false, 0
	}
	g.Federated.Wait = out.Wait
	stage, err := s.waitStage(ctx, g)
	if err != nil {
		s.answerAS(ctx, id, nil, err)
		return false, 0
	}
	if pr.Stage == StageASInteraction && stage == StageAccessServer {
		stage = StageASInteraction // the person's visit is still on its way
	}
	if stage == StageASClarification && s.fromMemory(ctx, id, g) {
		return true, 0 // the next step posts the standing answer
	}
	stage = triage(stage, personHere(pr), pr.Capabilities)
	g.Federated.Asked = len(pr.Answers)
	g.Federated.passedToAgent(stage)
	if _, err := s.o.Engine.Update(ctx, id, func(x *pending.Request) error {
		x.Stage = stage
		raw, err := encode(g)
		x.Payload = raw
		return err
	}); err != nil {
		return false, 0
	}
	if stage == StageASClarification {
		if err := s.askAgent(ctx, id, g); err != nil {
			return false, 0
		}
	}
	if personStage(stage) {
		return false, 0
	}
	return true, max(out.Wait.RetryAfter, time.Second)
}

func (s *Service) answerAS(ctx context.Context, id string, body any, err error) {
	if shuttingDown(ctx) {
		// Stopped (shutdown, or the loop's lifetime) mid-poll: the
		// request is left open, neither answered nor settled.
		s.o.Logger.InfoContext(context.WithoutCancel(ctx), "federation: polling stopped", "pending", id)
		return
	}
	if aerr := s.finish(ctx, id, nil, body, err); aerr != nil && !errors.Is(aerr, pending.ErrClosed) {
		s.o.Logger.WarnContext(ctx, "federation: answer the agent", "pending", id, "err", aerr)
	}
}

// decideAS is the person's decision at an AS stage: open the AS's
// interaction, or accept the payment (a billing relationship with that AS
// from now on) and continue.
func (k kind) decideAS(ctx context.Context, r *pending.Request, p *account.Person, d interact.Decision) (*interact.Outcome, bool, error) {
	g, err := k.load(r)
	if err != nil || g.Federated == nil || g.Federated.Wait == nil {
		return nil, true, err
	}
	switch {
	case r.Stage == StageASClaims:
		return k.decideClaims(ctx, r, g, d)
	case r.Stage == StageASQuestion:
		return k.decideQuestion(ctx, r, p, g, d)
	case r.Stage == StageASInteraction && (d.Action == "open" || d.Action == "approve"):
		// As for a resource's interaction: admitted again at the redirect,
		// and never to an AS distrusted since (the poller ends the request).
		if k.s.o.Federation.Trusted(ctx, g.AccessServer) != nil || k.s.o.R3 == nil || k.s.o.R3.Admit(ctx, g.Federated.Wait.URL) != nil {
			return &interact.Outcome{End: interact.EndLinkRefused}, true, nil
		}
		link := g.Federated.Wait.URL + "?" + url.Values{"code": {g.Federated.Wait.Code}}.Encode()
		return &interact.Outcome{Redirect: link}, true, nil
	case r.Stage == StageASPayment && d.Action == "approve":
		if err := k.s.o.Federation.SetBilling(ctx, g.AccessServer, p.Username); err != nil {
			return nil, true, err
		}
		return nil, true, k.backToAS(ctx, r.ID, nil)
	case d.Action == "approve" || d.Action == "open":
		return nil, true, nil // nothing to approve while the AS or the agent is at work
	}
	return nil, false, nil
}

// approveAS follows the person's consent in four-party: the grant is
// remembered (by the caller) and the AS is called.
func (k kind) approveAS(ctx context.Context, r *pending.Request, g *Grant, ms *mission.Record) error {
	out, err := k.s.startAS(ctx, g)
	if err != nil {
		return k.s.finish(ctx, r.ID, g, nil, err)
	}
	if out.Token != nil {
		body, err := k.s.delivered(ctx, g, ms, out.Token)
		return k.s.finish(ctx, r.ID, g, body, err)
	}
	g.Federated.Wait = out.Wait
	stage, err := k.s.waitStage(ctx, g)
	if err != nil {
		return k.s.finish(ctx, r.ID, g, nil, err)
	}
	if stage == StageASClarification && k.s.fromMemory(ctx, r.ID, g) {
		k.s.continueAS(ctx, r.ID, 0)
		return nil
	}
	stage = triage(stage, personHere(r), r.Capabilities)
	g.Federated.passedToAgent(stage)
	if _, err := k.s.o.Engine.Update(ctx, r.ID, func(x *pending.Request) error {
		x.Stage = stage
		raw, err := encode(g)
		x.Payload = raw
		return err
	}); err != nil {
		return err
	}
	if stage == StageASClarification {
		if err := k.s.askAgent(ctx, r.ID, g); err != nil {
			return nil
		}
	}
	if !personStage(stage) {
		k.s.continueAS(ctx, r.ID, g.Federated.Wait.RetryAfter)
	}
	return nil
}

// maxAgentAsked bounds the questions kept (the engine's clarification
// rounds end a request long before).
const maxAgentAsked = 32

// passedToAgent notes the AS's current question when stage passes it to
// the agent (before the grant is saved).
func (f *Federated) passedToAgent(stage string) {
	if stage == StageASClarification && f.Wait != nil && len(f.AgentAsked) < maxAgentAsked {
		f.AgentAsked = append(f.AgentAsked, f.Wait.Question)
	}
}

// questionTimeout is what the agent is told it has to answer the AS's
// question: the AS's remaining timeout when it gave one (at least a
// second, so the agent still sees the question), else the engine's own
// (0); the engine caps neither, so the PS's own bound applies as well.
func (s *Service) questionTimeout(w *federation.Wait) time.Duration {
	if w.Deadline.IsZero() {
		return 0
	}
	left := max(w.Deadline.Sub(s.o.Now()), time.Second)
	if own := s.o.Engine.Options().ClarificationTimeout; own > 0 {
		left = min(left, own)
	}
	return left
}

// askAgent passes the AS's question to the agent on pending request id; an
// agent that cannot answer one ends the request 403 denied (the error is
// returned after the request was ended).
func (s *Service) askAgent(ctx context.Context, id string, g *Grant) error {
	w := g.Federated.Wait
	err := s.o.Engine.Ask(ctx, id, w.Question, w.Options, s.questionTimeout(w))
	if err == nil {
		return nil
	}
	if errors.Is(err, pending.ErrNoClarificationCapability) {
		err = aauth.NewProblem(http.StatusForbidden, aauth.ErrDenied,
			"the access server asked a clarification and the agent did not declare it can answer one")
	}
	s.answerAS(ctx, id, nil, err)
	return err
}
