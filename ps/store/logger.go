package store

import (
	"context"
	"errors"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// slowStatement is the duration past which a statement is logged.
const slowStatement = 500 * time.Millisecond

// quietTrace hands a statement to the wrapped logger only when it may be
// logged: an error, a slow statement, or every one at Info. gorm's slog
// logger renders each statement's SQL and duration before deciding
// whether to log it, 3 % of the PS's CPU on PostgreSQL under load
// (issue 12); what it logs is unchanged.
type quietTrace struct {
	logger.Interface
	level logger.LogLevel
}

func (q quietTrace) LogMode(level logger.LogLevel) logger.Interface {
	return quietTrace{Interface: q.Interface.LogMode(level), level: level}
}

func (q quietTrace) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	if q.level < logger.Info && (err == nil || errors.Is(err, gorm.ErrRecordNotFound)) && time.Since(begin) <= slowStatement {
		return
	}
	q.Interface.Trace(ctx, begin, fc, err)
}

// ParamsFilter keeps the wrapped logger's: values never reach the log
// (ParameterizedQueries). Without it gorm would render the values into
// the logged SQL, the wrapper hiding the slog logger's filter.
func (q quietTrace) ParamsFilter(ctx context.Context, sql string, params ...any) (string, []any) {
	if f, ok := q.Interface.(gorm.ParamsFilter); ok {
		return f.ParamsFilter(ctx, sql, params...)
	}
	return sql, nil
}

// pgDialector and sqliteDialector are gorm's dialectors but for Explain,
// which renders no values: gorm's Scan traces its statement through a
// recorder that calls Explain with the values whether or not anything is
// logged, and the logger then logged that text for a slow or failing
// read, values and all (identifiers, token hashes). It also rendered every
// read's text for nothing (issue 12). The logged statement keeps its
// placeholders, as ParameterizedQueries keeps them everywhere else.
type pgDialector struct{ *postgres.Dialector }

func (pgDialector) Explain(sql string, _ ...any) string { return sql }

type sqliteDialector struct{ *sqlite.Dialector }

func (sqliteDialector) Explain(sql string, _ ...any) string { return sql }

// SavePoint and RollbackTo report their statement's error. The drivers'
// own run the statement and return nil whatever it did, so a savepoint
// that could not be rolled back to went unnoticed: after an error that
// makes SQLite end the whole transaction (a full disk, an I/O error,
// ON CONFLICT ROLLBACK) the next statements ran outside any transaction,
// each committed alone, and a commit group told its members they had
// committed (txgroup.go).
func (pgDialector) SavePoint(tx *gorm.DB, name string) error { return savePoint(tx, name) }

func (pgDialector) RollbackTo(tx *gorm.DB, name string) error { return rollbackTo(tx, name) }

func (sqliteDialector) SavePoint(tx *gorm.DB, name string) error { return savePoint(tx, name) }

func (sqliteDialector) RollbackTo(tx *gorm.DB, name string) error { return rollbackTo(tx, name) }

func savePoint(tx *gorm.DB, name string) error { return tx.Exec("SAVEPOINT " + name).Error }

func rollbackTo(tx *gorm.DB, name string) error {
	return tx.Exec("ROLLBACK TO SAVEPOINT " + name).Error
}
