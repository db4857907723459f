package authority

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Proposal is what derivation reads from a validated mission proposal.
type Proposal struct {
	Agent       string
	Description string
	Resources   []string
	Tools       []string
	// ProposedAuthority is the agent's optional proposed_authority
	// (extension member): untrusted, only ever cut down to the bounds.
	ProposedAuthority json.RawMessage
}

// Template is an operator template: the set a matching proposal gets,
// and the bounds an agent's proposed set is cut to.
type Template struct {
	Name      string   // name@version, recorded in the proposal's admission
	Agents    []string // when set, only these agents' proposals match
	Resources []string // the resources the template covers
	Tools     []string
	Set       *Set
	// Standing: a mission fitting the template activates without a person
	// present; its evidence names the template as the consent anchor.
	Standing bool
}

// Derivation sources.
const (
	FromTemplate = "template"
	FromProposed = "proposed"
	FromBaseline = "baseline"
)

// Derivation is the Authority Set derived at approval, before the
// person's edits (which only narrow it: Narrow).
type Derivation struct {
	Set      *Set
	Hash     string
	Source   string
	Template string
	Standing bool
	// Removed says, one plain line each, what admission cut: resources
	// the template excludes, parts of the proposed set beyond the bounds.
	Removed []string
}

// Baseline is the draft's behaviour as a set (design Example C): each
// approved resource consented once per scope and remembered, the approved
// tools pre-approved, anything else asked.
func Baseline(resources, tools []string) *Set {
	yes := true
	depth := int64(1)
	s := &Set{Object: Object, DefaultOutside: OutsideConsent,
		Delegation: &SetDelegation{Subagents: &yes, CallChaining: &yes, MaxChainDepth: &depth}, Entries: []Entry{}}
	for i, r := range resources {
		s.Entries = append(s.Entries, Entry{ID: fmt.Sprintf("r%d", i+1), Target: TargetResource,
			Resource: &ResourceRef{ID: r}, ScopesAny: true, Grant: GrantConsentOnce})
	}
	if len(tools) > 0 {
		s.Entries = append(s.Entries, Entry{ID: "t1", Target: TargetTool, Tools: slices.Clone(tools)})
	}
	return s
}

// Match finds the first template that fits the proposal: the agent is
// allowed, every proposed resource is covered by the template or
// excluded by it (then removed at admission), every tool is covered.
func Match(p Proposal, templates []Template, cat *Catalog) (*Template, []string) {
	for i := range templates {
		t := &templates[i]
		if t.Set == nil || (len(t.Agents) > 0 && !slices.Contains(t.Agents, p.Agent)) {
			continue
		}
		var removed []string
		fits := true
		for _, r := range p.Resources {
			if slices.Contains(t.Resources, r) {
				continue
			}
			req := &Request{Resource: r}
			if x := slices.IndexFunc(t.Set.Exclusions, func(x Exclusion) bool {
				return exclusionMatches(&x, Item{Kind: ItemIdentity}, req, cat)
			}); x >= 0 {
				removed = append(removed, fmt.Sprintf("resource %s (excluded by template)", r))
				continue
			}
			fits = false
			break
		}
		for _, tool := range p.Tools {
			if !slices.Contains(t.Tools, tool) {
				fits = false
			}
		}
		if fits {
			return t, removed
		}
	}
	return nil, nil
}

// Derive derives the set at approval (design §1 "Derivation"): a
// matching template's set, or the agent's proposed_authority cut to the
// bounds (the template's set, else the baseline), or the baseline.
func Derive(p Proposal, templates []Template, cat *Catalog, opts ParseOptions) (*Derivation, error) {
	d := &Derivation{Source: FromBaseline}
	bounds := Baseline(p.Resources, p.Tools)
	if t, removed := Match(p, templates, cat); t != nil {
		d.Source, d.Template, d.Standing, d.Removed = FromTemplate, t.Name, t.Standing, removed
		bounds = t.Set
	}
	d.Set = bounds
	if len(p.ProposedAuthority) > 0 {
		proposed, err := Parse(p.ProposedAuthority, opts)
		if err != nil {
			return nil, err
		}
		set, cut := Intersect(proposed.Set, bounds, cat)
		d.Set, d.Removed = set, append(d.Removed, cut...)
		// A proposal under a standing template stays headless only when
		// nothing was cut; otherwise a person must see what was.
		d.Standing = d.Standing && len(cut) == 0
		d.Source = FromProposed
	}
	norm, err := json.Marshal(d.Set)
	if err != nil {
		return nil, err
	}
	parsed, err := Parse(norm, opts)
	if err != nil {
		return nil, err
	}
	d.Set, d.Hash = parsed.Set, parsed.Hash
	return d, nil
}

var grantRank = map[string]int{GrantAuto: 0, GrantConsentOnce: 1, GrantApproveEach: 2}

