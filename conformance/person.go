package conformance

import (
	"context"
	"net/url"
)

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
	// Pending, when set, is the URL the agent polls for the request: with
	// no URL (the PS asked through its own channel) it is how an approver
	// finds the request among those the PS shows the person.
	Pending string
	// Callback, when set, is the agent's callback the person's browser
	// brings along (P§user-interaction): Link appends it.
	Callback string
	// Ask, when set, has the person ask the agent this clarification
	// question instead of deciding (PS-174); Answer, when set, has the
	// person answer the question the agent relayed (E9 type question,
	// PS-228). Either way Approve is not used.
	Ask, Answer string
	// Shown, when set, receives each page the PS showed the person on the
	// way: the page offering the decision (before it is taken) and, when
	// there is nothing to decide, the page saying so. Only an approver
	// that can read the PS's pages calls it (the browser); checks about
	// what the person is shown are "not offered" when it is never called.
	Shown func(Page)
	// Visited, when set, reports whether the person has reached the
	// other party's step (the suite's own resource, which sends the
	// person straight back to the PS with an error): nothing is left to
	// decide after it, and the caller polls the request to its end, so an
	// approver may return once it reports true instead of waiting for
	// the PS's next page.
	Visited func() bool
}

// Page is a page of the PS as the person's browser showed it.
type Page struct {
	// URL is the page's address after redirects.
	URL string
	// Text is the visible text; HTML the serialized document.
	Text, HTML string
}

// Link is the URL the person opens: URL?code=Code (with &callback= when
// Callback is set), or URL alone when there is no code (the person
// returns to a request whose code they already used).
func (in Interaction) Link() string {
	if in.URL == "" || in.Code == "" {
		return in.URL
	}
	if in.Callback != "" {
		return in.URL + "?code=" + in.Code + "&callback=" + url.QueryEscape(in.Callback)
	}
	return in.URL + "?code=" + in.Code
}
