package interact

import "encoding/json"

// EncodePayload is a pending request's payload as stored (JSON without
// HTML escaping), for kinds that rewrite their payload.
func EncodePayload(v any) (json.RawMessage, error) { return encodePayload(v) }

// Edits of a proposed mission's Authority Set (issue 10): before
// approving, the person may only take authority away. Each edit is its own
// POST; the mission kind keeps the accumulated narrowing with the pending
// proposal, never in a half-written mission.

// Authority edit operations (AuthorityEdit.Op).
const (
	EditRemove     = "remove"     // drop an entry
	EditLower      = "lower"      // lower an entry's max_grants
	EditExclude    = "exclude"    // add an exclusion ("never HR")
	EditCheckpoint = "checkpoint" // gate an entry behind the person's approval
	EditDenyOther  = "deny_other" // refuse what no entry covers instead of asking
	EditReset      = "reset"      // undo every edit
)

// AuthorityEdit is one change the person asked for on the consent page.
type AuthorityEdit struct {
	Op    string
	Entry string // remove, lower, checkpoint: the entry's id
	// MaxGrants is lower's new limit.
	MaxGrants int64
	// Exclude names what to exclude: "resource:<identifier>" or
	// "class:<class pattern>", one of ReviewAuthority.Exclusions.
	Exclude string
}

// ReviewAuthority is the Authority Set a proposal would be approved with,
// after the person's edits so far: the consent rendering's lines (the
// words the approval commits to) and what each line lets the person do.
type ReviewAuthority struct {
	// Source is how the PS derived the set: template, proposed or baseline.
	Source   string
	Template string // the operator template's name@version, when one matched
	// Removed is what admission cut from the agent's proposal.
	Removed []string
	Lines   []AuthorityLine
	// Exclusions are what the person may exclude (value, words).
	Exclusions []Choice
	// AskOther: anything outside the set is asked (the person may make it refused).
	AskOther bool
	// Edited: the person changed the derived set.
	Edited bool
}

// Line kinds.
const (
	LineEntry      = "entry"
	LineCheckpoint = "checkpoint"
	LineExclusion  = "exclusion"
	LineOutside    = "outside"
)

// AuthorityLine is one sentence of the rendering.
type AuthorityLine struct {
	Ref, Text, Kind string
	// AddedByYou: the person's own exclusion or checkpoint.
	AddedByYou bool
	// Removable: an entry the person may remove.
	Removable bool
	// MaxGrants is the entry's current limit on tokens (0: none); the
	// person may lower it (or set one on an entry that has none).
	MaxGrants int64
	// Gated: the entry already waits for the person's approval.
	Gated bool
}

// Choice is one option of a select.
type Choice struct{ Value, Label string }
