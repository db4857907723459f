// Package load drives a running Person Server with many concurrent agents
// and measures it against the crypto floor (issue 12).
//
// Each agent is bound to a person and holds an approved mission, set up
// the way a real agent and person do it, over HTTPS: the agent asks a
// question through the interaction endpoint, the person (logged in to the
// PS's web UI with a password) connects it and answers; the agent proposes
// a mission, the person approves it; the first exchange asks the person
// for the scope. After that every exchange is issued at once:
//
//	signed POST person_token_endpoint {resource, mission_s256}
//	→ a resource token from the test resource (minted in-process)
//	→ signed POST auth_token_endpoint {resource_token, presented_token}
//
// The crypto floor is what one exchange cannot do without: the Ed25519
// verifications (two signatures and the agent token per request, the
// resource token and the presented person token) and the two token
// signatures, run in a tight loop on every core of this machine.
//
// Process figures (CPU and RSS of the PS, CPU of the PostgreSQL backends
// of its database) come from /proc, so they exist on Linux only.
//
// The peer (Mockin) is @hellocoop/mockin, a Node mock PS, started from
// conformance/interop/node and driven on its person token endpoint with
// the same agents, concurrency and duration.
package load