// Intersect cuts an untrusted proposed set to bounds: each proposed entry
// keeps only what one bound entry covers (resource, class, scopes, R3
// operations, tools, accounts, actions), takes the stricter grant, the
// bound's requires, constraints and delegation in addition to its own,
// and the shorter token lifetime; the bounds' exclusions and checkpoints
// are always kept; default_outside and delegation take the stricter
// value. Scopes the catalog's scope_descriptions do not list are cut.
// It returns the set and one plain line per cut.
func Intersect(proposed, bounds *Set, cat *Catalog) (*Set, []string) {
	var cut []string
	out := &Set{Object: Object, DefaultOutside: stricterOutside(proposed.defaultOutside(), bounds.defaultOutside()),
		Delegation: stricterSetDelegation(proposed.Delegation, bounds.Delegation), Entries: []Entry{}}
	out.MaxTokenLifetime = minPositive(proposed.MaxTokenLifetime, bounds.MaxTokenLifetime)
	out.Exclusions = slices.Clone(bounds.Exclusions)
	out.Checkpoints = slices.Clone(bounds.Checkpoints)
	taken := map[string]bool{}
	for _, x := range out.Exclusions {
		taken[x.ID] = true
	}
	for _, c := range out.Checkpoints {
		taken[c.ID] = true
	}
	for _, b := range bounds.Entries {
		taken[b.ID] = true
	}
	// The agent's own checkpoints and exclusions only narrow: keep them
	// unless their id clashes with the bounds'.
	for _, c := range proposed.Checkpoints {
		if taken[c.ID] {
			cut = append(cut, fmt.Sprintf("checkpoint %s (its id is taken)", c.ID))
			continue
		}
		taken[c.ID] = true
		out.Checkpoints = append(out.Checkpoints, c)
	}
	for _, x := range proposed.Exclusions {
		if taken[x.ID] {
			cut = append(cut, fmt.Sprintf("exclusion %s (its id is taken)", x.ID))
			continue
		}
		taken[x.ID] = true
		out.Exclusions = append(out.Exclusions, x)
	}
	ids := map[string]bool{}
	for _, pe := range proposed.Entries {
		var kept *Entry
		var why []string
		for i := range bounds.Entries {
			e, w := intersectEntry(pe, &bounds.Entries[i], cat)
			if e != nil {
				kept, why = e, w
				break
			}
		}
		if kept == nil {
			cut = append(cut, fmt.Sprintf("entry %s (beyond what this mission may be given)", pe.ID))
			continue
		}
		if ids[kept.ID] {
			cut = append(cut, fmt.Sprintf("entry %s (its id is used twice)", pe.ID))
			continue
		}
		ids[kept.ID] = true
		kept.Requires = slices.DeleteFunc(kept.Requires, func(id string) bool {
			if out.Checkpoint(id) == nil {
				why = append(why, "requires "+id+", which is not defined")
				return true
			}
			return false
		})
		for _, w := range why {
			cut = append(cut, fmt.Sprintf("entry %s: %s", pe.ID, w))
		}
		out.Entries = append(out.Entries, *kept)
	}
	return out, cut
}

func intersectEntry(p Entry, b *Entry, cat *Catalog) (*Entry, []string) {
	if p.Target != b.Target {
		return nil, nil
	}
	var why []string
	e := p
	if p.Target == TargetTool {
		e.Tools = intersect(p.Tools, b.Tools)
		if len(e.Tools) == 0 {
			return nil, nil
		}
		if len(e.Tools) < len(p.Tools) {
			why = append(why, "tools "+strings.Join(minus(p.Tools, e.Tools), ", ")+" cut")
		}
	} else {
		// The proposed entry names one resource exactly; the bound must
		// cover it (id or host suffix).
		if p.Resource == nil || p.Resource.ID == "" || !resourceMatches(b.Resource, p.Resource.ID) {
			return nil, nil
		}
		if b.ResourceClass != "" {
			if p.ResourceClass != "" && p.ResourceClass != b.ResourceClass {
				return nil, nil
			}
			e.ResourceClass = b.ResourceClass
		}
		known := scopeDescriptions(cat, p.Resource.ID)
		switch {
		case b.ScopesAny && p.ScopesAny:
		case p.ScopesAny:
			e.ScopesAny, e.Scopes = false, slices.Clone(b.Scopes)
		case b.ScopesAny:
		default:
			e.Scopes = intersect(p.Scopes, b.Scopes)
		}
		if known != nil {
			e.Scopes = slices.DeleteFunc(e.Scopes, func(s string) bool { _, ok := known[s]; return !ok })
		}
		if lost := minus(p.Scopes, e.Scopes); len(lost) > 0 {
			why = append(why, "scopes "+strings.Join(lost, ", ")+" cut")
		}
		if p.R3 != nil {
			e.R3 = nil
			if b.R3 != nil && b.R3.Vocabulary == p.R3.Vocabulary {
				ops := slices.DeleteFunc(slices.Clone(p.R3.Operations), func(op json.RawMessage) bool {
					return !r3Has(b.R3, p.R3.Vocabulary, op) || !catalogKnowsOperation(cat, p.Resource.ID, p.R3.Vocabulary, op)
				})
				if len(ops) > 0 {
					e.R3 = &R3{Vocabulary: p.R3.Vocabulary, Operations: ops}
				}
			}
			if e.R3 == nil || len(e.R3.Operations) < len(p.R3.Operations) {
				why = append(why, "R3 operations beyond the bounds cut")
			}
		}
		if len(e.Scopes) == 0 && !e.ScopesAny && e.R3 == nil {
			return nil, nil
		}
		if len(b.Accounts) > 0 {
			if len(e.Accounts) == 0 {
				e.Accounts = slices.Clone(b.Accounts)
			} else if e.Accounts = intersect(e.Accounts, b.Accounts); len(e.Accounts) == 0 {
				return nil, nil
			}
		}
		if len(b.Actions) > 0 && !slices.Contains(b.Actions, "*") {
			if len(e.Actions) == 0 || slices.Contains(e.Actions, "*") {
				e.Actions = slices.Clone(b.Actions)
			} else if e.Actions = intersect(e.Actions, b.Actions); len(e.Actions) == 0 {
				return nil, nil
			}
		}
	}
	// Grant: the stricter, except that a bound of consent_once is met by
	// the person approving the rendered entry when it lists what it grants
	// (design §10.1).
	explicit := p.Target == TargetTool || (!e.ScopesAny && len(e.Scopes) > 0) || e.R3 != nil
	if grantRank[b.grant()] > grantRank[p.grant()] && !(b.grant() == GrantConsentOnce && explicit) {
		e.Grant = b.grant()
	}
	for _, r := range b.Requires {
		if !slices.Contains(e.Requires, r) {
			e.Requires = append(e.Requires, r)
		}
	}
	if b.Constraints != nil {
		// The bound's constraints are the operator's: they replace the
		// proposal's rather than being merged field by field.
		c := *b.Constraints
		e.Constraints = &c
	}
	e.Delegation = stricterDelegation(p.Delegation, b.Delegation)
	e.MaxTokenLifetime = minPositive(p.MaxTokenLifetime, b.MaxTokenLifetime)
	return &e, why
}

