package storetest

import (
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
		if err := st.DB().Exec(`INSERT INTO persons (id, username, created_at, updated_at) VALUES (?, ?, 0, 0)`,
			id, "user-"+id).Error; err != nil {
			t.Fatalf("seed person %s: %v", id, err)
		}
	}
}

// CountRows counts the rows of table.
func CountRows(t testing.TB, st *store.Store, table string) int64 {
	t.Helper()
	var n int64
	if err := st.DB().Table(table).Count(&n).Error; err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}
