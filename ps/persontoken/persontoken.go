// Package persontoken is the person token endpoint (E3): it decides which
// person an agent acts for (the binding), checks the mission the request
// names, asks the person the first time an agent wants to act at a
// resource as them (showing the resource's own metadata), and issues the
// token.
//
// Implements draft-hardt-oauth-aauth-protocol-11 §Person Token Endpoint
// with PS-REQUIREMENTS §3.5–3.6, PS-256/257 and.
package persontoken

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/chain"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/httpsig"
	"github.com/aauth-ps/aauth-ps/ps/interact"
	"github.com/aauth-ps/aauth-ps/ps/missionflow"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/strictjson"
	"github.com/aauth-ps/aauth-ps/ps/telemetry"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

// StageConsent is the stage of a person-token request (pending kind
// aauth.PendingPersonToken) that waits for the person's consent.
const StageConsent = "consent"

// Request is a parsed person-token request.
type Request struct {
	Resource      string   `json:"resource"`
	MissionS256   string   `json:"mission_s256,omitempty"`
	Capabilities  []string `json:"capabilities,omitempty"`
	LoginHint     string   `json:"login_hint,omitempty"`
	Tenant        string   `json:"tenant,omitempty"`
	DomainHint    string   `json:"domain_hint,omitempty"`
	Prompt        string   `json:"prompt,omitempty"`
	Justification string   `json:"justification,omitempty"`
	Platform      string   `json:"platform,omitempty"`
	Device        string   `json:"device,omitempty"`
	// Chain holds upstream_token and subagent_token; what they resolve to
	// is kept in the payload's Agent.
	Chain chain.Params `json:"-"`
}

// payload is what a pending consent stores.
type payload struct {
	Request Request      `json:"request"`
	Agent   tokens.Agent `json:"agent"`
}

// Options configure the Service.
type Options struct {
	Issuer      string
	Identifiers aauth.IdentifierPolicy
	Interact    *interact.Service
	Missions    *missionflow.Flows
	MissionKind *missionflow.Kinds
	Tokens      *tokens.Service
	Engine      *pending.Engine
	Resources   missionflow.Resources
	// Chain verifies upstream_token and subagent_token.
	Chain *chain.Resolver
	// DB runs a consent decision and its effects in one transaction.
	DB  *store.Store
	Now func() time.Time
	// NewResourcesPerHour bounds how many resources an agent may add in an
	// hour (PS-070); default 20.
	NewResourcesPerHour int
	// Decisions is the Mission composition decision point; nil: none.
	Decisions *composition.Point
}

// Service handles E3.
type Service struct{ o Options }

// New builds the Service and registers its pending-request kind.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NewResourcesPerHour <= 0 {
		o.NewResourcesPerHour = 20
	}
	s := &Service{o: o}
	o.Interact.RegisterKind(aauth.PendingPersonToken, kind{s})
	return s
}

// Parse validates an E3 body (PS-057, PS-058, PS-059, PS-256).
func (s *Service) Parse(body []byte) (*Request, map[string]any, error) {
	m, err := strictjson.DecodeObject(body)
	if err != nil {
		return nil, nil, aauth.BadRequest("the body must be a JSON object: " + err.Error())
	}
	var r Request
	res, ok := m["resource"].(string)
	if !ok {
		return nil, nil, aauth.BadRequest("resource is required and must be a server identifier")
	}
	if err := s.o.Identifiers.CheckServer(res); err != nil {
		return nil, nil, aauth.BadRequest("resource is not a valid server identifier: " + err.Error())
	}
	r.Resource = res
	for _, f := range []struct {
		name string
		dst  *string
		max  int
	}{
		{"login_hint", &r.LoginHint, 256}, {"tenant", &r.Tenant, 256}, {"domain_hint", &r.DomainHint, 256},
		{"prompt", &r.Prompt, 64}, {"justification", &r.Justification, 8 << 10},
		{"platform", &r.Platform, 200}, {"device", &r.Device, 200},
	} {
		if *f.dst, err = interact.RequestString(m, f.name, f.max); err != nil {
			return nil, nil, err
		}
	}
	if err := tokens.CheckAsserted(r.Platform, r.Device); err != nil {
		return nil, nil, err
	}
	switch r.Prompt {
	case "", "none", "login", "consent", "select_account":
	default:
		if strings.Contains(r.Prompt, "none") {
			return nil, nil, aauth.BadRequest("prompt none cannot be combined with other values")
		}
	}
	if r.Capabilities, err = interact.ParseCapabilities(m); err != nil {
		return nil, nil, err
	}
	if r.Chain, err = chain.Parse(m); err != nil {
		return nil, nil, err
	}
	// With upstream_token the mission is the upstream token's: the April
	// mission object is refused beside it; a mission_s256 must be the
	// upstream's (PS-258, checked once the upstream token is verified).
	if _, hasMission := m["mission"]; hasMission && r.Chain.UpstreamToken != "" {
		return nil, nil, aauth.BadRequest("mission is not sent with upstream_token, which carries the mission itself")
	}
	return &r, m, nil
}

