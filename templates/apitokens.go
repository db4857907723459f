package templates

import "time"

// AdminAPITokensView lists API tokens and makes new ones (issue 14).
type AdminAPITokensView struct {
	// Secret is a token just made, shown this once (never stored).
	Secret    string
	SecretFor string // the new token's name
	Tokens    []APITokenItem
	Persons   []PersonChoice
	// Lifetimes are the offered lifetimes, in days; DefaultDays is selected.
	Lifetimes   []int
	DefaultDays int
}

// APITokenItem is one API token, never its secret.
type APITokenItem struct {
	ID       string
	Name     string
	Username string
	Scope    string
	State    string // live, revoked, expired
	Created  time.Time
	Expires  time.Time
	LastUsed time.Time // zero: never
}

// PersonChoice is a person a token may act as.
type PersonChoice struct {
	ID       string
	Username string
	IsAdmin  bool
	Selected bool
}
