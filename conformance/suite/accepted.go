package suite

import (
	"context"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// accept sends the request b builds and expects it to pass verification.
func accept(id, name, level string, b builder) Check {
	return Check{ID: id, Name: name, Level: level, Group: GroupAccepted, Run: func(ctx context.Context, t *Target) error {
		req, err := b(ctx, t)
		if err != nil {
			return err
		}
		r, err := t.Do(ctx, req)
		if err != nil {
			return err
		}
		return t.checkVerified(ctx, req, r)
	}}
}

func acceptedChecks() []Check {
	return []Check{
		accept("PS-026", "Ed25519 agent", MUST, post()),
		accept("PS-026", "ES256 agent", SHOULD, func(ctx context.Context, t *Target) (*http.Request, error) {
			k, err := conformance.NewAgentKey(aauth.AlgES256)
			if err != nil {
				return nil, err
			}
			return postAs(conformance.TokenSpec{Agent: k})(ctx, t)
		}),
		accept("PS-019", "label aauth", MUST, post(conformance.WithLabel("aauth"), conformance.WithKeyLabel("aauth"))),
		accept("PS-017", "alg and keyid parameters ignored", MUST, post(conformance.WithParam("alg", "hmac-sha256"), conformance.WithParam("keyid", "x"))),
		accept("PS-016", "future expires", MUST, post(conformance.WithExpiresOffset(30*time.Second))),
		accept("PS-038", "old iat", MUST, func(ctx context.Context, t *Target) (*http.Request, error) {
			return postAs(conformance.TokenSpec{IssuedAt: time.Now().Add(-86000 * time.Second), Lifetime: 87000 * time.Second})(ctx, t)
		}),
		accept("PS-044", "the AP JWKS also has members of unknown kty and alg", MUST, faulty(FaultForeignJWKSMembers)),
		accept("PS-043", "unknown claim", MUST, postAs(conformance.TokenSpec{ClaimOverrides: map[string]any{"foo": "bar"}})),
		accept("PS-039", "upper-case local part (PS-255)", MUST, postAsSub(func(_, h string) string { return "aauth:Assistant-V2@" + h }, conformance.TokenSpec{})),
		accept("PS-039", "top-level sub with + is accepted (A-61)", IMPL, postAsSub(func(l, h string) string { return "aauth:" + l + "+x@" + h }, conformance.TokenSpec{})),
		accept("PS-042", "ps naming another PS is advisory", IMPL, postAs(conformance.TokenSpec{PS: "https://other-ps.test"})),
		accept("PS-023", "sha-512 digest", IMPL, post(conformance.WithDigestAlg("sha-512"))),
		accept("PS-023", "unknown digest algorithm beside sha-256", IMPL, post(conformance.WithDigestAlg("md5", "sha-256"))),
		accept("PS-003", "auth_token_endpoint verifies a signed request", MUST, func(ctx context.Context, t *Target) (*http.Request, error) {
			ep, err := t.advertised(ctx, "auth_token_endpoint")
			if err != nil {
				return nil, err
			}
			a, err := t.fresh()
			if err != nil {
				return nil, err
			}
			return sign(a, http.MethodPost, ep, []byte(`{"resource_token":"x"}`))
		}),
	}
}

func replayChecks() []Check {
	return []Check{
		{ID: "PS-027", Name: "exact replay refused, first use accepted", Level: IMPL, Group: GroupReplay, Run: func(ctx context.Context, t *Target) error {
			req, err := t.signedToEndpoint(ctx)
			if err != nil {
				return err
			}
			again := req.Clone(ctx)
			if again.Body, err = req.GetBody(); err != nil {
				return err
			}
			return t.expectReplayRefused(ctx, req, again)
		}},
		// ECDSA signatures are malleable: r‖s and r‖(n−s) both verify, so a
		// replay cache keyed on signature bytes takes the twin for new
		// (issue 15, A-37: key on what was signed).
		{ID: "PS-027", Name: "ES256 signature re-encoded as (r, n-s) refused as a replay", Level: IMPL, Group: GroupReplay, Run: func(ctx context.Context, t *Target) error {
			ep, err := t.endpoint(ctx)
			if err != nil {
				return err
			}
			key, err := conformance.NewAgentKey(aauth.AlgES256)
			if err != nil {
				return err
			}
			a, err := t.mint(conformance.TokenSpec{Agent: key})
			if err != nil {
				return err
			}
			req, err := newRequest(http.MethodPost, ep, t.body())
			if err != nil {
				return err
			}
			signed, err := a.Sign(req, t.body())
			if err != nil {
				return err
			}
			twinSig, err := conformance.ECDSATwin(signed.Signature)
			if err != nil {
				return err
			}
			twin := req.Clone(ctx)
			if twin.Body, err = req.GetBody(); err != nil {
				return err
			}
			twin.Header.Set(aauth.HeaderSignature, signed.Label+"=:"+base64.StdEncoding.EncodeToString(twinSig)+":")
			return t.expectReplayRefused(ctx, req, twin)
		}},
		{ID: "PS-027", Name: "two requests with the same created both accepted", Level: IMPL, Group: GroupReplay, Run: func(ctx context.Context, t *Target) error {
			ep, err := t.endpoint(ctx)
			if err != nil {
				return err
			}
			a, err := t.fresh()
			if err != nil {
				return err
			}
			created := time.Now()
			for _, b := range []string{`{"resource":"https://rs3.test"}`, `{"resource":"https://rs4.test"}`} {
				req, err := sign(a, http.MethodPost, ep, []byte(b), conformance.WithCreated(created))
				if err != nil {
					return err
				}
				r, err := t.Do(ctx, req)
				if err != nil {
					return err
				}
				if err := t.checkVerified(ctx, req, r); err != nil {
					return err
				}
			}
			return nil
		}},
	}
}

// expectReplayRefused sends first, which must verify, then again, which
// must be refused as a replay (401 invalid_signature).
func (t *Target) expectReplayRefused(ctx context.Context, first, again *http.Request) error {
	r, err := t.Do(ctx, first)
	if err != nil {
		return err
	}
	if err := t.checkVerified(ctx, first, r); err != nil {
		return Failf(MUST, "first use: %v", err)
	}
	if r, err = t.Do(ctx, again); err != nil {
		return err
	}
	var v verdict
	checkRefusal(&v, r, refusal{code: aauth.SigInvalidSignature, codeLevel: IMPL})
	return v.err()
}

func methodChecks() []Check {
	var out []Check
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		out = append(out, Check{ID: "PS-055", Name: m + " on the endpoint gets 405 with Allow", Level: IMPL, Group: GroupMethod,
			Run: func(ctx context.Context, t *Target) error {
				ep, err := t.endpoint(ctx)
				if err != nil {
					return err
				}
				req, err := http.NewRequestWithContext(ctx, m, ep, nil)
				if err != nil {
					return err
				}
				r, err := t.Do(ctx, req)
				if err != nil {
					return err
				}
				var v verdict
				checkProblem(&v, r, http.StatusMethodNotAllowed, aauth.ErrMethodNotAllowed, IMPL)
				if r.Status != http.StatusMethodNotAllowed {
					return v.err()
				}
				var allow []string
				for _, a := range r.Header.Values("Allow") {
					for m := range strings.SplitSeq(a, ",") {
						allow = append(allow, strings.ToUpper(strings.TrimSpace(m)))
					}
				}
				if !slices.Contains(allow, http.MethodPost) || slices.Contains(allow, m) {
					v.add(IMPL, "Allow = %q, want one naming POST and not %s", r.Header.Values("Allow"), m)
				}
				return v.err()
			}})
	}
	return out
}
