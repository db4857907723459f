package federation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/fetch"
	"github.com/aauth-ps/aauth-ps/ps/jose"
)

// Keys resolves an AS's signing keys (*fetch.Discovery).
type Keys = fetch.KeySource

// Expected is what the delivered auth token must say (P§auth-token-delivery).
type Expected struct {
	// AccessServer is the AS the PS called: the token's iss.
	AccessServer string
	// Resource is the resource token's iss: the token's aud.
	Resource string
	// HolderJKT is the thumbprint of the agent's key (the sub-agent's
	// when one is named): the token's cnf.jwk.
	HolderJKT string
	// Sub is the directed identifier of the person at the resource.
	Sub string
	// Scope is what the resource token asked: the token's scope is no
	// broader.
	Scope []string
	// PresentedExp is the presented token's exp: the token's is no later.
	PresentedExp time.Time
	// R3URI and R3S256 are the resource token's r3_uri and r3_s256 (""
	// when it named no R3 document): the token's must be the same, and
	// absent when these are (PS-246).
	R3URI, R3S256 string
	Now           time.Time
	Window        time.Duration
	AcceptAlgs    []string
}

// Delivered is a verified auth token.
type Delivered struct {
	Token  string
	JTI    string
	Scope  []string
	Exp    time.Time
	Claims map[string]any
}

// ErrDelivery marks a delivered token that failed a check.
var ErrDelivery = errors.New("federation: the delivered auth token fails a check")

func deliveryErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrDelivery}, a...)...)
}

// CheckDelivered verifies raw per P§auth-token-delivery and
// P§common-verification: typ aa-auth+jwt, dwk aauth-access.json, the
// AS's signature (JWKS refreshed once on a cached key that fails), iss,
// aud, cnf, sub, r3_uri and r3_s256 the resource token's (PS-246), scope ⊆
// requested, exp ≤ the presented token's, exp − iat ≤ 1 h, not expired.
// Any failure wraps ErrDelivery.
func CheckDelivered(ctx context.Context, raw string, keys Keys, e Expected) (*Delivered, error) {
	t, err := verifyIssued(ctx, raw, keys, e.AccessServer, e.AcceptAlgs)
	if err != nil {
		return nil, err
	}
	str := func(n string) string { s, _ := t.ClaimString(n); return s }
	if str("aud") != e.Resource {
		return nil, deliveryErr("aud %q is not the resource", str("aud"))
	}
	cnf, _ := t.Claims["cnf"].(map[string]any)
	jwk, _ := cnf["jwk"].(map[string]any)
	ck, err := jose.ParsePublicJWK(jwk, e.AcceptAlgs)
	if err != nil || ck.Thumbprint != e.HolderJKT {
		return nil, deliveryErr("cnf.jwk is not the agent's key")
	}
	if str("sub") == "" || str("sub") != e.Sub {
		return nil, deliveryErr("sub is not the person's identifier at the resource")
	}
	for name, want := range map[string]string{"r3_uri": e.R3URI, "r3_s256": e.R3S256} {
		v, present := t.Claims[name]
		if got, _ := v.(string); present != (want != "") || got != want {
			return nil, deliveryErr("%s is not the resource token's", name)
		}
	}
	scope := strings.Fields(str("scope"))
	for _, s := range scope {
		if !slices.Contains(e.Scope, s) {
			return nil, deliveryErr("scope %q was not requested", s)
		}
	}
	exp, hasExp, err1 := t.NumericDate("exp")
	iat, hasIat, err2 := t.NumericDate("iat")
	if err1 != nil || err2 != nil || !hasExp || !hasIat {
		return nil, deliveryErr("no valid exp or iat")
	}
	switch {
	case exp > e.PresentedExp.Unix():
		return nil, deliveryErr("exp is later than the presented token's")
	case exp-iat > 3600:
		return nil, deliveryErr("lives longer than an hour")
	case !time.Unix(exp, 0).After(e.Now):
		return nil, deliveryErr("already expired")
	case time.Unix(iat, 0).After(e.Now.Add(e.Window)):
		return nil, deliveryErr("issued in the future")
	}
	return &Delivered{Token: raw, JTI: str("jti"), Scope: scope, Exp: time.Unix(exp, 0), Claims: t.Claims}, nil
}

func verifySignature(ctx context.Context, t *jose.CompactJWT, keys Keys, iss, kid, alg string, accept []string) error {
	check := func(res fetch.KeyResult) error {
		key, err := jose.ParsePublicJWK(res.JWK, accept)
		if err != nil {
			return deliveryErr("the access server's key is unusable: %v", err)
		}
		if key.Alg != alg {
			return deliveryErr("the access server's key is not for %s", alg)
		}
		if err := t.VerifySignature(key); err != nil {
			return deliveryErr("signature: %v", err)
		}
		return nil
	}
	return fetch.CheckKey(ctx, keys, iss, aauth.DWKAccess, kid, check,
		func(err error) error { return deliveryErr("the access server's keys: %v", err) })
}
