package authority

import (
	"testing"
	"time"
)

func customInput(t *testing.T, setJSON string) Input {
	t.Helper()
	p, err := Parse([]byte(setJSON), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return Input{Point: PointToken, Mode: ThreeParty, Now: now, PersonReachable: true,
		Mission: Snapshot{Lifecycle: Lifecycle{State: StateActive}, Set: p.Set, EffectiveHash: p.Hash}}
}

// TestMatcherFilters: host_suffix, accounts, actions and the time window
// each narrow what an entry matches; a class exclusion with an actions
// filter catches an action the catalog does not know.
func TestMatcherFilters(t *testing.T) {
	in := customInput(t, `{"object":"aauth-mm/authority-set/v1","entries":[
	 {"id":"any-acme","target":"resource","resource":{"host_suffix":".acme.example"},"scopes_any":true,"actions":["read"],"accounts":["acct-1"],
	  "constraints":{"time_window":{"days":["wed"],"hours_utc":[9,17]}}}],
	 "exclusions":[{"id":"no-pay","resource":{"host_suffix":".acme.example"},"actions":["pay"]}]}`)
	in.Catalog = &Catalog{Resources: map[string]CatalogResource{"https://wiki.acme.example": {ScopeActions: map[string]string{"wiki.read": "read", "wiki.write": "write"}}}}
	cases := []struct {
		name, resource, scope, account string
		at                             time.Time
		reason                         string
	}{
		{"matches", "https://wiki.acme.example", "wiki.read", "acct-1", now, "permit"},
		{"other host", "https://wiki.acme.example.evil", "wiki.read", "acct-1", now, "outside_authority_set"},
		{"suffix without dot boundary", "https://notacme.example", "wiki.read", "acct-1", now, "outside_authority_set"},
		{"other account", "https://wiki.acme.example", "wiki.read", "acct-2", now, "outside_authority_set"},
		{"write is not read", "https://wiki.acme.example", "wiki.write", "acct-1", now, "outside_authority_set"},
		{"unknown action caught by the exclusion", "https://wiki.acme.example", "wiki.mystery", "acct-1", now, "excluded"},
		{"thursday", "https://wiki.acme.example", "wiki.read", "acct-1", now.Add(24 * time.Hour), "constraint_violation"},
		{"after hours", "https://wiki.acme.example", "wiki.read", "acct-1", time.Date(2026, 6, 24, 17, 0, 0, 0, time.UTC), "constraint_violation"},
	}
	in.Point, in.Request = PointPersonToken, Request{Resource: "https://wiki.acme.example"}
	if d := Evaluate(in); d.Outcome != Issue {
		t.Errorf("person token under an account-filtered entry: %s (%s)", d.Reason, d.Explanation)
	}
	in.Point = PointToken
	for _, c := range cases {
		in.Request = Request{Resource: c.resource, Scopes: []string{c.scope}, Account: c.account}
		in.Now = c.at
		if d := Evaluate(in); d.Reason != c.reason {
			t.Errorf("%s: %s (%s), want %s", c.name, d.Reason, d.Explanation, c.reason)
		}
	}
}

// TestGrantCappedByExpiry: a token's exp never passes the mission's
// expires_at (PS-211's companion cap).
func TestGrantCappedByExpiry(t *testing.T) {
	in := boardInput(t)
	req(finance, "ledger.read")(&in)
	soon := now.Add(2 * time.Minute)
	in.Mission.Lifecycle.ExpiresAt = &soon
	d := Evaluate(in)
	if d.Outcome != Issue || !d.Grant.Exp.Equal(soon) {
		t.Fatalf("grant %+v", d.Grant)
	}
}
