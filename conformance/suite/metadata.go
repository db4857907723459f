package suite

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// fetchDoc GETs a JSON document without a signature and checks what the
// metadata (PS-001) and the JWKS (PS-008) share: 200, one of mediaTypes
// (exactly application/json: IMPL), a JSON object.
func (t *Target) fetchDoc(ctx context.Context, v *verdict, u string, mediaTypes ...string) (*Response, bool) {
	r, err := t.get(ctx, u)
	if err != nil {
		v.add(MUST, "%v", err)
		return nil, false
	}
	if r.Status != http.StatusOK {
		v.add(MUST, "GET %s: %s, want 200", u, r)
		return r, false
	}
	ct := r.Header.Get("Content-Type")
	if !slices.Contains(mediaTypes, mediaType(ct)) {
		v.add(MUST, "GET %s: Content-Type %q, want %s", u, ct, strings.Join(mediaTypes, " or "))
	} else if ct != "application/json" {
		v.add(IMPL, "GET %s: Content-Type %q, want exactly application/json", u, ct)
	}
	if r.Body == nil {
		v.add(MUST, "GET %s: the body is not a JSON object: %.200s", u, r.Raw)
		return r, false
	}
	return r, true
}

func metadataChecks() []Check {
	md := func(id, name, level string, run func(ctx context.Context, t *Target, md map[string]any, v *verdict)) Check {
		return Check{ID: id, Name: name, Level: level, Group: GroupMetadata, Run: func(ctx context.Context, t *Target) error {
			m, err := t.Metadata(ctx)
			if err != nil {
				return err
			}
			var v verdict
			run(ctx, t, m, &v)
			return v.err()
		}}
	}
	return []Check{
		{ID: "PS-001", Name: "unsigned GET of the metadata: 200 application/json object", Level: MUST, Group: GroupMetadata,
			Run: func(ctx context.Context, t *Target) error {
				var v verdict
				t.fetchDoc(ctx, &v, t.MetadataURL(), "application/json")
				return v.err()
			}},
		md("PS-002", "issuer is the fetch origin and a server identifier", MUST, func(_ context.Context, t *Target, md map[string]any, v *verdict) {
			iss, _ := md["issuer"].(string)
			if iss != t.Issuer {
				v.add(MUST, "issuer = %q, want the fetch origin %q", md["issuer"], t.Issuer)
			}
			if err := aauth.Strict.CheckServer(iss); err != nil {
				v.add(MUST, "issuer %q: %v", iss, err)
			}
		}),
		md("PS-003", "issuer, jwks_uri, auth_token_endpoint and person_token_endpoint are strings", MUST, func(_ context.Context, _ *Target, md map[string]any, v *verdict) {
			for _, f := range []string{"issuer", "jwks_uri", "auth_token_endpoint", "person_token_endpoint"} {
				if s, ok := md[f].(string); !ok || s == "" {
					v.add(MUST, "metadata %s = %v, want a string", f, md[f])
				}
			}
		}),
		md("PS-004", "endpoint and link URLs are https without query or fragment", MUST, checkURLs),
		md("PS-006", "scopes_supported and claims_supported are arrays of strings", SHOULD, func(_ context.Context, _ *Target, md map[string]any, v *verdict) {
			for _, f := range []string{"scopes_supported", "claims_supported"} {
				arr, ok := md[f].([]any)
				if !ok {
					v.add(SHOULD, "%s = %v, want an array of strings", f, md[f])
					continue
				}
				if len(arr) == 0 {
					v.add(IMPL, "%s is empty", f)
				}
				for _, x := range arr {
					if _, ok := x.(string); !ok {
						v.add(SHOULD, "%s has a non-string member %v", f, x)
					}
				}
			}
		}),
		{ID: "PS-007", Name: "accept_signature_algs is the Accept-Signature-Alg set of every endpoint", Level: MUST, Group: GroupMetadata, Run: checkAcceptAlgs},
		{ID: "PS-008", Name: "JWKS: unique kids, fully-specified algs, public keys only", Level: MUST, Group: GroupMetadata, Run: checkJWKS},
		{ID: "PS-010", Name: "metadata and JWKS carry Cache-Control max-age", Level: SHOULD, Group: GroupMetadata,
			Run: func(ctx context.Context, t *Target) error {
				md, err := t.Metadata(ctx)
				if err != nil {
					return err
				}
				var v verdict
				urls := []string{t.MetadataURL()}
				if j, ok := md["jwks_uri"].(string); ok {
					urls = append(urls, j)
				}
				for _, u := range urls {
					r, err := t.get(ctx, u)
					if err != nil {
						return err
					}
					if cc := r.Header.Get("Cache-Control"); !hasMaxAge(cc) {
						v.add(SHOULD, "GET %s: Cache-Control %q has no max-age", u, cc)
					}
				}
				return v.err()
			}},
		md("PS-253", "no login_endpoint (Third-Party Login is gone)", IMPL, func(_ context.Context, _ *Target, md map[string]any, v *verdict) {
			if _, ok := md["login_endpoint"]; ok {
				v.add(IMPL, "the metadata advertises the removed login_endpoint")
			}
		}),
	}
}

