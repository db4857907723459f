package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// A revocation recorded between a token request's checks and its
// issuance must not let a token out (issue 8; PS-266, PS-269, PS-046,
// PS-280): the issuing transaction checks again, under the lock every
// revocation takes, that the tokens it stands on are not revoked and that
// the mission is still active. Deterministic: the revocation is recorded
// while the person is being asked — after the request's checks passed —
// the way a cascade records it, and then the person approves.

// raceWorld is authWorld on the database url ("" for embedded SQLite).
func raceWorld(t *testing.T, url string) (*world, *pstest.Browser, *conformance.Resource) {
	t.Helper()
	var rs *conformance.Resource
	w := newWorldWith(t, pstest.Options{DatabaseURL: url}, func(env *pstest.Env) {
		var err error
		if rs, err = conformance.StartResource(env.CA, env.Resolver, "rs.test"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rs.Close() })
	})
	b := w.person(t, "alice", false)
	w.bind(t, w.agent, b)
	return w, b, rs
}

// databases runs f on embedded SQLite and on PostgreSQL, whose
// transactions do not serialise by themselves.
func databases(t *testing.T, f func(t *testing.T, url string)) {
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); f(t, "") })
	t.Run("postgres", func(t *testing.T) { t.Parallel(); f(t, storetest.NewMigratedPostgresURL(t)) })
}

// approveAfter has alice approve the pending request s after revoke ran,
// and expects the agent's poll to be refused with status and code and no
// token to be issued.
func approveAfter(t *testing.T, w *world, b *pstest.Browser, a *conformance.Agent, s started, revoke func(), status int, code string) {
	t.Helper()
	revoke()
	before := w.ps.TableCounts(t)
	open(t, b, s)
	b.Post(t, s.path()+"/approve", nil)
	expectProblem(t, w.poll(t, a, s.loc), status, code)
	after := w.ps.TableCounts(t)
	for _, table := range []string{"person_token_records", "auth_token_records"} {
		if after[table] != before[table] {
			t.Fatalf("a token was issued on a revoked token: %s %d → %d", table, before[table], after[table])
		}
	}
}

// TestIssuanceRechecksRevokedPresentedToken: PS-266. The PS revokes the
// presented person token while the person is asked for the auth token's
// scope; the approval issues nothing and the agent gets
// revoked_presented_token.
func TestIssuanceRechecksRevokedPresentedToken(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, url string) {
		w, b, rs := raceWorld(t, url)
		pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
		rt := resourceToken(t, w, rs, pt, "calendar.read", nil)
		s := w.expectInteraction(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt,
			"presented_token": pt, "capabilities": []string{"interaction"}})))
		_, c, _ := conformance.DecodeJWT(pt)
		approveAfter(t, w, b, w.agent, s, func() {
			if err := w.ps.App.Store.RecordRevocation(ctxT(), w.ps.Issuer, c["jti"].(string), time.Unix(num(c, "exp"), 0), w.clock.Now()); err != nil {
				t.Fatal(err)
			}
		}, http.StatusBadRequest, aauth.ErrRevokedPresentedToken)
	})
}

// TestIssuanceRechecksRevokedResourceToken: PS-269. The resource revokes
// its resource token after the request's checks; the approval issues
// nothing and the agent gets revoked_resource_token.
func TestIssuanceRechecksRevokedResourceToken(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, url string) {
		w, b, rs := raceWorld(t, url)
		pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
		rt := resourceToken(t, w, rs, pt, "calendar.read", nil)
		s := w.expectInteraction(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt,
			"presented_token": pt, "capabilities": []string{"interaction"}})))
		_, c, _ := conformance.DecodeJWT(rt)
		approveAfter(t, w, b, w.agent, s, func() {
			if err := w.ps.App.Store.RecordRevocation(ctxT(), rs.Issuer(), c["jti"].(string), time.Unix(num(c, "exp"), 0), w.clock.Now()); err != nil {
				t.Fatal(err)
			}
		}, http.StatusBadRequest, aauth.ErrRevokedResourceToken)
	})
}

// TestIssuanceRechecksRevokedAgentToken: PS-046, PS-280. The agent
// provider's revocation of the agent token is recorded (the moment before
// the endpoint ends the agent's pending requests) while the person is
// asked for a person token; the approval issues nothing and the agent
// gets 403 revoked.
func TestIssuanceRechecksRevokedAgentToken(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, url string) {
		w, b, _ := raceWorld(t, url)
		s := w.expectInteraction(t, w.post(t, w.agent, "/person", `{"resource":"https://rs.test","capabilities":["interaction"]}`))
		jti, exp := agentTokenClaims(t, w.agent)
		fresh := w.mint(t, conformance.TokenSpec{IssuedAt: w.clock.Now(), Lifetime: time.Hour})
		approveAfter(t, w, b, fresh, s, func() {
			if err := w.ps.App.Store.RecordRevocation(ctxT(), w.ap.Issuer(), jti, time.Unix(exp, 0), w.clock.Now()); err != nil {
				t.Fatal(err)
			}
		}, http.StatusForbidden, aauth.ErrRevoked)
	})
}

// TestRevocationResourceTokenEndsPending: PS-280, PS-288. The agent's
// auth-token request waits for the person; the resource revokes the
// resource token it was started for. The request ends at once: the poll
// answers 403 revoked naming the resource token (no Signature-Error), the
// person's page says the request ended, and nothing is issued. A request
// for another resource token of the same resource goes on.
func TestRevocationResourceTokenEndsPending(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	start := func() (started, string) {
		rt := resourceToken(t, w, rs, pt, "calendar.read", nil)
		return w.expectInteraction(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt,
			"presented_token": pt, "capabilities": []string{"interaction"}}))), rt
	}
	s, rt := start()
	other, _ := start()
	_, c, _ := conformance.DecodeJWT(rt)
	before := w.ps.TableCounts(t)
	expectEmpty200(t, w.revoke(t, rsSigner(rs), authBody(t, map[string]any{"jti": c["jti"], "exp": num(c, "exp")})))

	r := w.poll(t, w.agent, s.loc)
	expectProblem(t, r, http.StatusForbidden, aauth.ErrRevoked)
	if d, _ := r.body["detail"].(string); !strings.Contains(d, "resource token") {
		t.Fatalf("detail %q does not say which token (PS-280)", d)
	}
	if r.header.Get("Signature-Error") != "" {
		t.Fatalf("a revoked pending request carries Signature-Error %q (PS-280)", r.header.Get("Signature-Error"))
	}
	pg := b.Get(t, s.path())
	if !strings.Contains(pg.HTML, "ended") || !strings.Contains(pg.HTML, "revoked") {
		t.Fatalf("the person's page does not say the request ended: %d\n%s", pg.Status, pg.HTML)
	}
	after := w.ps.TableCounts(t)
	if after["auth_token_records"] != before["auth_token_records"] {
		t.Fatalf("issued on a revoked resource token: %v → %v", before, after)
	}
	if st := w.pollState(t, w.agent, other.loc); st == "" {
		t.Fatal("the request for another resource token ended too")
	}
}
