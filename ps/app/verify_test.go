package app_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dunglas/httpsfv"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

var validBody = []byte(`{"resource":"https://rs.test"}`)

// refusal is one bad signed request and the 401 code it must get.
type refusal struct {
	name string
	ids  string // PS-REQUIREMENTS rows covered
	code aauth.SigCode
	req  func(t *testing.T, w *world) *http.Request
}

func post(opts ...conformance.SignOption) func(t *testing.T, w *world) *http.Request {
	return func(t *testing.T, w *world) *http.Request {
		return signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), validBody, opts...)
	}
}

func postAs(spec conformance.TokenSpec, opts ...conformance.SignOption) func(t *testing.T, w *world) *http.Request {
	return func(t *testing.T, w *world) *http.Request {
		a := w.mint(t, spec)
		return signed(t, a, http.MethodPost, w.ps.URL("/token"), validBody, opts...)
	}
}

func cnfPatch(t *testing.T, w *world, patch map[string]any) map[string]any {
	return conformance.Patch(w.agent.Key.PublicJWK(), patch)
}

func withCnf(patch map[string]any) func(t *testing.T, w *world) *http.Request {
	return func(t *testing.T, w *world) *http.Request {
		a := w.mint(t, conformance.TokenSpec{CnfJWK: cnfPatch(t, w, patch)})
		return signed(t, a, http.MethodPost, w.ps.URL("/token"), validBody)
	}
}

