package conformance

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/jose"
)

func TestMintOverrides(t *testing.T) {
	k := newKit(t)
	ak, err := NewAgentKey(aauth.AlgEd25519)
	must(t, err)
	base, err := k.ap.MintAgentToken(TokenSpec{Agent: ak})
	must(t, err)
	baseH, baseC, err := DecodeJWT(base)
	must(t, err)
	eq(t, baseH, map[string]any{"typ": "aa-agent+jwt", "alg": "Ed25519", "kid": k.ap.SigningKID()})
	for _, c := range []string{"iss", "dwk", "sub", "jti", "iat", "exp", "cnf"} {
		_, ok := baseC[c]
		check(t, ok, "claim %s present", c)
	}
	for _, c := range []string{"ps", "parent_agent"} {
		_, ok := baseC[c]
		check(t, !ok, "claim %s absent by default", c)
	}

	cases := []struct {
		name    string
		spec    TokenSpec
		header  map[string]any // expected header members (nil value: absent)
		claims  map[string]any // expected claims (nil value: absent)
		verifOK bool           // jwx still verifies it against the served JWKS
		skipJWX bool           // jwx's answer is not meaningful (see below)
	}{
		{"no typ", TokenSpec{HeaderOverrides: map[string]any{"typ": nil}}, map[string]any{"typ": nil}, nil, true, false},
		{"typ JWT", TokenSpec{HeaderOverrides: map[string]any{"typ": "JWT"}}, map[string]any{"typ": "JWT"}, nil, true, false},
		{"no kid", TokenSpec{HeaderOverrides: map[string]any{"kid": nil}}, map[string]any{"kid": nil}, nil, false, false},
		{"kid zzz", TokenSpec{KID: "zzz"}, map[string]any{"kid": "zzz"}, nil, false, false},
		{"alg none", TokenSpec{HeaderOverrides: map[string]any{"alg": "none"}}, map[string]any{"alg": "none"}, nil, false, true},
		{"alg EdDSA", TokenSpec{HeaderOverrides: map[string]any{"alg": "EdDSA"}}, map[string]any{"alg": "EdDSA"}, nil, false, true},
		{"alg HS256", TokenSpec{HeaderOverrides: map[string]any{"alg": "HS256"}}, map[string]any{"alg": "HS256"}, nil, false, true},
		{"no exp", TokenSpec{ClaimOverrides: map[string]any{"exp": nil}}, nil, map[string]any{"exp": nil}, true, false},
		{"no iat", TokenSpec{ClaimOverrides: map[string]any{"iat": nil}}, nil, map[string]any{"iat": nil}, true, false},
		{"no dwk", TokenSpec{ClaimOverrides: map[string]any{"dwk": nil}}, nil, map[string]any{"dwk": nil}, true, false},
		{"dwk person", TokenSpec{ClaimOverrides: map[string]any{"dwk": aauth.DWKPerson}}, nil, map[string]any{"dwk": "aauth-person.json"}, true, false},
		{"no sub", TokenSpec{ClaimOverrides: map[string]any{"sub": nil}}, nil, map[string]any{"sub": nil}, true, false},
		{"no jti", TokenSpec{ClaimOverrides: map[string]any{"jti": nil}}, nil, map[string]any{"jti": nil}, true, false},
		{"no cnf", TokenSpec{ClaimOverrides: map[string]any{"cnf": nil}}, nil, map[string]any{"cnf": nil}, true, false},
		{"cnf without jwk", TokenSpec{ClaimOverrides: map[string]any{"cnf": map[string]any{}}}, nil, map[string]any{"cnf": map[string]any{}}, true, false},
		{"iss http", TokenSpec{ClaimOverrides: map[string]any{"iss": "http://ap.test"}}, nil, map[string]any{"iss": "http://ap.test"}, true, false},
		{"extra claim", TokenSpec{ClaimOverrides: map[string]any{"foo": "bar"}}, nil, map[string]any{"foo": "bar"}, true, false},
		{"sub", TokenSpec{Sub: "aauth:Assistant-V2@ap.test"}, nil, map[string]any{"sub": "aauth:Assistant-V2@ap.test"}, true, false},
		{"jti", TokenSpec{JTI: "j1"}, nil, map[string]any{"jti": "j1"}, true, false},
		{"ps", TokenSpec{PS: "http://ps.test"}, nil, map[string]any{"ps": "http://ps.test"}, true, false},
		{"parent_agent", TokenSpec{ParentAgent: "nope"}, nil, map[string]any{"parent_agent": "nope"}, true, false},
		{"expired", TokenSpec{Lifetime: -time.Second}, nil, nil, false, false},
		{"iat ahead", TokenSpec{IssuedAt: time.Now().Add(600 * time.Second)}, nil, nil, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.Agent = ak
			tok, err := k.ap.MintAgentToken(tc.spec)
			must(t, err)
			h, c, err := DecodeJWT(tok)
			must(t, err)
			for n, want := range tc.header {
				got, ok := h[n]
				if want == nil {
					check(t, !ok, "header %s absent", n)
				} else {
					eq(t, got, want, "header %s", n)
				}
			}
			for n, want := range tc.claims {
				got, ok := c[n]
				if want == nil {
					check(t, !ok, "claim %s absent", n)
				} else {
					eq(t, got, want, "claim %s", n)
				}
			}
			// Everything not named is as in the baseline (modulo random and time-derived values).
			for n, v := range baseH {
				if _, named := tc.header[n]; !named && tc.spec.KID == "" {
					eq(t, h[n], v, "header %s untouched", n)
				}
			}
			for _, n := range []string{"iss", "dwk", "cnf"} {
				if _, named := tc.claims[n]; !named {
					eq(t, c[n], baseC[n], "claim %s untouched", n)
				}
			}
			// jwx v3 with WithKeySet takes the algorithm from the JWKS key's
			// `alg` and ignores the header `alg`, so it "verifies" alg
			// none/EdDSA/HS256 tokens: a verifier must compare them itself.
			if tc.skipJWX {
				return
			}
			_, err = verifyToken(t, k, tok)
			if tc.verifOK {
				must(t, err, "jwx verification")
			} else {
				mustErr(t, err, "jwx verification")
			}
		})
	}

	// The time knobs.
	iat := time.Unix(1_700_000_000, 0)
	tok, err := k.ap.MintAgentToken(TokenSpec{Agent: ak, IssuedAt: iat, Lifetime: 24 * time.Hour})
	must(t, err)
	_, c, _ := DecodeJWT(tok)
	eq(t, []any{c["iat"], c["exp"]}, []any{json.Number("1700000000"), json.Number("1700086400")})
	tok, err = k.ap.MintAgentToken(TokenSpec{Agent: ak, Lifetime: -time.Second})
	must(t, err)
	_, c, _ = DecodeJWT(tok)
	e, _ := c["exp"].(json.Number).Int64()
	check(t, e < time.Now().Unix(), "expired")
}

