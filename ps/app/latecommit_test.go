package app_test

import (
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/store"
)

// lateCommit makes the statements that start with prefix late on
// PostgreSQL: a trigger named name (event on table, when a WHEN condition)
// holds each for 2 s and lets it commit even when cancelled, as a server
// does with a statement whose client gave up after sending it. It returns
// how many such statements run now.
func lateCommit(t *testing.T, db *store.Store, name, event, when, prefix string) func() int64 {
	t.Helper()
	ctx := ctxT()
	for _, q := range []string{
		`CREATE FUNCTION ` + name + `() RETURNS trigger LANGUAGE plpgsql AS
		 $$ BEGIN
		   BEGIN PERFORM pg_sleep(2);
		   EXCEPTION WHEN query_canceled THEN PERFORM pg_sleep(1); -- finishes anyway
		   END;
		   RETURN NEW;
		 END $$`,
		`CREATE TRIGGER ` + name + ` BEFORE ` + event + ` FOR EACH ROW WHEN (` + when + `) EXECUTE FUNCTION ` + name + `()`,
	} {
		if err := db.ExecSQL(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	return func() int64 {
		var n int64
		if err := db.QuerySQL(ctx, &n, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND state = 'active' AND starts_with(query, ?)`, prefix); err != nil {
			t.Fatal(err)
		}
		return n
	}
}

// awaitCount waits up to within until count() > 0 is want.
func awaitCount(t *testing.T, count func() int64, want bool, within time.Duration, what string) {
	t.Helper()
	for deadline := time.Now().Add(within); (count() > 0) != want; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after %s, %s", within, what)
		}
	}
}
