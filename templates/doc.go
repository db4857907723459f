// Package templates holds the PS's web UI as templ components, their view
// models, and the static assets (CSS, the passkey script) embedded in the
// binary. Handlers in ps/web fill the view models; nothing here reads the
// database or the request.
//
// Consent surfaces separate content by who asserts it (P§consent-presentation,
// facts from this PS, what the agent and its provider say, what a
// resource says, and what the person approved. Each group has its own
// labelled region and style.
//
// Generated *_templ.go files are committed; `make verify` fails when they
// drift from the .templ sources.
package templates

//go:generate go tool templ generate