// Handle answers E3 for a verified agent: 200 with a person token, a 202
// while the person is asked (or connects the agent first), or an error.
// The mission the request names is resolved once and passed down.
func (s *Service) Handle(ctx context.Context, a *httpsig.Agent, body []byte) (status int, resp any, pend *pending.Response, err error) {
	r, m, err := s.Parse(body)
	if err != nil {
		return 0, nil, nil, err
	}
	ag := agentOf(a, r)
	if err := s.o.Chain.Apply(ctx, a, &ag, r.Chain); err != nil {
		return 0, nil, nil, err
	}
	var ms *mission.Record
	if ag.Upstream != nil {
		// A mission_s256 beside upstream_token may only repeat the
		// upstream's; the intermediary's own missions never apply (PS-258,
		//
		if v, sent := m["mission_s256"]; sent {
			if s256, _ := v.(string); s256 == "" || s256 != ag.Upstream.MissionS256 {
				return 0, nil, nil, aauth.BadRequest("mission_s256 beside upstream_token must be the upstream token's mission_s256")
			}
		}
		ms, err = s.o.Missions.Missions.Chained(ctx, ag.Upstream)
	} else {
		if m != nil {
			// The person is read next: with the mission (finding 67).
			ctx = store.ReadBindingAhead(ctx, a.Provider, a.ID)
		}
		ms, err = s.o.Missions.Mission(ctx, a, m, s.o.Issuer)
	}
	if err != nil {
		return 0, nil, nil, err
	}
	if ms != nil {
		r.MissionS256 = ms.S256
		if r.Capabilities == nil {
			r.Capabilities = ms.Capabilities // captured at proposal (PS-257, A-11)
		}
	}
	pl := payload{Request: *r, Agent: ag}
	person, res, err := s.person(ctx, a, pl)
	if err != nil || res != nil {
		return 0, nil, res, err
	}
	if ms != nil && ms.PersonID != person.ID {
		// Approved by another person (the agent was unbound and enrolled
		// again since): it authorizes nothing for this one.
		return 0, nil, nil, mission.NotFound()
	}
	if err := tokens.CheckTenant(r.Tenant, person.Tenant); err != nil {
		return 0, nil, nil, err // before the person is asked for nothing
	}
	if ms != nil && ms.Hold != nil {
		// Suspended: held until it resumes (then Bound decides) or ends.
		res, err := s.o.Interact.Hold(ctx, a, person, r.Capabilities, aauth.PendingPersonToken, pl, ms.Hold.Until)
		return 0, nil, res, err
	}
	if ms != nil && s.o.Decisions != nil && r.Prompt != "consent" {
		// The mission's Authority Set decides the identity item (design
		// §10.3): an excluded or refused resource is 403 with
		// mission_decision; a permitted one is issued in the decision's
		// transaction; one the set leaves to the person is asked below.
		status, out, err := s.decideInMission(ctx, person, pl, ms)
		if err != nil || status == http.StatusOK {
			return status, out, nil, err
		}
	}
	ok, err := s.consented(ctx, person, pl, ms)
	if err != nil {
		return 0, nil, nil, err
	}
	if ok && r.Prompt != "consent" {
		// The token's record and its mission-log entries commit together;
		// the token is signed before the transaction (tokens.Presigned).
		pre := s.o.Tokens.PresignPersonToken(ctx, personRequest(person, pl, ms))
		var out map[string]any
		if err := s.o.DB.InTx(ctx, func(tx *store.Store) error {
			var issueErr error
			out, issueErr = s.issue(ctx, s.o.Tokens.WithStore(tx), s.o.Missions.Missions.WithStore(tx), person, pl, ms, pre)
			return issueErr
		}); err != nil {
			return 0, nil, nil, err
		}
		return http.StatusOK, out, nil, nil
	}
	if r.Prompt == "none" {
		return 0, nil, nil, aauth.NewProblem(http.StatusForbidden, aauth.ErrUserUnreachable,
			"the person must be asked, and prompt=none forbids it")
	}
	since := s.o.Now().Add(-time.Hour)
	grantIss, grantSub := ag.Grantee()
	if n, err := s.o.Tokens.NewResourcesSince(ctx, grantIss, grantSub, since); err != nil {
		return 0, nil, nil, err
	} else if n >= int64(s.o.NewResourcesPerHour) {
		p := aauth.NewProblem(http.StatusTooManyRequests, aauth.ErrRateLimited, "too many new resources for this agent in the last hour")
		p.RetryAfter = 600
		return 0, nil, nil, p
	}
	res, err = s.o.Interact.AskPersonUntil(ctx, a, person, r.Capabilities, aauth.PendingPersonToken, StageConsent, pl, chain.Deadline(ag))
	return 0, nil, res, err
}

