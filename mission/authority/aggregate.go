package authority

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// aggregate is §3 step 6 and the grant and effects of steps 7–8.
func aggregate(in Input, set *Set, outs []ItemOutcome) Decision {
	var permitted, needing, denied []int
	for i, o := range outs {
		switch {
		case o.Status.permits():
			permitted = append(permitted, i)
		case o.Status.needs():
			needing = append(needing, i)
		default:
			denied = append(denied, i)
		}
	}
	d := Decision{Items: outs}
	decideBy := func(i int) {
		d.Entry, d.Exclusion = outs[i].Entry, outs[i].Exclusion
		d.MissingCheckpoints = outs[i].MissingCheckpoints
	}
	switch {
	case len(permitted) == 0 && len(needing) == 0:
		first := outs[denied[0]]
		d.Outcome, d.Status, d.Error, d.Reason = Deny, 403, "denied", first.Status.Reason()
		decideBy(denied[0])
		d.Explanation = explain(outs, denied)
		return d
	case len(denied) > 0 && in.Mode == FourParty:
		// The PS cannot tell an AS to narrow: the agent must ask again for
		// the permitted subset (updated_request), or be refused.
		decideBy(denied[0])
		d.Explanation = explain(outs, denied)
		if !hasCapability(in.Actor, "clarification") {
			// narrowed, as with the capability and in three-party: part
			// of the request is permitted (the exclusion or entry that
			// refused the rest is named).
			d.Outcome, d.Status, d.Error, d.Reason = Deny, 403, "denied", reasonNarrowed
			return d
		}
		d.Outcome, d.Status, d.Requirement, d.Reason = Defer, 202, "clarification", reasonNarrowed
		d.Explanation += " Ask again for only: " + describe(outs, append(permitted, needing...)) + "."
		return d
	case len(needing) > 0:
		decideBy(needing[0])
		d.Outcome, d.Status, d.Reason = Defer, 202, outs[needing[0]].Status.Reason()
		d.Explanation = explain(outs, needing)
		switch {
		case in.PersonReachable || rolesOnly(set, outs, needing):
			d.Requirement = "approval"
		case hasCapability(in.Actor, "interaction"):
			d.Requirement = "interaction"
		default:
			d.Outcome, d.Status, d.Error, d.Requirement = Deny, 403, "user_unreachable", ""
			d.Explanation += " The person cannot be reached and the agent cannot send them."
		}
		return d
	}
	d.Outcome, d.Status, d.Reason = Issue, 200, "permit"
	if len(denied) > 0 {
		d.Reason = reasonNarrowed
		decideBy(denied[0])
	}
	d.Explanation = explain(outs, permitted)
	if len(denied) > 0 {
		d.Explanation += " Left out: " + explain(outs, denied)
	}
	d.Grant, d.Effects = grantAndEffects(in, set, outs, permitted)
	return d
}

// rolesOnly: every missing checkpoint of the needing items is approved by
// an organisation role (the PS reaches roles itself), and nothing else is
// needed from the person.
func rolesOnly(set *Set, outs []ItemOutcome, needing []int) bool {
	for _, i := range needing {
		o := outs[i]
		if len(o.MissingCheckpoints) == 0 || slices.ContainsFunc(o.Needs, func(s Status) bool { return s != NeedsCheckpoint }) {
			return false
		}
		for _, id := range o.MissingCheckpoints {
			if set.Checkpoint(id).Role() == "" {
				return false
			}
		}
	}
	return true
}

func explain(outs []ItemOutcome, idx []int) string {
	parts := make([]string, len(idx))
	for k, i := range idx {
		parts[k] = outs[i].Why
	}
	return strings.Join(parts, " ")
}

func describe(outs []ItemOutcome, idx []int) string {
	slices.Sort(idx)
	parts := make([]string, len(idx))
	for k, i := range idx {
		parts[k] = outs[i].Item.String()
	}
	return strings.Join(parts, ", ")
}

