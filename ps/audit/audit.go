// Package audit is the administrator's audit trail (issue 14): every
// administrative change, whether made in the UI, by the operator CLI or
// through mission control with an API token, is written as one log line
// and one audit_events row by the same Recorder, so the trail the
// administrator sees at /admin/audit and the operator log agree.
//
// Domain package: no gin, gorm or templ; storage sits behind Store.
package audit

import (
	"context"
	"log/slog"
	"strings"
	"time"
)

// Actor kinds: who made a change.
const (
	ActorPerson   = "person"    // a person acting in the UI
	ActorAdmin    = "admin"     // an administrator acting in the UI
	ActorCLI      = "cli"       // the operator CLI on the host
	ActorAPIToken = "api-token" // automation with an API token (mission control)
)

// Actor is who made a change: Kind is one of the Actor* constants, ID the
// person's id or the API token's id ("" for the CLI).
type Actor struct {
	Kind string `json:"kind"`
	ID   string `json:"id,omitempty"`
}

// Event is one recorded administrative change.
type Event struct {
	ID     int64          `json:"id"`
	At     time.Time      `json:"at"`
	Actor  Actor          `json:"actor"`
	Action string         `json:"action"`
	Target string         `json:"target,omitempty"`
	Detail map[string]any `json:"detail,omitempty"`
}

// Store keeps the trail (implemented by *store.Store, migration 00024).
type Store interface {
	RecordAuditEvent(ctx context.Context, e Event) error
	// AuditEvents lists events newest first, those with an id below
	// before (0: from the newest), at most limit.
	AuditEvents(ctx context.Context, before int64, limit int) ([]Event, error)
	// PurgeAuditEvents deletes events recorded before t.
	PurgeAuditEvents(ctx context.Context, t time.Time) (int64, error)
}

// DefaultRetention is how long events are kept unless configured.
const DefaultRetention = 90 * 24 * time.Hour

// Recorder writes the log line and the audit row of a change: the one
// place administrative changes are reported.
type Recorder struct {
	Store Store
	Log   *slog.Logger
	Now   func() time.Time
}

// secretKeys are detail keys never recorded (nor logged): bearer secrets,
// invitation links, passwords.
var secretKeys = []string{"token", "secret", "password", "link", "credential"}

func isSecret(key string) bool {
	k := strings.ToLower(key)
	for _, s := range secretKeys {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// Record logs the change as message and records it as action on target.
// The change is already made: a failure to record is logged, not
// returned, so that the caller still reports the change it made.
func (r *Recorder) Record(ctx context.Context, by Actor, action, target, message string, detail map[string]any) {
	clean := map[string]any{}
	for k, v := range detail {
		if !isSecret(k) {
			clean[k] = v
		}
	}
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// by is the acting person's (or token's) id, or the kind (by=cli) as
	// the operator log has always said.
	who := by.ID
	if who == "" {
		who = by.Kind
	}
	attrs := []any{"by", who, "actor", by.Kind, "action", action, "target", target}
	for k, v := range clean {
		attrs = append(attrs, k, v)
	}
	log.InfoContext(ctx, message, attrs...)
	if r.Store == nil {
		return
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	if len(clean) == 0 {
		clean = nil
	}
	if err := r.Store.RecordAuditEvent(ctx, Event{At: now().UTC(), Actor: by, Action: action, Target: target, Detail: clean}); err != nil {
		log.WarnContext(ctx, "audit event not recorded", "action", action, "err", err)
	}
}
