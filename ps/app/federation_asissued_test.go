package app_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// asIssuedWorld: the intermediary r1 has its access server as.test, so agent
// A's auth token at r1 is one as.test issued after this PS presented A's
// person token for r1 there; as2.test is an AS this PS never federated with.
type asIssuedWorld struct {
	*chainWorld
	as, as2 *conformance.AccessServer
	pt1     string // A's person token for r1, presented to as.test
	at1     string // as.test's auth token for r1 (aud r1, sub alice's at r1)
	sub     string // alice's directed sub at r1
}

func newASIssuedWorld(t *testing.T, opt pstest.Options) *asIssuedWorld {
	t.Helper()
	x := &asIssuedWorld{chainWorld: &chainWorld{}}
	c := x.chainWorld
	c.world = newWorldWith(t, opt, func(env *pstest.Env) {
		var err error
		if c.r1, err = conformance.StartIntermediary(env.CA, env.Resolver, "r1.test"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.r1.Close() })
		if c.r2, err = conformance.StartResource(env.CA, env.Resolver, "r2.test"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.r2.Close() })
		for _, p := range []struct {
			as   **conformance.AccessServer
			host string
		}{{&x.as, "as.test"}, {&x.as2, "as2.test"}} {
			if *p.as, err = conformance.StartAccessServer(env.CA, env.Resolver, p.host); err != nil {
				t.Fatal(err)
			}
			as := *p.as
			t.Cleanup(func() { _ = as.Close() })
		}
		c.r1.SetAccessServer(x.as.Issuer())
	})
	x.as.SetClock(c.clock.Now)
	x.as2.SetClock(c.clock.Now)
	c.alice = c.person(t, "alice", false)
	c.bind(t, c.agent, c.alice)
	var err error
	if c.mid, err = c.r1.Agent(""); err != nil {
		t.Fatal(err)
	}
	x.pt1 = personToken(t, c.world, c.alice, c.r1.Resource, `{"resource":"https://r1.test","capabilities":["interaction"]}`)
	rt1 := resourceToken(t, c.world, c.r1.Resource, x.pt1, "calendar.read", func(s *conformance.ResourceTokenSpec) { s.Aud = x.as.Issuer() })
	r := c.approveOrNow(t, c.agent, c.post(t, c.agent, "/token", authBody(t, map[string]any{"resource_token": rt1,
		"presented_token": x.pt1, "capabilities": []string{"interaction"}})))
	x.at1, _ = r.body["auth_token"].(string)
	_, ac, err := conformance.DecodeJWT(x.at1)
	if r.status != http.StatusOK || err != nil || ac["iss"] != x.as.Issuer() {
		t.Fatalf("four-party auth token for r1: %d %s", r.status, r.raw)
	}
	x.sub, _ = ac["sub"].(string)
	return x
}

// mint is an auth token of as for r1 naming sub, bound to A's key, with
// ps this PS, living life.
func (x *asIssuedWorld) mint(t *testing.T, as *conformance.AccessServer, sub string, life time.Duration) string {
	t.Helper()
	now := x.clock.Now()
	tok, err := as.MintAuthToken(map[string]any{"aud": x.r1.Issuer(), "sub": sub, "ps": x.ps.Issuer, "scope": "calendar.read",
		"cnf": map[string]any{"jwk": x.agent.Key.PublicJWK()}, "iat": now.Unix(), "exp": now.Add(life).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestFederationASIssuedTokens: an auth token an access server issued is
// accepted as upstream_token and as presented_token when this PS presented
// a person token to that AS for the token's aud and sub, verified under the
// AS's aauth-access.json keys; the chained request's person and calling
// agent come from the PS's record of that presentation (PS-133, PS-268,
// PS-273, PS-279). Refused, with nothing fetched from the AS: an AS the PS
// never federated with, the right AS for a sub the PS never presented
// there (PS-133, PS-268); refused for its lifetime: an AS token living 2 h
// (PS-267). Unbinding the agent the presented person token was issued to
// revokes the chain (P§upstream-token-verification (4)). On both databases.
func TestFederationASIssuedTokens(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			federationASIssued(t, newASIssuedWorld(t, pstest.Options{DatabaseURL: b.NewMigratedURL(t)}))
		})
	}
}

