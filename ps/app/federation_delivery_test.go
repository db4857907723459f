package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestFederationDeliveryReasons: each delivery check fails on its own (the
// test AS mints a token with exactly one defect), as do an AS that drops
// the connection, answers a 200 that is not JSON, a 5xx, too slowly, or
// cannot be reached: every time the agent gets 502 as_unreachable and no
// token, the operator log names the AS, the stage and the reason — never
// the token — and nothing is recorded as issued. PS-122, PS-123, PS-128,
// PS-130, PS-267; issue 11 Must-show 2.
func TestFederationDeliveryReasons(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	f := newFedWorldOn(t, pstest.Options{Logs: &logs})
	f.expectASToken(t, f.consented(t))
	issued, err := f.ps.App.Tokens.AuthRecords(ctxT(), "")
	if err != nil {
		t.Fatal(err)
	}
	type want struct{ stage, reason string }
	cases := []struct {
		name string
		step conformance.ASStep
		want want
	}{
		{"typ", conformance.ASStep{Kind: conformance.ASGrant, Defect: conformance.DefectTyp}, want{"delivery check", "typ"}},
		{"iss", conformance.ASStep{Kind: conformance.ASGrant, Defect: conformance.DefectIss}, want{"delivery check", "iss"}},
		{"signature", conformance.ASStep{Kind: conformance.ASGrant, Defect: conformance.DefectSignature}, want{"delivery check", "signature"}},
		{"unknown kid", conformance.ASStep{Kind: conformance.ASGrant, Defect: conformance.DefectKid}, want{"delivery check", "keys"}},
		{"aud", conformance.ASStep{Kind: conformance.ASGrant, Defect: conformance.DefectAud}, want{"delivery check", "aud"}},
		{"cnf", conformance.ASStep{Kind: conformance.ASGrant, Defect: conformance.DefectCnf}, want{"delivery check", "cnf"}},
		{"sub", conformance.ASStep{Kind: conformance.ASGrant, Defect: conformance.DefectSub}, want{"delivery check", "sub"}},
		{"scope", conformance.ASStep{Kind: conformance.ASGrant, Defect: conformance.DefectScope}, want{"delivery check", "not requested"}},
		{"exp", conformance.ASStep{Kind: conformance.ASGrant, Defect: conformance.DefectExp}, want{"delivery check", "later than the presented"}},
		{"lifetime", conformance.ASStep{Kind: conformance.ASGrant, Defect: conformance.DefectLifetime}, want{"delivery check", "longer than an hour"}},
		{"dwk", conformance.ASStep{Kind: conformance.ASGrant, Defect: conformance.DefectDWK}, want{"delivery check", "dwk"}},
		{"dropped", conformance.ASStep{Kind: conformance.ASDrop}, want{"token request", ""}},
		{"not JSON", conformance.ASStep{Kind: conformance.ASMalformed}, want{"grant", "malformed"}},
		{"5xx", conformance.ASStep{Kind: conformance.ASError, Status: 503, Code: "temporarily_unavailable"}, want{"answer", "status 503"}},
		{"timeout", conformance.ASStep{Kind: conformance.ASGrant, Delay: 7 * time.Second}, want{"token request", ""}},
	}
	for _, c := range cases {
		f.as.Script(c.step)
		mark := len(logs.String())
		expectNoToken(t, f.request(t, f.rt(t, "calendar.read")), http.StatusBadGateway, aauth.ErrASUnreachable)
		expectUnreachableLogged(t, logs.String()[mark:], f.as.Issuer(), c.name, c.want.stage, c.want.reason)
	}
	// Unreachable: nothing answers at the token endpoint.
	f.as.Script()
	f.as.SetMetadata(map[string]any{"auth_token_endpoint": "https://nowhere.test/token"})
	f.clock.Advance(2 * time.Minute) // past the discovery cache's refetch floor
	mark := len(logs.String())
	expectNoToken(t, f.request(t, f.rt(t, "calendar.read")), http.StatusBadGateway, aauth.ErrASUnreachable)
	expectUnreachableLogged(t, logs.String()[mark:], f.as.Issuer(), "unreachable", "token request", "")

	// Never logged, never recorded: the defective tokens the AS minted.
	for _, tok := range f.as.Minted() {
		if strings.Contains(logs.String(), tok) || strings.Contains(logs.String(), tok[strings.LastIndexByte(tok, '.')+1:]) {
			t.Fatal("a token the AS answered with is in the operator log")
		}
	}
	if after, err := f.ps.App.Tokens.AuthRecords(ctxT(), ""); err != nil || len(after) != len(issued) {
		t.Fatalf("%d auth tokens recorded before, %d after (%v): nothing may be recorded as issued", len(issued), len(after), err)
	}
}

// expectUnreachableLogged finds the as_unreachable event for as at stage
// whose reason contains reason.
func expectUnreachableLogged(t *testing.T, logs, as, name, stage, reason string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) != nil || ev["msg"] != "federation: as_unreachable" || ev["access_server"] != as {
			continue
		}
		r, _ := ev["reason"].(string)
		if ev["stage"] == stage && r != "" && strings.Contains(r, reason) {
			return
		}
		t.Fatalf("%s: logged stage %v reason %q, want stage %s reason with %q", name, ev["stage"], r, stage, reason)
	}
	t.Fatalf("%s: no as_unreachable event logged:\n%s", name, logs)
}
