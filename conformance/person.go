package conformance

import "context"

// Person carries out the person's part of a flow at the PS under test:
// neither the suite nor the load generator can log in at a PS they know
// nothing about, so whoever runs them supplies one (aauth-conformance
// --approve: a browser driving the PS's web UI, a human, or a command;
// the load's password login posting the PS's forms, load.Person).
type Person interface {
	// Decide opens in.URL with in.Code and approves everything asked
	// (connecting the agent first when the PS asks for that) or, when
	// in.Approve is false, denies. An empty URL means the PS asked
	// through its own channel (requirement=approval). Decide returns once
	// the decision is made.
	Decide(ctx context.Context, in Interaction) error
}

// Interaction is one person step.
type Interaction struct {
	URL, Code string
	Approve   bool
	// What says what the agent asked for, for a human person.
	What string
}

// Link is the URL the person opens: URL?code=Code.
func (in Interaction) Link() string {
	if in.URL == "" {
		return ""
	}
	return in.URL + "?code=" + in.Code
}
