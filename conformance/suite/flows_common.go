package suite

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/jose"
)

// jsonBody marshals v (a map literal) for a request body.
func jsonBody(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// newFlowAgent is a never-seen agent of the suite's provider with its own
// Ed25519 key: every run starts from an unbound agent, so the PS's first
// use behaviour is what is checked, whatever earlier runs did.
func (t *Target) newFlowAgent(role string) (*conformance.Agent, error) {
	k, err := conformance.NewAgentKey(aauth.AlgEd25519)
	if err != nil {
		return nil, err
	}
	// Half an hour: below the 1 h token cap, so a token not capped at the
	// agent token's exp shows (PS-075, PS-106).
	return t.mintFrom(t.AP, conformance.TokenSpec{Agent: k, Sub: "aauth:cf-" + role + "-" + randomHex(4) + "@" + apHost(t.AP), Lifetime: 30 * time.Minute})
}

// firstRequest is a never-seen agent's first request at E3 for rs,
// declaring the interaction capability.
func (t *Target) firstRequest(ctx context.Context, role, e3, rs string) (*conformance.Agent, *Response, error) {
	a, err := t.newFlowAgent(role)
	if err != nil {
		return nil, nil, err
	}
	r, err := t.agentSend(ctx, a, http.MethodPost, e3, jsonBody(map[string]any{"resource": rs, "capabilities": []string{"interaction"}}), nil)
	return a, r, err
}

// approvedMission has b's agent propose a mission naming the test
// resource, for purpose, and the person approve it (what tells a human
// how); it returns the approval, a 200 with s256.
func (t *Target) approvedMission(ctx context.Context, b *boundAgent, purpose, what string) (*Response, string, error) {
	e5, err := t.need(ctx, "mission_endpoint")
	if err != nil {
		return nil, "", err
	}
	_, rs, err := t.e3Resource(ctx)
	if err != nil {
		return nil, "", err
	}
	r, err := t.agentSend(ctx, b.agent, http.MethodPost, e5, jsonBody(map[string]any{"description": "aauth-conformance " + randomHex(4) + ": " + purpose,
		"resources": []string{rs}, "capabilities": []string{"interaction"}}), nil)
	if err != nil {
		return nil, "", err
	}
	if r, err = t.resolve(ctx, b.agent, r, true, what); err != nil {
		return nil, "", err
	}
	s256, _ := r.Body["s256"].(string)
	if r.Status != http.StatusOK || s256 == "" {
		return nil, "", Skip("the mission was not approved: %s", r)
	}
	return r, s256, nil
}

// need returns the URL of an advertised endpoint, or NotApplicable.
func (t *Target) need(ctx context.Context, member string) (string, error) {
	ep, err := t.advertised(ctx, member)
	if err != nil {
		return "", err
	}
	if ep == "" {
		return "", NotApplicable("%s not advertised", member)
	}
	return ep, nil
}

// check202 checks the shape every 202 has (PS-146).
func (t *Target) check202(r *Response) error {
	var v verdict
	if r.Status != http.StatusAccepted {
		return Failf(MUST, "status %d, want 202: %s", r.Status, r)
	}
	if _, err := t.location(r); err != nil {
		v.addErr(MUST, err)
	}
	if ra := r.Header.Get("Retry-After"); !regexp.MustCompile(`^[0-9]+$`).MatchString(ra) {
		v.add(MUST, "Retry-After %q is not a non-negative integer", ra)
	}
	if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		v.add(MUST, "Cache-Control %q, want no-store", cc)
	}
	if st := r.Body["status"]; st != "pending" && st != "interacting" {
		v.add(MUST, "body status %v, want pending or interacting: %s", st, r.Raw)
	}
	return v.err()
}

