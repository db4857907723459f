package migrations

import (
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var fileName = regexp.MustCompile(`^[0-9]{5}_[a-z0-9_]+\.sql$`)

func names(t *testing.T, dialect string) []string {
	t.Helper()
	fsys, err := FS(dialect)
	if err != nil {
		t.Fatalf("FS(%q): %v", dialect, err)
	}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		t.Fatalf("ReadDir(%q): %v", dialect, err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestFSDialectsHaveTheSameVersions(t *testing.T) {
	pg, lite := names(t, Postgres), names(t, SQLite)
	if len(pg) == 0 {
		t.Fatal("no postgres migrations embedded")
	}
	if !slices.Equal(pg, lite) {
		t.Fatalf("postgres %v and sqlite %v migrations differ", pg, lite)
	}
	for _, n := range pg {
		if !fileName.MatchString(n) {
			t.Errorf("migration file name %q does not match %s", n, fileName)
		}
	}
}

func TestFSEveryFileHasUpAndDown(t *testing.T) {
	for _, d := range []string{Postgres, SQLite} {
		fsys, err := FS(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names(t, d) {
			b, err := fs.ReadFile(fsys, n)
			if err != nil {
				t.Fatal(err)
			}
			s := string(b)
			up, down := strings.Index(s, "-- +goose Up"), strings.Index(s, "-- +goose Down")
			if up < 0 || down < 0 || down < up {
				t.Errorf("%s/%s: want a -- +goose Up section followed by a -- +goose Down section", d, n)
			}
			if strings.TrimSpace(s[down+len("-- +goose Down"):]) == "" {
				t.Errorf("%s/%s: empty Down section", d, n)
			}
		}
	}
}

func TestFSUnknownDialect(t *testing.T) {
	for _, d := range []string{"", "mysql", "sqlite3", "Postgres"} {
		if _, err := FS(d); err == nil {
			t.Errorf("FS(%q): want an error", d)
		}
	}
}
