// Package governance is the mission lifecycle of Mission composition
// (design §5–§6) as pure functions on the PS's mission record: suspend and
// resume as a bounded hold projected on the wire as the draft's `active`,
// the hold timeout, termination with its reasons and who may cause each,
// narrowing overlays with the effective Authority Set they produce, and
// successor missions. Nothing here reads a clock or does I/O; each
// function returns the new record and the transition to evidence, and the
// caller commits both in one transaction.
package governance

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/authority"
)

// Who acts on a mission.
const (
	ByPerson     = "person"
	ByAdmin      = "admin"
	ByAgent      = "agent"
	ByRiskPolicy = "risk_policy"
	BySystem     = "system" // timers and bindings: expiry, hold timeout, binding revoked
)

// Actor is who caused a transition.
type Actor struct {
	Kind string `json:"kind"`
	ID   string `json:"id,omitempty"`
}

// Hold timeouts (design §5): 15 minutes unless configured, at most 24 h.
const (
	DefaultHoldTimeout = 15 * time.Minute
	MaxHoldTimeout     = 24 * time.Hour
)

// Hold is a suspension in progress.
type Hold struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	By    Actor     `json:"by"`
}

// Overlay is one accepted narrowing, stored under the update's s256.
type Overlay struct {
	UpdateS256 string              `json:"update_s256"`
	Narrowing  authority.Narrowing `json:"narrowing"`
	By         Actor               `json:"by"`
	At         time.Time           `json:"at"`
}

// Record is the part of the PS's mission record the lifecycle reads.
type Record struct {
	ID        string // s256
	Owner     string // the agent
	State     string // authority.State*
	Reason    mission.Reason
	ExpiresAt *time.Time
	Hold      *Hold
	Version   int64
	// Authority is the set fixed at approval; Overlays narrow it into
	// Effective (EffectiveHash), recomputed by Effective().
	Authority     *authority.Set
	AuthorityHash string
	Overlays      []Overlay
	Supersedes    string
	LineageRoot   string
	// SuspendRevokes: outstanding tokens are revoked on suspension
	// (default true in the design; the caller sets it from policy).
	SuspendRevokes bool
}

// Transition is a lifecycle change, the body of a lifecycle_transition
// evidence record.
type Transition struct {
	From   string    `json:"from"`
	To     string    `json:"to"`
	Reason string    `json:"reason,omitempty"`
	Actor  Actor     `json:"actor"`
	At     time.Time `json:"at"`
	// RevokeTokens: the caller revokes the outstanding tokens (and records
	// residual_exposure_until from the revocation results).
	RevokeTokens bool `json:"revoke_tokens"`
	// ReleaseHeld: requests held during a suspension are evaluated again.
	ReleaseHeld bool `json:"release_held,omitempty"`
}

// ErrTransition is a transition the lifecycle does not allow.
var ErrTransition = errors.New("mission: transition not allowed")

// Lifecycle is what authority.Evaluate reads.
func (r Record) Lifecycle() authority.Lifecycle {
	lc := authority.Lifecycle{State: r.State, Reason: string(r.Reason), ExpiresAt: r.ExpiresAt}
	if r.Hold != nil {
		until := r.Hold.Until
		lc.HoldUntil = &until
	}
	return lc
}

// Wire is the state an AAuth peer sees: suspension is a hold, so only
// active and terminated exist (design §5 "Two states on the wire"). It
// settles expiry and hold timeout first, as every path must (PS-211).
func (r Record) Wire(now time.Time) (status string, reason mission.Reason) {
	r, _ = Settle(r, now)
	if r.State == authority.StateTerminated {
		return "terminated", r.Reason
	}
	return "active", ""
}

