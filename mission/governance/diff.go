package governance

import (
	"encoding/json"

	"github.com/aauth-ps/aauth-ps/mission/anchor"
	"github.com/aauth-ps/aauth-ps/mission/authority"
)

// Diff is a successor's set against its predecessor's effective set, by
// id: what the person approving the successor is shown as new, gone or
// changed.
type Diff struct {
	AddedEntries       []string `json:"added_entries,omitempty"`
	RemovedEntries     []string `json:"removed_entries,omitempty"`
	ChangedEntries     []string `json:"changed_entries,omitempty"`
	AddedExclusions    []string `json:"added_exclusions,omitempty"`
	RemovedExclusions  []string `json:"removed_exclusions,omitempty"`
	AddedCheckpoints   []string `json:"added_checkpoints,omitempty"`
	RemovedCheckpoints []string `json:"removed_checkpoints,omitempty"`
	DefaultOutside     string   `json:"default_outside,omitempty"` // "deny → consent" when it changed
}

// Compare diffs two sets.
func Compare(before, after *authority.Set) Diff {
	var d Diff
	d.AddedEntries, d.RemovedEntries, d.ChangedEntries = diffByID(before.Entries, after.Entries, func(e authority.Entry) string { return e.ID })
	d.AddedExclusions, d.RemovedExclusions, _ = diffByID(before.Exclusions, after.Exclusions, func(x authority.Exclusion) string { return x.ID })
	d.AddedCheckpoints, d.RemovedCheckpoints, _ = diffByID(before.Checkpoints, after.Checkpoints, func(c authority.Checkpoint) string { return c.ID })
	b, a := outside(before), outside(after)
	if b != a {
		d.DefaultOutside = b + " → " + a
	}
	return d
}

func outside(s *authority.Set) string {
	if s.DefaultOutside == "" {
		return authority.OutsideDeny
	}
	return s.DefaultOutside
}

func diffByID[T any](before, after []T, id func(T) string) (added, removed, changed []string) {
	old := map[string]T{}
	for _, x := range before {
		old[id(x)] = x
	}
	seen := map[string]bool{}
	for _, x := range after {
		k := id(x)
		seen[k] = true
		prev, ok := old[k]
		switch {
		case !ok:
			added = append(added, k)
		case !sameJSON(prev, x):
			changed = append(changed, k)
		}
	}
	for _, x := range before {
		if !seen[id(x)] {
			removed = append(removed, id(x))
		}
	}
	return added, removed, changed
}

func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && anchor.Equal(ja, jb)
}

// Lines renders the diff for the person approving a successor, in the
// consent page's words: what is new, what changes, what goes away.
func (d Diff) Lines(before, after *authority.Set, cat *authority.Catalog) []authority.Line {
	var out []authority.Line
	add := func(prefix string, ids []string, s *authority.Set) {
		for _, id := range ids {
			out = append(out, authority.Line{Ref: id, Text: prefix + authority.Describe(s, id, cat)})
		}
	}
	add("New: ", d.AddedEntries, after)
	add("Changed: ", d.ChangedEntries, after)
	add("New: ", d.AddedCheckpoints, after)
	add("New: ", d.AddedExclusions, after)
	add("No longer: ", d.RemovedEntries, before)
	add("No longer: ", d.RemovedCheckpoints, before)
	add("No longer: ", d.RemovedExclusions, before)
	if d.DefaultOutside != "" {
		out = append(out, authority.Line{Ref: "default_outside", Text: "Anything else: " + outsideWords(outside(after))})
	}
	return out
}

func outsideWords(v string) string {
	if v == authority.OutsideConsent {
		return "you will be asked first (was: refused)"
	}
	return "refused (was: you were asked first)"
}
