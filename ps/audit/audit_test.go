package audit_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/audit"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestRecorderDropsSecrets (issue 14): the recorder writes one log line
// and one row per change, and detail keys naming secrets reach neither.
func TestRecorderDropsSecrets(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, db string) {
		st := storetest.OpenURL(t, db, true)
		var logs bytes.Buffer
		at := time.Unix(1_800_000_000, 0).UTC()
		r := &audit.Recorder{Store: st, Log: slog.New(slog.NewJSONHandler(&logs, nil)), Now: func() time.Time { return at }}
		c := audit.Change{By: audit.Actor{Kind: audit.ActorAdmin, ID: "p1"}, Action: "api-token.create", Target: "api-token:t1", Message: "api token created",
			Detail: map[string]any{"scope": "read", "Secret": "aaps_x", "invite_link": "https://ps/invite/y", "password": "z", "api_token": "w"}}
		if err := audit.Commit(t.Context(), r, st.InTx, &c, func(*store.Store) error { return nil }); err != nil {
			t.Fatal(err)
		}
		trail, err := st.AuditEvents(t.Context(), 0, 10)
		if err != nil || len(trail) != 1 || !trail[0].At.Equal(at) || len(trail[0].Detail) != 1 || trail[0].Detail["scope"] != "read" {
			t.Fatalf("trail: %+v %v", trail, err)
		}
		line := logs.String()
		if !strings.Contains(line, `"by":"p1"`) || !strings.Contains(line, `"actor":"admin"`) || !strings.Contains(line, `"scope":"read"`) {
			t.Fatalf("log: %s", line)
		}
		for _, secret := range []string{"aaps_x", "invite/y", `"z"`, `"w"`} {
			if strings.Contains(line, secret) {
				t.Fatalf("the log holds %s: %s", secret, line)
			}
		}
	})
}

// TestCommitRecordsOnlyMadeChanges (issue 14): a refused change (its
// error, returned as is) and a change that changed nothing (it clears
// the Change) leave no row and no log line; a change made leaves one of
// each, with the target the change completed.
func TestCommitRecordsOnlyMadeChanges(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, db string) {
		st := storetest.OpenURL(t, db, true)
		var logs bytes.Buffer
		r := &audit.Recorder{Store: st, Log: slog.New(slog.NewJSONHandler(&logs, nil))}
		change := func() audit.Change {
			return audit.Change{By: audit.Actor{Kind: audit.ActorCLI}, Action: "person.role-add", Message: "role given"}
		}
		refused := errors.New("refused")
		c := change()
		if err := audit.Commit(t.Context(), r, st.InTx, &c, func(*store.Store) error { return refused }); !errors.Is(err, refused) {
			t.Fatalf("a refused change: %v, want its own error", err)
		}
		c = change()
		if err := audit.Commit(t.Context(), r, st.InTx, &c, func(*store.Store) error { c = audit.Change{}; return nil }); err != nil {
			t.Fatal(err)
		}
		if trail, err := st.AuditEvents(t.Context(), 0, 10); err != nil || len(trail) != 0 || logs.Len() != 0 {
			t.Fatalf("refused or empty changes were recorded: %+v %v, log %q", trail, err, logs.String())
		}
		c = change()
		if err := audit.Commit(t.Context(), r, st.InTx, &c, func(*store.Store) error { c.Target = "person:bob"; return nil }); err != nil {
			t.Fatal(err)
		}
		trail, err := st.AuditEvents(t.Context(), 0, 10)
		if err != nil || len(trail) != 1 || trail[0].Target != "person:bob" || strings.Count(logs.String(), "\n") != 1 {
			t.Fatalf("a made change: %+v %v, log %q", trail, err, logs.String())
		}
	})
}
