package store

// IssuedToSubAgentSQL is the read of a cascade by a sub-agent's identity,
// for the test of its plan (migration 00044).
var IssuedToSubAgentSQL = issuedSQL(issuedToAgentWhere(true), issuedToAgentWhere(true))
