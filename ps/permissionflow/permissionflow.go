// Package permissionflow is the permission endpoint (E7) as a flow: verify
// (done by ps/server) → resolve the mission (owner-keyed, one 404 for
// unknown and not-yours) and the person (the agent's binding) → decide
// (permission.Decide: the person's remembered answer, the mission's
// approved tools) → answer 200, or ask the person through the pending
// engine (202) and answer with their decision → record the request and the
// response in the mission log, in the same transaction as the decision.
//
// Implements draft-hardt-oauth-aauth-protocol-11 §Permission Endpoint with
// PS-214…PS-218, PS-211, PS-213.
package permissionflow

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/httpsig"
	"github.com/aauth-ps/aauth-ps/ps/interact"
	"github.com/aauth-ps/aauth-ps/ps/missionflow"
	"github.com/aauth-ps/aauth-ps/ps/pending"
	"github.com/aauth-ps/aauth-ps/ps/permission"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

// The pending-request kind and stage of a permission request.
const (
	Kind         = aauth.PendingPermission
	StageConsent = "consent"
)

// Options configure the Service.
type Options struct {
	Issuer      string
	Interact    *interact.Service
	Missions    *missionflow.Flows
	MissionKind *missionflow.Kinds
	Engine      *pending.Engine
	// DB runs a decision and its effects (remembered answer, mission-log
	// entries, the pending request's answer) in one transaction; it is
	// also the permission.Store.
	DB     *store.Store
	Now    func() time.Time
	Logger *slog.Logger
	// Decisions is the Mission composition decision point; nil: none.
	Decisions *composition.Point
}

// Service handles E7.
type Service struct{ o Options }

// New builds the Service and registers its pending-request kind.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{o: o}
	o.Interact.RegisterKind(Kind, kind{s})
	return s
}

// payload is what a pending permission request stores.
type payload struct {
	Request permission.Request `json:"request"`
	Agent   tokens.Agent       `json:"agent"`
	// Body is the exact request, kept for the mission log.
	Body []byte `json:"body,omitempty"`
	// StepWait: the mission's decision deferred the request for
	// checkpoints; recording one decides it again (steps.go).
	StepWait *interact.StepWait `json:"step_wait,omitempty"`
}

// Handle answers E7 for a verified agent: 200 {"permission": …}, a 202
// while the person is asked (or connects the agent first), or an error
// that changes nothing.
func (s *Service) Handle(ctx context.Context, a *httpsig.Agent, body []byte) (int, any, *pending.Response, error) {
	r, err := permission.Parse(body, s.o.Issuer)
	if err != nil {
		return 0, nil, nil, err
	}
	var ms *mission.Record
	if r.MissionS256 != "" {
		// Ownership before state: another agent's mission, ended or not,
		// is the same 404 as an unknown one (PS-217, PS-210); an expired
		// one is terminated (PS-211).
		if ms, err = s.o.Missions.Missions.Active(ctx, r.MissionS256, a.Provider, a.ID); err != nil {
			return 0, nil, nil, err
		}
		if r.Capabilities == nil {
			r.Capabilities = ms.Capabilities // captured at approval
		}
	}
	pl := payload{Request: *r, Agent: tokens.AgentOf(a), Body: body}
	person, res, err := s.o.Interact.Person(ctx, a, r.Capabilities, Kind, pl)
	if err != nil || res != nil {
		return 0, nil, res, err
	}
	if ms != nil && ms.PersonID != person.ID {
		return 0, nil, nil, mission.NotFound() // approved by someone else
	}
	if ms != nil && ms.Hold != nil {
		// Suspended: held until it resumes (then Bound decides) or ends.
		res, err := s.o.Interact.Hold(ctx, a, person, r.Capabilities, Kind, pl, ms.Hold.Until)
		return 0, nil, res, err
	}
	if ms != nil && s.o.Decisions != nil {
		status, out, err := s.decideInMission(ctx, &pl, person)
		if err != nil || status != 0 {
			return status, out, nil, err
		}
		return s.ask(ctx, a, person, pl)
	}
	v, err := s.decide(ctx, person.ID, pl, ms)
	if err != nil {
		return 0, nil, nil, err
	}
	if !v.Ask {
		if err := s.o.DB.InTx(ctx, func(tx *store.Store) error {
			return s.record(ctx, tx, pl, v, true)
		}); err != nil {
			return 0, nil, nil, unraced(err)
		}
		s.logAnswer(ctx, pl, v)
		return http.StatusOK, v.Body(), nil, nil
	}
	return s.ask(ctx, a, person, pl)
}

// ask asks the person: the request joins the mission log together with
// the pending request that asks.
func (s *Service) ask(ctx context.Context, a *httpsig.Agent, person *account.Person, pl payload) (int, any, *pending.Response, error) {
	var res *pending.Response
	err := s.o.DB.InTx(ctx, func(tx *store.Store) error {
		if err := s.logRequest(ctx, tx, pl); err != nil {
			return err
		}
		ask := s.o.Interact.WithEngine(s.o.Engine.WithStore(tx))
		var askErr error
		res, askErr = ask.AskPerson(ctx, a, person, pl.Request.Capabilities, Kind, StageConsent, pl)
		return askErr
	})
	return 0, nil, res, err
}

