package authority

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/anchor"
)

// Status is an item's evaluation (design §2 "Entry status", §3 step 5).
type Status string

// Item statuses, best first within each group.
const (
	Permit           Status = "permit"
	PermitPerCall    Status = "permit_per_call"
	NeedsConsent     Status = "needs_consent"
	NeedsApproval    Status = "needs_approval"
	NeedsCheckpoint  Status = "needs_checkpoint"
	ConstraintFailed Status = "constraint_failed"
	StageBlocked     Status = "stage_blocked"
	DelegationDenied Status = "delegation_denied"
	Excluded         Status = "excluded"
	Outside          Status = "outside"
	UserDenied       Status = "user_denied"
)

func (s Status) rank() int {
	switch s {
	case Permit, PermitPerCall:
		return 0
	case NeedsConsent, NeedsApproval, NeedsCheckpoint:
		return 1
	case ConstraintFailed:
		return 2
	case StageBlocked:
		return 3
	}
	return 4
}

func (s Status) permits() bool { return s == Permit || s == PermitPerCall }
func (s Status) needs() bool   { return s.rank() == 1 }

// ReasonSuspended is the reason of a decision deferred because the
// mission is suspended: the request is held until it resumes.
const ReasonSuspended = "mission_suspended"

// Reason is the wire reason of a status (design §3 "Wire").
func (s Status) Reason() string {
	switch s {
	case Permit, PermitPerCall:
		return "permit"
	case Excluded:
		return "excluded"
	case Outside:
		return "outside_authority_set"
	case StageBlocked, NeedsCheckpoint:
		return "stage_gate"
	case ConstraintFailed:
		return "constraint_violation"
	case DelegationDenied:
		return "delegation_denied"
	case UserDenied:
		return "user_denied"
	}
	return "approval_required"
}

// Outcome is what the PS does.
type Outcome string

// Outcomes.
const (
	Issue Outcome = "issue"
	Defer Outcome = "defer"
	Deny  Outcome = "deny"
)

