package authtoken

import (
	"context"
	"net/http"
	"time"

	"github.com/aauth-ps/aauth-ps/federation"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/jose"
	"github.com/aauth-ps/aauth-ps/ps/resourcetoken"
)

// presented verifies the agent's presented_token against rt
// (P§resource-token-verification step 3): a person or auth token this PS
// issued, or — four-party step-up — an auth token the resource's access
// server issued (rt's aud), which the resource now names in presented_jti.
// The latter is verified against the AS's keys (federation.VerifyIssued)
// with the same substitutions: aud = rt's iss, cnf.jwk = rt's agent_jkt;
// its ps stands where a person token's iss does, so Match compares it to
// rt's ps (this PS). The AS verifies it again when the PS presents it.
func (s *Service) presented(ctx context.Context, raw string, rt *resourcetoken.ResourceToken, e resourcetoken.Expect) (*resourcetoken.Presented, error) {
	if s.o.Federation == nil || rt.Aud == s.o.Issuer || !federation.AuthTokenOf(raw, rt.Aud) {
		return resourcetoken.VerifyPresentedToken(ctx, raw, s.o.OwnKeys, rt, e)
	}
	invalid := func(detail string, cause error) error {
		p := aauth.NewProblem(http.StatusBadRequest, aauth.ErrInvalidPresentedToken, detail)
		p.Cause = cause
		return p
	}
	t, err := s.o.Federation.Client.VerifyIssued(ctx, raw, rt.Aud)
	if err != nil {
		s.o.Logger.WarnContext(ctx, "federation: step-up token refused", "access_server", rt.Aud, "reason", err.Error())
		return nil, invalid("the presented auth token does not verify under its access server's keys", err)
	}
	str := func(n string) string { v, _ := t.ClaimString(n); return v }
	p := &resourcetoken.Presented{Typ: aauth.TypAuthToken, Iss: str("ps"), Aud: str("aud"), Sub: str("sub"), JTI: str("jti")}
	if p.Sub == "" || p.JTI == "" {
		return nil, invalid("the presented token has no sub or jti", nil)
	}
	var ok bool
	if p.MissionS256, ok = stringClaim(t, "mission_s256"); ok {
		p.Tenant, ok = stringClaim(t, "tenant")
	}
	if !ok {
		return nil, invalid("the presented token's mission_s256 or tenant is not a string", nil)
	}
	exp, hasExp, err1 := t.NumericDate("exp")
	iat, hasIat, err2 := t.NumericDate("iat")
	if err1 != nil || err2 != nil || !hasExp || !hasIat || exp-iat > int64(resourcetoken.MaxPresentedLifetime/time.Second) {
		return nil, invalid("the presented token has no valid exp or iat, or lives longer than an hour", nil)
	}
	if err := resourcetoken.CheckIssuedAt("presented token", time.Unix(iat, 0), e.Now, e.Window); err != nil {
		return nil, err
	}
	p.Exp = time.Unix(exp, 0)
	cnf, _ := t.Claims["cnf"].(map[string]any)
	jwk, _ := cnf["jwk"].(map[string]any)
	ck, err := jose.ParsePublicJWK(jwk, e.AcceptAlgs)
	if err != nil {
		return nil, invalid("the presented token's cnf.jwk is missing or unusable", err)
	}
	p.CnfJKT = ck.Thumbprint
	if err := p.Bound(rt, e.Now); err != nil {
		return nil, err
	}
	return p, nil
}

// stringClaim is claim n of t, absence allowed; false when it is present
// and not a string.
func stringClaim(t *jose.CompactJWT, n string) (resourcetoken.Claim, bool) {
	v, present := t.Claims[n]
	if !present {
		return resourcetoken.Claim{}, true
	}
	s, ok := v.(string)
	return resourcetoken.Claim{Value: s, Present: true}, ok
}
