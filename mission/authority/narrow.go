package authority

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// Narrowing only ever takes authority away (design §6): the agent's
// `authority_narrowing` (remove_entries, add_exclusions, lower,
// default_outside "deny"), or the person's edits before approving or on
// the mission page, which may also add checkpoints and gate entries
// behind them ("ask me before anything is released").
type Narrowing struct {
	RemoveEntries  []string     `json:"remove_entries,omitempty"`
	AddExclusions  []Exclusion  `json:"add_exclusions,omitempty"`
	Lower          []Lowering   `json:"lower,omitempty"`
	DefaultOutside string       `json:"default_outside,omitempty"`
	AddCheckpoints []Checkpoint `json:"add_checkpoints,omitempty"`
	Gate           []Gate       `json:"gate,omitempty"`
}

// Lowering lowers an entry's limits (each only downwards; a limit the
// entry lacks may be added, which also lowers it).
type Lowering struct {
	Entry            string `json:"entry"`
	MaxGrants        *int64 `json:"max_grants,omitempty"`
	MaxPerCall       *int64 `json:"max_per_call,omitempty"`
	MaxTotal         *int64 `json:"max_total,omitempty"`
	MaxTokenLifetime *int64 `json:"max_token_lifetime,omitempty"`
}

// Gate makes an entry require a checkpoint.
type Gate struct {
	Entry      string `json:"entry"`
	Checkpoint string `json:"checkpoint"`
}

// ErrWidens is a narrowing that would not narrow.
var ErrWidens = errors.New("authority: the change does not only narrow")

// Narrow applies n to a copy of s and checks the result. It never changes
// s. Anything that would widen (raise a limit, open default_outside,
// name an entry that does not exist) is refused whole.
// The result passes the schema too (opts as for Parse), since added
// exclusions and checkpoints come from outside.
func Narrow(s *Set, n Narrowing, opts ParseOptions) (*Set, error) {
	out, err := clone(s)
	if err != nil {
		return nil, err
	}
	for _, id := range n.RemoveEntries {
		i := slices.IndexFunc(out.Entries, func(e Entry) bool { return e.ID == id })
		if i < 0 {
			return nil, fmt.Errorf("%w: no entry %q", ErrWidens, id)
		}
		out.Entries = slices.Delete(out.Entries, i, i+1)
	}
	out.Exclusions = append(out.Exclusions, n.AddExclusions...)
	out.Checkpoints = append(out.Checkpoints, n.AddCheckpoints...)
	for _, g := range n.Gate {
		e := out.Entry(g.Entry)
		if e == nil {
			return nil, fmt.Errorf("%w: no entry %q", ErrWidens, g.Entry)
		}
		if !slices.Contains(e.Requires, g.Checkpoint) {
			e.Requires = append(e.Requires, g.Checkpoint)
		}
	}
	for _, l := range n.Lower {
		e := out.Entry(l.Entry)
		if e == nil {
			return nil, fmt.Errorf("%w: no entry %q", ErrWidens, l.Entry)
		}
		if err := lower(e, l); err != nil {
			return nil, err
		}
	}
	switch n.DefaultOutside {
	case "":
	case OutsideDeny:
		out.DefaultOutside = OutsideDeny
	default:
		return nil, fmt.Errorf("%w: default_outside can only become %q", ErrWidens, OutsideDeny)
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	p, err := Parse(raw, opts)
	if err != nil {
		return nil, err
	}
	return p.Set, nil
}

func lowerTo(cur **int64, to *int64, what string) error {
	if to == nil {
		return nil
	}
	if *to < 0 || (*cur != nil && *to > **cur) {
		return fmt.Errorf("%w: %s can only be lowered", ErrWidens, what)
	}
	v := *to
	*cur = &v
	return nil
}

func lower(e *Entry, l Lowering) error {
	if l.MaxGrants != nil || l.MaxPerCall != nil || l.MaxTotal != nil {
		if e.Constraints == nil {
			e.Constraints = &Constraints{}
		}
	}
	if err := lowerTo(&e.Constraints.MaxGrants, l.MaxGrants, "max_grants"); err != nil {
		return err
	}
	if l.MaxGrants != nil && *l.MaxGrants < 1 {
		return fmt.Errorf("%w: max_grants must stay at least 1 (remove the entry instead)", ErrWidens)
	}
	if l.MaxPerCall != nil || l.MaxTotal != nil {
		a := e.Constraints.Amount
		if a == nil {
			return fmt.Errorf("%w: entry %q has no amount to lower", ErrWidens, e.ID)
		}
		if a.Budget != "" && l.MaxTotal != nil {
			// A shared budget's total is one value across its entries.
			return fmt.Errorf("%w: the total of shared budget %q cannot be lowered on one entry", ErrWidens, a.Budget)
		}
		if err := lowerTo(&a.MaxPerCall, l.MaxPerCall, "max_per_call"); err != nil {
			return err
		}
		if err := lowerTo(&a.MaxTotal, l.MaxTotal, "max_total"); err != nil {
			return err
		}
	}
	if l.MaxTokenLifetime != nil {
		if *l.MaxTokenLifetime < 30 || (e.MaxTokenLifetime > 0 && *l.MaxTokenLifetime > e.MaxTokenLifetime) || *l.MaxTokenLifetime > maxTokenLifetime {
			return fmt.Errorf("%w: max_token_lifetime can only be lowered (to at least 30 s)", ErrWidens)
		}
		e.MaxTokenLifetime = *l.MaxTokenLifetime
	}
	return nil
}

func clone(s *Set) (*Set, error) {
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	var out Set
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