func refusals() []refusal {
	return []refusal{
		// §3.2 signature layer.
		{"missing Signature", "PS-012", aauth.SigInvalidSignature, post(conformance.WithoutHeader("Signature"))},
		{"missing Signature-Input", "PS-012", aauth.SigInvalidSignature, post(conformance.WithoutHeader("Signature-Input"))},
		{"missing Signature-Key", "PS-012", aauth.SigInvalidSignature, post(conformance.WithoutHeader("Signature-Key"))},
		{"garbage Signature-Input", "PS-030", aauth.SigInvalidSignature, post(conformance.WithSignatureInput("((("))},
		{"garbage Signature", "PS-030", aauth.SigInvalidSignature, post(conformance.WithSignature("sig=not base64"))},
		{"garbage Signature-Key", "PS-030", aauth.SigInvalidKey, post(conformance.WithSignatureKey("sig=jwt;jwt=unquoted=="))},
		{"two signatures", "PS-019", aauth.SigInvalidSignature, post(conformance.WithSignatureInput(`sig=("@method");created=1, sig2=("@method");created=1`))},
		{"omit @method", "PS-014", aauth.SigInvalidInput, post(conformance.WithoutComponent("@method"))},
		{"omit @authority", "PS-014", aauth.SigInvalidInput, post(conformance.WithoutComponent("@authority"))},
		{"omit @path", "PS-014", aauth.SigInvalidInput, post(conformance.WithoutComponent("@path"))},
		{"omit signature-key", "PS-014", aauth.SigInvalidInput, post(conformance.WithoutComponent("signature-key"))},
		{"omit content-type", "PS-015", aauth.SigInvalidInput, post(conformance.WithoutComponent("content-type"))},
		{"omit content-digest", "PS-015", aauth.SigInvalidInput, post(conformance.WithoutComponent("content-digest"))},
		{"created absent", "PS-016", aauth.SigInvalidSignature, post(conformance.WithoutCreated())},
		{"created not an integer", "PS-016", aauth.SigInvalidSignature, post(conformance.WithCreatedRaw(`"x"`))},
		{"created stale", "PS-016", aauth.SigInvalidSignature, post(conformance.WithCreatedOffset(-120 * time.Second))},
		{"created ahead", "PS-016", aauth.SigClockSkew, post(conformance.WithCreatedOffset(120 * time.Second))},
		{"expires past", "PS-016", aauth.SigInvalidSignature, post(conformance.WithExpiresOffset(-1 * time.Second))},
		{"scheme hwk", "PS-018", aauth.SigUnsupportedScheme, post(conformance.WithScheme("hwk"))},
		{"scheme jkt-jwt", "PS-018", aauth.SigUnsupportedScheme, post(conformance.WithScheme("jkt-jwt"))},
		{"scheme jwks_uri", "PS-018", aauth.SigUnsupportedScheme, post(conformance.WithScheme("jwks_uri"))},
		{"scheme x509", "PS-018", aauth.SigUnsupportedScheme, post(conformance.WithScheme("x509"))},
		{"scheme cached", "PS-018", aauth.SigUnsupportedScheme, post(conformance.WithScheme("cached"))},
		{"scheme unknown", "PS-018", aauth.SigUnsupportedScheme, post(conformance.WithScheme("frobnicate"))},
		{"Signature-Key label differs", "PS-019", aauth.SigInvalidSignature, post(conformance.WithKeyLabel("other"))},
		{"signed by another key", "PS-020", aauth.SigInvalidSignature, func(t *testing.T, w *world) *http.Request {
			k2, err := conformance.NewAgentKey(aauth.AlgEd25519)
			if err != nil {
				t.Fatal(err)
			}
			return signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), validBody, conformance.WithSigningKey(k2))
		}},
		{"tamper method", "PS-021", aauth.SigInvalidSignature, func(t *testing.T, w *world) *http.Request {
			return signed(t, w.agent, http.MethodPut, w.ps.URL("/token"), validBody, conformance.TamperMethod(http.MethodPost))
		}},
		{"tamper path", "PS-021", aauth.SigInvalidSignature, post(conformance.TamperPath("/person"))},
		{"tamper authority", "PS-021", aauth.SigInvalidSignature, post(conformance.TamperAuthority("other.test"))},
		{"tamper content-type", "PS-021", aauth.SigInvalidSignature, post(conformance.TamperContentType("application/json; charset=utf-8"))},
		{"tamper Signature-Key", "PS-021", aauth.SigInvalidSignature, func(t *testing.T, w *world) *http.Request {
			other := w.mint(t, conformance.TokenSpec{})
			return signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), validBody,
				conformance.TamperSignatureKey("sig="+conformance.JWTMember(other.Token)))
		}},
		{"tamper Content-Digest", "PS-021", aauth.SigInvalidSignature, post(conformance.TamperContentDigest(conformance.ContentDigest([]byte(`{}`))))},
		{"foreign authority", "PS-022", aauth.SigInvalidSignature, func(t *testing.T, w *world) *http.Request {
			req := w.agent.NewRequest(http.MethodPost, w.ps.URL("/token"), validBody)
			req.Host = "other.test"
			if _, err := w.agent.Sign(req, validBody); err != nil {
				t.Fatal(err)
			}
			return req
		}},
		{"digest of another body", "PS-023", aauth.SigInvalidSignature, post(conformance.WithDigestBody([]byte(`{"resource":"https://evil.test"}`)))},
		{"digest with unknown algorithm only", "PS-023", aauth.SigInvalidSignature, post(conformance.WithDigestAlg("md5"))},
		{"digest covered but absent", "PS-023", aauth.SigInvalidSignature, post(conformance.WithoutHeader("Content-Digest"))},
		{"body changed after signing", "PS-023", aauth.SigInvalidSignature, post(conformance.TamperBody([]byte(`{"resource":"https://evil.test"}`)))},
		{"cnf.jwk without alg", "PS-024", aauth.SigUnsupportedAlgorithm, withCnf(map[string]any{"alg": nil})},
		{"cnf.jwk alg EdDSA", "PS-024", aauth.SigUnsupportedAlgorithm, withCnf(map[string]any{"alg": "EdDSA"})},
		{"cnf.jwk alg HS256", "PS-024", aauth.SigUnsupportedAlgorithm, withCnf(map[string]any{"alg": "HS256"})},
		{"cnf.jwk alg none", "PS-024", aauth.SigUnsupportedAlgorithm, withCnf(map[string]any{"alg": "none"})},
		{"cnf.jwk without kty", "PS-025", aauth.SigInvalidKey, withCnf(map[string]any{"kty": nil})},
		{"cnf.jwk OKP without x", "PS-025", aauth.SigInvalidKey, withCnf(map[string]any{"x": nil})},
		{"cnf.jwk EC without y", "PS-025", aauth.SigInvalidKey, withCnf(map[string]any{"kty": "EC", "crv": "P-256", "alg": "ES256"})},
		{"cnf.jwk with private d", "PS-025", aauth.SigInvalidKey, withCnf(map[string]any{"d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"})},
		{"cnf.jwk Ed25519 alg with EC kty", "PS-025", aauth.SigInvalidKey, withCnf(map[string]any{"kty": "EC", "y": "AAAA"})},
		{"cnf.jwk ES256 with P-384", "PS-025", aauth.SigInvalidKey, withCnf(map[string]any{"kty": "EC", "crv": "P-384", "alg": "ES256", "y": "AAAA"})},
		// §3.3 the agent token.
		{"person token as credential", "PS-031", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{HeaderOverrides: map[string]any{"typ": aauth.TypPersonToken}})},
		{"typ JWT", "PS-031", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{HeaderOverrides: map[string]any{"typ": "JWT"}})},
		{"typ missing", "PS-031", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{HeaderOverrides: map[string]any{"typ": nil}})},
		{"JWT two parts", "PS-032", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{Raw: conformance.RawTwoParts})},
		{"JWT bad base64url", "PS-032", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{Raw: conformance.RawBadBase64URL})},
		{"JWT header not JSON", "PS-032", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{Raw: conformance.RawHeaderNotJSON})},
		{"JWT alg none", "PS-032", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{HeaderOverrides: map[string]any{"alg": "none"}})},
		{"JWT alg EdDSA", "PS-032", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{HeaderOverrides: map[string]any{"alg": "EdDSA"}})},
		{"JWT alg HS256", "PS-032", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{HeaderOverrides: map[string]any{"alg": "HS256"}})},
		{"JWT without kid", "PS-032", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{HeaderOverrides: map[string]any{"kid": nil}})},
		{"JWT crit header", "PS-032", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{HeaderOverrides: map[string]any{"crit": []any{"exp"}}})},
		{"dwk aauth-person.json", "PS-033", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{ClaimOverrides: map[string]any{"dwk": aauth.DWKPerson}})},
		{"dwk missing", "PS-033", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{ClaimOverrides: map[string]any{"dwk": nil}})},
		{"metadata without issuer", "PS-035", aauth.SigIssuerMissing, func(t *testing.T, w *world) *http.Request {
			w.ap.SetMetadataMutator(func(m map[string]any) { delete(m, "issuer") })
			return signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), validBody)
		}},
		{"metadata with another issuer", "PS-035", aauth.SigIssuerMismatch, func(t *testing.T, w *world) *http.Request {
			w.ap.SetMetadataMutator(func(m map[string]any) { m["issuer"] = "https://ap2.test" })
			return signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), validBody)
		}},
		{"unknown kid", "PS-036", aauth.SigUnknownKey, postAs(conformance.TokenSpec{KID: "zzz"})},
		{"tampered payload", "PS-037", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{Raw: conformance.RawTamperedPayload})},
		{"unpublished key under published kid", "PS-037", aauth.SigInvalidJWT, func(t *testing.T, w *world) *http.Request {
			k, err := conformance.NewAgentKey(aauth.AlgEd25519)
			if err != nil {
				t.Fatal(err)
			}
			a := w.mint(t, conformance.TokenSpec{SignWith: k.Signer()})
			return signed(t, a, http.MethodPost, w.ps.URL("/token"), validBody)
		}},
		{"exp past", "PS-038", aauth.SigExpiredJWT, postAs(conformance.TokenSpec{IssuedAt: time.Now().Add(-time.Hour), Lifetime: time.Hour - time.Second})},
		{"exp missing", "PS-038", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{ClaimOverrides: map[string]any{"exp": nil}})},
		{"iat missing", "PS-038", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{ClaimOverrides: map[string]any{"iat": nil}})},
		{"iat ahead", "PS-038", aauth.SigClockSkew, postAs(conformance.TokenSpec{IssuedAt: time.Now().Add(600 * time.Second)})},
		{"sub missing", "PS-039", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{ClaimOverrides: map[string]any{"sub": nil}})},
		{"jti missing", "PS-039", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{ClaimOverrides: map[string]any{"jti": nil}})},
		{"cnf missing", "PS-039", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{ClaimOverrides: map[string]any{"cnf": nil}})},
		{"cnf.jwk missing", "PS-039", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{ClaimOverrides: map[string]any{"cnf": map[string]any{}}})},
		{"sub with space", "PS-039", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{Sub: "aauth:a b@ap.test"})},
		{"sub empty local", "PS-039", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{Sub: "aauth:@ap.test"})},
		{"sub scheme in domain", "PS-039", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{Sub: "aauth:x@https://ap.test"})},
		{"sub bad character", "PS-039", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{Sub: "aauth:a*b@ap.test"})},
		{"sub local over 255", "PS-039", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{Sub: "aauth:" + strings.Repeat("a", 256) + "@ap.test"})},
		{"ps not https", "PS-039", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{PS: "http://ps.test"})},
		{"parent_agent invalid", "PS-039", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{ParentAgent: "nope"})},
		{"sub in another domain", "PS-040", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{Sub: "aauth:x@evil.test"})},
		{"sub-agent", "PS-041", aauth.SigInvalidJWT, postAs(conformance.TokenSpec{Sub: "aauth:a1+s1@ap.test", ParentAgent: "aauth:a1@ap.test"})},
		{"JWKS key without alg", "PS-045", aauth.SigInvalidJWT, func(t *testing.T, w *world) *http.Request {
			if err := w.ap.SetPublishAlg(w.ap.SigningKID(), ""); err != nil {
				t.Fatal(err)
			}
			return signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), validBody)
		}},
		{"JWKS key alg differs from header", "PS-045", aauth.SigInvalidJWT, func(t *testing.T, w *world) *http.Request {
			if err := w.ap.SetPublishAlg(w.ap.SigningKID(), "ES256"); err != nil {
				t.Fatal(err)
			}
			return signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), validBody)
		}},
		{"revoked agent token", "PS-046", aauth.SigRevokedJWT, func(t *testing.T, w *world) *http.Request {
			a := w.mint(t, conformance.TokenSpec{JTI: "revoked-" + pstest.RandomHex(4)})
			_, claims, err := conformance.DecodeJWT(a.Token)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.ps.App.Store.RecordRevocation(t.Context(), w.ap.Issuer(), claims["jti"].(string),
				time.Now().Add(time.Hour), time.Now()); err != nil {
				t.Fatal(err)
			}
			return signed(t, a, http.MethodPost, w.ps.URL("/token"), validBody)
		}},
		{"bad signature and malformed JSON", "PS-029", aauth.SigInvalidSignature, func(t *testing.T, w *world) *http.Request {
			return signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), []byte(`{`), conformance.WithCorruptSignature())
		}},
	}
}

