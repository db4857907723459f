// Package resourcetoken holds the rules of the auth token endpoint that need
// no database and no HTTP framework: verifying a resource token
// (aa-resource+jwt), verifying the token the agent presented to the
// resource (a person or auth token this PS issued), and checking that the
// two name the same grant.
//
// Implements draft-hardt-oauth-aauth-protocol-11 §Resource Token
// Verification, §Person Token Verification, §Token Endpoint Error Codes
// (PS-REQUIREMENTS §3.7, §3.8).
package resourcetoken

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/fetch"
	"github.com/aauth-ps/aauth-ps/ps/jose"
)

// Lifetimes this PS accepts.
const (
	// MaxLifetime of a resource token (PS-088: 900 s; the draft recommends
	// at most 5 minutes).
	MaxLifetime = 900 * time.Second
	// MaxPresentedLifetime of a person or auth token (PS-267).
	MaxPresentedLifetime = time.Hour
)

// Keys resolves a resource's signing keys through discovery (metadata and
// JWKS, egress-guarded and cached): *fetch.Discovery.
type Keys interface {
	Key(ctx context.Context, issuer, dwk, kid string) (fetch.KeyResult, error)
	RefreshKey(ctx context.Context, issuer, dwk, kid string) (fetch.KeyResult, error)
}

// OwnKeys resolves this PS's own published keys by kid.
type OwnKeys interface {
	PublicKey(ctx context.Context, kid string) (*jose.PublicKey, error)
	// SignedHere reports whether this process signed exactly token, whose
	// signature then needs no verification (*keys.Manager).
	SignedHere(token string) bool
}

// Claim is an optional string claim: absence differs from any value.
type Claim struct {
	Value   string
	Present bool
}

func claim(t *jose.CompactJWT, name string) (Claim, error) {
	v, ok := t.Claims[name]
	if !ok {
		return Claim{}, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return Claim{}, fmt.Errorf("claim %s is not a string", name)
	}
	return Claim{Value: s, Present: true}, nil
}

// ResourceToken is a verified resource token.
type ResourceToken struct {
	Iss, Aud, PS, Sub, JTI, AgentJKT string
	// PresentedJTI names the token the agent presented to the resource;
	// read from `presented_jti`, or `person_token_jti` (August 2026).
	PresentedJTI string
	Scope        []string
	MissionS256  Claim
	Tenant       Claim
	LoginHint    string
	// R3URI and R3S256 name the resource's R3 document (R3§resource-token-
	// extensions): both or neither; R3URI is https.
	R3URI, R3S256 string
	// Interaction is the resource's own user-facing flow the person goes
	// through before the PS's consent (P§resource-initiated-interaction).
	Interaction *Interaction
	Exp, IAT    time.Time
}

// Interaction is a resource token's `interaction` claim: the resource's
// https interaction URL and the code to present there.
type Interaction struct {
	URL  string `json:"url"`
	Code string `json:"code"`
}

// Expect is what the verifier compares a resource token with.
type Expect struct {
	// Issuer is this PS: the token's aud and ps (three-party).
	Issuer string
	// AgentJKT is the thumbprint of the key that signed the request.
	AgentJKT   string
	Now        time.Time
	Window     time.Duration // iat may be this far ahead (clock_skew)
	AcceptAlgs []string
	// CheckServer validates a server identifier (the token's iss).
	CheckServer func(string) error
	// AccessServer, when set, admits an aud other than Issuer: an access
	// server this PS federates with (four-party, P§ps-as-federation); its
	// error refuses the token.
	AccessServer func(aud string) error
}

func problem(code, detail string, cause error) *aauth.Problem {
	p := aauth.NewProblem(http.StatusBadRequest, code, detail)
	p.Cause = cause
	return p
}

func invalidRT(detail string) *aauth.Problem {
	return problem(aauth.ErrInvalidResourceToken, detail, nil)
}

