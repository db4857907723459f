// Package lifecycle runs the governed lifecycle of a mission at this PS
// (Mission composition, design §5): suspend, resume, revoke and
// administrative termination, the hold timeout, and the signed evidence of
// each. It is the one service the person's mission page, the
// administrator's mission control (JSON API) and the operator's CLI call,
// so the same rules (mission/governance: who may do what) run for all.
// The paths that end a mission elsewhere (the person accepting the
// agent's completion, an expiry or a hold timeout a request or a decision
// observes, an agent's binding ended) end it through End, in their own
// transaction: every transition is recorded and evidenced here.
//
// Each transition commits in one store.InTx with its effects: the
// mission's new state (compare-and-swap on its version), the mission-log
// entry, the lifecycle_transition evidence record and a chain_head signed
// with the PS key, and — when the transition revokes — the PS's own
// revocation of every live token issued under the mission (ps/revocation's
// mission cascade) whose downstream revocations go out once it committed.
// After a resumption, the requests held during the suspension continue
// through their normal decision (interact.ReleaseHeld); after a
// termination they end with 403 mission_terminated at their next poll
// (missionflow.SettleMission).
//
// On the wire a suspended mission stays `active` (the draft has two
// states); new requests under it are held (`202`, requirement=approval)
// until it resumes or the hold times out into terminated(administrative).
package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/mission/governance"
	"github.com/aauth-ps/aauth-ps/ps/audit"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/revocation"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/timestamping"
)

// Store is what the lifecycle needs from the database (*store.Store):
// Mission composition's (the locked mission, its hold, its evidence
// chain) plus termination, the log and the due holds.
type Store interface {
	composition.Store
	// TerminateMission ends an active mission and logs entry with it;
	// false when it was not active.
	TerminateMission(ctx context.Context, s256 string, reason mission.Reason, by string, at time.Time, entry mission.Entry) (bool, error)
	AppendMissionLog(ctx context.Context, s256 string, e mission.Entry) error
	// HoldsDue lists the active missions whose hold ended at or before now.
	HoldsDue(ctx context.Context, now time.Time, limit int) ([]string, error)
}

var _ Store = (*store.Store)(nil)

// Revoker is ps/revocation's mission cascade (*revocation.Service).
type Revoker interface {
	CascadeMission(ctx context.Context, st revocation.Store, personID, s256 string) (string, error)
	Deliver(ctx context.Context, cascadeID string)
}

// Releaser continues held requests (*interact.Service).
type Releaser interface {
	ReleaseHeld(ctx context.Context, personID, s256 string) (int, error)
}

// HeadSigner gives the PS key that signs chain heads (*keys.Manager).
type HeadSigner interface {
	ChainHeadSigner(ctx context.Context) (evidence.Signer, error)
}

// Stamper anchors signed chain heads with an RFC 3161 time-stamping
// authority (*timestamping.Service): it queues the head in the
// transaction writing it and asks the TSA once that committed.
type Stamper interface {
	Queue(ctx context.Context, tx timestamping.TxStore, s256 string, head evidence.Stored) error
}

// Options configure the Service.
type Options struct {
	Issuer   string
	DB       *store.Store
	Revoker  Revoker
	Releaser Releaser
	Signer   HeadSigner
	// Stamps, when set, anchors every head signed (design §7, Level 4;
	// --evidence-tsa-url).
	Stamps Stamper
	Now    func() time.Time
	Log    *slog.Logger
	// HoldTimeout is a suspension's default hold (governance default 15
	// min, at most 24 h).
	HoldTimeout time.Duration
	// KeepTokensOnSuspend leaves the outstanding tokens valid during a
	// suspension (design §5 `suspend_revokes`, default: revoke them).
	KeepTokensOnSuspend bool
	// Risk is the risk policy RiskCheck applies (Hits 0: off).
	Risk governance.RiskPolicy
}

// Service runs lifecycle transitions.
type Service struct {
	o Options
	// headSweepLimit is how many chains one head-signing sweep signs at
	// most (tests lower it).
	headSweepLimit int
}

