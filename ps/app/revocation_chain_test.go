package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// Revocation down a call chain (PS-294, issue 8): a token the PS revokes
// takes with it every person and auth token issued on it as an upstream
// token, hop by hop, and each of their resources is told (PS-239, PS-292).

// expectRevokedAtPS asserts the PS holds its own revocation of each token.
func expectRevokedAtPS(t *testing.T, w *world, toks map[string]string) {
	t.Helper()
	for name, tok := range toks {
		if ok, err := w.ps.App.Store.IsRevoked(ctxT(), w.ps.Issuer, jtiOf(t, tok)); err != nil || !ok {
			t.Fatalf("the %s is not revoked at the PS (PS-294): %v %v", name, ok, err)
		}
	}
}

// TestRevocationCascadesDownTheChain: PS-294, PS-239, PS-292. Agent A's
// auth token at the intermediary R1 is the upstream token of R1's person
// and auth tokens for R2. The agent provider revokes A's agent token: the
// PS revokes A's tokens, then the chained ones issued on them, and sends
// R1 and R2 the revocations of the tokens they received.
func TestRevocationCascadesDownTheChain(t *testing.T) {
	t.Parallel()
	c := newChainWorld(t)
	pt1, at1 := c.upstreamAuthToken(t)
	r := c.approveOrNow(t, c.mid, c.post(t, c.mid, "/person", authBody(t, map[string]any{"resource": "https://r2.test",
		"upstream_token": at1, "capabilities": []string{"interaction"}})))
	pt2, _ := r.body["person_token"].(string)
	if r.status != http.StatusOK || pt2 == "" {
		t.Fatalf("chained person token: %d %s", r.status, r.raw)
	}
	rt2 := mintFor(t, c.world, c.r2, pt2, c.mid.Key, "payments.charge")
	r = c.approveOrNow(t, c.mid, c.post(t, c.mid, "/token", authBody(t, map[string]any{"resource_token": rt2,
		"presented_token": pt2, "upstream_token": at1, "capabilities": []string{"interaction"}})))
	at2, _ := r.body["auth_token"].(string)
	if r.status != http.StatusOK || at2 == "" {
		t.Fatalf("chained auth token: %d %s", r.status, r.raw)
	}

	jti, exp := agentTokenClaims(t, c.agent)
	expectEmpty200(t, c.revoke(t, apSigner(c.ap), authBody(t, map[string]any{"jti": jti, "exp": exp})))
	expectRevokedAtPS(t, c.world, map[string]string{"person token at R1": pt1, "auth token at R1": at1,
		"chained person token at R2": pt2, "chained auth token at R2": at2})
	for name, x := range map[string]struct {
		rs  *conformance.Resource
		tok string
	}{"R1 person token": {c.r1.Resource, pt1}, "R1 auth token": {c.r1.Resource, at1},
		"R2 chained person token": {c.r2, pt2}, "R2 chained auth token": {c.r2, at2}} {
		if !x.rs.Revoked(c.ps.Issuer, jtiOf(t, x.tok)) {
			t.Fatalf("the resource was not told of the revocation of the %s (PS-294, PS-239): %+v", name, x.rs.Revocations())
		}
	}
}

// TestRevocationCascadesEveryHop: PS-294. A chain of person tokens
// h1 → h2 → h3 → h4 (each intermediary chaining with the token it was
// shown); the person revokes agent A in the web UI, and every hop's token
// is revoked at the PS and sent to the intermediary that received it.
func TestRevocationCascadesEveryHop(t *testing.T) {
	t.Parallel()
	const hosts = 4
	hs := make([]*conformance.Intermediary, hosts)
	w := newWorldWith(t, pstest.Options{}, func(env *pstest.Env) {
		for i := range hs {
			var err error
			if hs[i], err = conformance.StartIntermediary(env.CA, env.Resolver, fmt.Sprintf("h%d.test", i+1)); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = hs[i].Close() })
		}
	})
	alice := w.person(t, "alice", false)
	w.bind(t, w.agent, alice)
	chainTokens := []string{personToken(t, w, alice, hs[0].Resource, `{"resource":"https://h1.test","capabilities":["interaction"]}`)}
	for i := 0; i < hosts-1; i++ {
		mid, err := hs[i].Agent("")
		if err != nil {
			t.Fatal(err)
		}
		s := w.expectInteraction(t, w.post(t, mid, "/person", authBody(t, map[string]any{"resource": hs[i+1].Issuer(),
			"upstream_token": chainTokens[i], "capabilities": []string{"interaction"}})))
		open(t, alice, s)
		alice.Post(t, s.path()+"/approve", nil)
		r := w.poll(t, mid, s.loc)
		next, _ := r.body["person_token"].(string)
		if r.status != http.StatusOK || next == "" {
			t.Fatalf("hop %d: %d %s", i+1, r.status, r.raw)
		}
		chainTokens = append(chainTokens, next)
	}

	alice.Post(t, "/agents/"+agentBindingID(t, alice, w.agent.ID)+"/revoke", nil)
	for i, tok := range chainTokens {
		expectRevokedAtPS(t, w, map[string]string{fmt.Sprintf("person token at h%d", i+1): tok})
		waitRevoked(t, w, hs[i].Resource, tok)
	}
}

// TestRevocationEndsChainedPending: PS-280 (the upstream-token case),
// PS-294. The intermediary's chained person-token request waits for the
// person; the agent provider revokes agent A's token, whose cascade
// revokes the upstream token. The chained request ends at once: its poll
// answers 403 revoked naming the upstream token, the person's page says
// it ended, and nothing is issued.
func TestRevocationEndsChainedPending(t *testing.T) {
	t.Parallel()
	c := newChainWorld(t)
	_, at1 := c.upstreamAuthToken(t)
	s := c.expectInteraction(t, c.post(t, c.mid, "/person", authBody(t, map[string]any{"resource": "https://r2.test",
		"upstream_token": at1, "capabilities": []string{"interaction"}})))
	before := c.ps.TableCounts(t)
	jti, exp := agentTokenClaims(t, c.agent)
	expectEmpty200(t, c.revoke(t, apSigner(c.ap), authBody(t, map[string]any{"jti": jti, "exp": exp})))
	r := c.poll(t, c.mid, s.loc)
	expectProblem(t, r, http.StatusForbidden, aauth.ErrRevoked)
	if d, _ := r.body["detail"].(string); !strings.Contains(d, "upstream token") {
		t.Fatalf("detail %q does not say which token (PS-280)", d)
	}
	if pg := c.alice.Get(t, s.path()); !strings.Contains(pg.HTML, "ended") || !strings.Contains(pg.HTML, "revoked") {
		t.Fatalf("the person's page does not say the request ended: %d\n%s", pg.Status, pg.HTML)
	}
	if after := c.ps.TableCounts(t); after["person_token_records"] != before["person_token_records"] {
		t.Fatalf("issued on a revoked chain: %v → %v", before, after)
	}
}