func TestMintCnfJWK(t *testing.T) {
	k := newKit(t)
	ak, err := NewAgentKey(aauth.AlgEd25519)
	must(t, err)
	cases := map[string]struct {
		jwk     map[string]any
		wantErr error
	}{
		"no alg":        {Patch(ak.PublicJWK(), map[string]any{"alg": nil}), jose.ErrUnsupportedAlgorithm},
		"EdDSA":         {Patch(ak.PublicJWK(), map[string]any{"alg": "EdDSA"}), jose.ErrUnsupportedAlgorithm},
		"HS256":         {Patch(ak.PublicJWK(), map[string]any{"alg": "HS256"}), jose.ErrUnsupportedAlgorithm},
		"no kty":        {Patch(ak.PublicJWK(), map[string]any{"kty": nil}), jose.ErrInvalidKey},
		"OKP without x": {Patch(ak.PublicJWK(), map[string]any{"x": nil}), jose.ErrInvalidKey},
		"private d":     {Patch(ak.PublicJWK(), map[string]any{"d": "AAAA"}), jose.ErrInvalidKey},
		"kty EC":        {Patch(ak.PublicJWK(), map[string]any{"kty": "EC", "y": "AAAA"}), jose.ErrInvalidKey},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tok, err := k.ap.MintAgentToken(TokenSpec{CnfJWK: tc.jwk})
			must(t, err)
			_, c, err := DecodeJWT(tok)
			must(t, err)
			got := c["cnf"].(map[string]any)["jwk"].(map[string]any)
			eq(t, got, tc.jwk)
			_, err = jose.ParsePublicJWK(got, aauth.SupportedAlgs)
			check(t, errors.Is(err, tc.wantErr), "admission error %v, want %v", err, tc.wantErr)
			_, err = verifyToken(t, k, tok)
			must(t, err, "the JWT itself is fine")
		})
	}
	_, err = k.ap.MintAgentToken(TokenSpec{})
	mustErr(t, err, "no Agent, no CnfJWK, no cnf override")
	_, err = k.ap.MintAgentToken(TokenSpec{ClaimOverrides: map[string]any{"cnf": nil}})
	must(t, err, "an explicit cnf deletion needs no key")
}

