package app_test

import (
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestFederationStopMidLeaseLeavesNoLease: the PS stops while its poll
// loop's lease statement is still running on PostgreSQL (a trigger holds
// it for a second). pgx gives a cancelled query up at once while the server
// finishes it, so a loop that let its lease statement be cancelled would
// release the lease before the server wrote it, and the lease would stand
// for the AS's Retry-After (an hour here): no other replica, and no
// restarted PS, would poll that request until then. The lease statement is
// seen through; once the PS has stopped, no lease is left. Issue 11 (poll
// leases), issue 12 (replicas), PS-127.
func TestFederationStopMidLeaseLeavesNoLease(t *testing.T) {
	t.Parallel()
	dbURL := storetest.NewPostgresURL(t)
	f := newFedWorldOn(t, pstest.Options{DatabaseURL: dbURL})
	f.expectASToken(t, f.consented(t))

	db := storetest.OpenURL(t, dbURL, false)
	leasing := lateCommit(t, db, "slow_lease", "INSERT ON federation_poll_leases", "true", "INSERT INTO federation_poll_leases")

	f.as.Script(conformance.ASStep{Kind: conformance.ASApproval, RetryAfter: 3600})
	expect202(t, f.request(t, f.rt(t, "calendar.read")), f.ps.Issuer)
	awaitCount(t, leasing, true, 20*time.Second, "the poll loop has not taken its lease")
	f.ps.Stop()
	awaitCount(t, leasing, false, 20*time.Second, "the lease statement still runs after the stop")
	if n, err := db.CountRows(ctxT(), "federation_poll_leases", ""); err != nil || n != 0 {
		t.Fatalf("%d poll leases (%v) after the PS stopped, want none", n, err)
	}
}