// decide reads the facts and applies permission.Decide.
func (s *Service) decide(ctx context.Context, personID string, pl payload, ms *mission.Record) (permission.Verdict, error) {
	f := permission.Facts{Action: pl.Request.Action}
	rule, err := s.o.DB.PermissionRule(ctx, ruleKey(personID, pl))
	switch {
	case err == nil:
		f.Rule = rule
	case !errors.Is(err, dberr.ErrNotFound):
		return permission.Verdict{}, err
	}
	if ms != nil {
		if f.Mission, err = ms.Parsed(); err != nil {
			return permission.Verdict{}, err
		}
	}
	return permission.Decide(f), nil
}

func ruleKey(personID string, pl payload) permission.RuleKey {
	return permission.RuleKey{PersonID: personID, AgentIss: pl.Agent.Iss, AgentSub: pl.Agent.Sub, Action: pl.Request.Action}
}

// record writes the mission-log entries of a decided request in tx: the
// request (unless it was logged when the person was asked) and the answer.
// Within a mission the state is checked first (an ended mission is its
// 403 or 404 with nothing logged) and again after the append, which holds
// the mission's lock: a decision racing a termination rolls back whole
// (errRaced), never logged after the end.
func (s *Service) record(ctx context.Context, tx *store.Store, pl payload, v permission.Verdict, withRequest bool) error {
	if pl.Request.MissionS256 == "" {
		return nil
	}
	log := s.o.Missions.Missions.WithStore(tx)
	if _, err := log.Active(ctx, pl.Request.MissionS256, pl.Agent.Iss, pl.Agent.Sub); err != nil {
		return err
	}
	if withRequest {
		if err := s.logRequest(ctx, tx, pl); err != nil {
			return err
		}
	}
	if err := log.Log(ctx, pl.Request.MissionS256, v.ResponseEntry(pl.Request.Action)); err != nil {
		return err
	}
	if _, err := log.Active(ctx, pl.Request.MissionS256, pl.Agent.Iss, pl.Agent.Sub); err != nil {
		return racedError{err}
	}
	return nil
}

// racedError: the mission ended while a decision was being recorded. It
// hides the mission's problem from aauth.AsProblem so that the transaction
// rolls back whole (a pending request is not answered with the entries
// already appended); the caller then answers with the problem outside it.
type racedError struct{ problem error }

func (e racedError) Error() string {
	return "permissionflow: the mission ended during the decision: " + e.problem.Error()
}

// unraced is the problem behind a racedError, else err.
func unraced(err error) error {
	var r racedError
	if errors.As(err, &r) {
		return r.problem
	}
	return err
}

func (s *Service) logRequest(ctx context.Context, tx *store.Store, pl payload) error {
	if pl.Request.MissionS256 == "" {
		return nil
	}
	return s.o.Missions.Missions.WithStore(tx).Log(ctx, pl.Request.MissionS256, pl.Request.RequestEntry(pl.Body))
}

// logAnswer is the operator's record of every answer (P§permission-response:
// the PS SHOULD record all permission requests and responses; outside a
// mission there is no mission log). The action name only: parameters may
// hold personal data.
func (s *Service) logAnswer(ctx context.Context, pl payload, v permission.Verdict) {
	s.o.Logger.InfoContext(ctx, "permission answered", "agent", pl.Agent.Sub, "provider", pl.Agent.Iss,
		"action", pl.Request.Action, "permission", v.Permission, "basis", string(v.Basis), "mission", pl.Request.MissionS256)
}

// kind is a permission request as the person sees it.
type kind struct{ s *Service }

func (k kind) load(r *pending.Request) (payload, error) {
	var pl payload
	err := json.Unmarshal(r.Payload, &pl)
	return pl, err
}

func (k kind) mission(ctx context.Context, pl payload) (*mission.Record, error) {
	if pl.Request.MissionS256 == "" {
		return nil, nil
	}
	return k.s.o.Missions.Missions.Get(ctx, pl.Request.MissionS256)
}

// Describe shows the request in the agent's words, labelled as the
// agent's, and the mission it belongs to (what the person approved).
func (k kind) Describe(ctx context.Context, r *pending.Request, c *interact.Consent) error {
	pl, err := k.load(r)
	if err != nil {
		return err
	}
	c.Statements = append(c.Statements, interact.Statement{Kind: interact.StatementPermission, Markdown: pl.Request.Markdown(), At: r.CreatedAt})
	if ms, _ := k.mission(ctx, pl); ms != nil {
		c.Mission, _ = k.s.o.MissionKind.Info(ctx, ms)
	}
	return nil
}

