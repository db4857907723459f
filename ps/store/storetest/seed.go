package storetest

import (
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/store"
)

// seedPersons inserts bare person rows, which the aggregates under test
// reference. It is the suite's one raw write: the accounts aggregate is
// exercised by its own package.
func seedPersons(t *testing.T, st *store.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := st.DB().Exec(`INSERT INTO persons (id, username, created_at, updated_at) VALUES (?, ?, 0, 0)`,
			id, "user-"+id).Error; err != nil {
			t.Fatalf("seed person %s: %v", id, err)
		}
	}
}