// person is the person the request is for: the one the upstream token
// names on a chained request, which neither uses nor creates a binding
// (PS-277), else the one bound to the agent (a first contact asks).
func (s *Service) person(ctx context.Context, a *httpsig.Agent, pl payload) (*account.Person, *pending.Response, error) {
	if up := pl.Agent.Upstream; up != nil {
		p, err := chain.Person(ctx, s.o.Interact, up)
		return p, nil, err
	}
	return s.o.Interact.Person(ctx, a, pl.Request.Capabilities, aauth.PendingPersonToken, pl)
}

// agentOf is the verified agent with the platform and device this request
// asserts (the request's values win over the agent token's claims).
func agentOf(a *httpsig.Agent, r *Request) tokens.Agent {
	return tokens.AgentOf(a).Asserting(r.Platform, r.Device)
}

// consented: the person let this agent act at the resource, or approved
// it within the mission the request names.
func (s *Service) consented(ctx context.Context, p *account.Person, pl payload, ms *mission.Record) (ok bool, err error) {
	ctx, span := telemetry.Start(ctx, "aauth.decide")
	defer func() { telemetry.Decided(span, map[bool]string{true: "consented", false: "ask"}[ok], err) }()
	if ms != nil && ms.Approves(pl.Request.Resource) {
		return true, nil
	}
	iss, sub := pl.Agent.Grantee()
	return s.o.Tokens.HasConsent(ctx, p.ID, iss, sub, pl.Request.Resource)
}

// personRequest is the person token the request asks for, under ms.
func personRequest(p *account.Person, pl payload, ms *mission.Record) tokens.PersonTokenRequest {
	return tokens.PersonTokenRequest{Agent: pl.Agent, PersonID: p.ID, Username: p.Username, Tenant: p.Tenant,
		Resource: pl.Request.Resource, Mission: ms}
}

// issue signs the person token (or takes pre, signed before the
// transaction, when it is the same token) and records it in the mission
// log, through toks and log (bound to the caller's transaction, if any).
func (s *Service) issue(ctx context.Context, toks *tokens.Service, log *missionflow.Service, p *account.Person, pl payload, ms *mission.Record, pre *tokens.Presigned) (map[string]any, error) {
	if err := tokens.CheckTenant(pl.Request.Tenant, p.Tenant); err != nil {
		return nil, err
	}
	r := personRequest(p, pl, ms)
	r.Presigned = pre
	iss, err := toks.IssuePersonToken(ctx, r)
	if errors.Is(err, tokens.ErrTooShort) {
		return nil, chain.TooShort(pl.Agent, ms)
	}
	if err != nil {
		return nil, err
	}
	if ms != nil {
		if j := strings.TrimSpace(pl.Request.Justification); j != "" {
			if err := log.Log(ctx, ms.S256, mission.Entry{Kind: "person_token", Actor: "agent", Summary: j}); err != nil {
				return nil, err
			}
		}
		if err := log.Log(ctx, ms.S256, mission.Entry{Kind: "person_token", Actor: "ps", Summary: "Person token issued for " + pl.Request.Resource + "."}); err != nil {
			return nil, err
		}
	}
	// expires_in is measured on the PS clock that set exp, not the wall clock.
	return map[string]any{"person_token": iss.Token, "expires_in": int(iss.Exp.Sub(s.o.Now()).Round(time.Second) / time.Second)}, nil
}

// kind is the consent request as the person sees it.
type kind struct{ s *Service }

