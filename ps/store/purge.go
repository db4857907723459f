package store

import (
	"context"
	"strconv"
)

// defaultPurgeBatch is how many rows one purge statement deletes at most
// on SQLite (issue 12). The tables purged every minute grow with every
// signed request (a replay key each, a token record per issuance). One
// DELETE of 66 000 expired replay keys, a minute's at a thousand requests a
// second, held SQLite's write lock for 106–132 ms while every decision
// waited; in batches of this size under the writer turn the longest wait
// between two decisions' commits was 8–10 ms (docs/performance.md,
// finding 46).
const defaultPurgeBatch = 2000

// purgeBatchSize is the store's batch, the default unless a test set one.
func (s *Store) purgeBatchSize() int {
	if s.purgeBatch > 0 {
		return s.purgeBatch
	}
	return defaultPurgeBatch
}

// purge deletes the rows of table that match where. key lists the columns
// of the table's primary key ("jti", "iss, jti").
//
// On SQLite it deletes a batch at a time until a batch finds fewer rows
// than it may delete, each batch one statement in this process's writer
// turn, as a transaction takes it, so decisions queue behind one short
// batch instead of waiting out a long DELETE in SQLite's busy handler. The
// rows a finished batch deleted stay deleted if a later one fails. On
// PostgreSQL a DELETE blocks no insert of another row, and batches only
// made the purge take eight times as long: one statement.
func (s *Store) purge(ctx context.Context, op, table, key, where string, args ...any) (int64, error) {
	if s.dialect == DialectPostgres {
		res := s.stmt(ctx).Exec(`DELETE FROM `+table+` WHERE `+where, args...)
		return res.RowsAffected, wrap(op, res.Error)
	}
	batch := s.purgeBatchSize()
	q := `DELETE FROM ` + table + ` WHERE (` + key + `) IN (SELECT ` + key + ` FROM ` + table + ` WHERE ` + where +
		` LIMIT ` + strconv.Itoa(batch) + `)`
	var total int64
	for {
		res := s.stmt(ctx).Exec(q, args...) // one writer turn per batch
		if res.Error != nil {
			return total, wrap(op, res.Error)
		}
		total += res.RowsAffected
		if res.RowsAffected < int64(batch) {
			return total, nil
		}
	}
}