// Settle applies the timers lazily: past expires_at the mission is
// terminated(expired); a hold past its timeout is terminated
// (administrative). It returns the transition when one happened.
func Settle(r Record, now time.Time) (Record, *Transition) {
	if r.State == authority.StateTerminated {
		return r, nil
	}
	st := mission.State{ExpiresAt: r.ExpiresAt}
	if ok, _ := st.Active(now); !ok {
		// Expired tokens are already capped by expires_at: none to revoke.
		return terminate(r, mission.ReasonExpired, Actor{Kind: BySystem}, now, false)
	}
	if r.State == authority.StateSuspended && r.Hold != nil && !now.Before(r.Hold.Until) {
		return terminate(r, mission.ReasonAdministrative, Actor{Kind: BySystem, ID: "hold_timeout"}, now, true)
	}
	return r, nil
}

func terminate(r Record, reason mission.Reason, by Actor, now time.Time, revoke bool) (Record, *Transition) {
	t := &Transition{From: r.State, To: authority.StateTerminated, Reason: string(reason), Actor: by, At: now, RevokeTokens: revoke}
	r.State, r.Reason, r.Hold = authority.StateTerminated, reason, nil
	r.Version++
	return r, t
}

// Suspend holds the mission: new requests get 202 approval until resume
// or the hold timeout (clamped to 24 h; 0 means the 15-minute default).
// A person, an admin or the risk policy may suspend an active mission.
func Suspend(r Record, by Actor, now time.Time, timeout time.Duration) (Record, *Transition, error) {
	r, settled := Settle(r, now)
	if settled != nil || r.State != authority.StateActive {
		return r, settled, fmt.Errorf("%w: only an active mission can be suspended", ErrTransition)
	}
	if !slices.Contains([]string{ByPerson, ByAdmin, ByRiskPolicy}, by.Kind) {
		return r, nil, fmt.Errorf("%w: a %s cannot suspend a mission", ErrTransition, by.Kind)
	}
	if timeout <= 0 {
		timeout = DefaultHoldTimeout
	}
	timeout = min(timeout, MaxHoldTimeout)
	r.State = authority.StateSuspended
	r.Hold = &Hold{Since: now, Until: now.Add(timeout), By: by}
	r.Version++
	return r, &Transition{From: authority.StateActive, To: authority.StateSuspended, Actor: by, At: now, RevokeTokens: r.SuspendRevokes}, nil
}

// Resume ends a hold: held requests are released. The person or an admin
// may resume, an admin's suspension only an admin, the risk policy never.
func Resume(r Record, by Actor, now time.Time) (Record, *Transition, error) {
	r, settled := Settle(r, now)
	if settled != nil || r.State != authority.StateSuspended {
		return r, settled, fmt.Errorf("%w: only a suspended mission can be resumed", ErrTransition)
	}
	switch {
	case by.Kind != ByPerson && by.Kind != ByAdmin:
		return r, nil, fmt.Errorf("%w: a %s cannot resume a mission", ErrTransition, by.Kind)
	case r.Hold.By.Kind == ByAdmin && by.Kind != ByAdmin:
		return r, nil, fmt.Errorf("%w: an admin's suspension is resumed by an admin", ErrTransition)
	}
	r.State, r.Hold = authority.StateActive, nil
	r.Version++
	return r, &Transition{From: authority.StateSuspended, To: authority.StateActive, Actor: by, At: now, ReleaseHeld: true}, nil
}

// mayTerminate is the design's table of who ends a mission for which
// reason.
var mayTerminate = map[mission.Reason][]string{
	mission.ReasonCompleted: {ByPerson},                   // the person accepts the agent's completion
	mission.ReasonRevoked:   {ByPerson, ByAdmin, ByAgent}, // the agent by action: withdraw
	mission.ReasonExpired:   {BySystem},
	// Approving a successor; an administrator may also record one made
	// out of band (mission control's terminate, reason superseded).
	mission.ReasonSuperseded:     {ByPerson, ByAdmin, BySystem},
	mission.ReasonAdministrative: {ByAdmin, BySystem},
}