func (k kind) load(r *pending.Request) (payload, error) {
	var pl payload
	err := decodeJSON(r.Payload, &pl)
	return pl, err
}

func (k kind) Describe(ctx context.Context, r *pending.Request, c *interact.Consent) error {
	pl, err := k.load(r)
	if err != nil {
		return err
	}
	info := k.s.o.Resources.Describe(ctx, pl.Request.Resource)
	c.Resource = &info
	if j := strings.TrimSpace(pl.Request.Justification); j != "" {
		c.Statements = append(c.Statements, interact.Statement{Kind: interact.StatementJustification, Markdown: j, At: r.CreatedAt})
	}
	if ms, _ := k.mission(ctx, pl); ms != nil {
		c.Mission, _ = k.s.o.MissionKind.Info(ctx, ms)
	}
	return nil
}

// mission reads the mission a pending consent belongs to (nil when none).
func (k kind) mission(ctx context.Context, pl payload) (*mission.Record, error) {
	if pl.Request.MissionS256 == "" {
		return nil, nil
	}
	return k.s.o.Missions.Missions.Get(ctx, pl.Request.MissionS256)
}

// Decide records the person's consent and issues the token, answering the
// agent, in one transaction: all of it happens or none.
func (k kind) Decide(ctx context.Context, r *pending.Request, p *account.Person, d interact.Decision) (*interact.Outcome, bool, error) {
	if (d.Action != "approve" && d.Action != "deny") || r.Stage != StageConsent {
		return nil, false, nil
	}
	pl, err := k.load(r)
	if err != nil {
		return nil, true, err
	}
	ms, err := k.mission(ctx, pl)
	if err != nil {
		return nil, true, err
	}
	if d.Action == "deny" {
		if ms == nil || k.s.o.Decisions == nil {
			return nil, false, nil // the plain refusal (interact: 403 denied)
		}
		// Within a mission the refusal is the person's decision, evidenced
		// as a deny (user_denied) with the agent's answer.
		return nil, true, k.s.o.DB.InTx(ctx, func(tx *store.Store) error {
			prob, err := k.answered(ctx, tx, r, p, pl, ms, false)
			if err != nil {
				return err
			}
			if prob == nil {
				prob = aauth.NewProblem(http.StatusForbidden, aauth.ErrDenied, "the person declined")
			}
			return k.s.o.Engine.WithStore(tx).Answer(ctx, r.ID, nil, prob)
		})
	}
	if err := k.s.o.Chain.Recheck(ctx, pl.Agent.Upstream); err != nil {
		return nil, true, k.s.o.Engine.Answer(ctx, r.ID, nil, err)
	}
	return nil, true, k.s.o.DB.InTx(ctx, func(tx *store.Store) error {
		toks := k.s.o.Tokens.WithStore(tx)
		iss, sub := pl.Agent.Grantee()
		if err := toks.GrantConsent(ctx, p.ID, iss, sub, pl.Request.Resource); err != nil {
			return err
		}
		// A mission-bound request is decided again with the person's
		// approval, in this transaction: issued with the decision's
		// effects and evidence, or refused (the mission changed meanwhile).
		if prob, err := k.answered(ctx, tx, r, p, pl, ms, true); err != nil {
			return err
		} else if prob != nil {
			return k.s.o.Engine.WithStore(tx).Answer(ctx, r.ID, nil, prob)
		}
		return k.complete(ctx, tx, r, p, pl, ms)
	})
}

// complete issues the token and completes the request, in tx.
func (k kind) complete(ctx context.Context, tx *store.Store, r *pending.Request, p *account.Person, pl payload, ms *mission.Record) error {
	engine := k.s.o.Engine.WithStore(tx)
	out, err := k.s.issue(ctx, k.s.o.Tokens.WithStore(tx), k.s.o.Missions.Missions.WithStore(tx), p, pl, ms, nil)
	return engine.Answer(ctx, r.ID, out, err)
}

