package app_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

// Call chaining (upstream_token) end to end over HTTPS: agent A gets an
// auth token at the intermediary R1 (https://r1.test, its own agent
// provider), and R1, acting as an agent, chains to R2 (https://r2.test)
// at both token endpoints. PS-REQUIREMENTS §2.2.7, §3.10.

// chainWorld is alice with a logged-in browser, w.agent bound to her, the
// intermediary r1 with its own agent mid, and the resource r2.
type chainWorld struct {
	*world
	alice *pstest.Browser
	r1    *conformance.Intermediary
	r2    *conformance.Resource
	mid   *conformance.Agent
}

func newChainWorld(t *testing.T) *chainWorld {
	t.Helper()
	return newChainWorldWith(t, pstest.Options{})
}

func newChainWorldWith(t *testing.T, opt pstest.Options) *chainWorld {
	t.Helper()
	var r1 *conformance.Intermediary
	var r2 *conformance.Resource
	w := newWorldWith(t, opt, func(env *pstest.Env) {
		var err error
		if r1, err = conformance.StartIntermediary(env.CA, env.Resolver, "r1.test"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r1.Close() })
		if r2, err = conformance.StartResource(env.CA, env.Resolver, "r2.test"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r2.Close() })
	})
	alice := w.person(t, "alice", false)
	w.bind(t, w.agent, alice)
	mid, err := r1.Agent("")
	if err != nil {
		t.Fatal(err)
	}
	return &chainWorld{world: w, alice: alice, r1: r1, r2: r2, mid: mid}
}