// Terminate ends an active or suspended mission for reason. A terminated
// mission never becomes active again (PS-206). Every reason but expired
// revokes the outstanding tokens (PS-212); the caller spares tokens a
// successor permits.
func Terminate(r Record, reason mission.Reason, by Actor, now time.Time) (Record, *Transition, error) {
	r, settled := Settle(r, now)
	if settled != nil || r.State == authority.StateTerminated {
		return r, settled, fmt.Errorf("%w: the mission has already ended", ErrTransition)
	}
	if !slices.Contains(mayTerminate[reason], by.Kind) {
		return r, nil, fmt.Errorf("%w: a %s cannot end a mission as %q", ErrTransition, by.Kind, reason)
	}
	if by.Kind == ByAgent && by.ID != r.Owner {
		return r, nil, fmt.Errorf("%w: only the owning agent may withdraw", ErrTransition)
	}
	r, t := terminate(r, reason, by, now, reason != mission.ReasonExpired)
	return r, t, nil
}

// Effective applies the overlays in order to the approved set and
// returns the effective set and its hash (effective_authority_hash).
func (r Record) Effective(opts authority.ParseOptions) (*authority.Set, string, error) {
	set := r.Authority
	for i, o := range r.Overlays {
		next, err := authority.Narrow(set, o.Narrowing, opts)
		if err != nil {
			return nil, "", fmt.Errorf("overlay %d (%s): %w", i, o.UpdateS256, err)
		}
		set = next
	}
	h, err := set.Hash()
	return set, h, err
}

// AcceptNarrowing adds an overlay after checking that it applies and only
// narrows; it returns the new record and the new effective hash. The
// caller revokes the tokens now outside (re-evaluating each indexed token
// against the returned set).
func AcceptNarrowing(r Record, o Overlay, opts authority.ParseOptions, now time.Time) (Record, *authority.Set, string, error) {
	r, settled := Settle(r, now)
	if settled != nil || r.State == authority.StateTerminated {
		return r, nil, "", fmt.Errorf("%w: the mission has ended", ErrTransition)
	}
	if o.By.Kind == ByAgent && o.By.ID != r.Owner {
		return r, nil, "", fmt.Errorf("%w: only the owning agent may narrow", ErrTransition)
	}
	next := r
	next.Overlays = append(slices.Clone(r.Overlays), o)
	set, hash, err := next.Effective(opts)
	if err != nil {
		return r, nil, "", err
	}
	next.Version++
	return next, set, hash, nil
}

// Successor is the plan for approving a successor mission (expansion).
type Successor struct {
	Supersedes  string
	LineageRoot string
	// Carried are the predecessor's checkpoint records the successor
	// keeps: only those named in carry_checkpoints, defined in the
	// successor's set, and shown to the person.
	Carried map[string]authority.CheckpointRecord
	// Diff is what the person is shown against the predecessor's
	// effective set.
	Diff Diff
}

// PlanSuccessor checks a proposal with `supersedes` against its
// predecessor (the same owner, not terminated) and plans the carry-over;
// budgets continue by lineage (LineageRoot). On approval the caller
// terminates the predecessor with Terminate(…, superseded, …).
func PlanSuccessor(pred Record, predCheckpoints map[string]authority.CheckpointRecord, agent string,
	succ *authority.Set, carry []string, opts authority.ParseOptions, now time.Time) (*Successor, error) {
	pred, _ = Settle(pred, now)
	if pred.State == authority.StateTerminated {
		return nil, fmt.Errorf("%w: the predecessor has ended", ErrTransition)
	}
	if pred.Owner != agent {
		return nil, fmt.Errorf("%w: a successor is proposed by the predecessor's agent", ErrTransition)
	}
	eff, _, err := pred.Effective(opts)
	if err != nil {
		return nil, err
	}
	root := pred.LineageRoot
	if root == "" {
		root = pred.ID
	}
	s := &Successor{Supersedes: pred.ID, LineageRoot: root, Carried: map[string]authority.CheckpointRecord{}, Diff: Compare(eff, succ)}
	for _, id := range carry {
		rec, ok := predCheckpoints[id]
		if ok && succ.Checkpoint(id) != nil {
			s.Carried[id] = rec
		}
	}
	return s, nil
}
