package composition

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/anchor"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// Point is the one decision point of Mission composition (design §3): the
// token, person-token and permission endpoints call Decide inside the
// transaction that issues.
type Point struct {
	Issuer string
	Config *Config
	Now    func() time.Time
	// Risk, when set, runs in the deciding transaction after a decision
	// refused by an exclusion was evidenced: the risk policy's trigger
	// (design §5; ps/lifecycle's Risk may suspend the mission, committed
	// with the refusal).
	Risk func(ctx context.Context, st Store, s256 string) error
	// End, when set, ends a mission the decision found ended (expiry, a
	// hold past its timeout) in the deciding transaction, through the
	// lifecycle (ps/lifecycle's Observed: the lifecycle_transition
	// evidence, its signed head, the revocations). Unset, the mission is
	// ended in the store alone.
	End func(ctx context.Context, st Store, s256 string, reason mission.Reason) error

	// Resume, when set, runs once a transaction that recorded checkpoints
	// of a mission has committed (StepsRecorded): the mission's pending
	// requests that wait for them are decided again (interact.ResumeSteps).
	Resume func(ctx context.Context, m *mission.Record, steps []string)

	// sets caches the missions' verified effective sets.
	sets setCache
}

// Query is one request to decide on a mission.
type Query struct {
	S256    string
	Point   authority.Point
	Mode    authority.Mode
	Request authority.Request
	Actor   authority.Actor
	// ResourceTokenJTI names the resource token in the decision record.
	ResourceTokenJTI string
	// PersonReachable: the PS can reach the person itself (their inbox).
	PersonReachable bool
	// Answers are the person's answers to the deferred request this
	// re-evaluation resolves (Resolves, its pending id), by Item.Key.
	Answers  map[string]bool
	Resolves string
	// ApproveAll: the person approved the deferred request as a whole, so
	// every item of it is answered yes (what each needed — consent, an
	// approval, an inline or call-back checkpoint — is recorded).
	ApproveAll bool
	// RefuseAll: the person refused the deferred request as a whole, so
	// every item of it is answered no and the decision is a deny
	// (user_denied), evidenced as the person's.
	RefuseAll bool
	// Person is the person whose answer this re-evaluation applies
	// (ApproveAll, RefuseAll or Answers with Resolves): the evidence names
	// them as the decision's actor, acting on the agent's request.
	Person string
	// Consented are scopes the person already granted this agent at the
	// resource outside the mission (standing grants): consent for items
	// that need consent once.
	Consented []string
	// Seen is the mission as the caller read it before the decision's
	// transaction (its checks of state and owner), if it did: the lock
	// then reads the row whole only when it has changed since.
	Seen *mission.Record
}

// Result is a decision made and evidenced.
type Result struct {
	ID       string
	Decision authority.Decision
	Mission  *mission.Record
	// Waits are the checkpoints a deferred decision waits for; RolesOnly:
	// they are all a role's and nothing else is needed from the person,
	// so the request waits for a role holder (authority.Decision.Waits).
	Waits     []string
	RolesOnly bool
}

// WaitsForRole reports whether the request is deferred for role steps
// only: the person's yes cannot settle it, a role holder's record can.
func (r *Result) WaitsForRole() bool {
	return r.Decision.Outcome == authority.Defer && r.RolesOnly
}

// Issue reports whether the decision lets the caller issue now.
func (r *Result) Issue() bool { return r.Decision.Outcome == authority.Issue }

// Deny reports whether the request is refused.
func (r *Result) Deny() bool { return r.Decision.Outcome == authority.Deny }

// Problem is the refusal as the agent sees it: the draft's status and
// error with the extension member mission_decision naming the entry,
// exclusion or stage that refused (design §10.4).
func (r *Result) Problem() *aauth.Problem {
	d := &r.Decision
	status, code := d.Status, d.Error
	if status == 0 || code == "" {
		status, code = http.StatusForbidden, aauth.ErrDenied
	}
	p := aauth.NewProblem(status, code, d.Explanation)
	p.Extra = map[string]any{"mission_decision": d.Problem(r.ID)}
	if code == aauth.ErrMissionTerminated {
		p.Extra["mission_status"] = "terminated"
		p.Extra["termination_reason"] = d.TerminationReason
	}
	return p
}

// ErrNoMission: the query names no mission.
var ErrNoMission = errors.New("composition: no mission to decide on")