// TestSignedRequestRefusals sends every bad request of PS-REQUIREMENTS
// §3.2–3.3 to a real PS over HTTPS and checks the 401, its Signature-Error
// code, the problem body, and that nothing was written.
func TestSignedRequestRefusals(t *testing.T) {
	for _, tc := range refusals() {
		t.Run(tc.ids+" "+tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, pstest.Options{})
			req := tc.req(t, w)
			before := w.ps.TableCounts(t)
			r := w.do(t, req)
			expect401(t, r, tc.code)
			unchanged(t, w.ps, before)
			switch tc.code {
			case aauth.SigInvalidInput: // PS-014, PS-015
				_, d := sigError(t, r)
				m, ok := d.Get("required_input")
				if !ok {
					t.Fatal("invalid_input without required_input")
				}
				var comps []string
				for _, it := range m.(httpsfv.InnerList).Items {
					comps = append(comps, it.Value.(string))
				}
				want := append(slices.Clone(aauth.BaseComponents), aauth.BodyComponents...)
				if !slices.Equal(comps, want) {
					t.Fatalf("required_input = %v, want %v", comps, want)
				}
			case aauth.SigUnsupportedScheme: // PS-018, PS-254
				if got := tokenList(t, r.header.Values(aauth.HeaderAcceptSignatureScheme)); !slices.Equal(got, []string{"jwt"}) {
					t.Fatalf("Accept-Signature-Scheme = %v", got)
				}
			case aauth.SigUnsupportedAlgorithm: // PS-024, PS-254, PS-007
				if got := tokenList(t, r.header.Values(aauth.HeaderAcceptSignatureAlg)); !slices.Equal(got, aauth.SupportedAlgs) {
					t.Fatalf("Accept-Signature-Alg = %v", got)
				}
			case aauth.SigClockSkew: // PS-016: the agent waits by our Date
				if r.header.Get("Date") == "" {
					t.Fatal("clock_skew without a Date header")
				}
			}
			if tc.ids == "PS-041" && !strings.Contains(r.body["detail"].(string), "parent") {
				t.Fatalf("sub-agent refusal without a detail naming the parent: %s", r.raw)
			}
		})
	}
}

