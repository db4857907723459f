package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/revocation"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

// runIssuanceGuard checks what serialises revocations with issuance
// (issue 8): the mission re-read for an issuance, and the revocation lock
// — exclusive for a revocation, shared for an issuance. On PostgreSQL the
// lock is observed from another connection (pg_try_*: no waiting).
func runIssuanceGuard(t *testing.T, open func(t *testing.T) *store.Store) {
	ctx := context.Background()
	st := open(t)
	var _ tokens.RevocationGuard = st
	var _ revocation.Store = st
	SeedPersons(t, st, "p1")
	at := time.Unix(1_800_000_000, 0).UTC()

	t.Run("mission", func(t *testing.T) {
		a := mission.Approval{AgentIss: "https://ap.example", AgentSub: "aauth:g@ap.example", PersonID: "p1", Description: "# Guard",
			Resources: []string{"https://rs.example"}}
		var m *mission.Record
		if _, err := a.Mint("https://ps.example", at, func(r *mission.Record) error { m = r; return nil }); err != nil {
			t.Fatal(err)
		}
		err := st.InTx(ctx, func(tx *store.Store) error {
			if err := tx.CreateMission(ctx, m); err != nil {
				return err
			}
			got, err := tx.LockMissionForIssuance(ctx, m.S256)
			if err != nil || got.S256 != m.S256 || got.PersonID != "p1" {
				t.Fatalf("LockMissionForIssuance = %+v, %v", got, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.LockMissionForIssuance(ctx, "no-such-mission"); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatalf("an unknown mission: %v, want ErrNotFound", err)
		}
	})

	// try takes the lock from another connection without waiting.
	try := func(t *testing.T, fn string) bool {
		t.Helper()
		var ok bool
		if err := st.QuerySQL(ctx, &ok, `SELECT `+fn+`(?)`, store.RevocationLockKey); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	postgres := st.Dialect() == store.DialectPostgres

	t.Run("a revocation holds the lock exclusively", func(t *testing.T) {
		err := st.InTx(ctx, func(tx *store.Store) error {
			for range 2 { // taken again in the same transaction: no wait
				if err := tx.LockRevocations(ctx); err != nil {
					return err
				}
			}
			if postgres && try(t, "pg_try_advisory_xact_lock_shared") {
				t.Fatal("an issuance could share the lock while a revocation holds it")
			}
			return tx.RecordRevocation(ctx, "https://ap.example", "g1", at.Add(time.Hour), at)
		})
		if err != nil {
			t.Fatal(err)
		}
		if postgres && !try(t, "pg_try_advisory_xact_lock_shared") {
			t.Fatal("the lock outlived the revocation's transaction")
		}
	})

	t.Run("issuances share the lock", func(t *testing.T) {
		err := st.InTx(ctx, func(tx *store.Store) error {
			if err := tx.ShareRevocationLock(ctx); err != nil {
				return err
			}
			if postgres && (try(t, "pg_try_advisory_xact_lock") || !try(t, "pg_try_advisory_xact_lock_shared")) {
				t.Fatal("a shared holder must keep revocations out and let other issuances in")
			}
			if ok, err := tx.IsRevoked(ctx, "https://ap.example", "g1"); !ok || err != nil {
				t.Fatalf("a committed revocation is seen under the lock: %v, %v", ok, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
