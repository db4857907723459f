package federation

import (
	"context"
	"slices"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/jose"
)

// Step-up in four-party (P§resource-token-verification step 3,
// P§ps-to-as-token-request): a resource that wants more than the auth
// token it was shown answers with a new resource token whose presented_jti
// names that auth token — which the AS issued and this PS never held. The
// agent sends it as presented_token; the PS verifies it against the AS's
// keys before it presents it to the AS.

// AuthTokenOf reports whether raw is, on its face, an auth token issued by
// as (typ aa-auth+jwt, iss as): a step-up token for the AS to verify with
// VerifyIssued. Nothing is verified here.
func AuthTokenOf(raw, as string) bool {
	t, err := jose.ParseCompact(raw)
	if err != nil || !jose.TypMatches(t.HeaderString("typ"), aauth.TypAuthToken) {
		return false
	}
	iss, _ := t.ClaimString("iss")
	return iss != "" && iss == as
}

// VerifyIssued verifies that raw is an auth token access server as signed
// (P§common-verification: typ aa-auth+jwt, dwk aauth-access.json, an
// accepted alg, the signature under the kid of the AS's JWKS, refreshed
// once on a cached key that fails) and returns it parsed; the claims are
// the caller's to check. Any failure wraps ErrDelivery.
func (c *Client) VerifyIssued(ctx context.Context, raw, as string) (*jose.CompactJWT, error) {
	return verifyIssued(ctx, raw, c.o.Discovery, as, c.o.AcceptAlgs)
}

// verifyIssued is the common verification of an auth token access server
// as issued: typ, an accepted alg with a kid, iss, dwk, the signature.
func verifyIssued(ctx context.Context, raw string, keys Keys, as string, accept []string) (*jose.CompactJWT, error) {
	t, err := jose.ParseCompact(raw)
	if err != nil {
		return nil, deliveryErr("not a well-formed JWT: %v", err)
	}
	if !jose.TypMatches(t.HeaderString("typ"), aauth.TypAuthToken) {
		return nil, deliveryErr("typ %q", t.HeaderString("typ"))
	}
	alg, kid := t.HeaderString("alg"), t.HeaderString("kid")
	if !slices.Contains(accept, alg) || kid == "" {
		return nil, deliveryErr("alg %q not accepted or no kid", alg)
	}
	if iss, _ := t.ClaimString("iss"); iss != as {
		return nil, deliveryErr("iss %q is not the access server called", iss)
	}
	if dwk, _ := t.ClaimString("dwk"); dwk != aauth.DWKAccess {
		return nil, deliveryErr("dwk %q", dwk)
	}
	if err := verifySignature(ctx, t, keys, as, kid, alg, accept); err != nil {
		return nil, err
	}
	return t, nil
}
