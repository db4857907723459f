package federation

import (
	"context"
	"slices"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/jose"
)

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
