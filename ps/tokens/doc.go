// Package tokens issues the PS's tokens. Person tokens (aa-person+jwt)
// identify the person an agent acts for to one resource, with a directed
// `sub` that is stable per (person, resource) and opaque, bound to the
// agent's key through `cnf`, and capped in lifetime by one hour, the agent
// token, the mission and any upstream token. Every issuance is recorded for
// revocation until exp plus clock skew. The package also keeps the
// person's consents per agent and resource, and defines Agent, the one
// value every flow keeps about the agent it acts for.
//
// It is the single issuance path: every flow (the person token endpoint,
// a mission approval) calls IssuePersonToken with what it resolved. Its
// storage is the Store interface (ps/store implements it); it imports no
// HTTP, database or template package.
//
// Implements draft-hardt-oauth-aauth-protocol-11 §Person Token Endpoint
// (Retention), §Person Token Structure, §Directed Identifiers, and
// PS-REQUIREMENTS §3.5–3.6 with.
package tokens
