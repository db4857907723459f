package suite

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// builder makes the bad request of a refusal check.
type builder func(ctx context.Context, t *Target) (*http.Request, error)

// refusalCase is one bad signed request and the 401 code it must get.
type refusalCase struct {
	id, name, level string
	code            aauth.SigCode
	// codeLevel is the level of the exact code when weaker than level
	// (the draft asks for a 401, the code is an IMPL choice).
	codeLevel string
	build     builder
	// check adds case-specific expectations on the answer.
	check func(t *Target, r *Response, v *verdict)
	// around wraps sending (counters before and after).
	around func(t *Target, send func() (*Response, error)) (*Response, error)
}

// post signs the target body for the endpoint with opts.
func post(opts ...conformance.SignOption) builder {
	return func(ctx context.Context, t *Target) (*http.Request, error) { return t.signedToEndpoint(ctx, opts...) }
}

// postWithOpts builds opts at request time (offsets from the PS window).
func postWithOpts(f func(ctx context.Context, t *Target) []conformance.SignOption) builder {
	return func(ctx context.Context, t *Target) (*http.Request, error) {
		return t.signedToEndpoint(ctx, f(ctx, t)...)
	}
}

// postAs mints a token per spec (the agent's key and sub by default).
func postAs(spec conformance.TokenSpec, opts ...conformance.SignOption) builder {
	return func(ctx context.Context, t *Target) (*http.Request, error) {
		a, err := t.mint(spec)
		if err != nil {
			return nil, err
		}
		return t.signedAs(ctx, a, opts...)
	}
}

// postAsSub mints a token whose sub is made from the agent's local part and
// the AP host.
func postAsSub(sub func(local, host string) string, spec conformance.TokenSpec) builder {
	return func(ctx context.Context, t *Target) (*http.Request, error) {
		spec.Sub = sub(t.local(), apHost(t.AP))
		return postAs(spec)(ctx, t)
	}
}

// withCnf presents a token whose cnf.jwk is the agent's JWK patched.
func withCnf(patch map[string]any) builder {
	return func(ctx context.Context, t *Target) (*http.Request, error) {
		return postAs(conformance.TokenSpec{CnfJWK: conformance.Patch(t.Agent.Key.PublicJWK(), patch)})(ctx, t)
	}
}

// faulty presents a token from the provider with fault f.
func faulty(f Fault) builder {
	return func(ctx context.Context, t *Target) (*http.Request, error) {
		ap := t.Faulty[f]
		if ap == nil {
			return nil, Skip("no agent provider with fault %s (Target.Faulty)", f)
		}
		a, err := t.mintFrom(ap, conformance.TokenSpec{})
		if err != nil {
			return nil, err
		}
		return t.signedAs(ctx, a)
	}
}

// otherPath is the path of the other floor endpoint, for tampering.
func (t *Target) otherPath(ctx context.Context) (string, error) {
	ep, err := t.endpoint(ctx)
	if err != nil {
		return "", err
	}
	md, err := t.Metadata(ctx)
	if err != nil {
		return "", err
	}
	for _, name := range []string{"person_token_endpoint", "auth_token_endpoint"} {
		s, _ := md[name].(string)
		u, err := url.Parse(s)
		if err != nil || s == "" || s == ep {
			continue
		}
		return u.EscapedPath(), nil
	}
	return "", fmt.Errorf("no endpoint other than %s to move the request to", ep)
}

