package storetest

import (
	"context"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/store"
)

// InjectInsertFailure makes the database refuse every insert into table
// (a trigger, so the code under test runs unchanged): a transaction fails
// at that insert, after whatever it wrote before. It returns the undo.
func InjectInsertFailure(t testing.TB, st *store.Store, table string) func() {
	t.Helper()
	create, drop := []string{`CREATE TRIGGER inject_failure BEFORE INSERT ON ` + table + `
		BEGIN SELECT RAISE(ABORT, 'injected failure'); END`}, []string{`DROP TRIGGER inject_failure`}
	if st.Dialect() == "postgres" {
		create = []string{`CREATE FUNCTION inject_failure() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN RAISE EXCEPTION 'injected failure'; END $$`,
			`CREATE TRIGGER inject_failure BEFORE INSERT ON ` + table + ` FOR EACH ROW EXECUTE FUNCTION inject_failure()`}
		drop = []string{`DROP TRIGGER inject_failure ON ` + table, `DROP FUNCTION inject_failure()`}
	}
	for _, q := range create {
		if err := st.ExecSQL(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		for _, q := range drop {
			if err := st.ExecSQL(context.Background(), q); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TableCounts is the number of rows of every table of st: comparing two
// shows that something changed nothing.
func TableCounts(t testing.TB, st *store.Store) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	tables, err := st.Tables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, tb := range tables {
		n, err := st.CountRows(ctx, tb, "")
		if err != nil {
			t.Fatal(err)
		}
		counts[tb] = n
	}
	return counts
}
