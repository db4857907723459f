package store

// RememberAsyncPostgresSQL is the replay write's PostgreSQL statement, for
// the test that it changes its own transaction only.
const RememberAsyncPostgresSQL = rememberAsyncPostgres

// LimitConnections caps the pool, so that a test's statements share one
// session.
func (s *Store) LimitConnections(n int) { s.sqlDB.SetMaxOpenConns(n) }