// grantAndEffects builds the grant from the permitted items and the
// effects committed with it: consent remembered and checkpoints recorded
// from the person's answers, single-use checkpoints consumed, grant
// counters bumped, amounts reserved (§3 steps 7–8).
func grantAndEffects(in Input, set *Set, outs []ItemOutcome, permitted []int) (*Grant, Effects) {
	g := &Grant{}
	var fx Effects
	lifetime := int64(maxTokenLifetime)
	if set.MaxTokenLifetime > 0 && set.MaxTokenLifetime < lifetime {
		lifetime = set.MaxTokenLifetime
	}
	add := func(list *[]string, v string) {
		if !slices.Contains(*list, v) {
			*list = append(*list, v)
		}
	}
	for _, i := range permitted {
		o := outs[i]
		answered := in.Answers[o.Item.Key()] && len(o.Needs) > 0
		if answered && slices.Contains(o.Needs, NeedsConsent) {
			add(&fx.RememberConsent, MemoryKey(o.Entry, in.Request.Resource, o.Item))
		}
		switch o.Item.Kind {
		case ItemScope:
			g.Scopes = append(g.Scopes, o.Item.Scope)
		case ItemR3:
			op := Operation{Vocabulary: o.Item.Vocabulary, Op: json.RawMessage(o.Item.Op)}
			if o.Status == PermitPerCall {
				g.R3PerCall = append(g.R3PerCall, op)
			} else {
				g.R3Granted = append(g.R3Granted, op)
			}
		}
		if o.Entry == "" {
			continue
		}
		add(&g.Entries, o.Entry)
		e := set.Entry(o.Entry)
		if e.MaxTokenLifetime > 0 && e.MaxTokenLifetime < lifetime {
			lifetime = e.MaxTokenLifetime
		}
		if in.Point == PointPersonToken || o.Status == PermitPerCall {
			continue
		}
		add(&fx.CountGrants, o.Entry)
		if answered && slices.Contains(o.Needs, NeedsCheckpoint) {
			for _, id := range o.MissingCheckpoints {
				add(&fx.RecordCheckpoints, id)
				if set.Checkpoint(id).SingleUse {
					add(&fx.ConsumeCheckpoints, id)
				}
			}
		}
		for _, id := range o.consume {
			add(&fx.ConsumeCheckpoints, id)
		}
		if o.reserve != nil && !slices.ContainsFunc(fx.Reserve, func(r Reservation) bool { return r.Key == o.reserve.Key }) {
			fx.Reserve = append(fx.Reserve, *o.reserve)
		}
	}
	g.Lifetime = time.Duration(lifetime) * time.Second
	g.Exp = in.Now.Add(g.Lifetime)
	if exp := in.Mission.Lifecycle.ExpiresAt; exp != nil && exp.Before(g.Exp) {
		g.Exp = *exp
	}
	return g, fx
}

