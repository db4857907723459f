package app_test

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// Security review (branch rev): confirming tests for four-party findings.
// Expected to FAIL until the findings are fixed.

// TestStepUpASTokenOfRevokedPersonTokenRefused (PS-266, PS-273; security
// review 2026-12-07, finding 5): the agent provider revokes the agent's
// token, so the cascade revokes the person token the PS presented to the
// AS (PS-239). The AS's auth token obtained with it, presented for a
// four-party step-up under a fresh agent token (PS-285), is refused
// (revoked_presented_token) and the AS hears nothing. Before the fix the
// PS looked the AS token up under its own issuer, found nothing revoked
// and presented to the AS a token derived from a revoked one.
func TestStepUpASTokenOfRevokedPersonTokenRefused(t *testing.T) {
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

// TestASDownstreamArrayReported (PS-292; security review 2026-12-07,
// finding 7): the AS answers the PS's revocation with
// {"downstream":[{"recipient":"https://rs2.test","error":
// "revocation_unavailable"}]} and the person's report
// (revocation.Service.Report) shows rs2.test beside as.test and rs.test
// (P§revocation-response "Body"). Before the fix any JSON object counted
// as `revoked` and the array was dropped.
func TestASDownstreamArrayReported(t *testing.T) {
	t.Parallel()
	f := newFedWorldOn(t, pstest.Options{}, func(env *pstest.Env) {
		cert, err := env.CA.Issue("asrev.test")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"downstream":[{"recipient":"https://rs2.test","error":"revocation_unavailable"}]}`)
			})}
		go func() { _ = srv.ServeTLS(ln, "", "") }()
		t.Cleanup(func() { _ = srv.Close() })
		env.Resolver.Set("asrev.test", ln.Addr().String())
	})
	f.as.SetMetadata(map[string]any{"revocation_endpoint": "https://asrev.test/revoke"})
	f.expectASToken(t, f.consented(t))

	jti, exp := agentTokenClaims(t, f.agent)
	if r := f.revoke(t, apSigner(f.ap), authBody(t, map[string]any{"jti": jti, "exp": exp})); r.status != http.StatusOK {
		t.Fatalf("revocation: %d %s", r.status, r.raw)
	}
	c, err := f.ps.App.Store.CascadeByToken(ctxT(), f.ap.Issuer(), jti)
	if err != nil {
		t.Fatal(err)
	}
	report, err := f.ps.App.Revocation.Report(ctxT(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if report[f.as.Issuer()] == "" {
		t.Fatalf("the AS was not sent the person token's revocation: %v", report)
	}
	if report["https://rs2.test"] != "revocation_unavailable" {
		t.Fatalf("the AS's downstream report is dropped: report %v, want https://rs2.test: revocation_unavailable", report)
	}
}

// TestASClarificationUpdatedRequestForwarded (PS-126, PS-177; security
// review 2026-12-07, finding 8): an agent's updated_request answering an
// AS's question (stage access_server_clarification) is verified and
// forwarded to the AS with presented_token. Before the fix it was refused
// 400 invalid_request.
func TestASClarificationUpdatedRequestForwarded(t *testing.T) {
	t.Parallel()
	f := newFedWorld(t)
	f.expectASToken(t, f.consented(t))
	f.as.Script(conformance.ASStep{Kind: conformance.ASClarification, Question: "Which calendar: work or home?"})
	r := f.post(t, f.agent, "/token", authBody(t, map[string]any{"resource_token": f.rt(t, "calendar.read"), "presented_token": f.pt,
		"capabilities": []string{"interaction", "clarification"}}))
	loc := expect202(t, r, f.ps.Issuer)
	if req, _ := requirement(t, r); req != "clarification" {
		t.Fatalf("want the AS's question as requirement=clarification: %q %s", req, r.raw)
	}
	upd := authBody(t, map[string]any{"action": "updated_request", "resource_token": f.rt(t, "calendar.read"), "presented_token": f.pt})
	ans := f.send(t, f.agent, http.MethodPost, loc, []byte(upd))
	if ans.status != http.StatusAccepted {
		t.Fatalf("an agent's updated_request answering the AS's question was refused: %d %s (PS-126: forward it to the AS)", ans.status, ans.raw)
	}
	res := f.awaitResult(t, loc)
	reqs := f.as.Requests()
	if c := reqs[len(reqs)-1].Clarification; c["action"] != "updated_request" {
		t.Fatalf("the AS received %v, the agent %d %s; want the updated_request forwarded", c, res.status, res.raw)
	}
}