// freshMid is the intermediary's agent with a token minted at the PS clock.
func (c *chainWorld) freshMid(t *testing.T) *conformance.Agent {
	t.Helper()
	tok, err := c.r1.AP.MintAgentToken(conformance.TokenSpec{Agent: c.mid.Key, Sub: c.mid.ID, IssuedAt: c.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return c.mid.WithToken(tok)
}

// approveOrNow returns the 200 of r, or has alice approve its 202 and
// returns the poll's answer.
func (c *chainWorld) approveOrNow(t *testing.T, a *conformance.Agent, r result) result {
	t.Helper()
	if r.status != http.StatusAccepted {
		return r
	}
	s := c.expectInteraction(t, r)
	open(t, c.alice, s)
	c.alice.Post(t, s.path()+"/approve", nil)
	return c.poll(t, a, s.loc)
}

// upstreamAuthToken is agent A's auth token at R1: the token A presents to
// R1, which R1 then sends as upstream_token.
func (c *chainWorld) upstreamAuthToken(t *testing.T) (pt1, at1 string) {
	t.Helper()
	pt1 = personToken(t, c.world, c.alice, c.r1.Resource, `{"resource":"https://r1.test","capabilities":["interaction"]}`)
	rt1 := resourceToken(t, c.world, c.r1.Resource, pt1, "calendar.read", nil)
	r := c.approveOrNow(t, c.agent, c.post(t, c.agent, "/token", authBody(t, map[string]any{"resource_token": rt1,
		"presented_token": pt1, "capabilities": []string{"interaction"}})))
	expectAuthToken(t, c.world, c.r1.Resource, r, pt1)
	at1, _ = r.body["auth_token"].(string)
	return pt1, at1
}

// mintFor mints rs's resource token for a token presented by key.
func mintFor(t *testing.T, w *world, rs *conformance.Resource, presented string, key *conformance.AgentKey, scope string) string {
	t.Helper()
	rt, err := rs.MintFor(presented, key, scope, w.clock.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// TestCallChainingEndToEnd: A → R1 with an auth token; R1 (mid) obtains a
// person token for R2 with upstream_token (PS-132, PS-134 (b): the
// upstream cnf is A's key, not mid's), presents it at R2, and obtains an
// auth token for R2 with presented_token + upstream_token (PS-279). The
// downstream tokens carry the person's directed sub at R2, never the
// upstream one (PS-136), expire no later than the upstream token, carry a
// scope unrelated to the upstream one (PS-138), and the chain is recorded
// (upstream jti, depth). mid is never bound to anyone (PS-277), the
// person's remembered grant answers the next chained request at once, and
// once alice unbinds A the chain is refused with revoked_upstream_token
// (PS-276). PS-068: the downstream person token is alice's, with the sub
// her own agent gets at R2.
func TestCallChainingEndToEnd(t *testing.T) {
	t.Parallel()
	c := newChainWorld(t)
	_, at1 := c.upstreamAuthToken(t)
	_, up, _ := conformance.DecodeJWT(at1)

	// E3: the person token for R2, asked of alice the first time.
	r := c.approveOrNow(t, c.mid, c.post(t, c.mid, "/person", authBody(t, map[string]any{"resource": "https://r2.test",
		"upstream_token": at1, "capabilities": []string{"interaction"}})))
	pt2, _ := r.body["person_token"].(string)
	if r.status != http.StatusOK || pt2 == "" {
		t.Fatalf("chained person token: %d %s", r.status, r.raw)
	}
	p2, err := c.r2.VerifyPersonToken(ctxT(), pt2, c.mid.Key)
	if err != nil {
		t.Fatalf("R2 refuses the chained person token: %v", err)
	}
	if p2["sub"] == up["sub"] || p2["aud"] != "https://r2.test" {
		t.Fatalf("downstream person token sub %v aud %v: the upstream sub %v must not be copied (PS-136)", p2["sub"], p2["aud"], up["sub"])
	}
	if num(p2, "exp") > num(up, "exp") {
		t.Fatalf("downstream person token exp %d outlives the upstream %d (P§person-token-structure)", num(p2, "exp"), num(up, "exp"))
	}
	// PS-068: issued for the upstream token's person (alice), with her
	// directed sub at R2: the sub her own agent A gets for R2.
	alicePT := personToken(t, c.world, c.alice, c.r2, `{"resource":"https://r2.test","capabilities":["interaction"]}`)
	_, own, _ := conformance.DecodeJWT(alicePT)
	if p2["sub"] != own["sub"] {
		t.Fatalf("chained person token sub %v, alice's directed sub at R2 %v (PS-068)", p2["sub"], own["sub"])
	}
	alice, err := c.ps.App.Tokens.PersonBySub(ctxT(), c.r1.Issuer(), up["sub"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := c.ps.App.Tokens.PersonTokenRecord(ctxT(), p2["jti"].(string)); err != nil || rec.PersonID != alice || rec.Sub != own["sub"] {
		t.Fatalf("chained person token record %+v %v: want alice's (%s) (PS-068)", rec, err, alice)
	}

	// E4: R2 challenged mid with a resource token bound to mid's key.
	rt2 := mintFor(t, c.world, c.r2, pt2, c.mid.Key, "payments.charge")
	r = c.approveOrNow(t, c.mid, c.post(t, c.mid, "/token", authBody(t, map[string]any{"resource_token": rt2,
		"presented_token": pt2, "upstream_token": at1, "capabilities": []string{"interaction"}})))
	at2, _ := r.body["auth_token"].(string)
	if r.status != http.StatusOK || at2 == "" {
		t.Fatalf("chained auth token: %d %s", r.status, r.raw)
	}
	a2, err := c.r2.VerifyAuthToken(ctxT(), at2, c.mid.Key)
	if err != nil {
		t.Fatalf("R2 refuses the chained auth token: %v", err)
	}
	if a2["sub"] != p2["sub"] || a2["scope"] != "payments.charge" || num(a2, "exp") > num(up, "exp") {
		t.Fatalf("chained auth token %v (PS-136, PS-138, exp ≤ upstream)", a2)
	}

	// The chain is recorded: both downstream tokens name the upstream jti.
	ptRec, err := c.ps.App.Tokens.PersonTokenRecord(ctxT(), p2["jti"].(string))
	if err != nil || ptRec.UpstreamJTI != up["jti"] || ptRec.Depth != 1 || ptRec.AgentSub != c.mid.ID {
		t.Fatalf("person token record %+v %v", ptRec, err)
	}
	atRec, err := c.ps.App.Tokens.AuthTokenRecord(ctxT(), a2["jti"].(string))
	if err != nil || atRec.UpstreamJTI != up["jti"] || atRec.Depth != 1 || atRec.ParentJTI != p2["jti"] {
		t.Fatalf("auth token record %+v %v", atRec, err)
	}

	// PS-277: mid is bound to nobody.
	if _, err := c.ps.App.Agents.Lookup(ctxT(), c.r1.Issuer(), c.mid.ID); !errors.Is(err, dberr.ErrNotFound) {
		t.Fatalf("the intermediary got a binding: %v (PS-277)", err)
	}

	// The grant is remembered: the same chain again is answered at once,
	// also with another agent identifier of the intermediary's (the PS
	// keys nothing on it, PS-277).
	other, err := c.r1.Agent("aauth:mid2@r1.test")
	if err != nil {
		t.Fatal(err)
	}
	if r := c.post(t, other, "/person", authBody(t, map[string]any{"resource": "https://r2.test", "upstream_token": at1})); r.status != http.StatusOK {
		t.Fatalf("chained person token with the grant remembered: %d %s", r.status, r.raw)
	}
	rt2b := mintFor(t, c.world, c.r2, pt2, c.mid.Key, "payments.charge")
	if r := c.post(t, c.mid, "/token", authBody(t, map[string]any{"resource_token": rt2b, "presented_token": pt2, "upstream_token": at1})); r.status != http.StatusOK {
		t.Fatalf("chained auth token with the grant remembered: %d %s", r.status, r.raw)
	}

	// PS-276: alice unbinds agent A; its token no longer carries a chain.
	id := agentBindingID(t, c.alice, c.agent.ID)
	if pg := c.alice.Post(t, "/agents/"+id+"/unbind", nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("unbind: %d\n%s", pg.Status, pg.HTML)
	}
	before := c.ps.TableCounts(t)
	expectProblem(t, c.post(t, c.mid, "/person", authBody(t, map[string]any{"resource": "https://r2.test", "upstream_token": at1})),
		http.StatusBadRequest, aauth.ErrRevokedUpstreamToken)
	rt2c := mintFor(t, c.world, c.r2, pt2, c.mid.Key, "payments.charge")
	expectProblem(t, c.post(t, c.mid, "/token", authBody(t, map[string]any{"resource_token": rt2c, "presented_token": pt2, "upstream_token": at1})),
		http.StatusBadRequest, aauth.ErrRevokedUpstreamToken)
	writesNothing(t, c.ps, before)
}

// TestCallChainingRefusals: every refusal of an upstream_token, at both
// endpoints, answers its draft code and status and writes nothing (no
// token row, no pending request, no grant). PS-132, PS-133, PS-134 (a),
// PS-135, PS-137 (no mission_s256 of the intermediary's own), PS-139
// (the upstream token in Signature-Key), expired_upstream_token.
func TestCallChainingRefusals(t *testing.T) {
	t.Parallel()
	c := newChainWorld(t)
	_, at1 := c.upstreamAuthToken(t)
	// A chained person token for R2 and its resource token, for E4 rows.
	pt2, _ := c.approveOrNow(t, c.mid, c.post(t, c.mid, "/person", authBody(t, map[string]any{"resource": "https://r2.test",
		"upstream_token": at1, "capabilities": []string{"interaction"}}))).body["person_token"].(string)
	if pt2 == "" {
		t.Fatal("no chained person token")
	}
	rt2 := mintFor(t, c.world, c.r2, pt2, c.mid.Key, "payments.charge")

	// Tokens signed by the intermediary's resource key: the typ of PS
	// tokens, but not from this PS (PS-135), or an auth token naming
	// another PS as ps.
	forged := func(typ string, overrides map[string]any) string {
		tok, err := c.r1.MintFor(at1, c.agent.Key, "", c.clock.Now(), func(s *conformance.ResourceTokenSpec) {
			s.Typ = typ
			s.Overrides = conformance.Patch(map[string]any{"aud": "https://r1.test", "dwk": aauth.DWKPerson,
				"cnf": map[string]any{"jwk": c.agent.Key.PublicJWK()}}, overrides)
		})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	_, up, _ := conformance.DecodeJWT(at1)

	e3 := func(extra map[string]any) map[string]any {
		m := map[string]any{"resource": "https://r2.test"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	e4 := func(extra map[string]any) map[string]any {
		m := map[string]any{"resource_token": rt2, "presented_token": pt2}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	rows := []struct {
		name   string
		signer *conformance.Agent
		path   string
		body   map[string]any
		status int
		code   string
	}{
		{"upstream_token not a string", c.mid, "/person", e3(map[string]any{"upstream_token": 7}), 400, aauth.ErrInvalidRequest},
		{"upstream_token too long", c.mid, "/person", e3(map[string]any{"upstream_token": strings.Repeat("a", 17<<10)}), 400, aauth.ErrInvalidRequest},
		{"PS-137 mission_s256 beside upstream_token", c.mid, "/person", e3(map[string]any{"upstream_token": at1, "mission_s256": randomS256()}), 400, aauth.ErrInvalidRequest},
		{"PS-137 April mission object beside upstream_token", c.mid, "/person", e3(map[string]any{"upstream_token": at1,
			"mission": map[string]any{"approver": c.ps.Issuer, "s256": randomS256()}}), 400, aauth.ErrInvalidRequest},
		{"PS-132 not a JWT", c.mid, "/person", e3(map[string]any{"upstream_token": "abc"}), 400, aauth.ErrInvalidUpstreamToken},
		{"PS-132 an agent token", c.mid, "/person", e3(map[string]any{"upstream_token": c.agent.Token}), 400, aauth.ErrInvalidUpstreamToken},
		{"PS-132 a resource token", c.mid, "/person", e3(map[string]any{"upstream_token": rt2}), 400, aauth.ErrInvalidUpstreamToken},
		{"PS-132 bad signature", c.mid, "/person", e3(map[string]any{"upstream_token": at1[:len(at1)-4] + "AAAA"}), 400, aauth.ErrInvalidUpstreamToken},
		{"PS-135 person token of another PS", c.mid, "/person", e3(map[string]any{"upstream_token": forged(aauth.TypPersonToken,
			map[string]any{"iss": "https://other-ps.test"})}), 400, aauth.ErrInvalidUpstreamToken},
		{"PS-135 auth token whose ps is another PS", c.mid, "/person", e3(map[string]any{"upstream_token": forged(aauth.TypAuthToken,
			map[string]any{"iss": c.ps.Issuer, "ps": "https://other-ps.test"})}), 400, aauth.ErrInvalidUpstreamToken},
		{"PS-133 auth token signed by a key this PS does not publish", c.mid, "/person", e3(map[string]any{"upstream_token": forged(aauth.TypAuthToken,
			map[string]any{"iss": c.ps.Issuer, "ps": c.ps.Issuer})}), 400, aauth.ErrInvalidUpstreamToken},
		{"PS-134 (a) the signer's iss is not the upstream aud", c.agent, "/person", e3(map[string]any{"upstream_token": at1}), 400, aauth.ErrInvalidUpstreamToken},
		{"PS-134 (a) at E4", c.agent, "/token", e4(map[string]any{"upstream_token": at1}), 400, aauth.ErrInvalidUpstreamToken},
		{"upstream_token at E4 not a JWT", c.mid, "/token", e4(map[string]any{"upstream_token": "abc"}), 400, aauth.ErrInvalidUpstreamToken},
	}
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			before := c.ps.TableCounts(t)
			expectProblem(t, c.post(t, tc.signer, tc.path, authBody(t, tc.body)), tc.status, tc.code)
			writesNothing(t, c.ps, before)
		})
	}

	// PS-139: the upstream token in Signature-Key is no agent token.
	before := c.ps.TableCounts(t)
	expect401(t, c.post(t, c.agent.WithToken(at1), "/person", `{"resource":"https://r2.test"}`), aauth.SigInvalidJWT)
	writesNothing(t, c.ps, before)

	// expired_upstream_token: the PS clock passes the upstream exp (a
	// fresh agent token keeps the rest valid).
	c.clock.Advance(time.Unix(num(up, "exp"), 0).Sub(c.clock.Now()) + time.Second)
	mid := c.freshMid(t)
	before = c.ps.TableCounts(t)
	expectProblem(t, c.post(t, mid, "/person", authBody(t, e3(map[string]any{"upstream_token": at1}))), http.StatusBadRequest, aauth.ErrExpiredUpstreamToken)
	writesNothing(t, c.ps, before)
}

// TestChainedPendingEndsWithUpstream: PS-278. A chained request waiting
// for the person cannot outlive its upstream token: polled after the
// upstream exp it is 408 expired, and nothing was issued.
func TestChainedPendingEndsWithUpstream(t *testing.T) {
	t.Parallel()
	c := newChainWorld(t)
	_, at1 := c.upstreamAuthToken(t)
	_, up, _ := conformance.DecodeJWT(at1)
	// 30 s before the upstream token expires, mid asks; alice must consent.
	c.clock.Advance(time.Unix(num(up, "exp"), 0).Sub(c.clock.Now()) - 30*time.Second)
	mid := c.freshMid(t)
	s := c.expectInteraction(t, c.post(t, mid, "/person", authBody(t, map[string]any{"resource": "https://r2.test",
		"upstream_token": at1, "capabilities": []string{"interaction"}})))
	c.clock.Advance(40 * time.Second)
	before := c.ps.TableCounts(t)
	expectProblem(t, c.poll(t, mid, s.loc), http.StatusRequestTimeout, aauth.ErrExpired)
	if after := c.ps.TableCounts(t); after["person_token_records"] != before["person_token_records"] {
		t.Fatal("a token was issued on an expired upstream token")
	}
}

// TestCallChainingRevocations: PS-276 and P§upstream-token-verification
// (1, 4): a revoked upstream token, and a valid one whose calling agent's
// agent token the PS holds a revocation for, are both 400
// revoked_upstream_token at both endpoints, and write nothing.
func TestCallChainingRevocations(t *testing.T) {
	t.Parallel()
	c := newChainWorld(t)
	pt1, at1 := c.upstreamAuthToken(t)
	pt2, _ := c.approveOrNow(t, c.mid, c.post(t, c.mid, "/person", authBody(t, map[string]any{"resource": "https://r2.test",
		"upstream_token": at1, "capabilities": []string{"interaction"}}))).body["person_token"].(string)
	if pt2 == "" {
		t.Fatal("no chained person token")
	}
	refused := func(t *testing.T, upstream string) {
		t.Helper()
		before := c.ps.TableCounts(t)
		expectProblem(t, c.post(t, c.mid, "/person", authBody(t, map[string]any{"resource": "https://r2.test", "upstream_token": upstream})),
			http.StatusBadRequest, aauth.ErrRevokedUpstreamToken)
		expectProblem(t, c.post(t, c.mid, "/token", authBody(t, map[string]any{"resource_token": mintFor(t, c.world, c.r2, pt2, c.mid.Key, "payments.charge"),
			"presented_token": pt2, "upstream_token": upstream})), http.StatusBadRequest, aauth.ErrRevokedUpstreamToken)
		writesNothing(t, c.ps, before)
	}
	// The upstream auth token itself is revoked; A's person token at R1
	// still carries the chain.
	_, up, _ := conformance.DecodeJWT(at1)
	if err := c.ps.App.Store.RecordRevocation(ctxT(), c.ps.Issuer, up["jti"].(string), time.Unix(num(up, "exp"), 0), time.Now()); err != nil {
		t.Fatal(err)
	}
	refused(t, at1)
	if r := c.post(t, c.mid, "/person", authBody(t, map[string]any{"resource": "https://r2.test", "upstream_token": pt1})); r.status != http.StatusOK {
		t.Fatalf("another upstream token of the chain: %d %s", r.status, r.raw)
	}
	// A's agent provider revoked A's agent token: no token issued to A
	// carries a chain any more (PS-276).
	_, ac, _ := conformance.DecodeJWT(c.agent.Token)
	if err := c.ps.App.Store.RecordRevocation(ctxT(), c.ap.Issuer(), ac["jti"].(string), time.Unix(num(ac, "exp"), 0), time.Now()); err != nil {
		t.Fatal(err)
	}
	c.clock.Advance(2 * time.Second) // a new signature, not a replay of the request above
	refused(t, pt1)
}

// TestCallChainingUnderMission: PS-137. The upstream token's mission is
// the chain's: the downstream person and auth tokens carry its
// mission_s256 (the intermediary sends none of its own), and once the
// person ends the mission the chain is 403 mission_terminated.
func TestCallChainingUnderMission(t *testing.T) {
	t.Parallel()
	c := newChainWorld(t)
	m := c.approveMission(t, c.agent, c.alice, `{"description":"# Book a trip","resources":["https://r1.test"],"capabilities":["interaction"]}`, nil)
	pt1 := personToken(t, c.world, c.alice, c.r1.Resource, missionBody("https://r1.test", m.s256))
	rt1 := resourceToken(t, c.world, c.r1.Resource, pt1, "calendar.read", nil)
	r := c.approveOrNow(t, c.agent, c.post(t, c.agent, "/token", authBody(t, map[string]any{"resource_token": rt1, "presented_token": pt1})))
	if expectAuthToken(t, c.world, c.r1.Resource, r, pt1)["mission_s256"] != m.s256 {
		t.Fatalf("upstream auth token without the mission: %s", r.raw)
	}
	at1, _ := r.body["auth_token"].(string)

	r = c.approveOrNow(t, c.mid, c.post(t, c.mid, "/person", authBody(t, map[string]any{"resource": "https://r2.test",
		"upstream_token": at1, "capabilities": []string{"interaction"}})))
	pt2, _ := r.body["person_token"].(string)
	_, p2, _ := conformance.DecodeJWT(pt2)
	if r.status != http.StatusOK || p2["mission_s256"] != m.s256 {
		t.Fatalf("chained person token %d %v: mission_s256 must be the upstream's (PS-137)", r.status, p2)
	}
	rt2 := mintFor(t, c.world, c.r2, pt2, c.mid.Key, "payments.charge")
	r = c.approveOrNow(t, c.mid, c.post(t, c.mid, "/token", authBody(t, map[string]any{"resource_token": rt2, "presented_token": pt2,
		"upstream_token": at1, "capabilities": []string{"interaction"}})))
	if a2 := expectAuthTokenFor(t, c.world, c.r2, r, c.mid.Key); a2["mission_s256"] != m.s256 {
		t.Fatalf("chained auth token %v: mission_s256 must be the upstream's (PS-137)", a2)
	}
	if recs, err := c.ps.App.Tokens.AuthRecords(ctxT(), m.s256); err != nil || len(recs) != 2 {
		t.Fatalf("the mission's auth tokens: %d, %v; want the upstream and the chained one", len(recs), err)
	}

	if r := mc(t, c.world, c.alice, http.MethodPost, "/missions/"+m.s256+"/revoke", "", csrfOf(t, c.alice)); r.status >= 300 {
		t.Fatalf("terminate: %d %s", r.status, r.raw)
	}
	settleRevocations(t, c.world) // the revocation_result records are written
	before := c.ps.TableCounts(t)
	expectTerminated(t, c.post(t, c.mid, "/person", authBody(t, map[string]any{"resource": "https://r2.test", "upstream_token": at1})), "revoked")
	expectTerminated(t, c.post(t, c.mid, "/token", authBody(t, map[string]any{"resource_token": mintFor(t, c.world, c.r2, pt2, c.mid.Key, "payments.charge"),
		"presented_token": pt2, "upstream_token": at1})), "revoked")
	writesNothing(t, c.ps, before)
}

// TestCallChainingMissionS256: PS-258, PS-137. With
// upstream_token the mission is the upstream token's: a mission_s256
// sent beside it must be that mission's (then it is accepted and changes
// nothing), and anything else is 400 invalid_request that writes nothing,
// including a mission of the intermediary's own that would name it
// outside a chain. The intermediary's own missions never apply to a
// chained request: without mission_s256 the token carries the upstream
// mission, or none when the upstream token has none.
func TestCallChainingMissionS256(t *testing.T) {
	t.Parallel()
	c := newChainWorld(t)
	m := c.approveMission(t, c.agent, c.alice, `{"description":"# Book a trip","resources":["https://r1.test"],"capabilities":["interaction"]}`, nil)
	pt1 := personToken(t, c.world, c.alice, c.r1.Resource, missionBody("https://r1.test", m.s256))
	rt1 := resourceToken(t, c.world, c.r1.Resource, pt1, "calendar.read", nil)
	r := c.approveOrNow(t, c.agent, c.post(t, c.agent, "/token", authBody(t, map[string]any{"resource_token": rt1, "presented_token": pt1})))
	if expectAuthToken(t, c.world, c.r1.Resource, r, pt1)["mission_s256"] != m.s256 {
		t.Fatalf("upstream auth token without the mission: %s", r.raw)
	}
	at1, _ := r.body["auth_token"].(string)

	// The intermediary's agent is bound to alice too and has a mission of
	// its own for R2, active: outside a chain it would name it.
	c.bind(t, c.mid, c.alice)
	own := c.approveMission(t, c.mid, c.alice, `{"description":"# The intermediary's own","resources":["https://r2.test"],"capabilities":["interaction"]}`, nil)

	chained := func(extra map[string]any) map[string]any {
		b := map[string]any{"resource": "https://r2.test", "upstream_token": at1, "capabilities": []string{"interaction"}}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	for name, v := range map[string]any{
		"the intermediary's own mission": own.s256,
		"another mission":                randomS256(),
		"empty":                          "",
		"not a string":                   7,
	} {
		before := c.ps.TableCounts(t)
		r := c.post(t, c.mid, "/person", authBody(t, chained(map[string]any{"mission_s256": v})))
		if r.status != http.StatusBadRequest || r.body["error"] != aauth.ErrInvalidRequest {
			t.Fatalf("mission_s256 %s beside upstream_token: %d %s, want 400 invalid_request (PS-258)", name, r.status, r.raw)
		}
		writesNothing(t, c.ps, before)
	}

	// mission_s256 equal to the upstream token's is accepted.
	r = c.approveOrNow(t, c.mid, c.post(t, c.mid, "/person", authBody(t, chained(map[string]any{"mission_s256": m.s256}))))
	pt2, _ := r.body["person_token"].(string)
	if _, p2, _ := conformance.DecodeJWT(pt2); r.status != http.StatusOK || p2["mission_s256"] != m.s256 {
		t.Fatalf("chained person token with the upstream mission_s256: %d %s (PS-258)", r.status, r.raw)
	}
	// Without it, the upstream mission still, never the intermediary's.
	r = c.approveOrNow(t, c.mid, c.post(t, c.mid, "/person", authBody(t, chained(nil))))
	pt2, _ = r.body["person_token"].(string)
	if _, p2, _ := conformance.DecodeJWT(pt2); r.status != http.StatusOK || p2["mission_s256"] != m.s256 {
		t.Fatalf("chained person token: %d %s, want the upstream mission %s (PS-258)", r.status, r.raw, m.s256)
	}
	// An upstream token without a mission: the chained token has none,
	// though the intermediary's agent has an active mission for R2.
	_, plain := c.upstreamAuthToken(t)
	r = c.approveOrNow(t, c.mid, c.post(t, c.mid, "/person", authBody(t, map[string]any{"resource": "https://r2.test",
		"upstream_token": plain, "capabilities": []string{"interaction"}})))
	pt3, _ := r.body["person_token"].(string)
	if _, p3, _ := conformance.DecodeJWT(pt3); r.status != http.StatusOK || p3["mission_s256"] != nil {
		t.Fatalf("chained person token under an upstream token without a mission: %d %s (PS-258)", r.status, r.raw)
	}
	before := c.ps.TableCounts(t)
	expectProblem(t, c.post(t, c.mid, "/person", authBody(t, map[string]any{"resource": "https://r2.test", "upstream_token": plain,
		"mission_s256": own.s256})), http.StatusBadRequest, aauth.ErrInvalidRequest)
	writesNothing(t, c.ps, before)
}

// TestCallChainingTwoPersons: PS-277 and PS-279. One intermediary
// agent token chains for alice and then for bob, each getting the
// person's own directed sub at R2 and no binding; a chained auth token
// request whose presented token is alice's and whose upstream token is
// bob's is 400 invalid_upstream_token.
func TestCallChainingTwoPersons(t *testing.T) {
	t.Parallel()
	c := newChainWorld(t)
	_, atAlice := c.upstreamAuthToken(t)
	bob := c.person(t, "bob", false)
	b1 := c.newAgent(t, "aauth:b1@ap.test")
	c.bind(t, b1, bob)
	s := c.expectInteraction(t, c.post(t, b1, "/person", `{"resource":"https://r1.test","capabilities":["interaction"]}`))
	open(t, bob, s)
	bob.Post(t, s.path()+"/approve", nil)
	ptBob, _ := c.poll(t, b1, s.loc).body["person_token"].(string)

	chained := func(b *pstest.Browser, upstream string) string {
		t.Helper()
		r := c.post(t, c.mid, "/person", authBody(t, map[string]any{"resource": "https://r2.test", "upstream_token": upstream,
			"capabilities": []string{"interaction"}}))
		if r.status == http.StatusAccepted {
			s := c.expectInteraction(t, r)
			open(t, b, s)
			b.Post(t, s.path()+"/approve", nil)
			r = c.poll(t, c.mid, s.loc)
		}
		pt, _ := r.body["person_token"].(string)
		if r.status != http.StatusOK || pt == "" {
			t.Fatalf("chained person token: %d %s", r.status, r.raw)
		}
		return pt
	}
	ptA2, ptB2 := chained(c.alice, atAlice), chained(bob, ptBob)
	_, ca, _ := conformance.DecodeJWT(ptA2)
	_, cb, _ := conformance.DecodeJWT(ptB2)
	if ca["sub"] == cb["sub"] {
		t.Fatal("alice and bob share a directed sub at R2 (PS-277)")
	}
	if _, err := c.ps.App.Agents.Lookup(ctxT(), c.r1.Issuer(), c.mid.ID); !errors.Is(err, dberr.ErrNotFound) {
		t.Fatalf("the intermediary got a binding: %v (PS-277)", err)
	}
	before := c.ps.TableCounts(t)
	expectProblem(t, c.post(t, c.mid, "/token", authBody(t, map[string]any{"resource_token": mintFor(t, c.world, c.r2, ptA2, c.mid.Key, "payments.charge"),
		"presented_token": ptA2, "upstream_token": ptBob})), http.StatusBadRequest, aauth.ErrInvalidUpstreamToken)
	writesNothing(t, c.ps, before)
}

// TestCallChainingDepthBound: a chain is at most tokens.MaxChainDepth hops
// long (docs/decisions.md "Call chaining depth"): h1 → h2 → … each
// intermediary chains with the person token the previous one presented
// to it, until the upstream token is MaxChainDepth hops from agent A; the
// next hop is 400 invalid_upstream_token and writes nothing.
func TestCallChainingDepthBound(t *testing.T) {
	t.Parallel()
	const hops = tokens.MaxChainDepth + 1
	hosts := make([]*conformance.Intermediary, hops)
	w := newWorldWith(t, pstest.Options{}, func(env *pstest.Env) {
		for i := range hosts {
			var err error
			if hosts[i], err = conformance.StartIntermediary(env.CA, env.Resolver, fmt.Sprintf("h%d.test", i+1)); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = hosts[i].Close() })
		}
	})
	alice := w.person(t, "alice", false)
	w.bind(t, w.agent, alice)
	upstream := personToken(t, w, alice, hosts[0].Resource, `{"resource":"https://h1.test","capabilities":["interaction"]}`)
	for i := 0; i < hops-1; i++ {
		mid, err := hosts[i].Agent("")
		if err != nil {
			t.Fatal(err)
		}
		r := w.post(t, mid, "/person", authBody(t, map[string]any{"resource": hosts[i+1].Issuer(), "upstream_token": upstream,
			"capabilities": []string{"interaction"}}))
		s := w.expectInteraction(t, r)
		open(t, alice, s)
		alice.Post(t, s.path()+"/approve", nil)
		r = w.poll(t, mid, s.loc)
		next, _ := r.body["person_token"].(string)
		if r.status != http.StatusOK || next == "" {
			t.Fatalf("hop %d: %d %s", i+1, r.status, r.raw)
		}
		_, pc, _ := conformance.DecodeJWT(next)
		if rec, err := w.ps.App.Tokens.PersonTokenRecord(ctxT(), pc["jti"].(string)); err != nil || rec.Depth != i+1 {
			t.Fatalf("hop %d recorded at depth %+v, %v", i+1, rec, err)
		}
		upstream = next
	}
	last, err := hosts[hops-1].Agent("")
	if err != nil {
		t.Fatal(err)
	}
	before := w.ps.TableCounts(t)
	expectProblem(t, w.post(t, last, "/person", authBody(t, map[string]any{"resource": hosts[0].Issuer(), "upstream_token": upstream,
		"capabilities": []string{"interaction"}})), http.StatusBadRequest, aauth.ErrInvalidUpstreamToken)
	writesNothing(t, w.ps, before)
}

// TestCallChainingStrictPSClaim: PS-042. With the strict `ps`
// check on, an agent token whose ps names another PS is refused, except on
// a chained request: the intermediary's own ps names its own PS.
func TestCallChainingStrictPSClaim(t *testing.T) {
	t.Parallel()
	c := newChainWorldWith(t, pstest.Options{Configure: func(cfg *config.Config) { cfg.StrictPSClaim = true }})
	_, at1 := c.upstreamAuthToken(t)
	tok, err := c.r1.AP.MintAgentToken(conformance.TokenSpec{Agent: c.mid.Key, Sub: c.mid.ID, PS: "https://other-ps.test", IssuedAt: c.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	mid := c.mid.WithToken(tok)
	expect401(t, c.post(t, mid, "/person", `{"resource":"https://r2.test","capabilities":["interaction"]}`), aauth.SigInvalidJWT)
	r := c.approveOrNow(t, mid, c.post(t, mid, "/person", authBody(t, map[string]any{"resource": "https://r2.test",
		"upstream_token": at1, "capabilities": []string{"interaction"}})))
	if r.status != http.StatusOK {
		t.Fatalf("chained request of an intermediary whose ps is its own PS: %d %s", r.status, r.raw)
	}
}

// TestChainedDecisionAfterRevocation: a chained request waiting for the
// person when the upstream token is revoked ends with 400
// revoked_upstream_token once the person approves: nothing is issued on
// a chain revoked meanwhile (PS-276, P§upstream-token-verification).
func TestChainedDecisionAfterRevocation(t *testing.T) {
	t.Parallel()
	c := newChainWorld(t)
	_, at1 := c.upstreamAuthToken(t)
	s := c.expectInteraction(t, c.post(t, c.mid, "/person", authBody(t, map[string]any{"resource": "https://r2.test",
		"upstream_token": at1, "capabilities": []string{"interaction"}})))
	_, up, _ := conformance.DecodeJWT(at1)
	if err := c.ps.App.Store.RecordRevocation(ctxT(), c.ps.Issuer, up["jti"].(string), time.Unix(num(up, "exp"), 0), time.Now()); err != nil {
		t.Fatal(err)
	}
	before := c.ps.TableCounts(t)
	open(t, c.alice, s)
	c.alice.Post(t, s.path()+"/approve", nil)
	expectProblem(t, c.poll(t, c.mid, s.loc), http.StatusBadRequest, aauth.ErrRevokedUpstreamToken)
	if after := c.ps.TableCounts(t); after["person_token_records"] != before["person_token_records"] || after["resource_consents"] != before["resource_consents"] {
		t.Fatalf("issued or granted on a revoked chain: before %v after %v", before, after)
	}
}