// Decide applies the person's answer: approve is granted, deny is denied
// (a 200 the agent reads, not an error), optionally remembered; the
// remembered answer, the log entry and the agent's answer commit together.
func (k kind) Decide(ctx context.Context, r *pending.Request, p *account.Person, d interact.Decision) (*interact.Outcome, bool, error) {
	if d.Action == "deny" && r.Stage == interact.StageRoleStep {
		d.Remember = false // the person answered already: this refuses the one request
	} else if (d.Action != "approve" && d.Action != "deny") || r.Stage != StageConsent {
		return nil, false, nil
	}
	pl, err := k.load(r)
	if err != nil {
		return nil, true, err
	}
	if err := k.Settle(ctx, r); err != nil {
		return nil, true, err
	}
	v := permission.PersonAnswer(d.Action == "approve")
	waits := false
	err = k.s.o.DB.InTx(ctx, func(tx *store.Store) error {
		waits = false
		if d.Remember {
			if err := remember(ctx, tx, permission.Rule{RuleKey: ruleKey(p.ID, pl), Permission: v.Permission, DecidedAt: k.s.o.Now()}); err != nil {
				return err
			}
		}
		if pl.Request.MissionS256 != "" && k.s.o.Decisions != nil {
			// Within a mission the person's answer is decided again (a
			// checkpoint call-back records the checkpoint), in this transaction.
			res, err := k.answerInMission(ctx, tx, pl, p, r.ID, d.Action == "approve")
			if err != nil {
				return err
			}
			if d.Action == "approve" && res.WaitsForRole() {
				// The person's yes cannot record a role's step: the
				// request waits for a role holder (steps.go).
				waits = true
				return k.waitForRole(ctx, tx, r.ID, pl, res)
			}
			body := bodyOf(res)
			if res.Issue() == (d.Action == "approve") {
				body = v.Body() // the person's own answer
			} else {
				v = verdictOf(res)
			}
			if err := k.s.record(ctx, tx, pl, v, false); err != nil {
				return err
			}
			return k.s.o.Engine.WithStore(tx).Answer(ctx, r.ID, body, nil)
		}
		return k.answer(ctx, tx, r, pl, v, false)
	})
	if err == nil && !waits {
		k.s.logAnswer(ctx, pl, v)
	}
	return nil, true, k.settleRaced(ctx, r, err)
}

// settleRaced ends a request whose decision lost the race with its
// mission's end: rolled back, it is answered with the mission's problem.
func (k kind) settleRaced(ctx context.Context, r *pending.Request, err error) error {
	if p := unraced(err); p != err {
		return k.s.o.Engine.Answer(ctx, r.ID, nil, p)
	}
	return err
}

// remember saves a rule unless the person already keeps the maximum
// (a bounded table); the answer itself stands either way.
func remember(ctx context.Context, tx *store.Store, rule permission.Rule) error {
	n, err := tx.CountPermissionRules(ctx, rule.PersonID)
	if err != nil {
		return err
	}
	if n >= permission.MaxRulesPerPerson {
		if _, err := tx.PermissionRule(ctx, rule.RuleKey); err != nil {
			return nil // full, and not a replacement: not remembered
		}
	}
	return tx.SavePermissionRule(ctx, rule)
}

// answer logs the verdict and completes the pending request with it, in
// tx; a mission that ended meanwhile answers 403 mission_terminated.
func (k kind) answer(ctx context.Context, tx *store.Store, r *pending.Request, pl payload, v permission.Verdict, withRequest bool) error {
	err := k.s.record(ctx, tx, pl, v, withRequest)
	var body any
	if err == nil {
		body = v.Body()
	}
	return k.s.o.Engine.WithStore(tx).Answer(ctx, r.ID, body, err)
}

// Bound continues after the person connected the agent: the remembered
// answer or the mission may decide at once; otherwise the person is asked.
func (k kind) Bound(ctx context.Context, r *pending.Request, p *account.Person) error {
	pl, err := k.load(r)
	if err != nil {
		return err
	}
	ms, err := k.mission(ctx, pl)
	if err != nil && !errors.Is(err, dberr.ErrNotFound) {
		return err
	}
	if ms != nil && ms.PersonID != p.ID {
		prob := aauth.NewProblem(http.StatusForbidden, aauth.ErrDenied, "the mission was approved by another person")
		return k.s.o.Engine.CompleteProblem(ctx, r.ID, prob)
	}
	v, err := k.s.decide(ctx, p.ID, pl, ms)
	if err != nil {
		return err
	}
	if !v.Ask {
		err := k.s.o.DB.InTx(ctx, func(tx *store.Store) error { return k.answer(ctx, tx, r, pl, v, true) })
		return k.settleRaced(ctx, r, err)
	}
	return k.s.o.DB.InTx(ctx, func(tx *store.Store) error {
		if err := k.s.logRequest(ctx, tx, pl); err != nil {
			return err
		}
		_, err := k.s.o.Engine.WithStore(tx).Update(ctx, r.ID, func(x *pending.Request) error {
			x.Stage = StageConsent
			return nil
		})
		return err
	})
}

// Settle ends the request with 403 mission_terminated once its mission
// ended (PS-211).
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
