package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/audit"
)

// The audit trail (audit.Store, migration 00024).

type auditRow struct {
	ID        int64
	At        int64
	ActorKind string
	ActorID   string
	Action    string
	Target    string
	Detail    string
}

// RecordAuditEvent appends e (its ID is assigned by the database).
func (s *Store) RecordAuditEvent(ctx context.Context, e audit.Event) error {
	detail := ""
	if len(e.Detail) > 0 {
		b, err := json.Marshal(e.Detail)
		if err != nil {
			return wrap("record audit event", err)
		}
		detail = string(b)
	}
	return wrap("record audit event", s.stmt(ctx).Exec(
		`INSERT INTO audit_events (at, actor_kind, actor_id, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)`,
		e.At.Unix(), e.Actor.Kind, e.Actor.ID, e.Action, e.Target, detail).Error)
}

// AuditEvents lists events newest first with an id below before (0: all),
// at most limit.
func (s *Store) AuditEvents(ctx context.Context, before int64, limit int) ([]audit.Event, error) {
	q := s.db.WithContext(ctx).Table("audit_events").Order("id DESC").Limit(limit)
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	var rows []auditRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, wrap("list audit events", err)
	}
	out := make([]audit.Event, len(rows))
	for i, r := range rows {
		out[i] = audit.Event{ID: r.ID, At: unixTime(r.At), Actor: audit.Actor{Kind: r.ActorKind, ID: r.ActorID},
			Action: r.Action, Target: r.Target}
		if r.Detail != "" {
			if err := json.Unmarshal([]byte(r.Detail), &out[i].Detail); err != nil {
				return nil, wrap("decode audit event detail", err)
			}
		}
	}
	return out, nil
}

// PurgeAuditEvents deletes events recorded before t.
func (s *Store) PurgeAuditEvents(ctx context.Context, t time.Time) (int64, error) {
	res := s.stmt(ctx).Exec(`DELETE FROM audit_events WHERE at < ?`, t.Unix())
	return res.RowsAffected, wrap("purge audit events", res.Error)
}