// Bound continues after the person connected the agent: issue at once when
// consent already covers the resource, else ask for it.
func (k kind) Bound(ctx context.Context, r *pending.Request, p *account.Person) error {
	pl, err := k.load(r)
	if err != nil {
		return err
	}
	ms, _ := k.mission(ctx, pl)
	if ms != nil && ms.PersonID != p.ID {
		// The agent was connected to someone other than the mission's
		// approver (see Handle); a pending request cannot end in 404.
		prob := aauth.NewProblem(http.StatusForbidden, aauth.ErrDenied, "the mission was approved by another person")
		return k.s.o.Engine.CompleteProblem(ctx, r.ID, prob)
	}
	if err := tokens.CheckTenant(pl.Request.Tenant, p.Tenant); err != nil {
		return k.s.o.Engine.Answer(ctx, r.ID, nil, err)
	}
	if ok, err := k.s.consented(ctx, p, pl, ms); err != nil {
		return err
	} else if ok && pl.Request.Prompt != "consent" {
		return k.s.o.DB.InTx(ctx, func(tx *store.Store) error { return k.complete(ctx, tx, r, p, pl, ms) })
	}
	_, err = k.s.o.Engine.Update(ctx, r.ID, func(x *pending.Request) error {
		x.Stage = StageConsent
		return nil
	})
	return err
}

func (k kind) Settle(ctx context.Context, r *pending.Request) error {
	return missionflow.SettleMission(ctx, k.s.o.Missions.Missions, k.s.o.Engine, r, k.Mission(r))
}

var _ interact.MissionNamer = kind{}

// Mission implements interact.MissionNamer: the request's mission_s256.
func (k kind) Mission(r *pending.Request) string {
	pl, err := k.load(r)
	if err != nil {
		return ""
	}
	return pl.Request.MissionS256
}

func decodeJSON(raw []byte, v any) error { return json.Unmarshal(raw, v) }

// decideInMission runs the decision point on a person-token request under
// ms: 200 with the token issued in the same transaction, a refusal (its
// evidence committed, nothing issued), or status 0 when the person decides.
func (s *Service) decideInMission(ctx context.Context, p *account.Person, pl payload, ms *mission.Record) (int, map[string]any, error) {
	var out map[string]any
	// Signed before the decision's transaction; dropped if the decision
	// does not issue, or issues from another mission state.
	pre := s.o.Tokens.PresignPersonToken(ctx, personRequest(p, pl, ms))
	res, err := s.o.Decisions.DecideIn(ctx, s.o.DB, missionQuery(p, pl, ms), false, func(tx *store.Store, res *composition.Result) error {
		var err error
		out, err = s.issue(ctx, s.o.Tokens.WithStore(tx), s.o.Missions.Missions.WithStore(tx), p, pl, res.Mission, pre)
		return err
	})
	switch {
	case err != nil:
		return 0, nil, err
	case res.Issue():
		return http.StatusOK, out, nil
	case res.Deny():
		return 0, nil, res.Problem()
	}
	return 0, nil, nil
}

// missionQuery is the person-token request under ms as the decision point
// reads it (one identity item, design §10.3).
func missionQuery(p *account.Person, pl payload, ms *mission.Record) composition.Query {
	q := composition.Query{S256: ms.S256, Point: authority.PointPersonToken, Mode: authority.ThreeParty,
		Request: authority.Request{Resource: pl.Request.Resource},
		Actor:   authority.Actor{Agent: pl.Agent.Sub, Capabilities: pl.Request.Capabilities}, PersonReachable: p.InboxChannel,
		Seen: ms}
	if up := pl.Agent.Upstream; up != nil {
		q.Actor.Chain = &authority.Chain{Intermediary: up.Aud, UpstreamDepth: up.Depth, UpstreamIndexed: true}
	}
	if sa := pl.Agent.SubAgent; sa != nil {
		q.Actor.Agent, q.Actor.Parent = sa.Sub, pl.Agent.Sub
	}
	return q
}

// answered decides the deferred request r under ms again with the
// person's whole answer (approve: every item yes; refuse: every item no),
// in tx, through the one decision point: its effects and evidence (the
// person named as the decision's actor, resolving r) commit with what the
// caller does next. It returns the refusal to answer the agent with, or
// nil when the decision issues (or the request names no mission the PS
// decides on).
func (k kind) answered(ctx context.Context, tx *store.Store, r *pending.Request, p *account.Person, pl payload, ms *mission.Record, approve bool) (*aauth.Problem, error) {
	if ms == nil || k.s.o.Decisions == nil {
		return nil, nil
	}
	q := missionQuery(p, pl, ms)
	q.Resolves, q.Person, q.ApproveAll, q.RefuseAll = r.ID, p.ID, approve, !approve
	res, err := k.s.o.Decisions.Decide(ctx, tx, q)
	if err != nil {
		return nil, err
	}
	if res.Issue() {
		return nil, nil
	}
	return res.Problem(), nil
}
