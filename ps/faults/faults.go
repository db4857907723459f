// Package faults injects deliberate protocol faults into the PS, for the
// conformance suite's own test that the suite catches a misbehaving PS
// (issue 13, Must-show 4). Faults exist only in a binary built with the
// aauthfaults build tag; in every other build On is a constant false and
// the hooks compile away.
package faults

// Fault is one deliberate defect.
type Fault string

// The faults.
const (
	// WrongSignatureError answers invalid_key failures with
	// Signature-Error error=invalid_signature.
	WrongSignatureError Fault = "wrong-signature-error"
	// NoAgentExpCap issues person and auth tokens without capping exp at
	// the agent token's (and sub-agent token's) exp.
	NoAgentExpCap Fault = "no-agent-exp-cap"
	// S256Reserialized computes a mission's s256 over the blob re-serialized
	// (indented), not over the bytes the agent receives.
	S256Reserialized Fault = "s256-reserialized"
	// ExistenceOracle answers another agent's mission with a detail naming
	// its owner problem, unlike an unknown mission's answer.
	ExistenceOracle Fault = "existence-oracle"
)

// All lists every fault.
func All() []Fault {
	return []Fault{WrongSignatureError, NoAgentExpCap, S256Reserialized, ExistenceOracle}
}
