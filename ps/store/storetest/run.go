package storetest

import (
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/store"
)

// Suite is one aggregate's part of the storage conformance suite: Run gets
// open, which returns a new, migrated database of the backend under test
// for each call.
type Suite struct {
	Name string
	Run  func(t *testing.T, open func(t *testing.T) *store.Store)
}

// suites is the storage conformance suite, one entry per aggregate (one
// file each in this package). Every store method is exercised here.
var suites = []Suite{
	{Name: "transactions", Run: runTransactions},
	{Name: "agents", Run: runAgents},
	{Name: "missions", Run: runMissions},
	{Name: "mission composition", Run: runComposition},
	{Name: "tokens", Run: runTokens},
	{Name: "auth tokens", Run: runAuthTokens},
	{Name: "grants", Run: runGrants},
	{Name: "r3 grants", Run: runR3Grants},
	{Name: "permissions", Run: runPermissions},
	{Name: "pending", Run: runPending},
	{Name: "accounts", Run: runAccounts},
	{Name: "revocation", Run: runRevocation},
	{Name: "revocation claims", Run: runRevocationClaims},
	{Name: "issuance guard", Run: runIssuanceGuard},
	{Name: "pending naming a token", Run: runPendingNaming},
	{Name: "api tokens", Run: runAPITokens},
	{Name: "mission lifecycle", Run: runLifecycle},
	{Name: "access servers", Run: runAccessServers},
	{Name: "poll leases", Run: runPollLeases},
	{Name: "standing answers", Run: runStandingAnswers},
	{Name: "person templates", Run: runPersonTemplates},
	{Name: "audit trail", Run: runAudit},
	{Name: "evidence timestamps", Run: runTimestamps},
}

// Run runs the whole storage conformance suite on every backend (SQLite and
// PostgreSQL; PostgreSQL must be reachable, the test fails otherwise).
func Run(t *testing.T) {
	for _, b := range Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			open := func(t *testing.T) *store.Store { return OpenURL(t, b.NewMigratedURL(t), true) }
			for _, s := range suites {
				t.Run(s.Name, func(t *testing.T) { s.Run(t, open) })
			}
		})
	}
}