// VerifyResourceToken verifies raw per P§resource-token-verification steps
// 1–2 and the common checks: every check that needs no network runs before
// the resource's keys are fetched.
func VerifyResourceToken(ctx context.Context, raw string, keys Keys, e Expect) (*ResourceToken, error) {
	t, err := jose.ParseCompact(raw)
	if err != nil {
		return nil, problem(aauth.ErrInvalidResourceToken, "the resource token is not a well-formed JWT", err)
	}
	if !jose.TypMatches(t.HeaderString("typ"), aauth.TypResourceToken) {
		return nil, invalidRT("the resource token must have typ " + aauth.TypResourceToken)
	}
	alg, kid := t.HeaderString("alg"), t.HeaderString("kid")
	if !slices.Contains(e.AcceptAlgs, alg) || kid == "" {
		return nil, invalidRT("the resource token's alg is not accepted, or it has no kid")
	}
	var rt ResourceToken
	for _, f := range []struct {
		name string
		dst  *string
	}{{"iss", &rt.Iss}, {"aud", &rt.Aud}, {"ps", &rt.PS}, {"sub", &rt.Sub}, {"jti", &rt.JTI}, {"agent_jkt", &rt.AgentJKT}} {
		v, ok := t.ClaimString(f.name)
		if !ok || v == "" {
			return nil, invalidRT("the resource token has no " + f.name)
		}
		*f.dst = v
	}
	if dwk, _ := t.ClaimString("dwk"); dwk != aauth.DWKResource {
		return nil, invalidRT("the resource token's dwk must be " + aauth.DWKResource)
	}
	if err := e.CheckServer(rt.Iss); err != nil {
		return nil, problem(aauth.ErrInvalidResourceToken, "the resource token's iss is not a server identifier", err)
	}
	if rt.PresentedJTI, err = presentedJTI(t); err != nil {
		return nil, problem(aauth.ErrInvalidResourceToken, err.Error(), nil)
	}
	var scope, r3URI, r3S256 Claim
	if rt.MissionS256, err = claim(t, "mission_s256"); err == nil {
		if rt.Tenant, err = claim(t, "tenant"); err == nil {
			if scope, err = claim(t, "scope"); err == nil {
				if r3URI, err = claim(t, "r3_uri"); err == nil {
					r3S256, err = claim(t, "r3_s256")
				}
			}
		}
	}
	if err != nil {
		return nil, problem(aauth.ErrInvalidResourceToken, err.Error(), nil)
	}
	// PS-240: both R3 claims or neither; PS-242: the document is on https.
	if r3URI.Present != r3S256.Present || (r3URI.Present && (r3URI.Value == "" || r3S256.Value == "")) {
		return nil, invalidRT("the resource token must carry both r3_uri and r3_s256, or neither")
	}
	if r3URI.Present {
		if u, perr := url.Parse(r3URI.Value); perr != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" {
			return nil, invalidRT("the resource token's r3_uri must be an https URL")
		}
		rt.R3URI, rt.R3S256 = r3URI.Value, r3S256.Value
	}
	// PS-098: the resource's interaction URL is https (egress admission is
	// the caller's, before any redirect).
	if v, ok := t.Claims["interaction"]; ok {
		m, _ := v.(map[string]any)
		in := &Interaction{}
		in.URL, _ = m["url"].(string)
		in.Code, _ = m["code"].(string)
		u, perr := url.Parse(in.URL)
		if m == nil || in.Code == "" || len(in.Code) > 256 || len(in.URL) > 2048 || perr != nil || u.Scheme != "https" || u.Host == "" ||
			u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return nil, invalidRT("the resource token's interaction must have an https url (no query or fragment) and a code")
		}
		rt.Interaction = in
	}
	// PS-089 (IMPL): scope, R3, or both.
	if !scope.Present && !r3URI.Present {
		return nil, invalidRT("the resource token has neither scope nor R3 claims")
	}
	rt.Scope = strings.Fields(scope.Value)
	rt.LoginHint, _ = t.ClaimString("login_hint")
	exp, hasExp, err := t.NumericDate("exp")
	if err != nil || !hasExp {
		return nil, invalidRT("the resource token has no valid exp")
	}
	iat, hasIat, err := t.NumericDate("iat")
	if err != nil || !hasIat {
		return nil, invalidRT("the resource token has no valid iat")
	}
	rt.Exp, rt.IAT = time.Unix(exp, 0), time.Unix(iat, 0)
	if rt.Exp.Sub(rt.IAT) > MaxLifetime {
		return nil, invalidRT("the resource token lives longer than this person server accepts")
	}
	if !rt.Exp.After(e.Now) {
		return nil, problem(aauth.ErrExpiredResourceToken, "the resource token has expired; obtain a new one from the resource", nil)
	}
	if err := CheckIssuedAt("resource token", rt.IAT, e.Now, e.Window); err != nil {
		return nil, err
	}
	if rt.Aud != e.Issuer {
		if e.AccessServer == nil {
			return nil, invalidRT("the resource token's aud is not this person server")
		}
		if err := e.AccessServer(rt.Aud); err != nil {
			return nil, problem(aauth.ErrInvalidResourceToken, "the resource token's aud is neither this person server nor an access server it federates with", err)
		}
	}
	if rt.PS != e.Issuer {
		return nil, invalidRT("the resource token's ps is not this person server")
	}
	if rt.AgentJKT != e.AgentJKT {
		return nil, invalidRT("the resource token's agent_jkt is not the thumbprint of the key that signed the request")
	}
	if err := verifyWithResourceKey(ctx, t, keys, rt.Iss, kid, alg, e.AcceptAlgs); err != nil {
		return nil, err
	}
	return &rt, nil
}

