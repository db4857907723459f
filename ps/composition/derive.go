package composition

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/anchor"
	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// Intake is a proposal as the PS received it: what derivation reads.
type Intake struct {
	Agent    string // the agent's identifier (agent token sub)
	Proposal mission.Proposal
	// ProposedAuthority is the agent's proposed_authority (extension
	// member), untrusted; ContentDigest that of the exact signed body.
	ProposedAuthority json.RawMessage
	ContentDigest     string
	ReceivedAt        time.Time
}

// Composed is the Mission composition of one approval: the set (after
// the person's narrowing), the proposal object and the consent rendering,
// with their anchors.
type Composed struct {
	Derivation    *authority.Derivation
	Set           *authority.Set
	Canonical     []byte // the set's JCS bytes
	AuthorityHash string
	Proposal      *authority.ProposalObject
	ProposalHash  string
	Rendering     *authority.Rendering
	RenderingHash string
	// Narrowed: the person narrowed the derived set.
	Narrowed bool
}

// ErrNarrowing is a person's edit of the set that the PS cannot accept
// (it would widen the derived set, or is malformed).
var ErrNarrowing = errors.New("composition: narrowing not accepted")

// CheckProposedAuthority validates an agent's proposed_authority at the
// mission endpoint: 400 invalid_request when it is not an Authority Set.
func (c *Config) CheckProposedAuthority(raw json.RawMessage) error {
	if len(raw) == 0 {
		return nil
	}
	if _, err := authority.Parse(raw, c.Parse); err != nil {
		return aauth.BadRequest("proposed_authority is not a valid Authority Set: " + err.Error())
	}
	return nil
}

// Compose derives the Authority Set of approval a (the proposal with the
// person's edits of tools and resources) from the operator's templates,
// the agent's proposed_authority or the baseline; applies the person's
// narrowing (nil: none; it may only narrow); renders the consent
// rendering; and computes the three anchors. The same call previews the
// consent page (each edit re-renders) and runs at approval.
func (c *Config) Compose(in Intake, a *mission.Approval, narrowing *authority.Narrowing) (*Composed, error) {
	tools := make([]string, len(a.Tools))
	for i, t := range a.Tools {
		tools[i] = t.Name
	}
	p := authority.Proposal{Agent: in.Agent, Description: a.Description, Resources: a.Resources, Tools: tools,
		ProposedAuthority: in.ProposedAuthority}
	d, err := authority.Derive(p, c.Templates, c.Catalog, c.Parse)
	if err != nil {
		return nil, err
	}
	out := &Composed{Derivation: d, Set: d.Set}
	if d.Source == authority.FromTemplate || d.Template != "" {
		// Resources the template excludes were removed at admission: the
		// blob's approved_resources (and the person tokens issued at
		// approval) leave them out too.
		for _, t := range c.Templates {
			if t.Name == d.Template {
				a.Resources = slices.DeleteFunc(a.Resources, func(r string) bool { return !slices.Contains(t.Resources, r) })
			}
		}
	}
	if narrowing != nil {
		set, err := authority.Narrow(d.Set, *narrowing, c.Parse)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNarrowing, err)
		}
		out.Set, out.Narrowed = set, true
	}
	if out.Canonical, err = anchor.Marshal(out.Set); err != nil {
		return nil, err
	}
	if out.AuthorityHash, err = out.Set.Hash(); err != nil {
		return nil, err
	}
	intent := in.Proposal
	intentTools := make([]string, len(intent.Tools))
	for i, t := range intent.Tools {
		intentTools[i] = t.Name
	}
	out.Proposal = authority.NewProposalObject(authority.Proposal{Agent: in.Agent, Description: intent.Description,
		Resources: intent.Resources, Tools: intentTools}, in.ContentDigest, in.ReceivedAt, d, c.PolicyVersion)
	if out.ProposalHash, err = out.Proposal.Hash(); err != nil {
		return nil, err
	}
	if out.Rendering, err = authority.Render(out.Set, c.Catalog, out.ProposalHash, a.Description, a.ExpiresAt, d.Removed); err != nil {
		return nil, err
	}
	if d.Standing && !out.Narrowed {
		out.Rendering.Standing = d.Template
	}
	if out.RenderingHash, err = out.Rendering.Hash(); err != nil {
		return nil, err
	}
	return out, nil
}

// Attach puts the composition on the approval: the blob's mission_model
// member (so the mission's s256 commits to all three anchors) and what is
// stored beside the blob.
func (x *Composed) Attach(a *mission.Approval) error {
	mm, err := authority.NewMissionModel(x.ProposalHash, x.Set, x.Rendering, "", "")
	if err != nil {
		return err
	}
	proposal, err := anchor.Marshal(x.Proposal)
	if err != nil {
		return err
	}
	rendering, err := anchor.Marshal(x.Rendering)
	if err != nil {
		return err
	}
	a.MissionModel = mm
	a.Composition = &mission.Composition{AuthoritySet: x.Canonical, AuthorityHash: x.AuthorityHash,
		EffectiveSet: x.Canonical, EffectiveHash: x.AuthorityHash, Overlays: json.RawMessage("[]"),
		Proposal: proposal, ProposalHash: x.ProposalHash, ConsentRendering: rendering, ConsentRenderingHash: x.RenderingHash,
		Template: x.Derivation.Template, Standing: x.Rendering.Standing != ""}
	return nil
}
