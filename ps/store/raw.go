package store

import (
	"context"
	"fmt"
	"regexp"
)

// Raw SQL, for tests and diagnostics only: the storage suite, the "a
// refused request wrote nothing" checks, fault injection, and setting a row
// to a state no API can reach. The statements are the caller's own text,
// never input from a request. Production code reaches the database only
// through the aggregates' methods, which satisfy the domain packages'
// Store interfaces; gorm itself never leaves this package.

// ExecSQL runs statement.
func (s *Store) ExecSQL(ctx context.Context, statement string, args ...any) error {
	return wrap("exec", s.stmt(ctx).Exec(statement, args...).Error)
}

// QuerySQL runs query and scans its rows into dest (a pointer to a value,
// a slice, or a struct).
func (s *Store) QuerySQL(ctx context.Context, dest any, query string, args ...any) error {
	return wrap("query", s.stmt(ctx).Raw(query, args...).Scan(dest).Error)
}

var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// CountRows counts the rows of table that match where ("" for all rows).
func (s *Store) CountRows(ctx context.Context, table, where string, args ...any) (int64, error) {
	if !tableName.MatchString(table) {
		return 0, fmt.Errorf("store: %q is not a table name", table)
	}
	q := s.db.WithContext(ctx).Table(table)
	if where != "" {
		q = q.Where(where, args...)
	}
	var n int64
	return n, wrap("count "+table, q.Count(&n).Error)
}

// Tables lists the application's tables (goose's bookkeeping excluded).
func (s *Store) Tables(ctx context.Context) ([]string, error) {
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'goose_db_version' ORDER BY name`
	if s.dialect == DialectPostgres {
		q = `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'goose_db_version' ORDER BY tablename`
	}
	var tables []string
	return tables, s.QuerySQL(ctx, &tables, q)
}

// HasTable reports whether the database has table.
func (s *Store) HasTable(ctx context.Context, table string) bool {
	return s.stmt(ctx).Migrator().HasTable(table)
}