func hasMaxAge(cc string) bool {
	for d := range strings.SplitSeq(cc, ",") {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(d)), "max-age=") {
			return true
		}
	}
	return false
}

// draftEndpoints are the endpoints -11 names in P§endpoint-and-other-urls;
// the rule holds for the others as an IMPL decision.
var draftEndpoints = []string{"auth_token_endpoint", "person_token_endpoint", "mission_endpoint"}

// linkURIs must be https (P§metadata-documents).
var linkURIs = []string{"jwks_uri", "logo_uri", "logo_dark_uri", "tos_uri", "policy_uri", "documentation_uri"}

func checkURLs(_ context.Context, _ *Target, md map[string]any, v *verdict) {
	names := make([]string, 0, len(md))
	for k := range md {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		endpoint, link := strings.HasSuffix(k, "_endpoint"), strings.HasSuffix(k, "_uri")
		if !endpoint && !link {
			continue
		}
		level := IMPL
		if slices.Contains(draftEndpoints, k) || slices.Contains(linkURIs, k) {
			level = MUST
		}
		s, ok := md[k].(string)
		if !ok {
			v.add(level, "%s = %v is not a string", k, md[k])
			continue
		}
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			v.add(level, "%s = %q is not an https URL", k, s)
			continue
		}
		if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(s, "?#") {
			if endpoint {
				v.add(level, "%s = %q has a query or fragment", k, s)
			} else {
				v.add(IMPL, "%s = %q has a query or fragment", k, s)
			}
		}
	}
}

// metadataAlgs returns accept_signature_algs, nil when absent.
func metadataAlgs(md map[string]any) ([]string, error) {
	raw, ok := md["accept_signature_algs"]
	if !ok {
		return nil, nil
	}
	arr, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("accept_signature_algs = %v is not an array", raw)
	}
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("accept_signature_algs has a non-string member %v", x)
		}
		out = append(out, s)
	}
	return out, nil
}

// checkAcceptAlgs: PS-007. The list is well formed, and an
// unsupported_algorithm refusal at the target endpoint and at the person
// token endpoint lists exactly it.
func checkAcceptAlgs(ctx context.Context, t *Target) error {
	md, err := t.Metadata(ctx)
	if err != nil {
		return err
	}
	if _, ok := md["accept_signature_algs"]; !ok {
		return NotApplicable("the metadata has no accept_signature_algs")
	}
	algs, err := metadataAlgs(md)
	if err != nil {
		return err
	}
	var v verdict
	checkAlgList(&v, "accept_signature_algs", algs)
	ep, err := t.endpoint(ctx)
	if err != nil {
		return err
	}
	eps := []string{ep}
	if p, _ := md["person_token_endpoint"].(string); p != "" && p != ep {
		eps = append(eps, p)
	}
	a, err := t.mint(conformance.TokenSpec{CnfJWK: conformance.Patch(t.Agent.Key.PublicJWK(), map[string]any{"alg": nil})})
	if err != nil {
		return err
	}
	for _, e := range eps {
		req, err := sign(a, http.MethodPost, e, t.body())
		if err != nil {
			return err
		}
		r, err := t.Do(ctx, req)
		if err != nil {
			return err
		}
		var w verdict
		checkRefusal(&w, r, refusal{code: aauth.SigUnsupportedAlgorithm, codeLevel: MUST, algs: algs})
		for _, f := range w.fs {
			v.add(f.Level, "at %s: %s", e, f.Msg)
		}
	}
	return v.err()
}

// private JWK members (RFC 7517, RFC 7518).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth", "priv"}

// jwkShapes: for each fully-specified alg, the kty, the crv (when any) and
// the public members it needs.
var jwkShapes = map[string]struct {
	kty, crv string
	members  []string
}{
	"Ed25519":   {"OKP", "Ed25519", []string{"x"}},
	"Ed448":     {"OKP", "Ed448", []string{"x"}},
	"ES256":     {"EC", "P-256", []string{"x", "y"}},
	"ES384":     {"EC", "P-384", []string{"x", "y"}},
	"ES512":     {"EC", "P-521", []string{"x", "y"}},
	"ES256K":    {"EC", "secp256k1", []string{"x", "y"}},
	"RS256":     {"RSA", "", []string{"n", "e"}},
	"RS384":     {"RSA", "", []string{"n", "e"}},
	"RS512":     {"RSA", "", []string{"n", "e"}},
	"PS256":     {"RSA", "", []string{"n", "e"}},
	"PS384":     {"RSA", "", []string{"n", "e"}},
	"PS512":     {"RSA", "", []string{"n", "e"}},
	"ML-DSA-44": {"AKP", "", []string{"pub"}},
	"ML-DSA-65": {"AKP", "", []string{"pub"}},
	"ML-DSA-87": {"AKP", "", []string{"pub"}},
}

