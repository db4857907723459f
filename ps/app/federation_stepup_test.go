package app_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// TestFederationStepUp: four-party step-up. The resource answers a request
// carrying the AS's auth token with a new resource token naming that auth
// token (presented_jti); the agent presents the AS's token to the PS, which
// verifies it under the AS's keys (aud the resource, cnf the agent's key,
// ps this PS), passes it to the AS as presented_token and delivers the
// AS's new token, whose exp does not pass the presented one's. A forged
// AS token (bad signature) is 400 invalid_presented_token and the AS sees
// nothing. P§resource-token-verification step 3, P§ps-to-as-token-request;
// PS-121, PS-122.
func TestFederationStepUp(t *testing.T) {
	t.Parallel()
	f := newFedWorld(t)
	first := f.consented(t)
	f.expectASToken(t, first)
	at, _ := first.body["auth_token"].(string)
	stepUp := func(presented string) result { return f.stepUp(t, presented, "interaction") }
	r := stepUp(at)
	c := f.expectASToken(t, r)
	reqs := f.as.Requests()
	if got := reqs[len(reqs)-1].Body["presented_token"]; got != at {
		t.Fatalf("the AS was not presented the AS's own auth token (PS-121): %v", got)
	}
	_, pc, _ := conformance.DecodeJWT(at)
	_, nc, _ := conformance.DecodeJWT(r.body["auth_token"].(string))
	newExp, _ := nc["exp"].(json.Number).Int64()
	oldExp, _ := pc["exp"].(json.Number).Int64()
	if newExp == 0 || newExp > oldExp || nc["jti"] == pc["jti"] || c["iss"] != f.as.Issuer() {
		t.Fatalf("the step-up token: exp %v (presented %v), jti %v", nc["exp"], pc["exp"], nc["jti"])
	}

	// A forged AS token: the PS refuses it before the AS is asked.
	forged := at[:len(at)-4] + "AAAA"
	if forged == at {
		forged = at[:len(at)-4] + "BBBB"
	}
	before := len(f.as.Requests())
	expectNoToken(t, stepUp(forged), http.StatusBadRequest, aauth.ErrInvalidPresentedToken)
	if len(f.as.Requests()) != before {
		t.Fatal("the AS was sent a forged presented token")
	}
}