// presentedJTI reads presented_jti, or the August 2026 person_token_jti
// (issue 8: interoperate with @aauth/* and @hellocoop/mockin); both
// present must agree.
func presentedJTI(t *jose.CompactJWT) (string, error) {
	pj, okP := t.ClaimString("presented_jti")
	old, okO := t.ClaimString("person_token_jti")
	switch {
	case okP && okO && pj != old:
		return "", errors.New("the resource token's presented_jti and person_token_jti differ")
	case okP && pj != "":
		return pj, nil
	case okO && old != "":
		return old, nil
	}
	return "", errors.New("the resource token has no presented_jti")
}

// verifyWithResourceKey checks the signature with the resource's published
// key, refreshing its JWKS once when a cached key fails.
func verifyWithResourceKey(ctx context.Context, t *jose.CompactJWT, keys Keys, iss, kid, alg string, accept []string) error {
	check := func(res fetch.KeyResult) error {
		if a, _ := res.JWK["alg"].(string); a != alg {
			return invalidRT("the resource's key does not carry the token's alg")
		}
		key, err := jose.ParsePublicJWK(res.JWK, accept)
		if err != nil {
			return problem(aauth.ErrInvalidResourceToken, "the resource's key is not usable", err)
		}
		if err := t.VerifySignature(key); err != nil {
			return problem(aauth.ErrInvalidResourceToken, "the resource token's signature does not verify", err)
		}
		return nil
	}
	return fetch.CheckKey(ctx, keys, iss, aauth.DWKResource, kid, check, keyError)
}

// keyError: a resource whose keys cannot be had makes its token
// unverifiable (400 invalid_resource_token); a transient failure is 503.
func keyError(err error) error {
	if errors.Is(err, fetch.ErrUnavailable) {
		p := aauth.Unavailable("the resource's keys could not be fetched; retry later", 5)
		p.Cause = err
		return p
	}
	return problem(aauth.ErrInvalidResourceToken, "the resource's keys cannot be obtained", err)
}

// Presented is the token the agent presented to the resource, as far as the
// PS verified it (or read it from its own issuance record).
type Presented struct {
	Typ string // aa-person+jwt or aa-auth+jwt
	// Iss is a person token's iss or an auth token's ps: the PS step 3
	// compares with the resource token's ps.
	Iss, Aud string
	// AccessServer is the AS that issued an auth token ("" when this PS
	// did).
	AccessServer string
	Sub, JTI     string
	CnfJKT       string
	MissionS256  Claim
	Tenant       Claim
	Exp          time.Time
	// Via names, for an AS's auth token, the person token this PS
	// presented to that AS the auth token was obtained with (the PS
	// resolves it from its records, not from the token).
	Via string
}

func invalidPT(detail string, cause error) *aauth.Problem {
	return problem(aauth.ErrInvalidPresentedToken, detail, cause)
}