func refusalCases() []refusalCase {
	sig := func(id, name, level string, code aauth.SigCode, b builder) refusalCase {
		return refusalCase{id: id, name: name, level: level, code: code, build: b}
	}
	implCode := func(c refusalCase) refusalCase { c.codeLevel = IMPL; return c }
	return []refusalCase{
		// §3.2 the signature layer.
		sig("PS-012", "missing Signature", MUST, aauth.SigInvalidSignature, post(conformance.WithoutHeader("Signature"))),
		sig("PS-012", "missing Signature-Input", MUST, aauth.SigInvalidSignature, post(conformance.WithoutHeader("Signature-Input"))),
		sig("PS-012", "missing Signature-Key", MUST, aauth.SigInvalidSignature, post(conformance.WithoutHeader("Signature-Key"))),
		sig("PS-030", "garbage Signature-Input", IMPL, aauth.SigInvalidSignature, post(conformance.WithSignatureInput("((("))),
		sig("PS-030", "garbage Signature", IMPL, aauth.SigInvalidSignature, post(conformance.WithSignature("sig=not base64"))),
		sig("PS-030", "garbage Signature-Key", IMPL, aauth.SigInvalidKey, post(conformance.WithSignatureKey("sig=jwt;jwt=unquoted=="))),
		implCode(sig("PS-019", "two signatures", MUST, aauth.SigInvalidSignature,
			post(conformance.WithSignatureInput(`sig=("@method");created=1, sig2=("@method");created=1`)))),
		sig("PS-014", "omit @method", MUST, aauth.SigInvalidInput, post(conformance.WithoutComponent("@method"))),
		sig("PS-014", "omit @authority", MUST, aauth.SigInvalidInput, post(conformance.WithoutComponent("@authority"))),
		sig("PS-014", "omit @path", MUST, aauth.SigInvalidInput, post(conformance.WithoutComponent("@path"))),
		sig("PS-014", "omit signature-key", MUST, aauth.SigInvalidInput, post(conformance.WithoutComponent("signature-key"))),
		sig("PS-015", "omit content-type", MUST, aauth.SigInvalidInput, post(conformance.WithoutComponent("content-type"))),
		sig("PS-015", "omit content-digest", MUST, aauth.SigInvalidInput, post(conformance.WithoutComponent("content-digest"))),
		sig("PS-016", "created absent", MUST, aauth.SigInvalidSignature, post(conformance.WithoutCreated())),
		sig("PS-016", "created not an integer", MUST, aauth.SigInvalidSignature, post(conformance.WithCreatedRaw(`"x"`))),
		sig("PS-016", "created stale (twice the window)", MUST, aauth.SigInvalidSignature,
			postWithOpts(func(ctx context.Context, t *Target) []conformance.SignOption {
				return []conformance.SignOption{conformance.WithCreatedOffset(-2 * t.window(ctx))}
			})),
		sig("PS-016", "created ahead (twice the window)", MUST, aauth.SigClockSkew,
			postWithOpts(func(ctx context.Context, t *Target) []conformance.SignOption {
				return []conformance.SignOption{conformance.WithCreatedOffset(2 * t.window(ctx))}
			})),
		sig("PS-016", "expires past", MUST, aauth.SigInvalidSignature, post(conformance.WithExpiresOffset(-1*time.Second))),
		sig("PS-018", "scheme hwk", MUST, aauth.SigUnsupportedScheme, post(conformance.WithScheme(aauth.SchemeHWK))),
		sig("PS-018", "scheme jkt-jwt", MUST, aauth.SigUnsupportedScheme, post(conformance.WithScheme(aauth.SchemeJKTJWT))),
		sig("PS-018", "scheme jwks_uri", MUST, aauth.SigUnsupportedScheme, post(conformance.WithScheme(aauth.SchemeJWKSURI))),
		sig("PS-018", "scheme x509", MUST, aauth.SigUnsupportedScheme, post(conformance.WithScheme(aauth.SchemeX509))),
		sig("PS-018", "scheme cached", MUST, aauth.SigUnsupportedScheme, post(conformance.WithScheme(aauth.SchemeCached))),
		sig("PS-018", "scheme unknown", MUST, aauth.SigUnsupportedScheme, post(conformance.WithScheme("frobnicate"))),
		implCode(sig("PS-019", "Signature-Key label differs", MUST, aauth.SigInvalidSignature, post(conformance.WithKeyLabel("other")))),
		sig("PS-020", "signed by another key", MUST, aauth.SigInvalidSignature, func(ctx context.Context, t *Target) (*http.Request, error) {
			k2, err := conformance.NewAgentKey(aauth.AlgEd25519)
			if err != nil {
				return nil, err
			}
			return t.signedToEndpoint(ctx, conformance.WithSigningKey(k2))
		}),
		sig("PS-021", "tamper method", MUST, aauth.SigInvalidSignature, func(ctx context.Context, t *Target) (*http.Request, error) {
			ep, err := t.endpoint(ctx)
			if err != nil {
				return nil, err
			}
			a, err := t.fresh()
			if err != nil {
				return nil, err
			}
			return sign(a, http.MethodPut, ep, t.body(), conformance.TamperMethod(http.MethodPost))
		}),
		sig("PS-021", "tamper path", MUST, aauth.SigInvalidSignature, func(ctx context.Context, t *Target) (*http.Request, error) {
			p, err := t.otherPath(ctx)
			if err != nil {
				return nil, err
			}
			return t.signedToEndpoint(ctx, conformance.TamperPath(p))
		}),
		sig("PS-021", "tamper authority", MUST, aauth.SigInvalidSignature, post(conformance.TamperAuthority("other.test"))),
		sig("PS-021", "tamper content-type", MUST, aauth.SigInvalidSignature, post(conformance.TamperContentType("application/json; charset=utf-8"))),
		sig("PS-021", "tamper Signature-Key", MUST, aauth.SigInvalidSignature, func(ctx context.Context, t *Target) (*http.Request, error) {
			other, err := t.fresh()
			if err != nil {
				return nil, err
			}
			return t.signedToEndpoint(ctx, conformance.TamperSignatureKey(conformance.DefaultLabel+"="+conformance.JWTMember(other.Token)))
		}),
		sig("PS-021", "tamper Content-Digest", MUST, aauth.SigInvalidSignature, post(conformance.TamperContentDigest(conformance.ContentDigest([]byte(`{}`))))),
		sig("PS-022", "foreign authority", IMPL, aauth.SigInvalidSignature, func(ctx context.Context, t *Target) (*http.Request, error) {
			ep, err := t.endpoint(ctx)
			if err != nil {
				return nil, err
			}
			a, err := t.fresh()
			if err != nil {
				return nil, err
			}
			req, err := newRequest(http.MethodPost, ep, t.body())
			if err != nil {
				return nil, err
			}
			req.Host = "other.test"
			if _, err := a.Sign(req, t.body()); err != nil {
				return nil, err
			}
			return req, nil
		}),
		sig("PS-023", "digest of another body", IMPL, aauth.SigInvalidSignature, post(conformance.WithDigestBody([]byte(`{"resource":"https://evil.test"}`)))),
		sig("PS-023", "digest with unknown algorithm only", IMPL, aauth.SigInvalidSignature, post(conformance.WithDigestAlg("md5"))),
		sig("PS-023", "digest covered but absent", IMPL, aauth.SigInvalidSignature, post(conformance.WithoutHeader("Content-Digest"))),
		sig("PS-023", "body changed after signing", IMPL, aauth.SigInvalidSignature, post(conformance.TamperBody([]byte(`{"resource":"https://evil.test"}`)))),
		sig("PS-024", "cnf.jwk without alg", MUST, aauth.SigUnsupportedAlgorithm, withCnf(map[string]any{"alg": nil})),
		sig("PS-024", "cnf.jwk alg EdDSA", MUST, aauth.SigUnsupportedAlgorithm, withCnf(map[string]any{"alg": "EdDSA"})),
		sig("PS-024", "cnf.jwk alg HS256", MUST, aauth.SigUnsupportedAlgorithm, withCnf(map[string]any{"alg": "HS256"})),
		sig("PS-024", "cnf.jwk alg none", MUST, aauth.SigUnsupportedAlgorithm, withCnf(map[string]any{"alg": "none"})),
		sig("PS-025", "cnf.jwk without kty", MUST, aauth.SigInvalidKey, withCnf(map[string]any{"kty": nil})),
		sig("PS-025", "cnf.jwk OKP without x", MUST, aauth.SigInvalidKey, withCnf(map[string]any{"x": nil})),
		sig("PS-025", "cnf.jwk EC without y", MUST, aauth.SigInvalidKey, withCnf(map[string]any{"kty": "EC", "crv": "P-256", "alg": "ES256"})),
		sig("PS-025", "cnf.jwk with private d", IMPL, aauth.SigInvalidKey, withCnf(map[string]any{"d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"})),
		sig("PS-025", "cnf.jwk Ed25519 alg with EC kty", MUST, aauth.SigInvalidKey, withCnf(map[string]any{"kty": "EC", "y": "AAAA"})),
		sig("PS-025", "cnf.jwk ES256 with P-384", MUST, aauth.SigInvalidKey, withCnf(map[string]any{"kty": "EC", "crv": "P-384", "alg": "ES256", "y": "AAAA"})),
		// §3.3 the agent token.
		sig("PS-031", "person token as credential", MUST, aauth.SigInvalidJWT, postAs(conformance.TokenSpec{HeaderOverrides: map[string]any{"typ": aauth.TypPersonToken}})),
		sig("PS-031", "typ JWT", MUST, aauth.SigInvalidJWT, postAs(conformance.TokenSpec{HeaderOverrides: map[string]any{"typ": "JWT"}})),
		sig("PS-031", "typ missing", MUST, aauth.SigInvalidJWT, postAs(conformance.TokenSpec{HeaderOverrides: map[string]any{"typ": nil}})),
		sig("PS-032", "JWT two parts", MUST, aauth.SigInvalidJWT, postAs(conformance.TokenSpec{Raw: conformance.RawTwoParts})),
		sig("PS-032", "JWT bad base64url", MUST, aauth.SigInvalidJWT, postAs(conformance.TokenSpec{Raw: conformance.RawBadBase64URL})),
		sig("PS-032", "JWT header not JSON", MUST, aauth.SigInvalidJWT, postAs(conformance.TokenSpec{Raw: conformance.RawHeaderNotJSON})),
		sig("PS-032", "JWT alg none", MUST, aauth.SigInvalidJWT, postAs(conformance.TokenSpec{HeaderOverrides: map[string]any{"alg": "none"}})),
		sig("PS-032", "JWT alg EdDSA", MUST, aauth.SigInvalidJWT, postAs(conformance.TokenSpec{HeaderOverrides: map[string]any{"alg": "EdDSA"}})),
		sig("PS-032", "JWT alg HS256", MUST, aauth.SigInvalidJWT, postAs(conformance.TokenSpec{HeaderOverrides: map[string]any{"alg": "HS256"}})),
		sig("PS-032", "JWT without kid", MUST, aauth.SigInvalidJWT, postAs(conformance.TokenSpec{HeaderOverrides: map[string]any{"kid": nil}})),
		sig("PS-032", "JWT crit header", MUST, aauth.SigInvalidJWT, postAs(conformance.TokenSpec{HeaderOverrides: map[string]any{"crit": []any{"exp"}}})),
		sig("PS-033", "dwk aauth-person.json", MUST, aauth.SigInvalidJWT, postAs(conformance.TokenSpec{ClaimOverrides: map[string]any{"dwk": aauth.DWKPerson}})),
		sig("PS-033", "dwk missing", MUST, aauth.SigInvalidJWT, postAs(conformance.TokenSpec{ClaimOverrides: map[string]any{"dwk": nil}})),
		badIssuer("iss over http", func(h string) string { return "http://" + h }),
		badIssuer("iss upper-case", func(h string) string { return "https://" + strings.ToUpper(h) }),
		badIssuer("iss with a port", func(h string) string { return "https://" + h + ":8443" }),
		badIssuer("iss with a path", func(h string) string { return "https://" + h + "/v1" }),
		badIssuer("iss with a trailing slash", func(h string) string { return "https://" + h + "/" }),
		sig("PS-035", "metadata without issuer", MUST, aauth.SigIssuerMissing, faulty(FaultNoIssuer)),
		sig("PS-035", "metadata with another issuer", MUST, aauth.SigIssuerMismatch, faulty(FaultOtherIssuer)),
		sig("PS-036", "unknown kid", MUST, aauth.SigUnknownKey, postAs(conformance.TokenSpec{KID: "zzz"})),
		sig("PS-037", "tampered payload", MUST, aauth.SigInvalidJWT, postAs(conformance.TokenSpec{Raw: conformance.RawTamperedPayload})),
		sig("PS-037", "unpublished key under published kid", MUST, aauth.SigInvalidJWT, func(ctx context.Context, t *Target) (*http.Request, error) {
			k, err := conformance.NewAgentKey(aauth.AlgEd25519)
			if err != nil {
				return nil, err
			}
			return postAs(conformance.TokenSpec{SignWith: k.Signer()})(ctx, t)
		}),
		sig("PS-038", "exp past", MUST, aauth.SigExpiredJWT, func(ctx context.Context, t *Target) (*http.Request, error) {
			return postAs(conformance.TokenSpec{IssuedAt: time.Now().Add(-time.Hour), Lifetime: time.Hour - time.Second})(ctx, t)
		}),
		sig("PS-038", "exp missing", MUST, aauth.SigInvalidJWT, postAs(conformance.TokenSpec{ClaimOverrides: map[string]any{"exp": nil}})),
		sig("PS-038", "iat missing", MUST, aauth.SigInvalidJWT, postAs(conformance.TokenSpec{ClaimOverrides: map[string]any{"iat": nil}})),
		sig("PS-038", "iat ahead", IMPL, aauth.SigClockSkew, func(ctx context.Context, t *Target) (*http.Request, error) {
			return postAs(conformance.TokenSpec{IssuedAt: time.Now().Add(600 * time.Second)})(ctx, t)
		}),
		sig("PS-039", "sub missing", MUST, aauth.SigInvalidJWT, postAs(conformance.TokenSpec{ClaimOverrides: map[string]any{"sub": nil}})),
		sig("PS-039", "jti missing", MUST, aauth.SigInvalidJWT, postAs(conformance.TokenSpec{ClaimOverrides: map[string]any{"jti": nil}})),
		sig("PS-039", "cnf missing", MUST, aauth.SigInvalidJWT, postAs(conformance.TokenSpec{ClaimOverrides: map[string]any{"cnf": nil}})),
		sig("PS-039", "cnf.jwk missing", MUST, aauth.SigInvalidJWT, postAs(conformance.TokenSpec{ClaimOverrides: map[string]any{"cnf": map[string]any{}}})),
		sig("PS-039", "sub with space", MUST, aauth.SigInvalidJWT, postAsSub(func(_, h string) string { return "aauth:a b@" + h }, conformance.TokenSpec{})),
		sig("PS-039", "sub empty local", MUST, aauth.SigInvalidJWT, postAsSub(func(_, h string) string { return "aauth:@" + h }, conformance.TokenSpec{})),
		sig("PS-039", "sub scheme in domain", MUST, aauth.SigInvalidJWT, postAsSub(func(_, h string) string { return "aauth:x@https://" + h }, conformance.TokenSpec{})),
		sig("PS-039", "sub bad character", MUST, aauth.SigInvalidJWT, postAsSub(func(_, h string) string { return "aauth:a*b@" + h }, conformance.TokenSpec{})),
		sig("PS-039", "sub local over 255", MUST, aauth.SigInvalidJWT, postAsSub(func(_, h string) string { return "aauth:" + strings.Repeat("a", 256) + "@" + h }, conformance.TokenSpec{})),
		sig("PS-039", "ps not https", MUST, aauth.SigInvalidJWT, postAs(conformance.TokenSpec{PS: "http://ps.test"})),
		sig("PS-039", "parent_agent invalid", MUST, aauth.SigInvalidJWT, postAs(conformance.TokenSpec{ParentAgent: "nope"})),
		sig("PS-040", "sub in another domain", IMPL, aauth.SigInvalidJWT, postAs(conformance.TokenSpec{Sub: "aauth:x@evil.test"})),
		{id: "PS-041", name: "sub-agent", level: MUST, code: aauth.SigInvalidJWT, codeLevel: IMPL,
			build: func(ctx context.Context, t *Target) (*http.Request, error) {
				return postAs(conformance.TokenSpec{Sub: "aauth:" + t.local() + "+s1@" + apHost(t.AP), ParentAgent: t.Agent.ID})(ctx, t)
			},
			check: func(_ *Target, r *Response, v *verdict) {
				if d, _ := r.Body["detail"].(string); !strings.Contains(d, "parent") {
					v.add(IMPL, "the sub-agent refusal has no detail naming the parent: %s", r.Raw)
				}
			}},
		sig("PS-045", "JWKS key without alg", IMPL, aauth.SigInvalidJWT, faulty(FaultKeyNoAlg)),
		sig("PS-045", "JWKS key alg differs from header", IMPL, aauth.SigInvalidJWT, faulty(FaultKeyOtherAlg)),
		sig("PS-046", "revoked agent token", MUST, aauth.SigRevokedJWT, func(ctx context.Context, t *Target) (*http.Request, error) {
			jti := "revoked-" + randomHex(8)
			exp := time.Now().Add(time.Hour)
			a, err := t.mint(conformance.TokenSpec{JTI: jti, Lifetime: time.Until(exp)})
			if err != nil {
				return nil, err
			}
			if err := t.revoke(ctx, t.AP.Issuer(), jti, exp); err != nil {
				return nil, err
			}
			return t.signedAs(ctx, a)
		}),
		sig("PS-029", "bad signature and malformed JSON", IMPL, aauth.SigInvalidSignature, func(ctx context.Context, t *Target) (*http.Request, error) {
			ep, err := t.endpoint(ctx)
			if err != nil {
				return nil, err
			}
			a, err := t.fresh()
			if err != nil {
				return nil, err
			}
			return sign(a, http.MethodPost, ep, []byte(`{`), conformance.WithCorruptSignature())
		}),
	}
}

