package missionflow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/interact"
	"github.com/aauth-ps/aauth-ps/ps/pending"
)

// The consent page's Authority Set (issue 10): the set the approval would
// commit is derived from the pending proposal (operator template, the
// agent's proposed_authority cut to the bounds, or the baseline), narrowed
// by the person's edits, which live in the proposal's payload until the
// approval commits them, and rendered in the consent rendering's words.

// maxPersonAdditions bounds the exclusions and checkpoints the person adds
// to one proposal (the payload must stay small).
const maxPersonAdditions = 16

// personPrefix starts the id of every exclusion and checkpoint the person
// added, so the page can say "added by you".
const personPrefix = "person-"

// preview composes the proposal's set as the page shows it: the proposal
// as the agent sent it (the person's edits of description, tools and
// resources come with the approval), narrowed by n. It is the approval's
// own derivation (composition.Config.Compose).
func (k *Kinds) preview(r *pending.Request, pl ProposalPayload, n *authority.Narrowing) (*composition.Composed, error) {
	a, err := pl.Proposal.Approve(pl.Agent.Iss, pl.Agent.Sub, r.PersonID, mission.Edits{}, k.Now())
	if err != nil {
		return nil, err
	}
	return k.Flows.composition().Compose(Intake(pl), a, n)
}

// reviewAuthority is the consent page's view of the set.
func (k *Kinds) reviewAuthority(r *pending.Request, pl ProposalPayload) (*interact.ReviewAuthority, error) {
	x, err := k.preview(r, pl, pl.Narrowing)
	if err != nil {
		return nil, err
	}
	d, set := x.Derivation, x.Set
	v := &interact.ReviewAuthority{Source: d.Source, Template: d.Template, Removed: d.Removed,
		AskOther: set.DefaultOutside == authority.OutsideConsent, Edited: pl.Narrowing != nil,
		Exclusions: exclusionChoices(set, pl.Proposal.Resources, k.Flows.composition().Catalog)}
	for _, l := range x.Rendering.Lines {
		line := interact.AuthorityLine{Ref: l.Ref, Text: l.Text, AddedByYou: strings.HasPrefix(l.Ref, personPrefix)}
		switch {
		case l.Ref == "default_outside":
			line.Kind = interact.LineOutside
		case set.Entry(l.Ref) != nil:
			e := set.Entry(l.Ref)
			line.Kind, line.Removable = interact.LineEntry, len(set.Entries) > 1
			if e.Constraints != nil && e.Constraints.MaxGrants != nil {
				line.MaxGrants = *e.Constraints.MaxGrants
			}
			line.Gated = gated(set, e)
		case set.Checkpoint(l.Ref) != nil:
			line.Kind = interact.LineCheckpoint
		default:
			line.Kind = interact.LineExclusion
		}
		v.Lines = append(v.Lines, line)
	}
	return v, nil
}

// gated: every use of e already waits for the person (approve_each, or a
// single-use approval checkpoint the person records).
func gated(s *authority.Set, e *authority.Entry) bool {
	if e.Grant == authority.GrantApproveEach {
		return true
	}
	for _, id := range e.Requires {
		if c := s.Checkpoint(id); c != nil && c.Kind == authority.KindApproval && c.SingleUse && c.Approver != nil && c.Approver.Person {
			return true
		}
	}
	return false
}

// exclusionChoices are what the person may exclude: each resource the
// catalog or the proposal names, and each catalog class family ("hr.*"),
// less what the set already excludes.
func exclusionChoices(s *authority.Set, proposed []string, cat *authority.Catalog) []interact.Choice {
	excluded := map[string]bool{}
	for _, x := range s.Exclusions {
		if x.Resource != nil && x.Resource.ID != "" && len(x.Scopes) == 0 && len(x.Actions) == 0 && x.R3 == nil {
			excluded["resource:"+x.Resource.ID] = true
		}
		if x.ResourceClass != "" && len(x.Scopes) == 0 && len(x.Actions) == 0 && x.R3 == nil {
			excluded["class:"+x.ResourceClass] = true
		}
	}
	var classes []interact.Choice
	families := map[string][]string{}
	resources := slices.Clone(proposed)
	if cat != nil {
		for id, r := range cat.Resources {
			if !slices.Contains(resources, id) {
				resources = append(resources, id)
			}
			if fam, _, ok := strings.Cut(r.Class, "."); ok {
				families[fam] = append(families[fam], cat.Name(id))
			}
		}
	}
	for fam, names := range families {
		v := "class:" + fam + ".*"
		if excluded[v] {
			continue
		}
		sort.Strings(names)
		classes = append(classes, interact.Choice{Value: v, Label: fmt.Sprintf("anything of the kind %q (%s)", fam, strings.Join(names, ", "))})
	}
	sort.Slice(classes, func(i, j int) bool { return classes[i].Value < classes[j].Value })
	sort.Strings(resources)
	var out []interact.Choice
	for _, id := range resources {
		if v := "resource:" + id; !excluded[v] {
			label := "anything at " + id
			if name := cat.Name(id); name != id {
				label = "anything at " + name + " (" + id + ")"
			}
			out = append(out, interact.Choice{Value: v, Label: label})
		}
	}
	return append(classes, out...)
}