// catalogKnowsOperation: when the catalog lists a resource's R3
// operations, an operation it does not list is not in the resource's
// vocabulary and is cut at admission; a catalog without the list cuts
// nothing (the bound's operations still do).
func catalogKnowsOperation(cat *Catalog, resource, vocabulary string, op json.RawMessage) bool {
	r, ok := cat.resource(resource)
	if !ok || len(r.Operations) == 0 {
		return true
	}
	return slices.ContainsFunc(r.Operations, func(o CatalogOperation) bool {
		return o.Vocabulary == vocabulary && jsonEqualRaw(o.Operation, op)
	})
}

func scopeDescriptions(cat *Catalog, resource string) map[string]string {
	if r, ok := cat.resource(resource); ok && r.ScopeDescriptions != nil {
		return r.ScopeDescriptions
	}
	return nil
}

func intersect(a, b []string) []string {
	out := []string{}
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func minPositive(a, b int64) int64 {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}

func stricterOutside(a, b string) string {
	if a == OutsideDeny || b == OutsideDeny {
		return OutsideDeny
	}
	return OutsideConsent
}

func stricterSetDelegation(p, b *SetDelegation) *SetDelegation {
	get := func(d *SetDelegation) (bool, bool, int64) {
		s, c, m := true, false, int64(1)
		if d != nil {
			if d.Subagents != nil {
				s = *d.Subagents
			}
			if d.CallChaining != nil {
				c = *d.CallChaining
			}
			if d.MaxChainDepth != nil {
				m = *d.MaxChainDepth
			}
		}
		return s, c, m
	}
	ps, pc, pm := get(p)
	bs, bc, bm := get(b)
	s, c, m := ps && bs, pc && bc, min(pm, bm)
	return &SetDelegation{Subagents: &s, CallChaining: &c, MaxChainDepth: &m}
}

// stricterDelegation ANDs the flags and takes the smaller depth; via
// lists intersect when both give one.
func stricterDelegation(p, b *Delegation) *Delegation {
	if p == nil || b == nil {
		if p == nil {
			return b
		}
		return p
	}
	and := func(x, y *bool) *bool {
		switch {
		case x == nil:
			return y
		case y == nil:
			return x
		}
		v := *x && *y
		return &v
	}
	out := &Delegation{Subagents: and(p.Subagents, b.Subagents), CallChaining: and(p.CallChaining, b.CallChaining), MaxDepth: b.MaxDepth, Via: b.Via}
	if p.MaxDepth != nil && (b.MaxDepth == nil || *p.MaxDepth < *b.MaxDepth) {
		out.MaxDepth = p.MaxDepth
	}
	if len(p.Via) > 0 {
		if len(b.Via) == 0 {
			out.Via = p.Via
		} else {
			out.Via = slices.DeleteFunc(slices.Clone(p.Via), func(r ResourceRef) bool { return !slices.Contains(b.Via, r) })
			if len(out.Via) == 0 {
				f := false
				out.CallChaining = &f
				out.Via = nil
			}
		}
	}
	return out
}