// checkpointCallbackDecision handles the permission call-back
// {"action":"mission.checkpoint","parameters":{"checkpoint":"<id>"}}: the
// checkpoint must be an approval one satisfiable via permission whose
// `after` is met; then the person is asked (202), and the re-evaluation
// with the person's yes records it.
func checkpointCallbackDecision(in Input, set *Set) Decision {
	params, err := decodeParams(in.Request.Parameters)
	id, _ := params["checkpoint"].(string)
	if err != nil || id == "" {
		return deny(400, "invalid_request", "malformed_request", "mission.checkpoint needs parameters.checkpoint.")
	}
	it := Item{Kind: ItemTool, Tool: checkpointCallback + ":" + id}
	o := ItemOutcome{Item: it, MissingCheckpoints: []string{id}}
	cp := set.Checkpoint(id)
	d := Decision{Items: []ItemOutcome{o}, MissingCheckpoints: []string{id}}
	refuse := func(why string) Decision {
		d.Outcome, d.Status, d.Error, d.Reason = Deny, 403, "denied", "stage_gate"
		d.Items[0].Status, d.Items[0].Why = StageBlocked, why
		d.Explanation = why
		return d
	}
	switch {
	case cp == nil:
		return refuse(fmt.Sprintf("The mission has no checkpoint %q.", id))
	case cp.Kind != KindApproval || !slices.Contains(cp.SatisfyVia, ViaPermission):
		return refuse(fmt.Sprintf("Checkpoint %q cannot be recorded by a permission call-back.", id))
	case !afterMet(set, cp, in.Mission.Checkpoints, in.Now):
		return refuse(fmt.Sprintf("Checkpoint %q comes after %s, not yet recorded.", id, strings.Join(quoteAll(cp.After), ", ")))
	}
	if rec, ok := in.Mission.Checkpoints[id]; ok && satisfied(cp, rec, in.Now) {
		d.Outcome, d.Status, d.Reason = Issue, 200, "permit"
		d.Items[0].Status, d.Items[0].Why = Permit, fmt.Sprintf("Checkpoint %q is already recorded.", id)
		d.Explanation = d.Items[0].Why
		return d
	}
	role := cp.Role()
	switch answer, ok := in.Answers[it.Key()]; {
	case ok && answer && role == "":
		d.Outcome, d.Status, d.Reason = Issue, 200, "permit"
		d.Items[0].Status, d.Items[0].Why = Permit, fmt.Sprintf("The person recorded checkpoint %q.", id)
		d.Effects.RecordCheckpoints = []string{id}
	case ok && !answer:
		d.Outcome, d.Status, d.Error, d.Reason = Deny, 403, "denied", "user_denied"
		d.Items[0].Status, d.Items[0].Why = UserDenied, fmt.Sprintf("The person refused checkpoint %q.", id)
	default:
		d.Outcome, d.Status, d.Requirement, d.Reason = Defer, 202, "approval", "stage_gate"
		d.Items[0].Status, d.Items[0].Needs = NeedsCheckpoint, []Status{NeedsCheckpoint}
		d.Items[0].Why = fmt.Sprintf("Checkpoint %q (%s) waits for the person.", id, cp.Label)
		if role != "" {
			// A person's yes never records a role's checkpoint (issue 10).
			d.Items[0].Why = fmt.Sprintf("Checkpoint %q (%s) waits for someone with the role %s.", id, cp.Label, role)
		}
		if !in.PersonReachable && role == "" {
			d.Requirement = "interaction"
			if !hasCapability(in.Actor, "interaction") {
				d.Outcome, d.Status, d.Error, d.Requirement = Deny, 403, "user_unreachable", ""
			}
		}
	}
	d.Explanation = d.Items[0].Why
	return d
}

// DeliveryCheck is the four-party bound (§3 step 7): what an AS granted
// must fit the PS's grant — scope ⊆ permitted scopes, r3_granted ⊆ the
// unconstrained permitted operations, exp ≤ the mission's expires_at.
// A failure means withhold (as_grant_exceeds_mission) and revoke.
func DeliveryCheck(g *Grant, scopes []string, r3Granted []Operation, exp time.Time, expiresAt *time.Time) error {
	if g == nil {
		return fmt.Errorf("as_grant_exceeds_mission: nothing was permitted")
	}
	for _, s := range scopes {
		if !slices.Contains(g.Scopes, s) {
			return fmt.Errorf("as_grant_exceeds_mission: scope %q", s)
		}
	}
	for _, op := range r3Granted {
		if !slices.ContainsFunc(g.R3Granted, func(p Operation) bool {
			return p.Vocabulary == op.Vocabulary && jsonEqualRaw(p.Op, op.Op)
		}) {
			return fmt.Errorf("as_grant_exceeds_mission: operation %s", op.Op)
		}
	}
	if expiresAt != nil && exp.After(*expiresAt) {
		return fmt.Errorf("as_grant_exceeds_mission: exp after the mission's expires_at")
	}
	return nil
}

// Waits names the checkpoints deferred decision d waits for (every
// needing item's missing ones, in order) and whether they are all an
// organisation role's and nothing else is needed from the person — an
// item the person said yes to (answers, as Evaluate read them) needs
// nothing more of them: then only a role holder recording the steps can
// settle it. A decision that does not defer waits for nothing.
func (d *Decision) Waits(set *Set, answers map[string]bool) (steps []string, onlyRoles bool) {
	if d.Outcome != Defer {
		return nil, false
	}
	var needing []int
	outs := slices.Clone(d.Items)
	for i, o := range outs {
		if !o.Status.needs() {
			continue
		}
		needing = append(needing, i)
		for _, id := range o.MissingCheckpoints {
			if !slices.Contains(steps, id) {
				steps = append(steps, id)
			}
		}
		if answers[o.Item.Key()] && len(o.MissingCheckpoints) > 0 {
			outs[i].Needs = []Status{NeedsCheckpoint} // the rest was the person's yes
		}
	}
	return steps, len(steps) > 0 && rolesOnly(set, outs, needing)
}