// Decide evaluates q against the mission as it stands in st's transaction
// and evidences the decision there. The mission's row is locked first, so
// concurrent decisions on one mission serialize; an issue decision's
// effects (consent memory, checkpoints, grant counters, budgets) are
// committed under compare-and-swap on the version it was read at (a moved
// version is dberr.ErrConflict: the caller's transaction rolls back and
// nothing is issued). A decision that ends the mission (expiry, hold
// timeout observed here) terminates it. Deny and defer write only the
// evidence: the caller commits it and answers with Problem or a 202.
func (p *Point) Decide(ctx context.Context, st Store, q Query) (*Result, error) {
	if q.S256 == "" {
		return nil, ErrNoMission
	}
	m, snap, err := lockQueried(ctx, st, q)
	if err != nil {
		return nil, err
	}
	set, hash, verified, err := p.effectiveSet(m)
	if err != nil {
		return nil, err
	}
	snap.Lifecycle, snap.Set, snap.EffectiveHash, snap.Version = Lifecycle(m), set, hash, m.Version
	snap.Verified = verified
	for _, key := range consentedKeys(set, q.Request.Resource, q.Consented) {
		snap.Consent[key] = true
	}
	now := p.Now()
	// A person answering the deferred request (Resolves) was reached.
	reachable := q.PersonReachable || (q.Person != "" && q.Resolves != "")
	in := authority.Input{Point: q.Point, Mode: q.Mode, Request: q.Request, Actor: q.Actor, Mission: snap,
		Catalog: p.config().Catalog, Now: now, PersonReachable: reachable, Answers: q.Answers}
	res := &Result{ID: newDecisionID(), Decision: authority.Evaluate(in), Mission: m}
	if (q.ApproveAll || q.RefuseAll) && res.Decision.Outcome == authority.Defer {
		in.Answers = map[string]bool{}
		for k, v := range q.Answers {
			in.Answers[k] = v
		}
		for _, it := range res.Decision.Items {
			// An answer counts only for an item that needed one.
			in.Answers[it.Item.Key()] = !q.RefuseAll
		}
		res.Decision = authority.Evaluate(in)
	}
	d := &res.Decision
	res.Waits, res.RolesOnly = d.Waits(set, in.Answers)
	// Effects that write nothing leave the version alone: nothing a
	// compare-and-swap guards has changed, and the version bump rewrites the
	// whole missions row (every person token decision in a steady mission,
	// issue 12). The row is locked above, so no other decision can slip in.
	if d.Outcome == authority.Issue && d.Effects.Writes() {
		if err := st.ApplyMissionEffects(ctx, m.S256, m.Lineage(), m.Version, d.Effects, now); err != nil {
			return nil, err
		}
		// A step this decision consumed at once is there for no one else.
		p.StepsRecorded(st, m, slices.DeleteFunc(slices.Clone(d.Effects.RecordCheckpoints), func(id string) bool {
			return slices.Contains(d.Effects.ConsumeCheckpoints, id)
		}))
	}
	if d.Effects.Terminate != "" && !m.Terminated {
		if err := p.end(ctx, st, m.S256, mission.Reason(d.Effects.Terminate), now); err != nil {
			return nil, err
		}
	}
	rec := d.Record(res.ID, q.ResourceTokenJTI, q.Resolves, in)
	rec.Input = authority.RecordInput(in, replaySet(m))
	body, err := evidence.Body(rec)
	if err != nil {
		return nil, err
	}
	actor := evidence.Actor{Kind: "agent", ID: q.Actor.Agent}
	if q.Person != "" && q.Resolves != "" {
		actor = evidence.Actor{Kind: "person", ID: q.Person}
	}
	// The mission was locked above, in this transaction.
	if _, err := appendLocked(ctx, st, m.S256, m.S256, evidence.Record{Mission: evidence.MissionRef{Origin: p.Issuer, ID: m.S256},
		Type: evidence.RuntimeDecision, Actor: actor, Anchors: anchorsOf(m), Body: body}, now); err != nil {
		return nil, err
	}
	if p.Risk != nil && d.Outcome == authority.Deny && d.Reason == ReasonExcluded {
		if err := p.Risk(ctx, st, m.S256); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// end ends mission s256 for reason, observed by a decision in st's
// transaction: through End when set.
func (p *Point) end(ctx context.Context, st Store, s256 string, reason mission.Reason, now time.Time) error {
	if p.End != nil {
		return p.End(ctx, st, s256, reason)
	}
	entry := mission.Entry{At: now, Kind: "termination", Actor: "ps", Summary: fmt.Sprintf("Mission ended: %s.", reason)}
	_, err := st.TerminateMission(ctx, s256, reason, "ps", now, entry)
	return err
}

// replaySet is the effective set a decision record carries for replay:
// only when narrowing moved it from the approved set in the blob.
func replaySet(m *mission.Record) json.RawMessage {
	if c := m.Composition; c != nil && c.EffectiveHash != c.AuthorityHash {
		return c.EffectiveSet
	}
	return nil
}

// ReasonExcluded is the decision reason of a request an exclusion refused.
const ReasonExcluded = "excluded"

func (p *Point) config() *Config {
	if p.Config == nil {
		return &Config{}
	}
	return p.Config
}

// EffectiveSet is the set a mission is evaluated against and the hash it
// must recompute to: the stored effective set, or for a mission approved
// before Mission composition the baseline of its approved resources and
// tools (design Example C).
func (p *Point) EffectiveSet(m *mission.Record) (*authority.Set, string, error) {
	set, hash, _, err := p.effectiveSet(m)
	return set, hash, err
}

// effectiveSet is EffectiveSet with the proof of the set's integrity when
// it checked (cached per mission and stored hash, see setCache); nil
// leaves the check to Evaluate, which fails closed.
func (p *Point) effectiveSet(m *mission.Record) (*authority.Set, string, *authority.Verified, error) {
	if c := m.Composition; c != nil {
		if v := p.sets.get(m.S256, c.EffectiveHash, c.EffectiveSet); v != nil {
			return v.Set(), c.EffectiveHash, v, nil
		}
		parsed, err := authority.Parse(c.EffectiveSet, p.config().Parse)
		if err != nil {
			// Evaluate fails closed on a set that does not check (integrity).
			return &authority.Set{}, c.EffectiveHash, nil, nil
		}
		v, err := authority.Verify(parsed.Set, c.EffectiveHash)
		if err != nil {
			return parsed.Set, c.EffectiveHash, nil, nil
		}
		p.sets.put(m.S256, c.EffectiveHash, c.EffectiveSet, v)
		return parsed.Set, c.EffectiveHash, v, nil
	}
	b, err := m.Parsed()
	if err != nil {
		return nil, "", nil, err
	}
	tools := make([]string, len(b.ApprovedTools))
	for i, t := range b.ApprovedTools {
		tools[i] = t.Name
	}
	raw, err := anchor.Marshal(authority.Baseline(b.ApprovedResources, tools))
	if err != nil {
		return nil, "", nil, err
	}
	parsed, err := authority.Parse(raw, p.config().Parse)
	if err != nil {
		return nil, "", nil, err
	}
	return parsed.Set, parsed.Hash, nil, nil
}

// Lifecycle is the mission's state as Evaluate reads it: a hold is a
// suspension (still active on the wire).
func Lifecycle(m *mission.Record) authority.Lifecycle {
	lc := authority.Lifecycle{State: authority.StateActive, ExpiresAt: m.ExpiresAt}
	switch {
	case m.Terminated:
		lc.State, lc.Reason = authority.StateTerminated, string(m.Reason)
	case m.Hold != nil:
		until := m.Hold.Until
		lc.State, lc.HoldUntil = authority.StateSuspended, &until
	}
	return lc
}

// anchorsOf are the mission's anchors for its evidence records.
// AnchorsOf is m's anchors for an evidence record written outside a
// decision (the same as a decision's).
func AnchorsOf(m *mission.Record) evidence.Anchors { return anchorsOf(m) }

func anchorsOf(m *mission.Record) evidence.Anchors {
	c := m.Composition
	if c == nil {
		return evidence.Anchors{}
	}
	a := evidence.Anchors{ProposalHash: c.ProposalHash, AuthorityHash: c.AuthorityHash}
	if c.EffectiveHash != c.AuthorityHash {
		a.EffectiveAuthorityHash = c.EffectiveHash
	}
	return a
}

// consentedKeys turns standing scope grants into consent-memory keys for
// every entry of set (and default_outside): the person consented to those
// scopes for this agent already.
func consentedKeys(set *authority.Set, resource string, scopes []string) []string {
	if len(scopes) == 0 || set == nil {
		return nil
	}
	var out []string
	ids := []string{""}
	for _, e := range set.Entries {
		ids = append(ids, e.ID)
	}
	for _, s := range scopes {
		it := authority.Item{Kind: authority.ItemScope, Scope: s}
		for _, id := range ids {
			out = append(out, authority.MemoryKey(id, resource, it))
		}
	}
	return out
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newDecisionID names a decision (dec_ + 80 random bits).
func newDecisionID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return "dec_" + strings.ToLower(idEncoding.EncodeToString(b[:]))
}

// Attest records, in st's transaction, the attestation checkpoints the
// agent's audit record of action satisfies (design §2 stages: ordering
// only, never proof), each with a checkpoint_recorded evidence record.
// It returns the checkpoints recorded.
func (p *Point) Attest(ctx context.Context, st Store, s256, agent, action string) ([]string, error) {
	m, err := st.LockMission(ctx, s256)
	if err != nil {
		return nil, err
	}
	set, _, err := p.EffectiveSet(m)
	if err != nil {
		return nil, err
	}
	snap, err := st.MissionCounters(ctx, s256, m.Lineage())
	if err != nil {
		return nil, err
	}
	now := p.Now()
	var ids []string
	for _, id := range authority.Attestations(set, action) {
		// Its `after` ordering must hold; otherwise the audit attests nothing yet.
		if _, err := authority.RecordCheckpoint(set, snap.Checkpoints, id, authority.ViaAudit, now); err != nil {
			continue
		}
		ids = append(ids, id)
		if err := st.RecordCheckpoint(ctx, s256, id, true, now); err != nil {
			return nil, err
		}
		body, err := evidence.Body(map[string]any{"checkpoint": id, "agent_asserted": true, "via": authority.ViaAudit, "audit_action": action})
		if err != nil {
			return nil, err
		}
		if _, err := AppendEvidence(ctx, st, s256, s256, evidence.Record{Mission: evidence.MissionRef{Origin: p.Issuer, ID: s256},
			Type: evidence.CheckpointRecorded, Actor: evidence.Actor{Kind: "agent", ID: agent}, Anchors: anchorsOf(m), Body: body}, now); err != nil {
			return nil, err
		}
	}
	p.StepsRecorded(st, m, ids)
	return ids, nil
}

// StepsRecorded is the one place every path that records checkpoints of
// m in st's transaction (a decision's effects, an audit attestation, the
// mission page, a role holder on /roles) reports them: once it commits,
// Resume decides again the requests waiting for them. Nothing recorded,
// or no Resume, does nothing.
func (p *Point) StepsRecorded(st Store, m *mission.Record, steps []string) {
	if p == nil || p.Resume == nil || len(steps) == 0 {
		return
	}
	steps = slices.Clone(steps)
	st.AfterCommit(func() { p.Resume(context.Background(), m, steps) })
}

// lockQueried locks q's mission for the decision and reads its counters
// under the lock, reusing what the caller saw of the mission when the row
// has not changed since.
func lockQueried(ctx context.Context, st Store, q Query) (*mission.Record, authority.Snapshot, error) {
	if q.Seen != nil && q.Seen.S256 == q.S256 {
		return st.LockSeenMission(ctx, q.Seen)
	}
	m, err := st.LockMission(ctx, q.S256)
	if err != nil {
		return nil, authority.Snapshot{}, err
	}
	snap, err := st.MissionCounters(ctx, m.S256, m.Lineage())
	return m, snap, err
}

// DecideIn runs Decide in a transaction of db and, when the decision
// lets the caller act (then on issue only, unless always), runs act in
// the same transaction: the token's issuance or the answer's record
// commits with the decision's effects and evidence, or nothing does.
// A deny or defer commits its evidence and leaves the answer to the
// caller (Result.Problem, or asking the person).
func (p *Point) DecideIn(ctx context.Context, db *store.Store, q Query, always bool, act func(tx *store.Store, res *Result) error) (*Result, error) {
	var res *Result
	err := db.InTx(ctx, func(tx *store.Store) error {
		var err error
		if res, err = p.Decide(ctx, tx, q); err != nil {
			return err
		}
		if !res.Issue() && !(always && res.Decision.Outcome != authority.Defer) {
			return nil
		}
		return act(tx, res)
	})
	return res, err
}
