package storetest

import (
	"context"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/store"
)

// The two raw statements the tests of other packages need: the accounts
// aggregate is exercised by its own package, and a row count is what a
// uniqueness test asserts. They live here, once, beside the backends.

// SeedPersons inserts bare person rows, which the aggregates under test
// reference.
func SeedPersons(t testing.TB, st *store.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := st.ExecSQL(context.Background(), `INSERT INTO persons (id, username, created_at, updated_at) VALUES (?, ?, 0, 0)`,
			id, "user-"+id); err != nil {
			t.Fatalf("seed person %s: %v", id, err)
		}
	}
}

// CountRows counts the rows of table.
func CountRows(t testing.TB, st *store.Store, table string) int64 {
	t.Helper()
	return CountWhere(t, st, table, "")
}
