package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/store"
)

// runTransactions checks InTx and AfterCommit: hooks run once after the
// outermost commit, never after a rollback, and a rolled-back savepoint
// drops its own hooks only.
func runTransactions(t *testing.T, open func(t *testing.T) *store.Store) {
	ctx := context.Background()
	st := open(t)

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
