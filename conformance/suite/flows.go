package suite

// flowChecks are the checks that follow a flow through several requests,
// most of them with a person step.
func flowChecks() []Check {
	var out []Check
	out = append(out, bindChecks()...)
	out = append(out, missionChecks()...)
	out = append(out, threePartyChecks()...)
	out = append(out, subAgentChecks()...)
	out = append(out, revocationChecks()...)
	// confB: transport and key-discovery hygiene (§3.23).
	out = append(out, hygieneChecks()...)
	return out
}