// errEdit is an edit the page did not offer or that would not narrow.
func errEdit(msg string) error { return fmt.Errorf("%w: %s", interact.ErrStage, msg) }

// narrow applies one of the person's edits to the pending proposal. It
// runs under the request's lock (pending.Engine.Update), on the payload
// as stored, so two tabs editing at once both count and neither is lost;
// an edit that would widen, or name what the page did not offer, changes
// nothing.
func (k *Kinds) narrow(ctx context.Context, r *pending.Request, edit interact.AuthorityEdit) error {
	if r.Stage != StageReview {
		return errEdit("the mission can no longer be changed")
	}
	_, err := k.Flows.Engine.Update(ctx, r.ID, func(x *pending.Request) error {
		if x.Stage != StageReview {
			return errDecided
		}
		var pl ProposalPayload
		if err := decodePayload(x.Payload, &pl); err != nil {
			return err
		}
		cur, err := k.preview(x, pl, pl.Narrowing)
		if err != nil {
			return err
		}
		n, err := k.edited(pl.Narrowing, cur.Set, pl.Proposal.Resources, edit)
		if err != nil {
			return err
		}
		if _, err := k.preview(x, pl, n); err != nil {
			if errors.Is(err, composition.ErrNarrowing) {
				return errEdit("that change would not only narrow what the mission allows")
			}
			return err
		}
		pl.Narrowing = n
		raw, err := interact.EncodePayload(pl)
		if err != nil {
			return err
		}
		x.Payload = raw
		return nil
	})
	if errors.Is(err, errDecided) {
		return errEdit("the mission can no longer be changed")
	}
	return err
}

// edited is the narrowing after edit (nil: no edits left). set is the
// current (already narrowed) set, which says what the page offered.
func (k *Kinds) edited(cur *authority.Narrowing, set *authority.Set, proposed []string, edit interact.AuthorityEdit) (*authority.Narrowing, error) {
	if edit.Op == interact.EditReset {
		return nil, nil
	}
	n := authority.Narrowing{}
	if cur != nil {
		n = *cur
	}
	var e *authority.Entry
	if edit.Entry != "" {
		if e = set.Entry(edit.Entry); e == nil {
			return nil, errEdit("there is no such line to change")
		}
	}
	if len(n.AddExclusions)+len(n.AddCheckpoints) >= maxPersonAdditions && (edit.Op == interact.EditExclude || edit.Op == interact.EditCheckpoint) {
		return nil, errEdit(fmt.Sprintf("you can add at most %d exclusions and checkpoints", maxPersonAdditions))
	}
	switch edit.Op {
	case interact.EditRemove:
		if e == nil || len(set.Entries) < 2 {
			return nil, errEdit("choose a line to remove; to allow nothing at all, refuse the mission")
		}
		n.RemoveEntries = append(n.RemoveEntries, e.ID)
		n.Lower = slices.DeleteFunc(n.Lower, func(l authority.Lowering) bool { return l.Entry == e.ID })
		n.Gate = slices.DeleteFunc(n.Gate, func(g authority.Gate) bool { return g.Entry == e.ID })
	case interact.EditLower:
		if e == nil || edit.MaxGrants < 1 {
			return nil, errEdit("the limit must be a whole number of at least 1")
		}
		if c := e.Constraints; c != nil && c.MaxGrants != nil && edit.MaxGrants >= *c.MaxGrants {
			return nil, errEdit(fmt.Sprintf("the limit can only go down (it is %d now)", *c.MaxGrants))
		}
		v := edit.MaxGrants
		n.Lower = slices.DeleteFunc(n.Lower, func(l authority.Lowering) bool { return l.Entry == e.ID && l.MaxGrants != nil })
		n.Lower = append(n.Lower, authority.Lowering{Entry: e.ID, MaxGrants: &v})
	case interact.EditExclude:
		x, ok := exclusionFor(edit.Exclude, set, proposed, k.Flows.composition().Catalog)
		if !ok {
			return nil, errEdit("choose one of the offered exclusions")
		}
		x.ID = freeID(set, personPrefix+"x")
		n.AddExclusions = append(n.AddExclusions, x)
	case interact.EditCheckpoint:
		if e == nil || gated(set, e) {
			return nil, errEdit("choose a line that does not ask you already")
		}
		id := freeID(set, personPrefix+"ask")
		n.AddCheckpoints = append(n.AddCheckpoints, authority.Checkpoint{ID: id, Label: "Ask me each time before using " + usePhrase(e, k.Flows.composition().Catalog),
			Kind: authority.KindApproval, Approver: &authority.Approver{Person: true},
			SatisfyVia: []string{authority.ViaInline, authority.ViaControl}, SingleUse: true})
		n.Gate = append(n.Gate, authority.Gate{Entry: e.ID, Checkpoint: id})
	case interact.EditDenyOther:
		if set.DefaultOutside != authority.OutsideConsent {
			return nil, errEdit("anything else is refused already")
		}
		n.DefaultOutside = authority.OutsideDeny
	default:
		return nil, errEdit("unknown change")
	}
	return &n, nil
}

