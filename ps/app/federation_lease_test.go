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
	ctx := ctxT()
	for _, s := range []string{
		`CREATE FUNCTION slow_lease() RETURNS trigger LANGUAGE plpgsql AS
		 $$ BEGIN
		   BEGIN PERFORM pg_sleep(2);
		   EXCEPTION WHEN query_canceled THEN PERFORM pg_sleep(1); -- finishes anyway
		   END;
		   RETURN NEW;
		 END $$`,
		`CREATE TRIGGER slow_lease BEFORE INSERT ON federation_poll_leases
		 FOR EACH ROW EXECUTE FUNCTION slow_lease()`,
	} {
		if err := db.ExecSQL(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	leasing := func() int64 {
		var n int64
		if err := db.QuerySQL(ctx, &n, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND state = 'active'
			AND query LIKE 'INSERT INTO federation_poll_leases%'`); err != nil {
			t.Fatal(err)
		}
		return n
	}

	f.as.Script(conformance.ASStep{Kind: conformance.ASApproval, RetryAfter: 3600})
	expect202(t, f.request(t, f.rt(t, "calendar.read")), f.ps.Issuer)
	for deadline := time.Now().Add(20 * time.Second); leasing() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the poll loop never took its lease")
		}
	}
	f.ps.Stop()
	for deadline := time.Now().Add(20 * time.Second); leasing() > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the lease statement still runs 20 s after the stop")
		}
	}
	if n, err := db.CountRows(ctx, "federation_poll_leases", ""); err != nil || n != 0 {
		t.Fatalf("%d poll leases (%v) after the PS stopped, want none", n, err)
	}
}
