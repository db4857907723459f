// Package agents owns who may act at this PS: the agent providers the
// operator trusts (allow-any or allow-list, plus blocks), the persons' own
// provider blocks, and agent–person bindings — each agent (iss, sub) bound
// to exactly one person, surviving the agent's key rotation, until the
// person unbinds or revokes it.
//
// Implements draft-hardt-oauth-aauth-protocol-11 §Agent-Person Binding and
// PS-REQUIREMENTS PS-165..PS-167 and A-40.
package agents
