package store

import (
	"testing"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// TestPostgresTextBuiltOncePerQuery (issue 12): a batched statement's
// PostgreSQL text is built once per query when its arguments are
// scalars, and the arguments go as given; a slice argument, whose text
// depends on its length, is built every time.
func TestPostgresTextBuiltOncePerQuery(t *testing.T) {
	db, err := gorm.Open(postgres.New(postgres.Config{DSN: "host=127.0.0.1 dbname=none"}),
		&gorm.Config{DryRun: true, DisableAutomaticPing: true})
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{db: db, dialect: DialectPostgres}
	const q = `SELECT a FROM t WHERE b = ? AND c = ? AND d = ?`
	for _, args := range [][]any{{"x", int64(1), true}, {"y", int64(2), false}} {
		text, vars := s.postgresText(q, args...)
		if text != `SELECT a FROM t WHERE b = $1 AND c = $2 AND d = $3` || len(vars) != 3 || vars[0] != args[0] || vars[1] != args[1] {
			t.Fatalf("postgresText(%v) = %q, %v", args, text, vars)
		}
	}
	if _, ok := postgresTexts.Load(q); !ok {
		t.Fatal("the scalar query's text was not kept")
	}
	const in = `SELECT a FROM t WHERE b IN ?`
	one, _ := s.postgresText(in, []string{"x"})
	two, vars := s.postgresText(in, []string{"x", "y"})
	if one == two || len(vars) != 2 {
		t.Fatalf("a slice argument's text was reused: %q then %q (%v)", one, two, vars)
	}
	if _, ok := postgresTexts.Load(in); ok {
		t.Fatal("a slice argument's text was kept")
	}
}
