package suite

// flowChecks are the checks that follow a flow through several requests,
// most of them with a person step.
func flowChecks() []Check {
	var out []Check
	out = append(out, bindChecks()...)
	out = append(out, missionChecks()...)
	out = append(out, threePartyChecks()...)
	out = append(out, subAgentChecks()...)
	out = append(out, subAgentMoreChecks()...)
	out = append(out, federationChecks()...)
	out = append(out, chainingChecks()...)
	out = append(out, r3Checks()...)
	out = append(out, revocationChecks()...)
	return out
}