// VerifyPresentedToken verifies a person or auth token this PS issued, or
// an auth token of an access server this PS presented a person token to
// for its aud and sub (signers), with the two substitutions of
// P§resource-token-verification step 3: aud must be the resource token's
// iss, cnf.jwk must match its agent_jkt.
func VerifyPresentedToken(ctx context.Context, raw string, signers Signers, rt *ResourceToken, e Expect) (*Presented, error) {
	t, err := jose.ParseCompact(raw)
	if err != nil {
		return nil, invalidPT("the presented token is not a well-formed JWT", err)
	}
	p := &Presented{Typ: t.HeaderString("typ")}
	switch {
	case jose.TypMatches(p.Typ, aauth.TypPersonToken):
		p.Typ = aauth.TypPersonToken
	case jose.TypMatches(p.Typ, aauth.TypAuthToken):
		p.Typ = aauth.TypAuthToken
	default:
		return nil, invalidPT("the presented token is neither a person token nor an auth token", nil)
	}
	alg, kid := t.HeaderString("alg"), t.HeaderString("kid")
	if !slices.Contains(e.AcceptAlgs, alg) || kid == "" {
		return nil, invalidPT("the presented token's alg is not accepted, or it has no kid", nil)
	}
	as, err := signers.Verify(ctx, t, p.Typ, "the presented token", e.AcceptAlgs)
	var se *SignerError
	if errors.As(err, &se) {
		return nil, invalidPT(se.Detail, se.Cause)
	} else if err != nil {
		return nil, err
	}
	// Step 3 compares a person token's iss, or an auth token's ps, with
	// the resource token's ps.
	p.AccessServer, p.Iss = as, ""
	if p.Typ == aauth.TypPersonToken {
		p.Iss, _ = t.ClaimString("iss")
	} else if p.Iss, _ = t.ClaimString("ps"); p.Iss == "" && as == "" {
		p.Iss = e.Issuer // this PS's own auth token: iss is this PS
	}
	p.Aud, _ = t.ClaimString("aud")
	p.Sub, _ = t.ClaimString("sub")
	p.JTI, _ = t.ClaimString("jti")
	if p.Sub == "" || p.JTI == "" {
		return nil, invalidPT("the presented token has no sub or jti", nil)
	}
	if p.MissionS256, err = claim(t, "mission_s256"); err == nil {
		p.Tenant, err = claim(t, "tenant")
	}
	if err != nil {
		return nil, invalidPT(err.Error(), nil)
	}
	exp, hasExp, err := t.NumericDate("exp")
	if err != nil || !hasExp {
		return nil, invalidPT("the presented token has no valid exp", err)
	}
	p.Exp = time.Unix(exp, 0)
	iat, hasIat, err := t.NumericDate("iat")
	if err != nil || !hasIat || p.Exp.Sub(time.Unix(iat, 0)) > MaxPresentedLifetime {
		return nil, invalidPT("the presented token has no valid iat or lives longer than an hour", err)
	}
	if err := CheckIssuedAt("presented token", time.Unix(iat, 0), e.Now, e.Window); err != nil {
		return nil, err
	}
	cnf, _ := t.Claims["cnf"].(map[string]any)
	jwk, _ := cnf["jwk"].(map[string]any)
	ck, err := jose.ParsePublicJWK(jwk, e.AcceptAlgs)
	if err != nil {
		return nil, invalidPT("the presented token's cnf.jwk is missing or unusable", err)
	}
	p.CnfJKT = ck.Thumbprint
	if err := p.Bound(rt, e.Now); err != nil {
		return nil, err
	}
	return p, nil
}

// Bound applies the substituted checks of step 3 (aud = the resource
// token's iss, cnf = its agent_jkt, exp) to a verified or recorded token.
func (p *Presented) Bound(rt *ResourceToken, now time.Time) error {
	if p.Aud != rt.Iss {
		return invalidPT("the presented token's aud is not the resource that issued the resource token", nil)
	}
	if p.CnfJKT != rt.AgentJKT {
		return invalidPT("the presented token's cnf.jwk is not the key the resource token names", nil)
	}
	if !p.Exp.After(now) {
		return problem(aauth.ErrExpiredPresentedToken, "the presented token has expired; obtain a fresh person token, then a fresh resource token", nil)
	}
	return nil
}

// Match checks that the resource token names exactly the presented token:
// jti, issuer, sub, mission_s256 and tenant, absence equal to absence
// (step 3). A mismatch is invalid_resource_token.
func Match(rt *ResourceToken, p *Presented) error {
	switch {
	case p.JTI != rt.PresentedJTI:
		return invalidRT("the resource token's presented_jti does not name the presented token")
	case p.Iss != rt.PS:
		return invalidRT("the resource token's ps is not the presented token's issuer")
	case p.Sub != rt.Sub:
		return invalidRT("the resource token's sub is not the presented token's")
	case p.MissionS256 != rt.MissionS256:
		return invalidRT("the resource token's mission_s256 is not the presented token's")
	case p.Tenant != rt.Tenant:
		return invalidRT("the resource token's tenant is not the presented token's")
	}
	return nil
}
