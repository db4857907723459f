package migrations

import (
	"embed"
	"fmt"
	"io/fs"
)

// Dialect names accepted by FS.
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// FS returns the goose migrations for a dialect ("postgres" or "sqlite"),
// rooted so that the numbered .sql files are at the top level.
func FS(dialect string) (fs.FS, error) {
	switch dialect {
	case Postgres, SQLite:
		return fs.Sub(files, dialect)
	}
	return nil, fmt.Errorf("migrations: unknown dialect %q (want %q or %q)", dialect, Postgres, SQLite)
}
