package audit_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/audit"
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
		r.Record(t.Context(), audit.Actor{Kind: audit.ActorAdmin, ID: "p1"}, "api-token.create", "api-token:t1", "api token created",
			map[string]any{"scope": "read", "Secret": "aaps_x", "invite_link": "https://ps/invite/y", "password": "z", "api_token": "w"})
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