func TestMintSignWith(t *testing.T) {
	k := newKit(t)
	ak, err := NewAgentKey(aauth.AlgEd25519)
	must(t, err)
	rogue, err := NewAgentKey(aauth.AlgEd25519)
	must(t, err)
	tok, err := k.ap.MintAgentToken(TokenSpec{Agent: ak, SignWith: rogue.Signer()})
	must(t, err)
	h, _, _ := DecodeJWT(tok)
	eq(t, h["kid"], k.ap.SigningKID(), "published kid")
	_, err = verifyToken(t, k, tok)
	mustErr(t, err, "signed by an unpublished key under a published kid")

	es, err := NewAgentKey(aauth.AlgES256)
	must(t, err)
	tok, err = k.ap.MintAgentToken(TokenSpec{Agent: ak, SignWith: es.Signer()})
	must(t, err)
	h, _, _ = DecodeJWT(tok)
	eq(t, h["alg"], "ES256", "alg follows SignWith")
}

func TestMintRaw(t *testing.T) {
	k := newKit(t)
	ak, err := NewAgentKey(aauth.AlgEd25519)
	must(t, err)
	mint := func(raw func(TokenParts) string) string {
		tok, err := k.ap.MintAgentToken(TokenSpec{Agent: ak, Raw: raw})
		must(t, err)
		return tok
	}
	// Identity: Raw returning Compact is the normal token.
	tok := mint(TokenParts.Compact)
	_, err = verifyToken(t, k, tok)
	must(t, err)

	two := mint(RawTwoParts)
	eq(t, strings.Count(two, "."), 1)
	_, err = jose.ParseCompact(two)
	check(t, errors.Is(err, jose.ErrMalformedJWT), "two parts: %v", err)

	bad := mint(RawBadBase64URL)
	eq(t, strings.Count(bad, "."), 2)
	check(t, strings.Contains(strings.Split(bad, ".")[0], "*"), "bad char in the header")
	_, err = jose.ParseCompact(bad)
	check(t, errors.Is(err, jose.ErrMalformedJWT), "bad base64url: %v", err)

	for name, raw := range map[string]func(TokenParts) string{"header": RawHeaderNotJSON, "payload": RawPayloadNotJSON} {
		tok := mint(raw)
		_, err = jose.ParseCompact(tok)
		check(t, errors.Is(err, jose.ErrMalformedJWT), "%s not JSON: %v", name, err)
		// Properly signed all the same: the signature covers the bytes.
		parts := strings.Split(tok, ".")
		sig, err := base64URLDecode(parts[2])
		must(t, err)
		check(t, verifyRaw(k.ap.Key(k.ap.SigningKID()), []byte(parts[0]+"."+parts[1]), sig), "%s: re-signed", name)
	}

	tampered := mint(RawTamperedPayload)
	_, err = jose.ParseCompact(tampered)
	must(t, err, "well-formed")
	_, err = verifyToken(t, k, tampered)
	mustErr(t, err, "tampered payload does not verify")

	empty := mint(RawEmptySignature)
	check(t, strings.HasSuffix(empty, ".") && strings.Count(empty, ".") == 2, "empty signature part")
}
