package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// TestSubAgentTokenRevocationCascadesByIdentity: the agent provider
// revokes one of a sub-agent's agent tokens, accepted as the parent's
// subagent_token (P§sub-agents). The PS recorded its (iss, jti, sub) when
// it accepted it (PS-293), so it cascades by the sub-agent's identity
// (P§revocation-cascade, PS-239): the person tokens issued for that
// sub-agent — under the revoked token and under another token of the
// same sub-agent — are revoked at the PS and at the resource, while the
// parent's own token and another sub-agent's stay live; the parent's
// pending request carrying the revoked token ends 403 revoked, one
// carrying the other sub-agent's token goes on (PS-280, A-59); the
// revoked token is refused with revoked_subagent_token (PS-046).
func TestSubAgentTokenRevocationCascadesByIdentity(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	const search = "aauth:a1+search@ap.test"
	sub := newSubAgent(t, w, search, 30*time.Minute)
	s := w.expectInteraction(t, w.post(t, w.agent, "/person", authBody(t, map[string]any{"resource": "https://rs.test",
		"subagent_token": sub.Token, "capabilities": []string{"interaction"}})))
	open(t, b, s)
	b.Post(t, s.path()+"/approve", nil)
	personTokenOf := func(r result) string {
		t.Helper()
		pt, _ := r.body["person_token"].(string)
		if r.status != http.StatusOK || pt == "" {
			t.Fatalf("want a person token: %d %s", r.status, r.raw)
		}
		return pt
	}
	ptSub := personTokenOf(w.poll(t, w.agent, s.loc))
	// The same sub-agent with another agent token, the parent itself and
	// another sub-agent: the parent's grant answers at once (PS-143).
	subAgain := newSubAgent(t, w, search, 30*time.Minute)
	ptSubAgain := personTokenOf(w.post(t, w.agent, "/person", authBody(t, map[string]any{"resource": "https://rs.test", "subagent_token": subAgain.Token})))
	ptParent := personTokenOf(w.post(t, w.agent, "/person", `{"resource":"https://rs.test"}`))
	fetch := newSubAgent(t, w, "aauth:a1+fetch@ap.test", 30*time.Minute)
	ptFetch := personTokenOf(w.post(t, w.agent, "/person", authBody(t, map[string]any{"resource": "https://rs.test", "subagent_token": fetch.Token})))

	// Two auth-token requests wait for the person: one carries the token
	// to be revoked, one the other sub-agent's.
	rtSub := mintFor(t, w, rs, ptSub, sub.Key, "calendar.read")
	waiting := w.expectInteraction(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rtSub, "presented_token": ptSub,
		"subagent_token": sub.Token, "capabilities": []string{"interaction"}})))
	rtFetch := mintFor(t, w, rs, ptFetch, fetch.Key, "calendar.read")
	goesOn := w.expectInteraction(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rtFetch, "presented_token": ptFetch,
		"subagent_token": fetch.Token, "capabilities": []string{"interaction"}})))

	jti, exp := agentTokenClaims(t, sub)
	expectEmpty200(t, w.revoke(t, apSigner(w.ap), authBody(t, map[string]any{"jti": jti, "exp": exp})))
	for name, pt := range map[string]string{"under the revoked token": ptSub, "under another token of the sub-agent": ptSubAgain} {
		if ok, err := w.ps.App.Store.IsRevoked(ctxT(), w.ps.Issuer, jtiOf(t, pt)); err != nil || !ok {
			t.Fatalf("the sub-agent's person token %s is live at the PS (%v)", name, err)
		}
		if !rs.Revoked(w.ps.Issuer, jtiOf(t, pt)) {
			t.Fatalf("the resource was not told of the sub-agent's person token %s: %+v", name, rs.Revocations())
		}
	}
	for name, pt := range map[string]string{"the parent's": ptParent, "the other sub-agent's": ptFetch} {
		if ok, err := w.ps.App.Store.IsRevoked(ctxT(), w.ps.Issuer, jtiOf(t, pt)); err != nil || ok {
			t.Fatalf("%s person token was revoked with the sub-agent's token (%v)", name, err)
		}
	}

	r := w.poll(t, w.agent, waiting.loc)
	expectProblem(t, r, http.StatusForbidden, aauth.ErrRevoked)
	if d, _ := r.body["detail"].(string); !strings.Contains(d, "agent token") {
		t.Fatalf("detail %q does not say which token (PS-280)", d)
	}
	expect202(t, w.poll(t, w.agent, goesOn.loc), w.ps.Issuer)

	expectProblem(t, w.post(t, w.agent, "/person", authBody(t, map[string]any{"resource": "https://rs.test", "subagent_token": sub.Token})),
		http.StatusBadRequest, aauth.ErrRevokedSubagentToken)
}

// TestSubAgentTokenRecordedOnlyWhenAccepted: a sub-agent token is
// recorded for the cascades (PS-293) where the signer's is, once the
// request carrying it succeeded: a request refused after the token
// verified records nothing (a refused request leaves no trace, and no
// unknown party grows the table); an accepted one records its sub.
func TestSubAgentTokenRecordedOnlyWhenAccepted(t *testing.T) {
	t.Parallel()
	w, _, _ := authWorld(t)
	sub := newSubAgent(t, w, "aauth:a1+search@ap.test", 30*time.Minute)
	jti, _ := agentTokenClaims(t, sub)
	// The subagent_token verifies; the resource token does not.
	r := w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": "e30.e30.e30", "presented_token": "e30.e30.e30",
		"subagent_token": sub.Token}))
	if r.status != http.StatusBadRequest {
		t.Fatalf("want the request refused: %d %s", r.status, r.raw)
	}
	if got, err := w.ps.App.Store.AgentTokenSub(ctxT(), w.ap.Issuer(), jti); got != "" || err != nil {
		t.Fatalf("a refused request recorded the sub-agent token: %q, %v", got, err)
	}
	w.expectInteraction(t, w.post(t, w.agent, "/person", authBody(t, map[string]any{"resource": "https://rs.test",
		"subagent_token": sub.Token, "capabilities": []string{"interaction"}})))
	if got, err := w.ps.App.Store.AgentTokenSub(ctxT(), w.ap.Issuer(), jti); got != sub.ID || err != nil {
		t.Fatalf("the accepted sub-agent token is recorded with sub %q, %v; want %s", got, err, sub.ID)
	}
}
