package suite

// flowChecks are the checks that follow a flow through several requests,
// most of them with a person step.
func flowChecks() []Check {
	var out []Check
	out = append(out, bindChecks()...)
	// confC: bodies, agent identity, pending URLs, the relay.
	out = append(out, bodyChecks()...)
	out = append(out, upstreamChecks()...)
	out = append(out, identityChecks()...)
	out = append(out, missionCapabilityChecks()...)
	out = append(out, pendingChecks()...)
	out = append(out, callbackChecks()...)
	out = append(out, relayChecks()...)
	out = append(out, relayProperChecks()...)
	out = append(out, clarificationChecks()...)
	out = append(out, updatedRequestChecks()...)
	out = append(out, twoPersonsChecks()...)
	out = append(out, missionChecks()...)
	out = append(out, expiredMissionCheck())
	out = append(out, threePartyChecks()...)
	out = append(out, subAgentChecks()...)
	out = append(out, subAgentMoreChecks()...)
	out = append(out, federationChecks()...)
	out = append(out, chainingChecks()...)
	out = append(out, r3Checks()...)
	out = append(out, revocationChecks()...)
	// confB: transport and key-discovery hygiene (§3.23).
	out = append(out, hygieneChecks()...)
	// confD: revocation namespaces (PS-238, PS-235).
	out = append(out, revNamespaceChecks()...)
	return out
}
