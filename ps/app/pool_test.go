package app_test

import (
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestDatabasePoolSize (issue 12): --database-max-conns sizes the
// PostgreSQL pool of the running PS (20 by default); SQLite keeps its own
// pool whatever the flag says.
func TestDatabasePoolSize(t *testing.T) {
	t.Parallel()
	env := pstest.NewEnv(t)
	for _, c := range []struct {
		name, url   string
		flag, wants int
	}{
		{"postgres default", storetest.NewMigratedPostgresURL(t), 20, 20},
		{"postgres sized", storetest.NewMigratedPostgresURL(t), 7, 7},
		{"sqlite", storetest.NewMigratedSQLiteURL(t), 7, 16},
	} {
		ps := env.Start(t, pstest.Options{DatabaseURL: c.url, Configure: func(cfg *config.Config) { cfg.DatabaseMaxConns = c.flag }})
		if got := ps.App.Store.PoolSize(); got != c.wants {
			t.Errorf("%s: pool of %d connections, want %d", c.name, got, c.wants)
		}
		ps.Stop()
	}
}
