// Package fetch owns every outbound HTTP request the Person Server makes to
// a URL that reached it from a token, a Signature-Key header or a metadata
// document, and the cache of the documents those requests discover.
//
// It has two layers.
//
// Client is the egress-guarded HTTP client. It implements egress admission
// as draft-hardt-httpbis-signature-key §"Scheme-Specific Risks" (jwks_uri)
// defines it and PS-REQUIREMENTS §2.6 / A-24 details it (PS-047):
//
//   - https only, TLS 1.2 minimum; http solely for http://localhost and
//     http://127.0.0.1 in dev mode (Config.AllowLoopbackHTTP); no userinfo;
//   - the host is resolved once and the request refused if ANY resolved
//     address is loopback, private, link-local (including the cloud metadata
//     address), multicast, unspecified, CGNAT, reserved or an IPv4-mapped,
//     NAT64 or 6to4 form of those, unless Config.EgressAllow admits it;
//   - the connection is dialled to the vetted address and never re-resolved
//     (DNS-rebinding defence);
//   - redirects only within the same origin, at most three;
//   - a whole-request timeout (5 s) and a response-size cap (256 KiB).
//
// Errors are typed: ErrEgressDenied, ErrTooLarge, ErrRedirect, ErrTLS and
// *TransientError. A response with any status code, 5xx included, is a
// Response, not an error.
//
// Discovery implements draft-hardt-oauth-aauth-protocol §"Metadata
// Documents" (the issuer check: issuer_missing, issuer_mismatch) and
// §"JWKS Discovery and Caching" (P§jwks-discovery), together with
// draft-hardt-httpbis-signature-key §"Caching and Performance":
// {issuer}/.well-known/{dwk} → jwks_uri → the member whose kid matches,
// with a cache bounded in entries and bytes (SK: "Verifiers MUST implement
// cache limits") that honours Cache-Control and Expires, discards
// entries after 24 h, fetches one issuer's document at most once per
// minute (PS-248), refreshes once on an unknown or failing kid (PS-249),
// serves a cached copy with exponential back-off when a fetch fails
// transiently, and reports ErrUnavailable when nothing is cached (PS-250,
// Concurrent misses for one issuer share one fetch.
//
// Cache-Control is parsed here by hand (cachecontrol.go, fuzzed by
// FuzzCacheControl): github.com/lestrrat-go/httpcc v1.0.1 panics on a
// directive with an empty value ("max-age=") and cannot tell a bare
// "no-cache" from its absence.
package fetch
