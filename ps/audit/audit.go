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

// Change is one administrative change to report: who made it, the action
// on target, the log message and the detail (secrets are dropped when it
// is reported).
type Change struct {
	By      Actor
	Action  string
	Target  string
	Message string
	Detail  map[string]any
}

// clean is c's detail without secrets, nil when empty.
func (c Change) clean() map[string]any {
	clean := map[string]any{}
	for k, v := range c.Detail {
		if !isSecret(k) {
			clean[k] = v
		}
	}
	if len(clean) == 0 {
		return nil
	}
	return clean
}

// Write records c's audit row with st: the transaction of the change
// itself, so that the change and its row commit together, or neither
// does (a failed write is the transaction's error). Log the change once
// it committed (Logged).
func (r *Recorder) Write(ctx context.Context, st Store, c Change) error {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	return st.RecordAuditEvent(ctx, Event{At: now().UTC(), Actor: c.By, Action: c.Action, Target: c.Target, Detail: c.clean()})
}

// Logged writes c's log line (once the change committed).
func (r *Recorder) Logged(ctx context.Context, c Change) {
	r.logger().InfoContext(ctx, c.Message, c.attrs()...)
}

func (r *Recorder) logger() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}

// attrs are c's log attributes. by is the acting person's (or token's)
// id, or the kind (by=cli) as the operator log has always said.
func (c Change) attrs() []any {
	who := c.By.ID
	if who == "" {
		who = c.By.Kind
	}
	attrs := []any{"by", who, "actor", c.By.Kind, "action", c.Action, "target", c.Target}
	for k, v := range c.clean() {
		attrs = append(attrs, k, v)
	}
	return attrs
}

// Commit makes change and writes c's audit row in one transaction of
// inTx, so that both commit or neither does (a failed write rolls the
// change back and is Commit's error), then logs c. change may complete
// c (a target or detail known only once the change is made), or clear it
// (*c = Change{}) when it changed nothing: then nothing is recorded. A
// refusal is change's error, returned unchanged, with no row and no log.
func Commit[Tx Store](ctx context.Context, r *Recorder, inTx func(context.Context, func(Tx) error) error, c *Change, change func(tx Tx) error) error {
	err := inTx(ctx, func(tx Tx) error {
		if err := change(tx); err != nil || c.Action == "" {
			return err
		}
		return r.Write(ctx, tx, *c)
	})
	if err != nil || c.Action == "" {
		return err
	}
	r.Logged(ctx, *c)
	return nil
}
