package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"text/tabwriter"
	"time"

	"github.com/aauth-ps/aauth-ps/migrations"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// provider builds a goose provider over the embedded migrations of s's
// dialect. On PostgreSQL a session advisory lock serialises replicas that
// migrate at start.
func (s *Store) provider() (*goose.Provider, error) {
	if s.inTx() {
		return nil, ErrInTx
	}
	fsys, err := migrations.FS(s.dialect)
	if err != nil {
		return nil, err
	}
	var (
		dialect goose.Dialect
		opts    = []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	)
	switch s.dialect {
	case DialectPostgres:
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	case DialectSQLite:
		dialect = goose.DialectSQLite3
	default:
		return nil, fmt.Errorf("store: no migrations for dialect %q", s.dialect)
	}
	p, err := goose.NewProvider(dialect, s.sqlDB, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("store: load migrations: %w", err)
	}
	return p, nil
}

func (s *Store) logResults(results []*goose.MigrationResult) {
	for _, r := range results {
		s.log.Info("migration applied", "direction", r.Direction, "version", r.Source.Version,
			"file", path.Base(r.Source.Path), "duration_ms", float64(r.Duration.Microseconds())/1000)
	}
}

// migrateErr keeps goose's message (it names the file and statement that
// failed, which the operator running `migrate` needs) under ErrDatabase.
func migrateErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Op: op, Kind: ErrDatabase, Err: err}
}

// MigrateUp applies every pending migration.
func (s *Store) MigrateUp(ctx context.Context) error {
	p, err := s.provider()
	if err != nil {
		return err
	}
	res, err := p.Up(ctx)
	s.logResults(res)
	return migrateErr("migrate up", err)
}

// MigrateDown rolls back the most recently applied migration. It fails if
// none is applied.
func (s *Store) MigrateDown(ctx context.Context) error {
	p, err := s.provider()
	if err != nil {
		return err
	}
	res, err := p.Down(ctx)
	if errors.Is(err, goose.ErrNoNextVersion) {
		return errors.New("store: migrate down: no applied migration to roll back")
	}
	if res != nil {
		s.logResults([]*goose.MigrationResult{res})
	}
	return migrateErr("migrate down", err)
}

// MigrateDownAll rolls back every applied migration, leaving only goose's
// own version table. It succeeds on an empty database.
func (s *Store) MigrateDownAll(ctx context.Context) error {
	p, err := s.provider()
	if err != nil {
		return err
	}
	res, err := p.DownTo(ctx, 0)
	s.logResults(res)
	return migrateErr("migrate down all", err)
}

// Migration is one known migration's state.
type Migration struct {
	Version   int64      `json:"version"`
	State     string     `json:"state"` // "applied" or "pending"
	AppliedAt *time.Time `json:"applied_at,omitempty"`
	File      string     `json:"file"`
}

// Migrations lists every known migration, oldest first.
func (s *Store) Migrations(ctx context.Context) ([]Migration, error) {
	p, err := s.provider()
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, migrateErr("migrate status", err)
	}
	out := make([]Migration, 0, len(st))
	for _, m := range st {
		mg := Migration{Version: m.Source.Version, State: string(m.State), File: path.Base(m.Source.Path)}
		if m.State == goose.StateApplied && !m.AppliedAt.IsZero() {
			at := m.AppliedAt.UTC()
			mg.AppliedAt = &at
		}
		out = append(out, mg)
	}
	return out, nil
}

// MigrateStatus writes one line per known migration: version, state
// ("applied" or "pending"), when it was applied, and the file.
func (s *Store) MigrateStatus(ctx context.Context, w io.Writer) error {
	ms, err := s.Migrations(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tSTATE\tAPPLIED AT\tFILE")
	for _, m := range ms {
		applied := "-"
		if m.AppliedAt != nil {
			applied = m.AppliedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%05d\t%s\t%s\t%s\n", m.Version, m.State, applied, m.File)
	}
	return tw.Flush()
}

// PendingMigrations returns how many embedded migrations are not applied.
func (s *Store) PendingMigrations(ctx context.Context) (int, error) {
	p, err := s.provider()
	if err != nil {
		return 0, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return 0, migrateErr("migrate status", err)
	}
	n := 0
	for _, m := range st {
		if m.State == goose.StatePending {
			n++
		}
	}
	return n, nil
}