// New builds the Service.
func New(o Options) (*Service, error) {
	if o.Issuer == "" || o.DB == nil || o.Signer == nil {
		return nil, errors.New("lifecycle: Issuer, DB and Signer are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{o: o, headSweepLimit: 500}, nil
}

// Who acts: a person on their own mission, an administrator (through the
// UI, mission control or the CLI), or the PS itself (the hold timer).
type Actor = governance.Actor

// Errors a caller maps onto its answer.
var (
	// ErrNotFound: no such mission.
	ErrNotFound = dberr.ErrNotFound
	// ErrTransition: the lifecycle does not allow it (an ended mission,
	// resuming an active one, a person resuming an administrator's hold).
	ErrTransition = governance.ErrTransition
)

// Result is a committed transition.
type Result struct {
	Mission    *mission.Record
	Transition *governance.Transition
	// CascadeID names the token revocations it started ("" when none).
	CascadeID string
	// Released counts the held requests released by a resumption.
	Released int
}

// Audit writes a change's audit-trail row in the transition's
// transaction (audit.Recorder.Write), so that the transition and its row
// commit together: a failed write rolls the transition back. It runs
// only for a transition the caller asked for and got (not for one that
// merely observed a timer and refused).
type Audit func(ctx context.Context, tx audit.Store, t *governance.Transition) error

// Suspend holds the mission for timeout (0: the configured default).
// Each of audits runs in the transition's transaction.
func (s *Service) Suspend(ctx context.Context, s256 string, by Actor, timeout time.Duration, audits ...Audit) (*Result, error) {
	if timeout <= 0 {
		timeout = s.o.HoldTimeout
	}
	return s.transition(ctx, s256, by, audits, func(r governance.Record, now time.Time) (governance.Record, *governance.Transition, error) {
		return governance.Suspend(r, by, now, timeout)
	})
}

// Resume ends the hold; the held requests continue once it committed.
func (s *Service) Resume(ctx context.Context, s256 string, by Actor, audits ...Audit) (*Result, error) {
	return s.transition(ctx, s256, by, audits, func(r governance.Record, now time.Time) (governance.Record, *governance.Transition, error) {
		return governance.Resume(r, by, now)
	})
}

// Terminate ends the mission for reason (revoked by the person or an
// administrator; administrative or superseded by an administrator); its
// live tokens are revoked with it.
func (s *Service) Terminate(ctx context.Context, s256 string, reason mission.Reason, by Actor, audits ...Audit) (*Result, error) {
	return s.transition(ctx, s256, by, audits, func(r governance.Record, now time.Time) (governance.Record, *governance.Transition, error) {
		return governance.Terminate(r, reason, by, now)
	})
}

// End ends mission s256 for reason, caused by by, in st's transaction (a
// savepoint of it; its own transaction when st is in none): the lifecycle
// step Terminate takes (governance's rule, the new state and its log
// entry, the lifecycle_transition evidence record and its signed head,
// and the token revocations, delivered once the outer transaction
// commits). It is how the paths that end a mission outside this service
// record it (design §5, §7: every transition is evidenced): the person
// accepting the agent's completion, an expiry or a hold past its timeout
// observed by a request, the person ending an agent's binding. A mission
// that had ended keeps its first reason, and one a timer ended first
// (expires_at, its hold) ends for that: the timer's transition is
// recorded and End reports no error. A transition governance refuses
// (a reason the actor may not give) is an error, and nothing is written.
func (s *Service) End(ctx context.Context, st *store.Store, s256 string, reason mission.Reason, by Actor) error {
	return st.InTx(ctx, func(tx *store.Store) error {
		res := &Result{}
		_, err := s.apply(ctx, tx, s256, func(r governance.Record, now time.Time) (governance.Record, *governance.Transition, error) {
			if r.State == authority.StateTerminated {
				return r, nil, errNothing
			}
			return governance.Terminate(r, reason, by, now)
		}, res)
		if errors.Is(err, errNothing) {
			return nil
		}
		if err == nil {
			t := res.Transition
			tx.AfterCommit(func() {
				s.o.Log.InfoContext(ctx, "mission lifecycle", "mission", s256, "from", t.From, "to", t.To, "reason", t.Reason,
					"actor", t.Actor.Kind, "actor_id", t.Actor.ID, "cascade", res.CascadeID)
			})
		}
		return err
	})
}

// Observed is End for a termination a decision observed in its
// transaction st (composition.Point.End: an expiry, a hold past its
// timeout), caused by no one but the timer.
func (s *Service) Observed(ctx context.Context, st composition.Store, s256 string, reason mission.Reason) error {
	tx, ok := st.(*store.Store)
	if !ok {
		return fmt.Errorf("lifecycle: cannot record the end of mission %s outside the PS's store", s256)
	}
	return s.End(ctx, tx, s256, reason, Actor{Kind: governance.BySystem})
}

// Settle applies the timers to one mission (a hold past its timeout
// terminates administratively; expiry as everywhere): it reports whether
// a transition was committed.
func (s *Service) Settle(ctx context.Context, s256 string) (bool, error) {
	res, err := s.transition(ctx, s256, Actor{Kind: governance.BySystem}, nil, func(r governance.Record, now time.Time) (governance.Record, *governance.Transition, error) {
		next, t := governance.Settle(r, now)
		if t == nil {
			return r, nil, errNothing
		}
		return next, t, nil
	})
	if errors.Is(err, errNothing) {
		return false, nil
	}
	return res != nil, err
}

// SettleDue settles every mission whose hold is due (the housekeeping
// loop runs it; any replica may). It returns how many ended.
func (s *Service) SettleDue(ctx context.Context) (int, error) {
	ids, err := s.o.DB.HoldsDue(ctx, s.o.Now(), 500)
	return eachDue(ctx, ids, err, s.Settle)
}

// eachDue runs f on each of ids (listed with err) and counts those it
// acted on; it stops at the first failure.
func eachDue(ctx context.Context, ids []string, err error, f func(context.Context, string) (bool, error)) (int, error) {
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		ok, err := f(ctx, id)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

var errNothing = errors.New("lifecycle: nothing to settle")

// apply runs one lifecycle step in tx: lock the mission, apply the rule,
// write the new state (compare-and-swap on the version), the log entry,
// the evidence and its signed head, and the token revocations (delivered
// once tx commits). refused is the rule's refusal of a step that first
// observed a timer (committed with it).
func (s *Service) apply(ctx context.Context, tx *store.Store, s256 string, f step, res *Result) (refused error, err error) {
	m, err := tx.LockMission(ctx, s256)
	if err != nil {
		return nil, err
	}
	now := s.o.Now()
	cur := s.record(m)
	next, t, err := f(cur, now)
	switch {
	case err != nil && t == nil:
		return nil, err
	case err != nil:
		refused = err
	case t == nil:
		return nil, errNothing
	}
	if err := s.write(ctx, tx, m, cur, next, t, now); err != nil {
		return nil, err
	}
	var residual *time.Time
	if t.RevokeTokens && s.o.Revoker != nil {
		id, err := s.o.Revoker.CascadeMission(ctx, tx, m.PersonID, s256)
		if err != nil {
			return nil, err
		}
		if id != "" {
			res.CascadeID = id
			if residual, err = residualExposure(ctx, tx, id); err != nil {
				return nil, err
			}
			tx.AfterCommit(func() { s.o.Revoker.Deliver(ctx, id) })
		}
	}
	if err := s.evidence(ctx, tx, m, t, res.CascadeID, residual, now); err != nil {
		return nil, err
	}
	res.Transition = t
	return refused, nil
}

type step func(governance.Record, time.Time) (governance.Record, *governance.Transition, error)

// transition runs one lifecycle step in one transaction: lock the
// mission, apply the rule, write the new state (compare-and-swap on the
// version), the log entry, the evidence and its signed head, and the
// token revocations; then, once committed, deliver the revocations and
// release held requests.
func (s *Service) transition(ctx context.Context, s256 string, by Actor, audits []Audit, f step) (*Result, error) {
	res := &Result{}
	// refused is the rule's refusal of a step that first observed a timer
	// (the mission had expired, or its hold had run out): that observation
	// is committed, and the refusal returned after it.
	var refused error
	err := s.o.DB.InTx(ctx, func(tx *store.Store) error {
		*res = Result{} // a retried transaction starts afresh
		var err error
		if refused, err = s.apply(ctx, tx, s256, f, res); err != nil || refused != nil {
			return err
		}
		for _, a := range audits {
			if err := a(ctx, tx, res.Transition); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if refused != nil {
		s.o.Log.InfoContext(ctx, "mission lifecycle", "mission", s256, "from", res.Transition.From, "to", res.Transition.To,
			"reason", res.Transition.Reason, "actor", res.Transition.Actor.Kind, "observed", true)
		return nil, refused
	}
	if res.Mission, err = s.o.DB.Mission(ctx, s256); err != nil {
		return nil, err
	}
	if res.Transition.ReleaseHeld && s.o.Releaser != nil {
		n, err := s.o.Releaser.ReleaseHeld(ctx, res.Mission.PersonID, s256)
		if err != nil {
			s.o.Log.WarnContext(ctx, "lifecycle: release held requests", "mission", s256, "err", err)
		}
		res.Released = n
	}
	s.o.Log.InfoContext(ctx, "mission lifecycle", "mission", s256, "from", res.Transition.From, "to", res.Transition.To,
		"reason", res.Transition.Reason, "actor", by.Kind, "actor_id", by.ID, "released", res.Released, "cascade", res.CascadeID)
	return res, nil
}

// record is the part of the stored mission the lifecycle rules read.
func (s *Service) record(m *mission.Record) governance.Record {
	r := governance.Record{ID: m.S256, Owner: m.AgentSub, State: authority.StateActive, Reason: m.Reason,
		ExpiresAt: m.ExpiresAt, Version: m.Version, SuspendRevokes: !s.o.KeepTokensOnSuspend}
	switch {
	case m.Terminated:
		r.State = authority.StateTerminated
	case m.Hold != nil:
		r.State = authority.StateSuspended
		r.Hold = &governance.Hold{Since: m.Hold.Since, Until: m.Hold.Until, By: Actor{Kind: m.Hold.ByKind, ID: m.Hold.ByID}}
	}
	return r
}

// write stores the new state and its log entry.
func (s *Service) write(ctx context.Context, tx Store, m *mission.Record, cur, next governance.Record, t *governance.Transition, now time.Time) error {
	by := logActor(t.Actor)
	switch t.To {
	case authority.StateSuspended:
		ok, err := tx.SetMissionHold(ctx, m.S256, cur.Version, &mission.Hold{Since: next.Hold.Since, Until: next.Hold.Until,
			ByKind: next.Hold.By.Kind, ByID: next.Hold.By.ID})
		if err != nil || !ok {
			return conflict(err)
		}
		return tx.AppendMissionLog(ctx, m.S256, mission.Entry{At: now, Kind: "suspension", Actor: by,
			Summary: fmt.Sprintf("Mission suspended: new requests are held until %s, then it ends.", next.Hold.Until.UTC().Format(time.RFC3339))})
	case authority.StateActive:
		ok, err := tx.SetMissionHold(ctx, m.S256, cur.Version, nil)
		if err != nil || !ok {
			return conflict(err)
		}
		return tx.AppendMissionLog(ctx, m.S256, mission.Entry{At: now, Kind: "resumption", Actor: by,
			Summary: "Mission resumed: held requests continue."})
	case authority.StateTerminated:
		if cur.Hold != nil {
			// The hold ends with the mission (and the version moves on, so a
			// decision read before this one cannot commit).
			if ok, err := tx.SetMissionHold(ctx, m.S256, cur.Version, nil); err != nil || !ok {
				return conflict(err)
			}
		}
		entry := mission.Entry{At: now, Kind: "termination", Actor: by, Summary: fmt.Sprintf("Mission ended: %s.", t.Reason)}
		if t.Actor.ID == "hold_timeout" {
			entry.Summary = fmt.Sprintf("Mission ended: %s (it stayed suspended past its hold).", t.Reason)
		}
		ended, err := tx.TerminateMission(ctx, m.S256, mission.Reason(t.Reason), by, now, entry)
		if err != nil || !ended {
			return conflict(err)
		}
		return nil
	}
	return fmt.Errorf("lifecycle: unknown target state %q", t.To)
}

// residualExposure is the transition's residual_exposure_until (design
// §5 "Revocation propagation": the latest unconfirmed exp): read in the
// transition's transaction from the deliveries its cascade just queued,
// every one of which is still unconfirmed, it is the latest exp among the
// tokens it revoked that have a recipient to tell. nil when none has.
func residualExposure(ctx context.Context, tx *store.Store, cascadeID string) (*time.Time, error) {
	ds, err := tx.Deliveries(ctx, cascadeID)
	if err != nil {
		return nil, err
	}
	var unconfirmed []governance.IndexedToken
	for _, d := range ds {
		if d.Recipient != "" && d.Outcome != revocation.OutcomeRevoked {
			unconfirmed = append(unconfirmed, governance.IndexedToken{JTI: d.TokenJTI, Aud: d.Recipient, Exp: d.TokenExp})
		}
	}
	return governance.ResidualExposureUntil(unconfirmed), nil
}

// evidence appends the lifecycle_transition record and a signed chain
// head (design §7: Level 4 signs the head at each transition), on the
// mission's chain, in the transition's transaction. residual is the
// residual_exposure_until of its revocations (omitted when nil).
func (s *Service) evidence(ctx context.Context, tx Store, m *mission.Record, t *governance.Transition, cascadeID string, residual *time.Time, now time.Time) error {
	body := map[string]any{"from": t.From, "to": t.To, "reason": t.Reason, "actor": t.Actor,
		"revoke_tokens": t.RevokeTokens, "release_held": t.ReleaseHeld}
	if cascadeID != "" {
		body["revocations"] = cascadeID
	}
	if residual != nil {
		body["residual_exposure_until"] = residual.UTC().Format(time.RFC3339)
	}
	raw, err := evidence.Body(body)
	if err != nil {
		return err
	}
	ref := evidence.MissionRef{Origin: s.o.Issuer, ID: m.S256}
	rec, err := composition.AppendEvidence(ctx, tx, m.S256, m.S256, evidence.Record{Mission: ref, Type: evidence.LifecycleTransition,
		Actor: evidence.Actor(t.Actor), Anchors: anchorsOf(m), Body: raw}, now)
	if err != nil {
		return err
	}
	return s.signHead(ctx, tx, m.S256, rec, now)
}

// RevocationResult appends to mission s256's chain, in st's transaction
// (the one storing the outcome), the revocation_result record of a
// delivery of the mission's cascade that reached a terminal outcome
// (design §5 "outcomes are evidenced", §7; PS-212, PS-286, PS-292): the
// revoked token's iss and jti and its exp, the recipient, the outcome
// (revoked: the recipient confirmed it; revocation_unsupported: it
// refused or has no revocation_endpoint; revocation_unavailable: it did
// not answer), whether it was confirmed, the attempts, the cascade
// ("revocations", as the lifecycle_transition names it) and, for
// revocation_unavailable, when the PS attempts it again
// (next_attempt_at) or, when it will not (the token expires first),
// retries_ended: true with the attempts made, 0 included — the record of
// the PS giving up, appended once its retries end — and an access
// server's report of the resources it revoked at (downstream, omitted
// when it gave none; PS-292). The append locks the mission's row first,
// as every append to its chain does, so it reads the chain's head
// serialised with them (revocation.Evidencer).
func (s *Service) RevocationResult(ctx context.Context, st revocation.Store, s256, iss string, d revocation.Delivery, downstream []revocation.Downstream) error {
	tx, ok := st.(Store)
	if !ok {
		return fmt.Errorf("lifecycle: cannot evidence a revocation of mission %s outside the PS's store", s256)
	}
	m, err := tx.LockMission(ctx, s256)
	if err != nil {
		return err
	}
	body := map[string]any{"iss": iss, "jti": d.TokenJTI, "exp": d.TokenExp.UTC().Format(time.RFC3339),
		"recipient": d.Recipient, "outcome": d.Outcome, "confirmed": d.Outcome == revocation.OutcomeRevoked,
		"revocations": d.CascadeID}
	if d.Attempts > 0 {
		body["attempts"] = d.Attempts
	}
	switch {
	case d.Outcome != revocation.OutcomeUnavailable:
	case !d.NextAttempt.IsZero():
		// The PS keeps trying (design §5); a later success is evidenced.
		body["next_attempt_at"] = d.NextAttempt.UTC().Format(time.RFC3339)
	default:
		// The PS gave up: the token is dead before another attempt.
		body["retries_ended"], body["attempts"] = true, d.Attempts
	}
	if len(downstream) > 0 {
		body["downstream"] = downstream
	}
	raw, err := evidence.Body(body)
	if err != nil {
		return err
	}
	_, err = composition.AppendEvidence(ctx, tx, s256, s256, evidence.Record{Mission: evidence.MissionRef{Origin: s.o.Issuer, ID: s256},
		Type: evidence.RevocationResult, Actor: evidence.Actor{Kind: "ps"}, Anchors: anchorsOf(m), Body: raw}, s.o.Now())
	return err
}

var _ revocation.Evidencer = (*Service)(nil)

// signHead appends a chain_head signing head (the mission chain's last
// record) with the PS key.
func (s *Service) signHead(ctx context.Context, tx Store, s256 string, head evidence.Stored, now time.Time) error {
	signer, err := s.o.Signer.ChainHeadSigner(ctx)
	if err != nil {
		return err
	}
	signed, err := evidence.SignHead(head, signer, evidence.Actor{Kind: "ps"}, now)
	if err != nil {
		return err
	}
	if err := tx.InsertEvidence(ctx, s256, signed); err != nil || s.o.Stamps == nil {
		return err
	}
	st, ok := tx.(timestamping.TxStore)
	if !ok {
		return fmt.Errorf("lifecycle: cannot anchor a chain head of mission %s outside the PS's store", s256)
	}
	return s.o.Stamps.Queue(ctx, st, s256, signed)
}

// HeadSigningInterval is how often a mission chain that moved gets a
// signed head besides its transitions (design §7: "at each transition and
// hourly").
const HeadSigningInterval = time.Hour

// SignHead signs the mission chain's current head unless it is a signed
// head already (or the chain is empty), in one transaction with the
// mission's row locked: every record before it is then covered by a PS
// signature (design §7, Level 4). It reports whether it signed.
func (s *Service) SignHead(ctx context.Context, s256 string) (bool, error) {
	signed := false
	err := s.o.DB.InTx(ctx, func(tx *store.Store) error {
		signed = false
		if _, err := tx.LockMission(ctx, s256); err != nil {
			return err
		}
		head, err := tx.EvidenceHead(ctx, s256)
		if err != nil || head == nil || head.Record.Type == evidence.ChainHead {
			return err
		}
		signed = true
		return s.signHead(ctx, tx, s256, *head, s.o.Now())
	})
	return signed, err
}

// SignHeadsDue signs the head of every mission chain that moved since its
// last signed head and whose last signed head is an interval old (or that
// has none): the housekeeping loop runs it (any replica may; a race
// between two is refused by the chain's (chain, seq) key). It returns how
// many it signed.
//
// It moves its mark after a sweep that signed every chain due: a record
// stamped an interval ago is then covered by a signed head, whatever its
// chain (its last head is older, or later in the chain). headSweepSlack
// allows for a replica whose clock stamped records behind this one's.
// From the mark, the next sweep looks only at chains that moved since
// this one (less the slack) and chains whose last head came of age since
// (migration 00038): a minute's sweep reads a minute's evidence and the
// slack, not the last interval's.
func (s *Service) SignHeadsDue(ctx context.Context) (int, error) {
	before := s.o.Now().Add(-HeadSigningInterval)
	since, err := s.o.DB.SweepMark(ctx, headSweep)
	if err != nil {
		return 0, err
	}
	// Since the mark, a chain can have become due in two ways: it moved
	// (a record stamped since the last complete sweep, less the slack:
	// the mark plus the interval), or its last head came of age (stamped
	// from the mark to before).
	ids, err := s.o.DB.EvidenceHeadsDue(ctx, before, since, since+HeadSigningInterval.Milliseconds(), s.headSweepLimit)
	n, err := eachDue(ctx, ids, err, s.SignHead)
	if err != nil || len(ids) == s.headSweepLimit {
		return n, err
	}
	return n, s.o.DB.AdvanceSweepMark(ctx, headSweep, before.Add(-headSweepSlack).UnixMilli())
}

// The head-signing sweep's mark, and how far behind its own clock it
// trusts another replica's stamps.
const (
	headSweep      = "evidence_heads"
	headSweepSlack = 10 * time.Minute
)

// anchorsOf are the mission's anchors; a mission approved before
// Mission composition has none but its s256 (its chain then starts here).
func anchorsOf(m *mission.Record) evidence.Anchors {
	c := m.Composition
	if c == nil {
		return evidence.Anchors{}
	}
	a := evidence.Anchors{ProposalHash: c.ProposalHash, AuthorityHash: c.AuthorityHash, ConsentRenderingHash: c.ConsentRenderingHash}
	if c.EffectiveHash != "" && c.EffectiveHash != c.AuthorityHash {
		a.EffectiveAuthorityHash = c.EffectiveHash
	}
	return a
}

// logActor is who the mission log names.
func logActor(a Actor) string {
	switch a.Kind {
	case governance.ByPerson:
		return "person"
	case governance.ByAdmin:
		return "admin"
	case governance.ByAgent:
		return "agent"
	}
	return "ps"
}

// conflict: the mission changed between the lock and the write (it cannot
// under the row lock; a changed version is reported as a conflict).
func conflict(err error) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("lifecycle: the mission changed meanwhile: %w", dberr.ErrConflict)
}

// maxRiskDecisions bounds how many recent decisions RiskCheck reads.
const maxRiskDecisions = 200

// RiskCheck applies the risk policy to mission s256 in tx, the
// transaction of a decision an exclusion refused (design §5): when
// enough of its requests since its last lifecycle transition were
// refused by an exclusion within the policy's window (the one being
// decided included), the mission is suspended by the risk policy (which
// may suspend, never resume) for the default hold, with the transition's
// usual effects and evidence, committed with the refusal. It reports
// whether it suspended; a mission not active is left alone.
func (s *Service) RiskCheck(ctx context.Context, tx *store.Store, s256 string) (bool, error) {
	p := s.o.Risk
	if p.Hits <= 0 {
		return false, nil
	}
	since := time.Time{}
	last, err := tx.MissionEvidence(ctx, s256, evidence.LifecycleTransition, 1)
	if err != nil {
		return false, err
	}
	if len(last) == 1 {
		since, _ = time.Parse(evidence.TimeFormat, last[0].Record.At)
	}
	recs, err := tx.MissionEvidence(ctx, s256, evidence.RuntimeDecision, maxRiskDecisions)
	if err != nil {
		return false, err
	}
	var hits []time.Time
	for _, r := range recs {
		var body struct {
			Outcome struct {
				Reason string `json:"reason"`
			} `json:"outcome"`
		}
		at, err := time.Parse(evidence.TimeFormat, r.Record.At)
		if err != nil || at.Before(since) || json.Unmarshal(r.Record.Body, &body) != nil || body.Outcome.Reason != composition.ReasonExcluded {
			continue
		}
		hits = append(hits, at)
	}
	if !p.Trips(hits, s.o.Now()) {
		return false, nil
	}
	by := Actor{Kind: governance.ByRiskPolicy, ID: "exclusion_hits"}
	res := &Result{}
	_, err = s.apply(ctx, tx, s256, func(r governance.Record, now time.Time) (governance.Record, *governance.Transition, error) {
		return governance.Suspend(r, by, now, s.o.HoldTimeout)
	}, res)
	if errors.Is(err, ErrTransition) || errors.Is(err, errNothing) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	s.o.Log.WarnContext(ctx, "mission suspended by the risk policy", "mission", s256, "exclusion_hits", len(hits), "window", p.Window,
		"cascade", res.CascadeID)
	return true, nil
}

// Risk is RiskCheck as composition.Point.Risk calls it, in the deciding
// transaction (a store other than *store.Store is not checked).
func (s *Service) Risk(ctx context.Context, st composition.Store, s256 string) error {
	tx, ok := st.(*store.Store)
	if !ok {
		return nil
	}
	_, err := s.RiskCheck(ctx, tx, s256)
	return err
}
