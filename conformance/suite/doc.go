// Package suite is the AAuth Person Server conformance suite: black-box
// checks, run over HTTPS against any PS, for the PS-REQUIREMENTS §3 rows a
// PS can be tested on with only an agent provider of the tester's own
// (the kit in package conformance) and no account at the PS.
//
// The checks cover:
//
//   - metadata and JWKS (PS-001 to PS-004, PS-006 to PS-008, PS-010, PS-253);
//   - the optional-endpoint rule (PS-005): every advertised agent endpoint
//     (and revocation_endpoint, signed as a server) answers a signed POST of
//     `{}`, never with 404 or 405;
//   - signature and agent-token refusals (PS-012 to PS-046): every bad signed
//     request, each with its exact 401 Signature-Error code, the problem+json
//     body, and the header shapes of PS-013, PS-018, PS-024 and PS-254;
//   - requests that must verify (PS-016, PS-017, PS-019, PS-023, PS-026,
//     PS-038, PS-039, PS-042, PS-043), replay (PS-027) and unsupported
//     methods (PS-055);
//   - flows (GroupFlow), each run once per Target and reported per step:
//     a new agent's first person token (binding, the pending URL, Prefer:
//     wait, the token's contents), a mission (propose, approve, s256 over
//     the exact bytes, update, completion, errors, the existence oracle,
//     permission and audit under it, its expiry when the PS's missions end
//     within minutes), three-party auth tokens and sub-agents, the agent's
//     callback, the relay through E9 and what the consent page attributes
//     to the agent. The person's part is Target.Person; without one those
//     checks are SKIPped.
//
// Results are grouped by surface (Surfaces, SurfaceOf: the PS-REQUIREMENTS
// §3 section of the check's id); Report.Table, Report.JUnit and Coverage
// render them.
//
// Every Check carries the level of its row. Following PS-REQUIREMENTS §3, a
// run against any PS treats IMPL (and SHOULD) expectations as advisory: a
// check whose MUST part holds but whose IMPL detail differs fails with
// Result.FailedLevel IMPL, which Report.OK ignores unless strict. A check
// about an optional endpoint that the metadata does not advertise is
// NOT-APPLICABLE (PS-252); an advertised endpoint that answers 501 is
// SKIPped with that reason, for that endpoint only.
//
// Some refusals need fixtures beyond one healthy agent provider: agent
// providers that misbehave for good (Target.Faulty, see Break and
// FaultHost), and a way to revoke an agent token (Target.Revoke, or the
// PS's revocation_endpoint when advertised). Without them those checks are
// SKIPped with the reason.
//
// Typical use (the aauth-conformance command does this):
//
//	t := &suite.Target{Issuer: "https://ps.example", Client: c, AP: ap, Agent: a1, Faulty: faulty}
//	rep := suite.Run(ctx, t, suite.Checks(), suite.Hooks{})
//	fmt.Print(rep.Text())
//	if !rep.OK(false) { os.Exit(1) }
package suite
