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

// TestReviewASDownstreamArrayIgnored: PS-292 (MUST) "The PS reads an AS's
// `downstream` array … the AS answers {"downstream":[{"recipient":
// "https://rs2.test","error":"revocation_unavailable"}]} and H's report
// shows it" (P§revocation-response "Body"). revocation.outcomeOf takes any
// JSON object as `revoked` and the Sender interface returns one outcome
// string, so what the AS reports about the resources it cascaded to is
// dropped: the per-recipient report (revocation.Service.Report) never
// shows that rs2.test still honours the token.
func TestReviewASDownstreamArrayIgnored(t *testing.T) {
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

// TestReviewASClarificationUpdatedRequestNotForwarded: PS-126 (MUST) "an
// agent updated_request is forwarded with the same body, presented_token
// included, after the PS has verified it (PS-177)". On a request whose AS
// question was passed to the agent (stage access_server_clarification),
// authtoken.UpdatedRequest refuses every updated_request of a federated
// request but a narrowed one ("does not apply to a request federated with
// an access server"), and stepAS ends any answer that is not a
// clarification_response with 403 denied.
func TestReviewASClarificationUpdatedRequestNotForwarded(t *testing.T) {
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
