package federation

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/fetch"
	"github.com/aauth-ps/aauth-ps/ps/jose"
)

// oneKey is an access server's JWKS of one key, as discovery would select
// it (the discovery itself runs in ps/app's federation tests).
type oneKey struct{ jwk map[string]any }

func (k oneKey) Key(context.Context, string, string, string) (fetch.KeyResult, error) {
	return fetch.KeyResult{JWK: k.jwk}, nil
}

func (k oneKey) RefreshKey(ctx context.Context, iss, dwk, kid string) (fetch.KeyResult, error) {
	return k.Key(ctx, iss, dwk, kid)
}

// TestCheckDeliveredR3: PS-246. The delivered token's r3_uri and r3_s256
// must be the resource token's: another hash, another document, a missing
// pair or a pair the resource token did not have fail the delivery check
// (the agent then gets 502 as_unreachable, TestFederationR3Mismatch); the
// same pair, or none on both sides, passes.
func TestCheckDeliveredR3(t *testing.T) {
	asKey, err := conformance.NewAgentKey(aauth.AlgEd25519)
	if err != nil {
		t.Fatal(err)
	}
	holder, err := conformance.NewAgentKey(aauth.AlgEd25519)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	const uri, hash = "https://rs.test/r3/calendar.json", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	const other = "aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789abcdEFG"
	mint := func(r3 map[string]any) string {
		c := map[string]any{"iss": "https://as.test", "dwk": aauth.DWKAccess, "aud": "https://rs.test", "sub": "s1",
			"cnf": map[string]any{"jwk": holder.PublicJWK()}, "scope": "calendar.read", "jti": "j1",
			"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
		for k, v := range r3 {
			c[k] = v
		}
		tok, err := jose.SignJWT(asKey.Alg(), asKey.Thumbprint(), aauth.TypAuthToken, asKey.Signer(), c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	expect := func(rtURI, rtS256 string) Expected {
		return Expected{AccessServer: "https://as.test", Resource: "https://rs.test", HolderJKT: holder.Thumbprint(), Sub: "s1",
			Scope: []string{"calendar.read"}, PresentedExp: now.Add(time.Hour), Now: now, Window: time.Minute,
			AcceptAlgs: aauth.SupportedAlgs, R3URI: rtURI, R3S256: rtS256}
	}
	for _, tc := range []struct {
		name         string
		rtURI, rtS   string
		token        map[string]any
		wantDelivery bool
	}{
		{"the resource token's pair", uri, hash, map[string]any{"r3_uri": uri, "r3_s256": hash}, true},
		{"neither names a document", "", "", nil, true},
		{"another hash", uri, hash, map[string]any{"r3_uri": uri, "r3_s256": other}, false},
		{"another document", uri, hash, map[string]any{"r3_uri": "https://rs.test/r3/mail.json", "r3_s256": hash}, false},
		{"no r3_s256", uri, hash, map[string]any{"r3_uri": uri}, false},
		{"no pair", uri, hash, nil, false},
		{"a pair the resource token did not have", "", "", map[string]any{"r3_uri": uri, "r3_s256": hash}, false},
		{"an empty pair the resource token did not have", "", "", map[string]any{"r3_uri": "", "r3_s256": ""}, false},
		{"r3_s256 not a string", uri, hash, map[string]any{"r3_uri": uri, "r3_s256": 7}, false},
	} {
		d, err := CheckDelivered(t.Context(), mint(tc.token), oneKey{asKey.PublicJWK()}, expect(tc.rtURI, tc.rtS))
		switch {
		case tc.wantDelivery && (err != nil || d == nil):
			t.Errorf("%s: %v, want delivered", tc.name, err)
		case !tc.wantDelivery && !errors.Is(err, ErrDelivery):
			t.Errorf("%s: %v, want ErrDelivery", tc.name, err)
		}
	}
}
