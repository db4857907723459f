// Package federation is the PS's side of four-party access (draft-hardt-
// oauth-aauth-protocol-11 §Access Server Federation): when a resource
// token's aud names an access server (AS) rather than this PS, and the PS
// has made its own decision (verified agent, person, mission, consent),
// the PS discovers the AS (`{aud}/.well-known/aauth-access.json`, issuer
// match, JWKS, through the egress-guarded discovery cache), signs a token
// request to it as a server (ps/pssign: `sig=jwks_uri;id=…;dwk=
// "aauth-person.json";kid=…`, content-type and content-digest covered),
// follows the AS's deferred loop (202 + Location, Retry-After, 429,
// requirement=claims/interaction/clarification/approval, 402) and checks
// the auth token it delivers before any agent sees it.
//
// A domain package: no gin, gorm or templ. It does no storage and no
// waiting on people: Start and Resume run the loop until the AS grants,
// refuses, fails, or needs something only the caller can give (the
// person's interaction or payment, a clarification answer, more time);
// the caller (ps/authtoken) keeps the agent's pending request and decides.
//
// Outcomes (P§auth-token-delivery, PS-122..PS-130): a verified token; a
// relayed AS error (*aauth.Problem with the AS's status and code); or
// `502 as_unreachable` when no verifiable token can be had (unreachable,
// slow, malformed, 5xx, a foreign Location, a token failing a delivery
// check — the reason is logged, the token never handed on).
package federation