// crockford is an interaction code (PS-160).
var crockford = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z-]*$`)

// checkInteraction checks a requirement=interaction 202 (PS-159, PS-160).
func checkInteraction(r *Response) (url, code string, err error) {
	req, err := conformance.ParseRequirement(r.Header.Values("AAuth-Requirement"))
	if err != nil {
		return "", "", Failf(MUST, "%v", err)
	}
	if req.Token != "interaction" {
		return "", "", Failf(MUST, "requirement=%s, want interaction", req.Token)
	}
	url, code = req.Params["url"], req.Params["code"]
	if !strings.HasPrefix(url, "https://") || strings.ContainsAny(url, "?#") {
		return url, code, Failf(MUST, "url %q: want an https String without query or fragment", url)
	}
	if code == "" {
		return url, code, Failf(MUST, "no code String parameter")
	}
	return url, code, nil
}

// samePending reports how two 202 answers differ in their header set.
func samePending(a, b *Response) error {
	for _, h := range []string{"Location", "Retry-After", "AAuth-Requirement", "Cache-Control"} {
		if a.Header.Get(h) != b.Header.Get(h) {
			return fmt.Errorf("%s changed between polls: %q, then %q", h, a.Header.Get(h), b.Header.Get(h))
		}
	}
	return nil
}

// sameAnswer checks two answers are indistinguishable: status, media type,
// body and header names (Date aside).
func sameAnswer(a, b *Response) error {
	if a.Status != b.Status || a.Header.Get("Content-Type") != b.Header.Get("Content-Type") || string(a.Raw) != string(b.Raw) {
		return fmt.Errorf("the answers differ: %s versus %s", a, b)
	}
	names := func(h http.Header) []string {
		var out []string
		for k := range h {
			if k != "Date" && k != "Content-Length" {
				out = append(out, k)
			}
		}
		slices.Sort(out)
		return out
	}
	if !slices.Equal(names(a.Header), names(b.Header)) {
		return fmt.Errorf("the header sets differ: %v versus %v", names(a.Header), names(b.Header))
	}
	return nil
}

// psKey fetches the PS JWKS and returns the key kid.
func (t *Target) psKey(ctx context.Context, kid string) (*jose.PublicKey, error) {
	ju, err := t.advertised(ctx, "jwks_uri")
	if err != nil {
		return nil, err
	}
	r, err := t.get(ctx, ju)
	if err != nil {
		return nil, err
	}
	keys, _ := r.Body["keys"].([]any)
	for _, k := range keys {
		m, _ := k.(map[string]any)
		if m != nil && m["kid"] == kid {
			return jose.ParsePublicJWK(m, aauth.SupportedAlgs)
		}
	}
	return nil, fmt.Errorf("PS-009: kid %q is not in the PS JWKS", kid)
}

// issued is a PS-issued JWT, verified.
type issued struct {
	raw    string
	header map[string]any
	claims map[string]any
}

func (i issued) str(name string) string { s, _ := i.claims[name].(string); return s }

func (i issued) num(name string) int64 {
	switch v := i.claims[name].(type) {
	case json.Number:
		n, _ := v.Int64()
		return n
	case float64:
		return int64(v)
	}
	return 0
}

// verifyIssued verifies a token the PS issued: typ, a fully specified alg
// equal to its JWKS key's, the signature (PS-009), iss, dwk, aud, and a
// cnf.jwk whose thumbprint is holder (PS-072, PS-073, PS-104).
func (t *Target) verifyIssued(ctx context.Context, tok, typ, aud string, holder *conformance.AgentKey) (issued, error) {
	ct, err := jose.ParseCompact(tok)
	if err != nil {
		return issued{}, err
	}
	out := issued{raw: tok, header: ct.Header, claims: ct.Claims}
	var v verdict
	if ct.HeaderString("typ") != typ {
		v.add(MUST, "header typ %q, want %s", ct.HeaderString("typ"), typ)
	}
	alg := ct.HeaderString("alg")
	if !slices.Contains(fullySpecified, alg) {
		v.add(MUST, "PS-009: header alg %q is not fully specified", alg)
	}
	key, err := t.psKey(ctx, ct.HeaderString("kid"))
	if err != nil {
		v.add(MUST, "%v", err)
	} else if key.Alg != alg {
		v.add(MUST, "PS-009: header alg %q, the JWKS key's is %q", alg, key.Alg)
	} else if err := ct.VerifySignature(key); err != nil {
		v.add(MUST, "PS-009: the signature does not verify with the JWKS key: %v", err)
	}
	if out.str("iss") != t.Issuer {
		v.add(MUST, "iss %q, want %s", out.str("iss"), t.Issuer)
	}
	if out.str("dwk") != aauth.DWKPerson {
		v.add(MUST, "dwk %q, want %s", out.str("dwk"), aauth.DWKPerson)
	}
	if out.str("aud") != aud {
		v.add(MUST, "aud %v, want %s", out.claims["aud"], aud)
	}
	cnf, _ := out.claims["cnf"].(map[string]any)
	jwk, _ := cnf["jwk"].(map[string]any)
	if ck, err := jose.ParsePublicJWK(jwk, aauth.SupportedAlgs); err != nil {
		v.add(MUST, "cnf.jwk: %v", err)
	} else if ck.Thumbprint != holder.Thumbprint() {
		v.add(MUST, "cnf.jwk is not the key that signed the request")
	}
	if jwk["alg"] == nil {
		v.add(MUST, "cnf.jwk carries no alg")
	}
	if out.str("jti") == "" || out.str("sub") == "" {
		v.add(MUST, "jti or sub missing")
	}
	return out, v.err()
}

// checkExp checks exp ≤ min(iat+3600, caps…) and expires_in ≈ exp − now.
func checkExp(tok issued, expiresIn any, caps map[string]int64) error {
	var v verdict
	iat, exp := tok.num("iat"), tok.num("exp")
	if iat == 0 || exp == 0 {
		return Failf(MUST, "iat or exp missing")
	}
	if exp > iat+3600 {
		v.add(MUST, "exp − iat = %d s, over 3600", exp-iat)
	}
	for what, c := range caps {
		if c != 0 && exp > c {
			v.add(MUST, "exp %d is after the %s's exp %d", exp, what, c)
		}
	}
	if n, ok := expiresIn.(float64); !ok || n <= 0 {
		v.add(MUST, "expires_in %v is not a positive integer", expiresIn)
	} else if d := int64(n) - (exp - time.Now().Unix()); d > 5 || d < -5 {
		v.add(MUST, "expires_in %v is not exp − now (±5 s)", n)
	}
	return v.err()
}

// tokenExp is the exp of a compact JWT, 0 when unreadable.
func tokenExp(tok string) int64 {
	_, c, err := conformance.DecodeJWT(tok)
	if err != nil {
		return 0
	}
	return issued{claims: c}.num("exp")
}

// noAgentIdentifier checks PS-109: no agent, act, parent_agent or azp, and
// no aauth: URI anywhere in the claims.
func noAgentIdentifier(c map[string]any) error {
	for _, n := range []string{"agent", "act", "parent_agent", "azp"} {
		if _, ok := c[n]; ok {
			return Failf(MUST, "the token carries %q", n)
		}
	}
	b, _ := json.Marshal(c)
	if strings.Contains(string(b), `"aauth:`) {
		return Failf(MUST, "a claim's value is an aauth: URI: %s", b)
	}
	return nil
}

// s256Of is BASE64URL_NOPAD(SHA-256(b)).
func s256Of(b []byte) string {
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// randomS256 is a well-formed mission identifier naming nothing.
func randomS256() string { return s256Of([]byte(randomHex(16))) }
