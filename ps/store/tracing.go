package store

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/gorm"

	"github.com/aauth-ps/aauth-ps/ps/telemetry"
)

// Trace makes every database call a child span of the span in its
// context (issue 14); calls made without one (housekeeping) make none.
// The statement is recorded with its placeholders, never its values
// (token hashes, sealed keys), and no connection string.
//
// A gorm callback rather than gorm.io/plugin/opentelemetry: the plugin
// imports the ClickHouse and MySQL drivers into the binary (recorded in
// docs/decisions.md).
func (s *Store) Trace() error {
	cb := s.db.Callback()
	system := semconv.DBSystemNamePostgreSQL
	if s.dialect == DialectSQLite {
		system = semconv.DBSystemNameSQLite
	}
	register := []struct {
		op            string
		before, after func(name string, fn func(*gorm.DB)) error
	}{
		{"insert", cb.Create().Before("gorm:create").Register, cb.Create().After("gorm:create").Register},
		{"select", cb.Query().Before("gorm:query").Register, cb.Query().After("gorm:query").Register},
		{"update", cb.Update().Before("gorm:update").Register, cb.Update().After("gorm:update").Register},
		{"delete", cb.Delete().Before("gorm:delete").Register, cb.Delete().After("gorm:delete").Register},
		{"row", cb.Row().Before("gorm:row").Register, cb.Row().After("gorm:row").Register},
		{"raw", cb.Raw().Before("gorm:raw").Register, cb.Raw().After("gorm:raw").Register},
	}
	for _, r := range register {
		if err := r.before("otel:before_"+r.op, startDBSpan(r.op, system)); err != nil {
			return err
		}
		if err := r.after("otel:after_"+r.op, endDBSpan); err != nil {
			return err
		}
	}
	return nil
}

// dbSpanKey keeps a statement's span and its caller's context, in the
// statement's context, between the before and after callbacks.
type dbSpanKey struct{}

type dbSpan struct {
	span   trace.Span
	parent context.Context
}

func startDBSpan(op string, system attribute.KeyValue) func(*gorm.DB) {
	return func(tx *gorm.DB) {
		parent := tx.Statement.Context
		ctx, span := telemetry.Start(parent, "db."+op, system, semconv.DBOperationName(op))
		if !span.IsRecording() {
			return
		}
		tx.Statement.Context = context.WithValue(ctx, dbSpanKey{}, dbSpan{span: span, parent: parent})
	}
}

func endDBSpan(tx *gorm.DB) {
	s, ok := tx.Statement.Context.Value(dbSpanKey{}).(dbSpan)
	if !ok {
		return
	}
	tx.Statement.Context = s.parent
	attrs := []attribute.KeyValue{semconv.DBQueryText(tx.Statement.SQL.String())}
	if tx.Statement.Table != "" {
		attrs = append(attrs, semconv.DBCollectionName(tx.Statement.Table))
	}
	switch {
	case tx.DryRun: // writeLater's: queued, sent later in a db.batch span
		attrs = append(attrs, attribute.Bool("aauth.db.queued", true))
	case tx.Error == nil:
		attrs = append(attrs, attribute.Int64("db.rows_affected", tx.RowsAffected))
	}
	s.span.SetAttributes(attrs...)
	if tx.Error != nil && !errors.Is(tx.Error, gorm.ErrRecordNotFound) {
		s.span.SetStatus(codes.Error, "database error")
	}
	s.span.End()
}
