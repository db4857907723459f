// Package conformance is the AAuth test agent kit: everything a test, or a
// conformance run against any Person Server, needs to act as agent
// providers and agents over real HTTPS on loopback, and to produce every
// kind of good and bad signed request that PS-REQUIREMENTS §3 (rows
// PS-012 to PS-047 in particular) asks a PS to accept or refuse.
//
// The pieces:
//
//   - Test PKI (CA): a throw-away root and server certificates, written to a
//     file for the PS's --trust-ca flag.
//   - Loopback naming (Resolver, NewHTTPClient): server identifiers cannot
//     carry a port, so fixtures are named https://ap.test, https://ps.test
//     and served on 127.0.0.1:<random>. The Resolver holds host → address,
//     the kit's client dials through it, and Flags renders it for the PS's
//     --resolve flag.
//   - Agent provider fixture (StartAgentProvider): serves
//     /.well-known/aauth-agent.json and a JWKS, mints agent tokens with any
//     header and claims (TokenSpec), counts fetches, and misbehaves on
//     request (bad metadata, JWKS errors and delays, key rotation, silent
//     re-keying, keys without alg, foreign JWKS members).
//   - Agent keys and request signing (AgentKey, Signer, Agent): signs an
//     *http.Request exactly per the AAuth profile of RFC 9421 — Signature-Key
//     `sig=jwt;jwt="…"`, covered "@method" "@authority" "@path"
//     "signature-key" (plus "content-type" "content-digest" with a body),
//     created = now, no alg or keyid, RFC 9530 Content-Digest, raw 64-byte
//     Ed25519 or ES256 (r‖s) signatures. The kit builds the signature base
//     itself so that SignOptions can produce deliberately wrong requests a
//     signing library would refuse to make: missing headers or components,
//     odd labels, bad created/expires, other schemes, garbage header values,
//     the wrong key, tampering after signing, wrong digests.
//
// The signer is proven in this package's tests against
// github.com/yaronf/httpsign and against the PS-REQUIREMENTS §2.5 signature
// base vector, byte for byte.
//
// Typical use:
//
//	ca, _ := conformance.NewCA()
//	res := conformance.NewResolver()
//	ap, _ := conformance.StartAgentProvider(ca, res, "ap.test")
//	defer ap.Close()
//	a1, _ := ap.NewAgent(conformance.TokenSpec{Sub: "aauth:a1@ap.test"})
//	resp, _ := a1.Do(conformance.NewHTTPClient(ca, res), "POST",
//		"https://ps.test/person", []byte(`{"resource":"https://rs.test"}`),
//		conformance.WithCreatedOffset(-120*time.Second))
//
// The in-repo PS tests use the kit directly; the checks that run against
// any PS live in conformance/suite, which cmd/aauth-conformance runs and
// the PS's own tests run too.
package conformance
