package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/store"
)

// EnvPostgresURL names the variable holding the administrative PostgreSQL
// URL; the user must be allowed to CREATE DATABASE.
const EnvPostgresURL = "AAUTH_PS_TEST_POSTGRES_URL"

// DefaultPostgresURL is used when EnvPostgresURL is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

const setupTimeout = 30 * time.Second

// PostgresAdminURL returns the administrative PostgreSQL URL.
func PostgresAdminURL() string {
	if u := os.Getenv(EnvPostgresURL); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// Backend is a kind of database the tests run on.
type Backend struct {
	Name string // "sqlite" | "postgres"
	// NewURL returns the URL of a new, empty database that lives until the
	// test ends.
	NewURL func(t testing.TB) string
	// NewMigratedURL is NewURL with every migration applied.
	NewMigratedURL func(t testing.TB) string
}

// Backends lists SQLite then PostgreSQL.
var Backends = []Backend{
	{Name: store.DialectSQLite, NewURL: NewSQLiteURL, NewMigratedURL: NewMigratedSQLiteURL},
	{Name: store.DialectPostgres, NewURL: NewPostgresURL, NewMigratedURL: NewMigratedPostgresURL},
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func randomSuffix(t testing.TB) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("storetest: random: %v", err)
	}
	return hex.EncodeToString(b)
}

// NewSQLiteURL returns "sqlite:<TempDir>/db/ps.db" (the db directory does
// not exist yet: Open creates it).
func NewSQLiteURL(t testing.TB) string {
	t.Helper()
	return "sqlite:" + filepath.Join(t.TempDir(), "db", "ps.db")
}

// NewPostgresURL creates a database with a random name and returns its URL;
// the database is dropped (WITH (FORCE)) when the test ends. It fails the
// test if PostgreSQL cannot be reached.
func NewPostgresURL(t testing.TB) string {
	t.Helper()
	return newPostgresURL(t, "")
}

// newPostgresURL creates the database as a copy of template ("": the
// server's default, an empty database).
func newPostgresURL(t testing.TB, template string) string {
	t.Helper()
	adminURL := PostgresAdminURL()
	u, err := url.Parse(adminURL)
	if err != nil {
		t.Fatalf("storetest: %s is not a URL", EnvPostgresURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	admin, err := store.Open(ctx, adminURL, discard())
	if err != nil {
		t.Fatalf("storetest: PostgreSQL is required but not reachable at %s: %v (cause: %s)\n"+
			"Start it (pg_ctlcluster --skip-systemctl-redirect 15 main start) or set %s.",
			u.Redacted(), err, cause(err), EnvPostgresURL)
	}
	defer admin.Close()
	name := "aauth_ps_test_" + randomSuffix(t)
	create := "CREATE DATABASE " + name
	if template != "" {
		create += " TEMPLATE " + template
	}
	if err := admin.ExecSQL(ctx, create); err != nil {
		t.Fatalf("storetest: CREATE DATABASE %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		admin, err := store.Open(ctx, adminURL, discard())
		if err != nil {
			t.Errorf("storetest: drop %s: %v", name, err)
			return
		}
		defer admin.Close()
		if err := admin.ExecSQL(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("storetest: DROP DATABASE %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

func cause(err error) string {
	if e, ok := err.(*store.Error); ok {
		return e.Cause()
	}
	return ""
}

// OpenURL opens databaseURL, migrates it up when migrate is true, and closes
// it when the test ends.
func OpenURL(t testing.TB, databaseURL string, migrate bool) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	s, err := store.Open(ctx, databaseURL, discard())
	if err != nil {
		t.Fatalf("storetest: open: %v (cause: %s)", err, cause(err))
	}
	t.Cleanup(func() { _ = s.Close() })
	if migrate {
		if err := s.MigrateUp(ctx); err != nil {
			t.Fatalf("storetest: migrate up (%s): %v (cause: %s)", s.Dialect(), err, cause(err))
		}
	}
	return s
}

// OpenSQLite returns a migrated store on a new SQLite file.
func OpenSQLite(t testing.TB) *store.Store {
	t.Helper()
	return OpenURL(t, NewMigratedSQLiteURL(t), true)
}

// Each runs fn as a subtest per backend ("sqlite", "postgres"), each with
// its own new, migrated database.
func Each(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, b := range Backends {
		t.Run(b.Name, func(t *testing.T) {
			fn(t, OpenURL(t, b.NewMigratedURL(t), true))
		})
	}
}

// EachURL runs fn as a subtest per backend with the URL of a new, migrated
// database, for tests that need several handles on one database (as
// separate replicas would have). Open it with OpenURL(t, url, false).
func EachURL(t *testing.T, fn func(t *testing.T, databaseURL string)) {
	t.Helper()
	for _, b := range Backends {
		t.Run(b.Name, func(t *testing.T) {
			fn(t, b.NewMigratedURL(t))
		})
	}
}
