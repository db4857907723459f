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

// revokeAt records a revocation of token (its jti and exp) by iss.
func revokeAt(t *testing.T, ps *pstest.PS, iss, token string) {
	t.Helper()
	_, c, err := conformance.DecodeJWT(token)
	if err != nil {
		t.Fatal(err)
	}
	if err := ps.App.Store.RecordRevocation(ctxT(), iss, c["jti"].(string), time.Unix(num(c, "exp"), 0), time.Now()); err != nil {
		t.Fatal(err)
	}
}

// stepUp is the four-party step-up: a resource token for calendar.read
// naming presented (an auth token), aud the AS, sent with it.
func (f *fedWorld) stepUp(t *testing.T, presented string, caps ...string) result {
	t.Helper()
	rt := resourceToken(t, f.world, f.rs, presented, "calendar.read", func(s *conformance.ResourceTokenSpec) { s.Aud = f.as.Issuer() })
	return f.post(t, f.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": presented,
		"capabilities": caps}))
}

// TestFederationStepUpRevokedOrigin: a four-party step-up presenting an
// access server's auth token (PS-273) is refused with 400
// revoked_presented_token, and the AS is sent nothing, when the AS's own
// token is revoked at this PS, or when the person token this PS presented
// to the AS that token was obtained with is revoked (P§revocation-cascade:
// the AS revokes what it issued on it; PS-266, PS-274); one revoked while
// the step-up waits on the AS ends it with the same answer and no further
// call to the AS. An AS token the PS cannot trace to a person token it
// presented there (another mission) is 400 invalid_presented_token
// (PS-268). Refusals change nothing. On both databases.
func TestFederationStepUpRevokedOrigin(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			federationStepUpRevokedOrigin(t, newFedWorldOn(t, pstest.Options{DatabaseURL: b.NewMigratedURL(t)}))
		})
	}
}

func federationStepUpRevokedOrigin(t *testing.T, f *fedWorld) {
	first := f.consented(t)
	f.expectASToken(t, first)
	at, _ := first.body["auth_token"].(string)
	stepUp := func(presented string) result { return f.stepUp(t, presented, "interaction", "clarification") }
	refused := func(name string, r func() result, code string) {
		t.Helper()
		before, calls := f.ps.TableCounts(t), len(f.as.Requests())
		expectNoToken(t, r(), http.StatusBadRequest, code)
		writesNothing(t, f.ps, before)
		if n := len(f.as.Requests()); n != calls {
			t.Fatalf("%s: the AS was sent %d requests", name, n-calls)
		}
	}

	// PS-268: an AS token for the presented sub under a mission no person
	// token presented to the AS carries: not traceable.
	_, pc, _ := conformance.DecodeJWT(f.pt)
	stray, err := f.as.MintAuthToken(map[string]any{"aud": f.rs.Issuer(), "sub": pc["sub"], "ps": f.ps.Issuer, "scope": "calendar.read",
		"mission_s256": "bm90LWEtbWlzc2lvbi1vZi10aGlzLXBlcnNvbi1zZXJ2ZXI", "cnf": map[string]any{"jwk": f.agent.Key.PublicJWK()}})
	if err != nil {
		t.Fatal(err)
	}
	refused("untraceable", func() result { return stepUp(stray) }, aauth.ErrInvalidPresentedToken)

	// The AS revoked its token at this PS.
	revokeAt(t, f.ps, f.as.Issuer(), at)
	refused("AS token revoked", func() result { return stepUp(at) }, aauth.ErrRevokedPresentedToken)

	// Another AS token on the same person token; the step-up waits on the
	// agent's answer to the AS's question, and the person token is
	// revoked meanwhile: the PS's next look at the request finds it and
	// ends it; the AS hears nothing more (PS-274).
	at2, _ := f.request(t, f.rt(t, "calendar.read")).body["auth_token"].(string)
	if at2 == "" {
		t.Fatal("no second AS token")
	}
	f.as.Script(conformance.ASStep{Kind: conformance.ASClarification, Question: "Which calendar?"})
	r := stepUp(at2)
	loc := expect202(t, r, f.ps.Issuer)
	calls := len(f.as.Requests())
	revokeAt(t, f.ps, f.ps.Issuer, f.pt)
	expectNoToken(t, f.awaitResult(t, loc), http.StatusBadRequest, aauth.ErrRevokedPresentedToken)
	if n := len(f.as.Requests()); n != calls {
		t.Fatalf("the AS was sent %d requests after the person token was revoked", n-calls)
	}

	// PS-266: with the person token revoked, its AS token is refused at once.
	refused("person token revoked", func() result { return stepUp(at2) }, aauth.ErrRevokedPresentedToken)
}

// TestStepUpASTokenRevokedOrigin: a three-party step-up presenting an
// access server's auth token (PS-273) is refused with 400
// revoked_presented_token once the person token this PS presented to the
// AS it was obtained with is revoked (PS-266, P§revocation-cascade), at
// once (nothing written) and when the revocation comes while the person
// is asked: the issuance's own check refuses it then, and no auth token
// is issued. On both databases.
func TestStepUpASTokenRevokedOrigin(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			x := newASIssuedWorld(t, pstest.Options{DatabaseURL: b.NewMigratedURL(t)})
			stepUp := func(scope string) result {
				rt := resourceToken(t, x.world, x.r1.Resource, x.at1, scope, nil)
				return x.post(t, x.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": x.at1,
					"capabilities": []string{"interaction"}}))
			}
			// A scope not granted yet: the person is asked.
			s := x.expectInteraction(t, stepUp("calendar.write"))
			revokeAt(t, x.ps, x.ps.Issuer, x.pt1)
			before := x.ps.TableCounts(t)["auth_token_records"]
			open(t, x.alice, s)
			x.alice.Post(t, s.path()+"/approve", nil)
			expectNoToken(t, x.poll(t, x.agent, s.loc), http.StatusBadRequest, aauth.ErrRevokedPresentedToken)
			if after := x.ps.TableCounts(t)["auth_token_records"]; after != before {
				t.Fatalf("an auth token was issued on a revoked person token's AS token: %d → %d records", before, after)
			}

			counts := x.ps.TableCounts(t)
			expectNoToken(t, stepUp("calendar.read"), http.StatusBadRequest, aauth.ErrRevokedPresentedToken)
			writesNothing(t, x.ps, counts)
		})
	}
}
