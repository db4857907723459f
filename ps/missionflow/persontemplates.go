package missionflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// The person's standing approvals (issue 10): "Let missions like this
// start without asking me" on the consent page stores the approved set,
// resources and tools as a template for that agent. A later proposal of
// the agent whose set, derived as usual (operator template, proposed
// authority cut to bounds, or baseline), fits within it activates at
// once. The fit is the same derivation path as the operator's standing
// templates: the derived set is the "proposed" set, the person's template
// the bounds (authority.Match on resources and tools, authority.Intersect
// on the set), and anything cut means the person must see it.

// composePersonTemplate re-composes a under the first of the person's
// standing approvals for pl's agent that the derived composition fits
// (nil: none fits). derived is the composition under the operator policy.
func (k *Kinds) composePersonTemplate(ctx context.Context, person *account.Person, pl ProposalPayload, a *mission.Approval, derived *composition.Composed) (*composition.Composed, error) {
	if len(derived.Derivation.Removed) > 0 {
		return nil, nil // the operator policy cut something: the person sees what
	}
	stored, err := k.Flows.DB.PersonTemplates(ctx, person.ID, pl.Agent.Iss, pl.Agent.Sub)
	if err != nil || len(stored) == 0 {
		return nil, err
	}
	cfg := k.Flows.composition()
	in := Intake(pl)
	in.ProposedAuthority = derived.Canonical
	for _, t := range stored {
		parsed, err := authority.Parse(t.AuthoritySet, cfg.Parse)
		if err != nil {
			continue // a template the current policy no longer parses fits nothing
		}
		tmpl := authority.Template{Name: PersonTemplateName(t.ID), Agents: []string{pl.Agent.Sub},
			Resources: t.Resources, Tools: t.Tools, Set: parsed.Set, Standing: true}
		try := *a
		try.Resources = slices.Clone(a.Resources)
		composed, err := cfg.WithTemplates([]authority.Template{tmpl}).Compose(in, &try, nil)
		if err != nil {
			return nil, err
		}
		if composed.Rendering.Standing != "" && len(composed.Derivation.Removed) == 0 {
			*a = try
			return composed, nil
		}
	}
	return nil, nil
}

// rememberTemplate stores the person's standing approval of what they
// approved, in the approval's transaction. Past the per-person bound the
// approval still goes through and the mission log tells the person why
// nothing was remembered.
func rememberTemplate(ctx context.Context, tx decision, m *mission.Record, person *account.Person, pl ProposalPayload, a *mission.Approval, x *composition.Composed, at time.Time) error {
	tools := make([]string, len(a.Tools))
	for i, t := range a.Tools {
		tools[i] = t.Name
	}
	err := tx.store.CreatePersonTemplate(ctx, &store.PersonTemplate{PersonID: person.ID, AgentIss: pl.Agent.Iss, AgentSub: pl.Agent.Sub,
		Resources: a.Resources, Tools: tools, AuthoritySet: x.Canonical, AuthorityHash: x.AuthorityHash, CreatedAt: at})
	summary := "Later missions like this one from this agent start without asking you (remove that on Your access)."
	if errors.Is(err, store.ErrTooManyTemplates) {
		summary = fmt.Sprintf("Not remembered: you already let %d kinds of mission start without asking you. Remove one on Your access first.",
			store.MaxPersonTemplates)
	} else if err != nil {
		return err
	}
	return tx.missions.Log(ctx, m.S256, mission.Entry{Kind: "standing_approval", Actor: "person", Summary: summary})
}