// badIssuer: PS-034, an iss that is not a server identifier (made from the
// AP host). The PS refuses it without contacting anyone.
func badIssuer(name string, iss func(host string) string) refusalCase {
	return refusalCase{id: "PS-034", name: name + " (nothing fetched)", level: MUST, code: aauth.SigInvalidJWT,
		build: func(ctx context.Context, t *Target) (*http.Request, error) {
			return postAs(conformance.TokenSpec{ClaimOverrides: map[string]any{"iss": iss(apHost(t.AP))}})(ctx, t)
		},
		around: apUntouched}
}

// apUntouched fails when the AP saw a request while the refusal was sent.
func apUntouched(t *Target, send func() (*Response, error)) (*Response, error) {
	before := t.AP.Requests()
	r, err := send()
	if err != nil {
		return nil, err
	}
	if n := t.AP.Requests() - before; n != 0 {
		return r, Failf(MUST, "PS-034: the agent provider was contacted %d times for an invalid iss", n)
	}
	return r, nil
}

func refusalChecks() []Check {
	cases := refusalCases()
	out := make([]Check, 0, len(cases))
	for _, rc := range cases {
		// Every refusal's Signature-Error is parsed and its members checked
		// (checkRefusal): PS-013 on each; the Accept-Signature-* lists of
		// the scheme and algorithm refusals are parsed as Token lists.
		also := []string{"PS-013"}
		if rc.id == "PS-018" || rc.id == "PS-024" {
			also = append(also, "PS-254")
		}
		out = append(out, Check{ID: rc.id, Name: rc.name, Level: rc.level, Group: GroupRefusal, Also: also,
			Run: func(ctx context.Context, t *Target) error { return runRefusal(ctx, t, rc) }})
	}
	return out
}

func runRefusal(ctx context.Context, t *Target, rc refusalCase) error {
	req, err := rc.build(ctx, t)
	if err != nil {
		return err
	}
	md, err := t.Metadata(ctx)
	if err != nil {
		return err
	}
	algs, err := metadataAlgs(md)
	if err != nil {
		algs = nil // PS-007 reports it
	}
	send := func() (*Response, error) { return t.Do(ctx, req) }
	var v verdict
	var r *Response
	if rc.around != nil {
		r, err = rc.around(t, send)
		if r == nil {
			return err
		}
		v.addErr(MUST, err)
	} else if r, err = send(); err != nil {
		return err
	}
	codeLevel := rc.codeLevel
	if codeLevel == "" {
		codeLevel = MUST
	}
	want := refusal{code: rc.code, codeLevel: codeLevel, algs: algs,
		required: append(slices.Clone(aauth.BaseComponents), aauth.BodyComponents...)}
	checkRefusal(&v, r, want)
	if rc.check != nil && r.Status == http.StatusUnauthorized {
		rc.check(t, r, &v)
	}
	return v.err()
}
