package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/store"
)

// runTransactions checks InTx and AfterCommit: hooks run once after the
// outermost commit, never after a rollback, and a rolled-back savepoint
// drops its own hooks only.
func runTransactions(t *testing.T, open func(t *testing.T) *store.Store) {
	ctx := context.Background()
	st := open(t)

	// Issue 12, finding 59: each statement runs under its caller's
	// context and, in a transaction, on the transaction's connection.
	t.Run("a statement runs under its own context", func(t *testing.T) {
		gone, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := st.IsRevoked(gone, "https://ap.example", "ctx-1"); !errors.Is(err, context.Canceled) {
			t.Fatalf("read under an ended context: %v, want context.Canceled", err)
		}
		if err := st.RecordRevocation(gone, "https://ap.example", "ctx-1", time.Now().Add(time.Hour), time.Now()); !errors.Is(err, context.Canceled) {
			t.Fatalf("write under an ended context: %v, want context.Canceled", err)
		}
		err := st.InTx(ctx, func(tx *store.Store) error {
			if err := tx.RecordRevocation(ctx, "https://ap.example", "ctx-2", time.Now().Add(time.Hour), time.Now()); err != nil {
				return err
			}
			if ok, err := tx.IsRevoked(ctx, "https://ap.example", "ctx-2"); err != nil || !ok {
				t.Fatalf("the transaction's own write: %v %v, want true", ok, err)
			}
			return errors.New("roll back")
		})
		if err == nil {
			t.Fatal("the transaction committed")
		}
		for _, jti := range []string{"ctx-1", "ctx-2"} {
			if ok, err := st.IsRevoked(ctx, "https://ap.example", jti); err != nil || ok {
				t.Fatalf("%s: revoked %v, %v; want nothing written", jti, ok, err)
			}
		}
	})

	t.Run("AfterCommit outside a transaction runs at once", func(t *testing.T) {
		ran := 0
		st.AfterCommit(func() { ran++ })
		if ran != 1 {
			t.Fatalf("hook ran %d times, want 1", ran)
		}
	})

	t.Run("AfterCommit waits for the commit", func(t *testing.T) {
		ran := 0
		err := st.InTx(ctx, func(tx *store.Store) error {
			tx.AfterCommit(func() { ran++ })
			if ran != 0 {
				t.Fatal("hook ran before the commit")
			}
			return nil
		})
		if err != nil || ran != 1 {
			t.Fatalf("err %v, hook ran %d times; want nil, 1", err, ran)
		}
	})

	t.Run("AfterCommit never runs after a rollback", func(t *testing.T) {
		ran := 0
		boom := errors.New("boom")
		err := st.InTx(ctx, func(tx *store.Store) error {
			tx.AfterCommit(func() { ran++ })
			return boom
		})
		if !errors.Is(err, boom) || ran != 0 {
			t.Fatalf("err %v, hook ran %d times; want boom, 0", err, ran)
		}
	})

	t.Run("a hook that writes at once does not deadlock", func(t *testing.T) {
		// Issue 12: on SQLite the hooks once ran while the transaction
		// still held this process's writer turn, so a hook that wrote
		// (a single write or a transaction of its own) waited for itself.
		// The deadline turns a deadlock into a failure, not a hang.
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		var hookErrs []error
		err := st.InTx(ctx, func(tx *store.Store) error {
			if _, err := tx.RememberSignature(ctx, "hook-outer", time.Now().Add(time.Minute)); err != nil {
				return err
			}
			tx.AfterCommit(func() {
				_, err := st.RememberSignature(ctx, "hook-single", time.Now().Add(time.Minute))
				hookErrs = append(hookErrs, err)
				hookErrs = append(hookErrs, st.InTx(ctx, func(tx2 *store.Store) error {
					_, err := tx2.RememberSignature(ctx, "hook-tx", time.Now().Add(time.Minute))
					return err
				}))
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := errors.Join(hookErrs...); err != nil || len(hookErrs) != 2 {
			t.Fatalf("the hook's writes: %v (%d)", err, len(hookErrs))
		}
		for _, k := range []string{"hook-outer", "hook-single", "hook-tx"} {
			if n := CountWhere(t, st, "replay_cache", `"key" = ?`, k); n != 1 {
				t.Fatalf("%s: %d rows, want 1", k, n)
			}
		}
	})

	t.Run("a savepoint's hooks wait for the outer commit; a rolled-back savepoint's are dropped", func(t *testing.T) {
		var order []string
		err := st.InTx(ctx, func(tx *store.Store) error {
			tx.AfterCommit(func() { order = append(order, "outer") })
			if err := tx.InTx(ctx, func(sp *store.Store) error {
				sp.AfterCommit(func() { order = append(order, "kept") })
				return nil
			}); err != nil {
				return err
			}
			_ = tx.InTx(ctx, func(sp *store.Store) error {
				sp.AfterCommit(func() { order = append(order, "dropped") })
				return errors.New("roll back the savepoint")
			})
			if len(order) != 0 {
				t.Fatalf("hooks ran inside the transaction: %v", order)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(order) != 2 || order[0] != "outer" || order[1] != "kept" {
			t.Fatalf("hooks ran %v, want [outer kept]", order)
		}
	})
}