func federationASIssued(t *testing.T, x *asIssuedWorld) {
	e3 := func(up string) result {
		return x.post(t, x.mid, "/person", authBody(t, map[string]any{"resource": "https://r2.test", "upstream_token": up,
			"capabilities": []string{"interaction"}}))
	}
	// A's step-up at r1 (three-party: the resource token's aud is this PS)
	// naming an AS auth token.
	stepUp := func(presented string) result {
		rt := resourceToken(t, x.world, x.r1.Resource, presented, "calendar.read", nil)
		return x.post(t, x.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": presented,
			"capabilities": []string{"interaction"}}))
	}

	// PS-133: the AS's token as upstream_token; the person token for r2 is
	// issued on it, its lineage through the person token presented to the AS.
	r := x.approveOrNow(t, x.mid, e3(x.at1))
	pt2, _ := r.body["person_token"].(string)
	if r.status != http.StatusOK || pt2 == "" {
		t.Fatalf("chained person token on an AS's upstream token (PS-133): %d %s", r.status, r.raw)
	}
	rec, err := x.ps.App.Tokens.PersonTokenRecord(ctxT(), pjti(t, pt2))
	if err != nil || rec.UpstreamJTI != pjti(t, x.pt1) || rec.Depth != 1 || rec.AgentSub != x.mid.ID {
		t.Fatalf("chained person token record %+v %v: the chain goes through the presented person token", rec, err)
	}
	// PS-279: the chained auth token at r2 on the same upstream token.
	rt2 := mintFor(t, x.world, x.r2, pt2, x.mid.Key, "payments.charge")
	r = x.approveOrNow(t, x.mid, x.post(t, x.mid, "/token", authBody(t, map[string]any{"resource_token": rt2,
		"presented_token": pt2, "upstream_token": x.at1, "capabilities": []string{"interaction"}})))
	if at2, _ := r.body["auth_token"].(string); r.status != http.StatusOK || at2 == "" {
		t.Fatalf("chained auth token on an AS's upstream token: %d %s", r.status, r.raw)
	}

	// PS-268, PS-273: the AS's token as presented_token in a step-up; the
	// PS's token expires no later than it.
	r = x.approveOrNow(t, x.agent, stepUp(x.at1))
	c := expectAuthTokenFor(t, x.world, x.r1.Resource, r, x.agent.Key)
	_, ac, _ := conformance.DecodeJWT(x.at1)
	if num(c, "exp") > num(ac, "exp") || c["iss"] != x.ps.Issuer {
		t.Fatalf("step-up token %v outlives the AS's presented token (PS-273)", c)
	}

	// Refusals: nothing changes, and an AS never federated with is never
	// fetched from (no egress oracle).
	hits := len(x.as.Hits())
	before := x.ps.TableCounts(t)
	for _, tc := range []struct {
		name string
		tok  string
	}{
		{"PS-133/PS-268 an AS this PS never federated with", x.mint(t, x.as2, x.sub, time.Hour)},
		{"PS-133/PS-268 a sub this PS never presented to the AS", x.mint(t, x.as, "never-presented", time.Hour)},
		{"PS-267 an AS token living 2 h", x.mint(t, x.as, x.sub, 2*time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectProblem(t, e3(tc.tok), http.StatusBadRequest, aauth.ErrInvalidUpstreamToken)
			expectProblem(t, stepUp(tc.tok), http.StatusBadRequest, aauth.ErrInvalidPresentedToken)
		})
	}
	writesNothing(t, x.ps, before)
	if n := len(x.as2.Hits()); n != 0 || x.as2.MetadataGets() != 0 {
		t.Fatalf("the PS fetched from an AS it never federated with: %d hits", n)
	}
	if n := len(x.as.Hits()); n != hits {
		t.Fatalf("the AS saw %d requests while the PS refused its tokens", n-hits)
	}
	// The control: the same AS's token for the presented sub, living 1 h.
	if r := x.post(t, x.mid, "/person", authBody(t, map[string]any{"resource": "https://r2.test",
		"upstream_token": x.mint(t, x.as, x.sub, time.Hour)})); r.status != http.StatusOK {
		t.Fatalf("a 1 h AS token for the presented sub: %d %s", r.status, r.raw)
	}

	// P§upstream-token-verification (4): alice unbinds A, the agent the
	// presented person token was issued to; the chain is revoked.
	id := agentBindingID(t, x.alice, x.agent.ID)
	if pg := x.alice.Post(t, "/agents/"+id+"/unbind", nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("unbind: %d\n%s", pg.Status, pg.HTML)
	}
	expectProblem(t, e3(x.at1), http.StatusBadRequest, aauth.ErrRevokedUpstreamToken)
}
