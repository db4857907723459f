package storetest_test

import (
	"context"
	"slices"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// schema lists what the migrations made: every table, column, index and
// constraint as the database describes it, and the applied versions.
func schema(t *testing.T, s *store.Store) []string {
	t.Helper()
	q := `SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master ORDER BY type, name`
	if s.Dialect() == store.DialectPostgres {
		q = `SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '')
		       FROM information_schema.columns WHERE table_schema = current_schema()
		     UNION ALL SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()
		     UNION ALL SELECT conrelid::regclass || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
		       WHERE connamespace = current_schema()::regnamespace
		     ORDER BY 1`
	}
	var rows []string
	if err := s.QuerySQL(context.Background(), &rows, q); err != nil {
		t.Fatal(err)
	}
	var versions []string
	if err := s.QuerySQL(context.Background(), &versions,
		`SELECT CAST(version_id AS TEXT) FROM goose_db_version WHERE is_applied ORDER BY version_id`); err != nil {
		t.Fatal(err)
	}
	return append(rows, versions...)
}

// TestMigratedCopyIsAFreshMigration: the copy of the template that most
// tests start from has the schema that migrating an empty database gives,
// with no migration left to apply, and each copy is its own database.
func TestMigratedCopyIsAFreshMigration(t *testing.T) {
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			fresh := schema(t, storetest.OpenURL(t, b.NewURL(t), true))
			first := storetest.OpenURL(t, b.NewMigratedURL(t), false)
			if got := schema(t, first); !slices.Equal(got, fresh) || len(fresh) < 20 {
				t.Fatalf("the copy's schema differs from a fresh migration:\ncopy  %q\nfresh %q", got, fresh)
			}
			if err := first.ExecSQL(context.Background(), "CREATE TABLE only_in_first (x INTEGER)"); err != nil {
				t.Fatal(err)
			}
			second := storetest.OpenURL(t, b.NewMigratedURL(t), false)
			if got := schema(t, second); !slices.Equal(got, fresh) {
				t.Fatalf("a change to one copy reached the next: %q", got)
			}
		})
	}
}