// Reservation reserves an amount under a budget key (never released).
type Reservation struct {
	Key      string `json:"key"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// Effects are the writes a decision makes, committed in the same
// transaction as the issuance (compare-and-swap on the mission version).
type Effects struct {
	RememberConsent    []string      `json:"remember_consent,omitempty"`
	RecordCheckpoints  []string      `json:"record_checkpoints,omitempty"`
	ConsumeCheckpoints []string      `json:"consume_checkpoints,omitempty"`
	CountGrants        []string      `json:"count_grants,omitempty"`
	Reserve            []Reservation `json:"reserve,omitempty"`
	// Terminate is set when the decision itself ends the mission (expiry
	// or hold timeout observed lazily on this path, PS-211).
	Terminate string `json:"terminate,omitempty"`
}

// Writes reports whether the effects change the mission's counters or
// checkpoints (Terminate is not one: it goes through the termination path).
func (e Effects) Writes() bool {
	return len(e.RememberConsent)+len(e.RecordCheckpoints)+len(e.ConsumeCheckpoints)+len(e.CountGrants)+len(e.Reserve) > 0
}

// Grant is what may be issued (three-party) or the bound an AS's grant
// must fit (four-party, DeliveryCheck).
type Grant struct {
	Scopes    []string    `json:"scope,omitempty"`
	R3Granted []Operation `json:"r3_granted,omitempty"`
	R3PerCall []Operation `json:"r3_per_call,omitempty"`
	Entries   []string    `json:"entries,omitempty"`
	// Lifetime is min(3600 s, the set's and every used entry's
	// max_token_lifetime); Exp is now+Lifetime capped by expires_at.
	Lifetime time.Duration `json:"-"`
	Exp      time.Time     `json:"-"`
}

// ItemOutcome is one item's evaluation, explained.
type ItemOutcome struct {
	Item               Item     `json:"item"`
	Status             Status   `json:"status"`
	Entry              string   `json:"entry,omitempty"`
	Exclusion          string   `json:"exclusion,omitempty"`
	Needs              []Status `json:"needs,omitempty"`
	MissingCheckpoints []string `json:"missing_checkpoints,omitempty"`
	Why                string   `json:"why"`

	reserve *Reservation
	consume []string
}

// Decision is Evaluate's answer.
type Decision struct {
	Outcome     Outcome `json:"kind"`
	Status      int     `json:"status"`
	Error       string  `json:"error,omitempty"`
	Requirement string  `json:"requirement,omitempty"`
	Reason      string  `json:"reason"`
	// TerminationReason accompanies error mission_terminated.
	TerminationReason string `json:"termination_reason,omitempty"`
	// Entry / Exclusion name what decided (design §10.4).
	Entry              string        `json:"entry,omitempty"`
	Exclusion          string        `json:"exclusion,omitempty"`
	MissingCheckpoints []string      `json:"missing_checkpoints,omitempty"`
	Items              []ItemOutcome `json:"items,omitempty"`
	Grant              *Grant        `json:"grant,omitempty"`
	Effects            Effects       `json:"effects"`
	Explanation        string        `json:"explanation"`
	CatalogVersion     string        `json:"catalog_version,omitempty"`
	MissionVersion     int64         `json:"mission_version"`
}

// MissionDecision is the `mission_decision` problem member (extension):
// which entry, exclusion or stage refused the request.
type MissionDecision struct {
	ID                 string        `json:"id"`
	Reason             string        `json:"reason"`
	Entry              string        `json:"entry,omitempty"`
	Exclusion          string        `json:"exclusion,omitempty"`
	Items              []ItemOutcome `json:"items"`
	MissingCheckpoints []string      `json:"missing_checkpoints,omitempty"`
	// Permitted is, for a narrowing (reason narrowed), the subset the
	// agent may ask again for: the items permitted or left to the person,
	// in request order (the rest is refused by what Items name).
	Permitted []Item `json:"permitted,omitempty"`
}

// Problem renders the decision's mission_decision member under id.
func (d *Decision) Problem(id string) MissionDecision {
	md := MissionDecision{ID: id, Reason: d.Reason, Entry: d.Entry, Exclusion: d.Exclusion,
		Items: d.Items, MissingCheckpoints: d.MissingCheckpoints}
	if d.Reason == reasonNarrowed {
		for _, o := range d.Items {
			if o.Status.permits() || o.Status.needs() {
				md.Permitted = append(md.Permitted, o.Item)
			}
		}
	}
	return md
}

// reasonNarrowed: part of the request is refused and the rest permitted.
const reasonNarrowed = "narrowed"

// Limits on what Evaluate reads from a request; the endpoints bound
// bodies already, these keep a decision's cost bounded regardless.
const (
	MaxItems           = 64
	MaxParameterBytes  = 16 << 10
	maxTokenLifetime   = 3600
	checkpointCallback = "mission.checkpoint"
)

func deny(status int, errCode, reason, why string) Decision {
	return Decision{Outcome: Deny, Status: status, Error: errCode, Reason: reason, Explanation: why}
}

// Evaluate decides a request against a mission. It is pure and
// deterministic (same input, same decision), reads no clock, and fails
// closed: malformed input, an unknown point or a set that does not
// recompute to its stored hash never yields Issue.
func Evaluate(in Input) Decision {
	d := evaluate(in)
	d.CatalogVersion = in.Catalog.version()
	d.MissionVersion = in.Mission.Version
	return d
}

func evaluate(in Input) Decision {
	// Lifecycle (§3 step 3): expiry on every path, then stored state.
	lc := in.Mission.Lifecycle
	st := mission.State{Terminated: lc.State == StateTerminated, Reason: mission.Reason(lc.Reason), ExpiresAt: lc.ExpiresAt}
	if ok, reason := st.Active(in.Now); !ok {
		d := deny(403, "mission_terminated", "mission_terminated", "The mission has ended ("+string(reason)+").")
		d.TerminationReason = string(reason)
		if lc.State != StateTerminated {
			d.Effects.Terminate = string(reason)
		}
		return d
	}
	switch lc.State {
	case StateActive:
	case StateSuspended:
		if lc.HoldUntil == nil || !in.Now.Before(*lc.HoldUntil) {
			d := deny(403, "mission_terminated", "mission_terminated", "The mission was suspended and not resumed in time.")
			d.TerminationReason = string(mission.ReasonAdministrative)
			d.Effects.Terminate = string(mission.ReasonAdministrative)
			return d
		}
		return Decision{Outcome: Defer, Status: 202, Requirement: "approval", Reason: ReasonSuspended,
			Explanation: "The mission is suspended; the request is held until it is resumed."}
	default:
		return deny(500, "server_error", "integrity_failure", "The mission record has an unknown state.")
	}
	// Integrity (§3 step 4).
	set := in.Mission.Set
	if set == nil {
		return deny(500, "server_error", "integrity_failure", "The mission has no Authority Set.")
	}
	if !in.Mission.Verified.covers(set, in.Mission.EffectiveHash) {
		if h, err := set.Hash(); err != nil || h != in.Mission.EffectiveHash {
			return deny(500, "server_error", "integrity_failure", "The Authority Set does not match its stored hash.")
		}
		if err := set.Check(); err != nil {
			return deny(500, "server_error", "integrity_failure", "The Authority Set is not valid: "+err.Error())
		}
	}
	items, err := itemsOf(in)
	if err != nil {
		return deny(400, "invalid_request", "malformed_request", err.Error())
	}
	if in.Point == PointPermission && in.Request.Action == checkpointCallback {
		return checkpointCallbackDecision(in, set)
	}
	outs := make([]ItemOutcome, len(items))
	for i, it := range items {
		outs[i] = evalItem(in, set, it)
	}
	return aggregate(in, set, outs)
}

// itemsOf splits the request into items (§2 "Items").
func itemsOf(in Input) ([]Item, error) {
	r := in.Request
	var items []Item
	switch in.Point {
	case PointPersonToken:
		if r.Resource == "" {
			return nil, fmt.Errorf("a person-token request names a resource")
		}
		return []Item{{Kind: ItemIdentity}}, nil
	case PointPermission:
		if r.Action == "" || len(r.Action) > 256 {
			return nil, fmt.Errorf("a permission request names an action")
		}
		return []Item{{Kind: ItemTool, Tool: r.Action}}, nil
	case PointToken:
		if r.Resource == "" {
			return nil, fmt.Errorf("a token request names a resource")
		}
		seen := map[string]bool{}
		for _, s := range r.Scopes {
			if s == "" || strings.ContainsAny(s, " \t\r\n") {
				return nil, fmt.Errorf("malformed scope value")
			}
			it := Item{Kind: ItemScope, Scope: s}
			if !seen[it.Key()] {
				seen[it.Key()] = true
				items = append(items, it)
			}
		}
		for _, op := range r.Operations {
			if op.Vocabulary == "" || !isJSONObject(op.Op) {
				return nil, fmt.Errorf("malformed R3 operation")
			}
			it := Item{Kind: ItemR3, Vocabulary: op.Vocabulary, Op: op.Op}
			if !seen[it.Key()] {
				seen[it.Key()] = true
				items = append(items, it)
			}
		}
	default:
		return nil, fmt.Errorf("unknown decision point %q", in.Point)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("the request asks for nothing")
	}
	if len(items) > MaxItems {
		return nil, fmt.Errorf("the request asks for more than %d items", MaxItems)
	}
	// The mode matters only for auth tokens (who issues); the other points
	// are always the PS's own answer.
	if in.Mode != ThreeParty && in.Mode != FourParty {
		return nil, fmt.Errorf("unknown mode %q", in.Mode)
	}
	return items, nil
}

func isJSONObject(raw json.RawMessage) bool {
	if _, err := anchor.Canonical(raw); err != nil {
		return false
	}
	var m map[string]json.RawMessage
	return json.Unmarshal(raw, &m) == nil && m != nil
}

// evalItem: exclusions win; else the best matching entry; else
// default_outside (§3 step 5). Answers to a deferred request apply last.
func evalItem(in Input, set *Set, it Item) ItemOutcome {
	req := &in.Request
	for i := range set.Exclusions {
		x := &set.Exclusions[i]
		if exclusionMatches(x, it, req, in.Catalog) {
			return ItemOutcome{Item: it, Status: Excluded, Exclusion: x.ID,
				Why: fmt.Sprintf("%s %s is excluded by %q%s.", it, where(req, in.Catalog), x.ID, labelSuffix(x.Label))}
		}
	}
	var best *ItemOutcome
	for i := range set.Entries {
		e := &set.Entries[i]
		if !entryMatches(e, it, req, in.Catalog) {
			continue
		}
		o := evalEntry(in, set, e, it)
		if best == nil || o.Status.rank() < best.Status.rank() {
			best = &o
		}
	}
	var out ItemOutcome
	switch {
	case best != nil:
		out = *best
	case set.defaultOutside() == OutsideConsent:
		out = ItemOutcome{Item: it, Status: NeedsConsent, Needs: []Status{NeedsConsent},
			Why: fmt.Sprintf("%s %s is outside the mission; the person is asked.", it, where(req, in.Catalog))}
		if in.Mission.Consent[MemoryKey("", req.Resource, it)] {
			out.Status, out.Needs = Permit, nil
			out.Why = fmt.Sprintf("%s %s is outside the mission; the person allowed it before.", it, where(req, in.Catalog))
		}
	default:
		out = ItemOutcome{Item: it, Status: Outside,
			Why: fmt.Sprintf("%s %s is outside the mission.", it, where(req, in.Catalog))}
	}
	if answer, ok := in.Answers[it.Key()]; ok && out.Status.needs() {
		if !answer {
			out.Status, out.reserve, out.consume = UserDenied, nil, nil
			out.Why += " The person refused it."
		} else if slices.Contains(out.Needs, NeedsCheckpoint) && len(roleWaits(set, out.MissingCheckpoints)) > 0 {
			// The person's yes cannot record a role's checkpoint: the
			// item stays deferred until a role holder records it.
			out.Why += " The person allowed it; that does not record a role's checkpoint."
		} else {
			out.Status = Permit
			out.Why += " The person allowed it."
		}
	}
	return out
}

// roleWaits names, among checkpoints ids, those an organisation role
// records (never the person's answer).
func roleWaits(set *Set, ids []string) []string {
	var out []string
	for _, id := range ids {
		if role := set.Checkpoint(id).Role(); role != "" {
			out = append(out, fmt.Sprintf("checkpoint %q waits for someone with the role %s", id, role))
		}
	}
	return out
}

func where(req *Request, cat *Catalog) string {
	if req.Resource == "" {
		return "(local)"
	}
	return "at " + cat.Name(req.Resource)
}

func labelSuffix(label string) string {
	if label == "" {
		return ""
	}
	return " (" + label + ")"
}

// evalEntry runs the four checks in the design's order: delegation,
// constraints, requires, grant. The first denial decides; else every need
// is collected; else permit.
func evalEntry(in Input, set *Set, e *Entry, it Item) ItemOutcome {
	o := ItemOutcome{Item: it, Entry: e.ID}
	if why := delegationDenied(set, e, in.Actor, it); why != "" {
		o.Status, o.Why = DelegationDenied, fmt.Sprintf("%s under %q: %s.", it, e.ID, why)
		return o
	}
	// Person tokens: identity items answer to resource/class match,
	// exclusions, delegation and default_outside only (§10.3).
	if it.Kind == ItemIdentity {
		o.Status, o.Why = Permit, fmt.Sprintf("Identity %s is within %q.", where(&in.Request, in.Catalog), e.ID)
		return o
	}
	var violations []string
	c := e.Constraints
	if c != nil && c.TimeWindow != nil {
		if v := timeWindowViolation(c.TimeWindow, in.Now); v != "" {
			violations = append(violations, v)
		}
	}
	perCallBound := c != nil && (len(c.Params) > 0 || c.Amount != nil)
	if perCallBound && it.Kind == ItemR3 && !in.Request.PerCall && len(violations) == 0 {
		o.Status = PermitPerCall
		o.Why = fmt.Sprintf("%s under %q is granted per call: each call is checked against its parameters.", it, e.ID)
		return o
	}
	var needs []Status
	if c != nil {
		if perCallBound && it.Kind == ItemScope {
			violations = append(violations, "this entry binds per-call parameters, which a scope cannot carry")
		}
		if c.MaxGrants != nil && in.Mission.Grants[e.ID] >= *c.MaxGrants {
			violations = append(violations, fmt.Sprintf("at most %d tokens may be issued under it and %d were", *c.MaxGrants, in.Mission.Grants[e.ID]))
		}
		if perCallBound && it.Kind != ItemScope {
			params, perr := decodeParams(in.Request.Parameters)
			for _, rule := range c.Params {
				if perr != nil {
					violations = append(violations, "the call's parameters are not a JSON object")
					break
				}
				if v := paramViolation(rule, params); v != "" {
					violations = append(violations, v)
				}
			}
			if c.Amount != nil {
				res, v := amountCheck(c.Amount, params, perr, in.Mission.Spent[BudgetKey(e)], e)
				if v != "" {
					violations = append(violations, v)
				}
				o.reserve = res
			}
		}
		if len(violations) > 0 {
			if c.OnViolation != "approval" {
				o.Status, o.reserve = ConstraintFailed, nil
				o.Why = fmt.Sprintf("%s under %q: %s.", it, e.ID, strings.Join(violations, "; "))
				return o
			}
			needs = append(needs, NeedsApproval)
		}
	}
	var missing []string
	inlineable := true
	for _, id := range e.Requires {
		cp := set.Checkpoint(id)
		rec, ok := in.Mission.Checkpoints[id]
		if ok && satisfied(cp, rec, in.Now) {
			if cp.SingleUse {
				o.consume = append(o.consume, id)
			}
			continue
		}
		missing = append(missing, id)
		if cp.Kind != KindApproval || !slices.Contains(cp.SatisfyVia, ViaInline) || !afterMet(set, cp, in.Mission.Checkpoints, in.Now) {
			inlineable = false
		}
	}
	o.MissingCheckpoints = missing
	if len(missing) > 0 && !inlineable {
		o.Status, o.reserve, o.consume = StageBlocked, nil, nil
		o.Why = fmt.Sprintf("%s under %q waits for checkpoint %s, which cannot be recorded yet%s.", it, e.ID,
			strings.Join(quoteAll(missing), ", "), unmetAfter(set, missing, in.Mission.Checkpoints, in.Now))
		return o
	}
	if len(missing) > 0 {
		needs = append(needs, NeedsCheckpoint)
	}
	switch e.grant() {
	case GrantConsentOnce:
		if !in.Mission.Consent[MemoryKey(e.ID, in.Request.Resource, it)] {
			needs = append(needs, NeedsConsent)
		}
	case GrantApproveEach:
		needs = append(needs, NeedsApproval)
	}
	if len(needs) == 0 {
		o.Status = Permit
		o.Why = fmt.Sprintf("%s %s is within %q.", it, where(&in.Request, in.Catalog), e.ID)
		return o
	}
	o.Needs = needs
	o.Status = needs[0]
	// The most specific need names the item: a checkpoint, then approval.
	for _, n := range []Status{NeedsCheckpoint, NeedsApproval, NeedsConsent} {
		if slices.Contains(needs, n) {
			o.Status = n
			break
		}
	}
	var parts []string
	if len(violations) > 0 {
		parts = append(parts, strings.Join(violations, "; ")+", so the person must approve")
	}
	if len(missing) > 0 {
		parts = append(parts, "checkpoint "+strings.Join(quoteAll(missing), ", ")+" must be recorded first")
		parts = append(parts, roleWaits(set, missing)...)
	}
	if slices.Contains(needs, NeedsConsent) && len(violations) == 0 {
		parts = append(parts, "the person consents once")
	}
	if e.grant() == GrantApproveEach {
		parts = append(parts, "the person approves each time")
	}
	o.Why = fmt.Sprintf("%s under %q: %s.", it, e.ID, strings.Join(parts, "; "))
	return o
}

func quoteAll(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = strconv.Quote(id)
	}
	return out
}

// unmetAfter names the earlier checkpoints still missing, for the
// explanation of a stage gate.
func unmetAfter(set *Set, missing []string, recs map[string]CheckpointRecord, now time.Time) string {
	var before []string
	for _, id := range missing {
		for _, a := range set.Checkpoint(id).After {
			if !afterMet(set, &Checkpoint{After: []string{a}}, recs, now) && !slices.Contains(before, a) {
				before = append(before, a)
			}
		}
	}
	if len(before) == 0 {
		return ""
	}
	return ": it comes after " + strings.Join(quoteAll(before), ", ") + ", not yet recorded"
}

// satisfied: recorded, not consumed if single-use, and within valid_for.
func satisfied(cp *Checkpoint, rec CheckpointRecord, now time.Time) bool {
	if cp.SingleUse && rec.Consumed {
		return false
	}
	return cp.ValidFor == 0 || now.Before(rec.RecordedAt.Add(time.Duration(cp.ValidFor)*time.Second))
}

// afterMet: every checkpoint cp comes after has been recorded and is
// still within its valid_for (consumption does not undo the ordering).
func afterMet(set *Set, cp *Checkpoint, recs map[string]CheckpointRecord, now time.Time) bool {
	for _, a := range cp.After {
		rec, ok := recs[a]
		if !ok {
			return false
		}
		pre := set.Checkpoint(a)
		if pre == nil || (pre.ValidFor > 0 && !now.Before(rec.RecordedAt.Add(time.Duration(pre.ValidFor)*time.Second))) {
			return false
		}
	}
	return true
}

// delegationDenied applies the delegation bounds (§6 "Attenuation"):
// set and entry flags AND (unset entry values inherit).
func delegationDenied(set *Set, e *Entry, a Actor, it Item) string {
	subagents, chaining, maxDepth := true, false, int64(1)
	if sd := set.Delegation; sd != nil {
		if sd.Subagents != nil {
			subagents = *sd.Subagents
		}
		if sd.CallChaining != nil {
			chaining = *sd.CallChaining
		}
		if sd.MaxChainDepth != nil {
			maxDepth = *sd.MaxChainDepth
		}
	}
	var via []ResourceRef
	if ed := e.Delegation; ed != nil {
		if ed.Subagents != nil {
			subagents = subagents && *ed.Subagents
		}
		if ed.CallChaining != nil {
			chaining = chaining && *ed.CallChaining
		}
		if ed.MaxDepth != nil && *ed.MaxDepth < maxDepth {
			maxDepth = *ed.MaxDepth
		}
		via = ed.Via
	}
	if a.Parent != "" {
		if !subagents {
			return "sub-agents may not use it"
		}
		if at := a.Attenuation; at != nil {
			if at.Entries != nil && !slices.Contains(at.Entries, e.ID) {
				return "the parent agent's attenuation leaves it out"
			}
			if at.Scope != nil && it.Kind == ItemScope && !slices.Contains(at.Scope, it.Scope) {
				return "the parent agent's attenuation leaves the scope out"
			}
		}
	}
	if ch := a.Chain; ch != nil {
		if !chaining {
			return "call chaining is not allowed"
		}
		if !ch.UpstreamIndexed {
			return "the upstream token was not issued under this mission"
		}
		if ch.UpstreamDepth < 0 || int64(ch.UpstreamDepth)+1 > maxDepth {
			return fmt.Sprintf("the chain would be %d deep and at most %d is allowed", ch.UpstreamDepth+1, maxDepth)
		}
		if len(via) > 0 && !slices.ContainsFunc(via, func(r ResourceRef) bool { return resourceMatches(&r, ch.Intermediary) }) {
			return "the calling resource is not one it may be reached through"
		}
	}
	return ""
}

var weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

func timeWindowViolation(w *TimeWindow, now time.Time) string {
	now = now.UTC()
	if w.NotBefore != "" {
		nb, err := time.Parse(time.RFC3339, w.NotBefore)
		if err != nil || now.Before(nb) {
			return "it is before the entry's time window"
		}
	}
	if w.NotAfter != "" {
		na, err := time.Parse(time.RFC3339, w.NotAfter)
		if err != nil || !now.Before(na) {
			return "the entry's time window has closed"
		}
	}
	if len(w.Days) > 0 && !slices.Contains(w.Days, weekdays[now.Weekday()]) {
		return "the entry does not apply on this day"
	}
	if len(w.HoursUTC) == 2 && (int64(now.Hour()) < w.HoursUTC[0] || int64(now.Hour()) >= w.HoursUTC[1]) {
		return "the entry does not apply at this hour (UTC)"
	}
	return ""
}

func decodeParams(raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 || len(raw) > MaxParameterBytes {
		return nil, fmt.Errorf("no parameters")
	}
	if _, err := anchor.Canonical(raw); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, fmt.Errorf("not an object")
	}
	return m, nil
}

// pointer resolves an RFC 6901 JSON Pointer.
func pointer(doc any, p string) (any, bool) {
	if p == "" {
		return doc, true
	}
	if !strings.HasPrefix(p, "/") {
		return nil, false
	}
	cur := doc
	for _, tok := range strings.Split(p[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[tok]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			if tok == "" || (len(tok) > 1 && tok[0] == '0') {
				return nil, false
			}
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// isDigest: an R3 digest object stands in for a value the PS never sees,
// so no rule can be checked against it.
func isDigest(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	if _, ok := m["s256"]; !ok {
		return false
	}
	for k := range m {
		if k != "s256" && k != "excerpt" && k != "media_type" {
			return false
		}
	}
	return true
}

func jsonEqual(a any, b json.RawMessage) bool {
	ra, err := json.Marshal(a)
	return err == nil && anchor.Equal(ra, b)
}

func paramViolation(rule ParamRule, params map[string]any) string {
	v, ok := pointer(params, rule.Pointer)
	if !ok {
		return fmt.Sprintf("parameter %s is missing", rule.Pointer)
	}
	if isDigest(v) {
		return fmt.Sprintf("parameter %s is given only as a digest", rule.Pointer)
	}
	fail := fmt.Sprintf("parameter %s fails %s", rule.Pointer, rule.Op)
	switch rule.Op {
	case "eq":
		if !jsonEqual(v, rule.Value) {
			return fail
		}
	case "in":
		var options []json.RawMessage
		if json.Unmarshal(rule.Value, &options) != nil || !slices.ContainsFunc(options, func(o json.RawMessage) bool { return jsonEqual(v, o) }) {
			return fail
		}
	case "prefix":
		var prefix string
		s, isString := v.(string)
		if json.Unmarshal(rule.Value, &prefix) != nil || !isString || !strings.HasPrefix(s, prefix) {
			return fail
		}
	case "max", "min":
		n, isNum := v.(json.Number)
		var bound json.Number
		if !isNum || json.Unmarshal(rule.Value, &bound) != nil {
			return fail
		}
		x, err1 := anchor.SafeInteger(n)
		b, err2 := anchor.SafeInteger(bound)
		if err1 != nil || err2 != nil || (rule.Op == "max" && x > b) || (rule.Op == "min" && x < b) {
			return fail
		}
	default:
		return fail
	}
	return ""
}

// amountCheck reads the amount (integer minor units) and currency and
// checks max_per_call and the (shared) max_total. It returns the
// reservation the call would make, also when a limit is exceeded (under
// on_violation: approval, an approved call still reserves).
func amountCheck(a *Amount, params map[string]any, perr error, spent int64, e *Entry) (*Reservation, string) {
	if perr != nil {
		return nil, "the call's parameters are not a JSON object"
	}
	v, ok := pointer(params, a.Pointer)
	n, isNum := v.(json.Number)
	if !ok || !isNum {
		return nil, fmt.Sprintf("amount %s is missing", a.Pointer)
	}
	amount, err := anchor.SafeInteger(n)
	if err != nil || amount < 0 {
		return nil, fmt.Sprintf("amount %s is not a non-negative integer", a.Pointer)
	}
	if a.CurrencyPointer != "" {
		cur, ok := pointer(params, a.CurrencyPointer)
		if s, isString := cur.(string); !ok || !isString || s != a.Currency {
			return nil, fmt.Sprintf("the currency is not %s", a.Currency)
		}
	}
	res := &Reservation{Key: BudgetKey(e), Amount: amount, Currency: a.Currency}
	if a.MaxPerCall != nil && amount > *a.MaxPerCall {
		return res, fmt.Sprintf("%d exceeds %d per call", amount, *a.MaxPerCall)
	}
	if a.MaxTotal != nil && spent+amount > *a.MaxTotal {
		return res, fmt.Sprintf("%d more would exceed the total of %d (%d spent)", amount, *a.MaxTotal, spent)
	}
	return res, ""
}
