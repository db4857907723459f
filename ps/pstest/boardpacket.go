package pstest

import (
	_ "embed"
	"os"
	"path/filepath"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
)

// boardPacketPolicy is the operator's Mission composition policy of the
// board-packet scenario (design Example A on the test resources; the
// release is a scope here rather than an R3 operation): HR excluded by
// class, treasury approved each time, the release gated by the CFO's
// single-use approval that comes after the reconciliation is reported,
// at most three releases. ps/app and ps/browsertest run the scenario
// against this one file.
//
//go:embed testdata/board-packet-policy.json
var boardPacketPolicy []byte

// BoardPacketHosts are the scenario's resources: HR, treasury and
// investor relations.
var BoardPacketHosts = []string{"hr.test", "treasury.test", "ir.test"}

// BoardPacketPolicy writes the board-packet policy into a temporary
// directory of t and returns its path (config.Config.MissionPolicy).
func BoardPacketPolicy(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mission-policy.json")
	if err := os.WriteFile(path, boardPacketPolicy, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// StartBoardPacketResources starts the scenario's resources (each
// offering the scopes the policy names) in env, closed when t ends, by
// host.
func (e *Env) StartBoardPacketResources(t testing.TB) map[string]*conformance.Resource {
	t.Helper()
	rs := map[string]*conformance.Resource{}
	for _, host := range BoardPacketHosts {
		r, err := conformance.StartResource(e.CA, e.Resolver, host, conformance.WithResourceScopes(map[string]any{
			"records.read": "Read personnel records", "cash_position.read": "Read the cash position",
			"release.publish": "Publish the board presentation"}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		rs[host] = r
	}
	return rs
}

// fourPartyPolicy composes missions on the AS-protected rs.test: reading
// is permitted outright, writing is approved each time, payments are
// excluded. ps/app and ps/browsertest run four-party mission decisions
// (narrowing included) against it.
//
//go:embed testdata/four-party-policy.json
var fourPartyPolicy []byte

// FourPartyPolicy writes the four-party policy into a temporary
// directory of t and returns its path (config.Config.MissionPolicy).
func FourPartyPolicy(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "four-party-policy.json")
	if err := os.WriteFile(path, fourPartyPolicy, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// RolePolicy is an operator policy with one standing template: the agent
// aauth:a1@ap.test may use scope at resource once someone holding the
// approver role cfo has recorded the single-use checkpoint cfo_ok from
// the PS's UI (design §2 stages: approver {"role": …}, satisfy_via
// control). ps/app and ps/browsertest test role approvers against it.
func RolePolicy(resource, scope string) string {
	return `{"policy_version":"p-1","templates":[{"name":"cfo-step@1","agents":["aauth:a1@ap.test"],
"resources":["` + resource + `"],"standing":true,"authority_set":{"object":"aauth-mm/authority-set/v1","default_outside":"deny",
"entries":[{"id":"gated","target":"resource","resource":{"id":"` + resource + `"},"scopes":["` + scope + `"],"requires":["cfo_ok"]}],
"checkpoints":[{"id":"cfo_ok","label":"The CFO agrees","kind":"approval","approver":{"role":"cfo"},"satisfy_via":["control"],"single_use":true}]}}]}`
}