// exclusionFor is the exclusion behind one of exclusionChoices' values.
func exclusionFor(value string, s *authority.Set, proposed []string, cat *authority.Catalog) (authority.Exclusion, bool) {
	for _, c := range exclusionChoices(s, proposed, cat) {
		if c.Value != value {
			continue
		}
		if id, ok := strings.CutPrefix(value, "resource:"); ok {
			return authority.Exclusion{Resource: &authority.ResourceRef{ID: id}}, true
		}
		return authority.Exclusion{ResourceClass: strings.TrimPrefix(value, "class:")}, true
	}
	return authority.Exclusion{}, false
}

// freeID is prefix followed by the first number no id of s uses.
func freeID(s *authority.Set, prefix string) string {
	used := map[string]bool{}
	for _, e := range s.Entries {
		used[e.ID] = true
	}
	for _, x := range s.Exclusions {
		used[x.ID] = true
	}
	for _, c := range s.Checkpoints {
		used[c.ID] = true
	}
	for i := 1; ; i++ {
		if id := fmt.Sprintf("%s%d", prefix, i); !used[id] {
			return id
		}
	}
}

// usePhrase names an entry briefly: its label, its tools or its resource.
func usePhrase(e *authority.Entry, cat *authority.Catalog) string {
	switch {
	case e.Label != "":
		return "\u201c" + e.Label + "\u201d"
	case len(e.Tools) > 0:
		return strings.Join(e.Tools, ", ")
	case e.Resource != nil && e.Resource.ID != "":
		return cat.Name(e.Resource.ID)
	case e.ResourceClass != "":
		return "resources of class " + e.ResourceClass
	}
	return e.ID
}

// sameSelection refuses an approval that both narrowed the set and
// unticked resources or tools: the narrowing names the entries derived
// from the proposal as sent, which unticking would renumber.
func sameSelection(pl ProposalPayload, a *mission.Approval, n *authority.Narrowing) error {
	if n == nil || (len(a.Resources) == len(pl.Proposal.Resources) && len(a.Tools) == len(pl.Proposal.Tools)) {
		return nil
	}
	return errEdit("you changed the rules, so leave out resources and tools with Remove in \u201cWhat the mission would allow\u201d instead")
}

// claimReview is claim for an approval: the proposal must also be as the
// person saw it, so an edit made meanwhile in another window is never
// approved unseen.
func claimReview(ctx context.Context, e *pending.Engine, r *pending.Request) error {
	_, err := e.Update(ctx, r.ID, func(x *pending.Request) error {
		switch {
		case x.Stage != StageReview:
			return errDecided
		case !bytes.Equal(x.Payload, r.Payload):
			return errEdit("the mission's rules changed in another window: check them and approve again")
		}
		return nil
	})
	return err
}
