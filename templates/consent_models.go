package templates

import "time"

// AuthorityView is the consent page's "What the mission would allow": the
// Authority Set the approval commits, as the consent rendering's
// sentences, with the person's edits (each its own form: PRG).
type AuthorityView struct {
	Derived  string // where the rules come from, in the PS's words
	Template string // the operator template's name, when one matched
	Removed  []string
	Entries  []AuthorityLine
	// Checkpoints are the stages the mission waits for.
	Checkpoints []AuthorityLine
	// Never are the exclusions.
	Never   []AuthorityLine
	Outside string // what happens to anything else
	// Exclusions are what the person may still exclude.
	Exclusions []Option
	AskOther   bool
	Edited     bool
}

// AuthorityLine is one sentence of the rendering and what the person may
// change about it.
type AuthorityLine struct {
	Ref, Text  string
	AddedByYou bool
	Removable  bool
	MaxGrants  int64
	CanGate    bool
}

// Option is one option of a select.
type Option struct{ Value, Label string }

// ConsentedView is what the mission page shows of a mission's Authority
// Set: the sentences approved, the steps, the decisions.
type ConsentedView struct {
	Lines         []string
	RenderingHash string
	Standing      string
	Narrowed      bool
	Steps         []StepView
}

// StepView is one checkpoint and whether it is recorded.
type StepView struct {
	ID, Text, State string
	Recorded        *time.Time
	CanRecord       bool
}