// checkJWKS: PS-008.
func checkJWKS(ctx context.Context, t *Target) error {
	md, err := t.Metadata(ctx)
	if err != nil {
		return err
	}
	u, _ := md["jwks_uri"].(string)
	if u == "" {
		return errors.New("the metadata has no jwks_uri")
	}
	var v verdict
	r, ok := t.fetchDoc(ctx, &v, u, "application/json", "application/jwk-set+json")
	if !ok {
		return v.err()
	}
	keys, ok := r.Body["keys"].([]any)
	if !ok || len(keys) == 0 {
		v.add(MUST, "the JWKS has no keys array with a key: %.200s", r.Raw)
		return v.err()
	}
	var kids []string
	for i, k := range keys {
		m, ok := k.(map[string]any)
		if !ok {
			v.add(MUST, "JWKS member %d is not an object", i)
			continue
		}
		kid, _ := m["kid"].(string)
		switch {
		case kid == "":
			v.add(MUST, "JWKS member %d has no kid", i)
		case slices.Contains(kids, kid):
			v.add(MUST, "duplicate kid %q", kid)
		default:
			kids = append(kids, kid)
		}
		for _, p := range privateMembers {
			if _, ok := m[p]; ok {
				v.add(MUST, "JWKS key %q has the private member %q", kid, p)
			}
		}
		alg, _ := m["alg"].(string)
		shape, known := jwkShapes[alg]
		if !known {
			v.add(MUST, "JWKS key %q: alg %v is not a fully-specified signature algorithm", kid, m["alg"])
			continue
		}
		if m["kty"] != shape.kty || (shape.crv != "" && m["crv"] != shape.crv) {
			v.add(MUST, "JWKS key %q: alg %s does not agree with kty %v / crv %v", kid, alg, m["kty"], m["crv"])
		}
		for _, p := range shape.members {
			if s, _ := m[p].(string); s == "" {
				v.add(MUST, "JWKS key %q lacks %q", kid, p)
			}
		}
	}
	return v.err()
}

// agentEndpoints are the endpoints an agent signs for (PS-005);
// revocation_endpoint is signed by a server, mission_control_endpoint uses
// operator authentication and is excluded.
var agentEndpoints = []string{"auth_token_endpoint", "person_token_endpoint", "mission_endpoint",
	"permission_endpoint", "audit_endpoint", "interaction_endpoint"}

func endpointChecks() []Check {
	var out []Check
	for _, name := range append(slices.Clone(agentEndpoints), "revocation_endpoint") {
		out = append(out, Check{ID: "PS-005", Name: "signed POST {} to " + name, Level: MUST, Group: GroupEndpoints,
			Run: func(ctx context.Context, t *Target) error { return postEmpty(ctx, t, name) }})
	}
	// The conformance floor (PS-252): whatever else a PS offers, the four
	// REQUIRED members are there and E3 and E4 take signed requests.
	out = append(out, Check{ID: "PS-252", Name: "the floor: issuer, jwks_uri and working E3 and E4 are advertised", Level: MUST, Group: GroupEndpoints,
		Run: func(ctx context.Context, t *Target) error {
			md, err := t.Metadata(ctx)
			if err != nil {
				return err
			}
			var v verdict
			for _, f := range []string{"issuer", "jwks_uri", "person_token_endpoint", "auth_token_endpoint"} {
				if s, _ := md[f].(string); s == "" {
					v.add(MUST, "the metadata lacks %s", f)
				}
			}
			for _, ep := range []string{"person_token_endpoint", "auth_token_endpoint"} {
				if err := postEmpty(ctx, t, ep); err != nil {
					v.addErr(MUST, prefixed(ep, err))
				}
			}
			return v.err()
		}})
	return out
}

// postEmpty: PS-005 for one endpoint. An advertised endpoint exists (not
// 404/405) and verifies the request (MUST); it answers 400 invalid_request
// to {} (IMPL). 501 means "not implemented here": SKIP.
func postEmpty(ctx context.Context, t *Target, name string) error {
	ep, err := t.advertised(ctx, name)
	if err != nil {
		return err
	}
	if ep == "" {
		return NotApplicable("%s not advertised", name)
	}
	body := []byte(`{}`)
	var req *http.Request
	if name == "revocation_endpoint" {
		if req, err = newRequest(http.MethodPost, ep, body); err != nil {
			return err
		}
		if _, err := t.AP.ServerSigner().Sign(req, body); err != nil {
			return err
		}
	} else {
		a, err := t.fresh()
		if err != nil {
			return err
		}
		if req, err = sign(a, http.MethodPost, ep, body); err != nil {
			return err
		}
	}
	r, err := t.Do(ctx, req)
	if err != nil {
		return err
	}
	switch r.Status {
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return Failf(MUST, "%s %s answers %s: an advertised endpoint must exist", name, ep, r)
	case http.StatusNotImplemented:
		return Skip("%s answers 501 %v: not implemented here", name, r.Body["error"])
	}
	if err := ExpectVerified(r); err != nil {
		return Failf(MUST, "%s: %v", name, err)
	}
	var v verdict
	checkProblem(&v, r, http.StatusBadRequest, aauth.ErrInvalidRequest, IMPL)
	return v.err()
}
