package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/migrations"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// Migrating a new database costs seconds under the race detector (the pure
// Go SQLite is instrumented too), and most tests start from a migrated one:
// they get a copy of a template migrated once. The template is named by a
// hash of the dialect's migration files, so it is shared by the test
// processes of one checkout (and by checkouts with the same migrations) and
// a changed migration gets a new one. Tests of migrating itself keep
// NewSQLiteURL and NewPostgresURL (empty databases).

var templates struct {
	sync.Mutex
	ready map[string]string // dialect → template file or database name
}

// migrationsHash is the hex SHA-256 (first 16 digits) of dialect's
// migration files, names and contents.
func migrationsHash(dialect string) (string, error) {
	fsys, err := migrations.FS(dialect)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	err = fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// template returns dialect's template, building it with build on first use
// in this process.
func template(dialect string, build func(hash string) (string, error)) (string, error) {
	templates.Lock()
	defer templates.Unlock()
	if t, ok := templates.ready[dialect]; ok {
		return t, nil
	}
	hash, err := migrationsHash(dialect)
	if err != nil {
		return "", err
	}
	t, err := build(hash)
	if err != nil {
		return "", err
	}
	if templates.ready == nil {
		templates.ready = map[string]string{}
	}
	templates.ready[dialect] = t
	return t, nil
}

// NewMigratedSQLiteURL is NewSQLiteURL with every migration applied: a
// copy of the migrated template file.
func NewMigratedSQLiteURL(t testing.TB) string {
	t.Helper()
	tmpl, err := template(store.DialectSQLite, sqliteTemplate)
	if err != nil {
		t.Fatalf("storetest: SQLite template: %v", err)
	}
	path := filepath.Join(t.TempDir(), "db", "ps.db")
	if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(tmpl, path); err != nil {
		t.Fatalf("storetest: copy the SQLite template: %v", err)
	}
	return "sqlite:" + path
}

// sqliteTemplate returns the template file for hash, migrating it into a
// private directory and renaming it into place (atomic: a concurrent
// process sees no file or a whole one) when it is not there yet.
func sqliteTemplate(hash string) (string, error) {
	dir := filepath.Join(os.TempDir(), "aauth-ps-storetest")
	final := filepath.Join(dir, "sqlite-"+hash+".db")
	if _, err := os.Stat(final); err == nil {
		return final, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	build, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(build)
	path := filepath.Join(build, "ps.db")
	ctx, cancel := context.WithTimeout(context.Background(), 2*setupTimeout)
	defer cancel()
	s, err := store.Open(ctx, "sqlite:"+path, discard())
	if err != nil {
		return "", err
	}
	err = s.MigrateUp(ctx)
	if err == nil {
		// Everything into the main file: only that file is copied.
		err = s.ExecSQL(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		return "", errors.New("the migrated database left a write-ahead log")
	}
	return final, os.Rename(path, final)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// NewMigratedPostgresURL is NewPostgresURL with every migration applied:
// the database is created from the migrated template database.
func NewMigratedPostgresURL(t testing.TB) string {
	t.Helper()
	tmpl, err := template(store.DialectPostgres, postgresTemplate)
	if err != nil {
		t.Fatalf("storetest: PostgreSQL template: %v", err)
	}
	return newPostgresURL(t, tmpl)
}

// postgresTemplate returns the template database for hash, migrating it
// under a private name and renaming it into place when it does not exist
// yet. A process that loses the race to rename drops its own copy. The
// template takes no connections (as template0), so nothing holds it open
// when a database is created from it.
func postgresTemplate(hash string) (string, error) {
	name := "aauth_ps_template_" + hash
	ctx, cancel := context.WithTimeout(context.Background(), 2*setupTimeout)
	defer cancel()
	adminURL := PostgresAdminURL()
	admin, err := store.Open(ctx, adminURL, discard())
	if err != nil {
		return "", err
	}
	defer admin.Close()
	exists := func() (bool, error) {
		var n int64
		err := admin.QuerySQL(ctx, &n, "SELECT count(*) FROM pg_database WHERE datname = ?", name)
		return n > 0, err
	}
	if ok, err := exists(); err != nil || ok {
		return name, err
	}
	suffix := make([]byte, 8)
	if _, err := rand.Read(suffix); err != nil {
		return "", err
	}
	build := "aauth_ps_template_build_" + hex.EncodeToString(suffix)
	if err := admin.ExecSQL(ctx, "CREATE DATABASE "+build); err != nil {
		return "", err
	}
	drop := func() { _ = admin.ExecSQL(context.Background(), "DROP DATABASE IF EXISTS "+build+" WITH (FORCE)") }
	u, err := url.Parse(adminURL)
	if err != nil {
		drop()
		return "", err
	}
	u.Path = "/" + build
	s, err := store.Open(ctx, u.String(), discard())
	if err != nil {
		drop()
		return "", err
	}
	err = s.MigrateUp(ctx)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = admin.ExecSQL(ctx, "ALTER DATABASE "+build+" ALLOW_CONNECTIONS false")
	}
	if err != nil {
		drop()
		return "", err
	}
	// The closed connections' backends may take a moment to exit, and a
	// database is renamed only when nobody is connected.
	for attempt := 0; ; attempt++ {
		err = admin.ExecSQL(ctx, "ALTER DATABASE "+build+" RENAME TO "+name)
		if err == nil {
			return name, nil
		}
		if ok, _ := exists(); ok { // another process was first
			drop()
			return name, nil
		}
		if attempt == 50 || !strings.Contains(err.Error()+cause(err), "other users") {
			drop()
			return "", err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
