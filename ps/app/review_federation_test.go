package app_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
)

// Security review (branch rev): confirming tests for four-party findings.
// Expected to FAIL until the findings are fixed.

// TestReviewStepUpASTokenOfRevokedPersonToken: the agent provider revokes
// the agent's token; the PS's cascade revokes the person token it
// presented to the AS (PS-239) and tells the AS. The AS's auth token that
// was obtained with that person token is then presented as
// presented_token (the four-party step-up, PS-273) by the same agent under
// a fresh agent token (PS-285). The PS's revocation check of a presented
// token looks up (this PS's issuer, the AS token's jti)
// (authtoken.revocationKeys, presentable), so an AS token is never found
// revoked, and the person token it was obtained with (its Via, checked
// for an upstream AS token in chain.resolve) is not looked at: the PS
// presents to the AS a token derived from a person token it revoked. In
// three-party the same step-up is refused (the cascade revoked the PS's
// own auth token: revoked_presented_token, TestRevocationAgentTokenCascade).
func TestReviewStepUpASTokenOfRevokedPersonToken(t *testing.T) {
	t.Parallel()
	f := newFedWorld(t)
	first := f.consented(t)
	f.expectASToken(t, first)
	at, _ := first.body["auth_token"].(string)

	jti, exp := agentTokenClaims(t, f.agent)
	if r := f.revoke(t, apSigner(f.ap), authBody(t, map[string]any{"jti": jti, "exp": exp})); r.status != http.StatusOK {
		t.Fatalf("revocation: %d %s", r.status, r.raw)
	}
	if ok, err := f.ps.App.Store.IsRevoked(ctxT(), f.ps.Issuer, jtiOf(t, f.pt)); err != nil || !ok {
		t.Fatalf("the person token presented to the AS is not revoked: %v %v", ok, err)
	}
	fresh := f.mint(t, conformance.TokenSpec{IssuedAt: f.clock.Now(), Lifetime: time.Hour})
	rt := resourceToken(t, f.world, f.rs, at, "calendar.read", func(s *conformance.ResourceTokenSpec) { s.Aud = f.as.Issuer() })
	before := len(f.as.Requests())
	r := f.post(t, fresh, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": at,
		"capabilities": []string{"interaction"}}))
	if n := len(f.as.Requests()); n != before || r.status == http.StatusOK {
		t.Fatalf("the PS presented to the AS an auth token obtained with a person token it revoked: AS requests %d → %d, agent got %d %s",
			before, n, r.status, r.raw)
	}
}