// TestSignedRequestAccepted covers the requests that must verify.
func TestSignedRequestAccepted(t *testing.T) {
	w := newWorld(t, pstest.Options{})
	cases := []struct {
		name, ids string
		req       func(t *testing.T) *http.Request
	}{
		{"Ed25519 agent", "PS-026", func(t *testing.T) *http.Request {
			return signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), validBody)
		}},
		{"ES256 agent", "PS-026", func(t *testing.T) *http.Request {
			k, err := conformance.NewAgentKey(aauth.AlgES256)
			if err != nil {
				t.Fatal(err)
			}
			a := w.mint(t, conformance.TokenSpec{Agent: k})
			return signed(t, a, http.MethodPost, w.ps.URL("/token"), validBody)
		}},
		{"label aauth", "PS-019", func(t *testing.T) *http.Request {
			return signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), validBody, conformance.WithLabel("aauth"), conformance.WithKeyLabel("aauth"))
		}},
		{"alg and keyid parameters ignored", "PS-017", func(t *testing.T) *http.Request {
			return signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), validBody,
				conformance.WithParam("alg", "hmac-sha256"), conformance.WithParam("keyid", "x"))
		}},
		{"future expires", "PS-016", func(t *testing.T) *http.Request {
			return signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), validBody, conformance.WithExpiresOffset(30*time.Second))
		}},
		{"old iat", "PS-038", func(t *testing.T) *http.Request {
			a := w.mint(t, conformance.TokenSpec{IssuedAt: time.Now().Add(-86000 * time.Second), Lifetime: 87000 * time.Second})
			return signed(t, a, http.MethodPost, w.ps.URL("/token"), validBody)
		}},
		{"unknown claim", "PS-043", func(t *testing.T) *http.Request {
			a := w.mint(t, conformance.TokenSpec{ClaimOverrides: map[string]any{"foo": "bar"}})
			return signed(t, a, http.MethodPost, w.ps.URL("/token"), validBody)
		}},
		{"upper-case local part", "PS-039 PS-255", func(t *testing.T) *http.Request {
			a := w.mint(t, conformance.TokenSpec{Sub: "aauth:Assistant-V2@ap.test"})
			return signed(t, a, http.MethodPost, w.ps.URL("/token"), validBody)
		}},
		{"top-level sub with + is accepted and logged", "A-61", func(t *testing.T) *http.Request {
			a := w.mint(t, conformance.TokenSpec{Sub: "aauth:a1+x@ap.test"})
			return signed(t, a, http.MethodPost, w.ps.URL("/token"), validBody)
		}},
		{"ps naming another PS is advisory", "PS-042", func(t *testing.T) *http.Request {
			a := w.mint(t, conformance.TokenSpec{PS: "https://other-ps.test"})
			return signed(t, a, http.MethodPost, w.ps.URL("/token"), validBody)
		}},
		{"sha-512 digest", "PS-023", func(t *testing.T) *http.Request {
			return signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), validBody, conformance.WithDigestAlg("sha-512"))
		}},
		{"unknown digest algorithm beside sha-256", "PS-023", func(t *testing.T) *http.Request {
			return signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), validBody, conformance.WithDigestAlg("md5", "sha-256"))
		}},
		{"auth token endpoint", "PS-003", func(t *testing.T) *http.Request {
			return signed(t, w.agent, http.MethodPost, w.ps.URL("/token"), []byte(`{"resource_token":"x"}`))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.ids+" "+tc.name, func(t *testing.T) {
			expectVerified(t, w.do(t, tc.req(t)))
		})
	}
}
