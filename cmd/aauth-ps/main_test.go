package main

import (
	"bytes"
	"encoding/json"
	"os"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

func runCmd(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), args, &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

func TestVersionAndUsage(t *testing.T) {
	if code, out, _ := runCmd(t, nil, "version"); code != 0 || !strings.HasPrefix(out, "aauth-ps ") {
		t.Fatalf("version: %d %q", code, out)
	}
	if code, _, errOut := runCmd(t, nil); code != 2 || !strings.Contains(errOut, "usage:") {
		t.Fatalf("no args: %d %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, nil, "frobnicate"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Fatalf("unknown: %d %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, nil, "migrate"); code != 2 || !strings.Contains(errOut, "missing subcommand") {
		t.Fatalf("migrate without subcommand: %d %q", code, errOut)
	}
}

// TestMigrateAndKeys drives `migrate up|status|down` and `keys
// list|rotate` (text and --json) configured through AAUTH_PS_* variables,
// on both databases (issue 14: every CLI verb on PostgreSQL and SQLite).
func TestMigrateAndKeys(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, db string) {
		env := map[string]string{
			"AAUTH_PS_DATABASE_URL":       db,
			"AAUTH_PS_KEY_ENCRYPTION_KEY": "0123456789abcdef0123456789abcdef-test",
		}
		if code, _, e := runCmd(t, env, "migrate", "up"); code != 0 {
			t.Fatalf("migrate up: %d %s", code, e)
		}
		code, out, e := runCmd(t, env, "migrate", "status")
		if code != 0 || !strings.Contains(out, "00001_init.sql") {
			t.Fatalf("migrate status: %d %q %s", code, out, e)
		}
		code, out, e = runCmd(t, env, "keys", "rotate")
		if code != 0 || !strings.Contains(out, "new active key") {
			t.Fatalf("keys rotate: %d %q %s", code, out, e)
		}
		var rotated struct {
			OK  bool   `json:"ok"`
			KID string `json:"kid"`
			Alg string `json:"alg"`
		}
		code, out, e = runCmd(t, env, "keys", "rotate", "--signing-alg", "ES256", "--json")
		if code != 0 || json.Unmarshal([]byte(out), &rotated) != nil || !rotated.OK || rotated.KID == "" || rotated.Alg != "ES256" {
			t.Fatalf("keys rotate ES256 --json: %d %q %s", code, out, e)
		}
		code, out, e = runCmd(t, env, "keys", "list")
		if code != 0 || strings.Count(out, "active") != 1 || strings.Count(out, "retired") != 1 {
			t.Fatalf("keys list: %d %q %s", code, out, e)
		}
		var listed []keyJSON
		code, out, e = runCmd(t, env, "keys", "list", "--json")
		if code != 0 || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 2 ||
			listed[0].State == listed[1].State || (listed[0].KID != rotated.KID && listed[1].KID != rotated.KID) {
			t.Fatalf("keys list --json: %d %q %s", code, out, e)
		}
		for _, k := range listed {
			if (k.KID == rotated.KID) != (k.State == "active" && k.Alg == "ES256" && k.PublishedUntil == nil) {
				t.Errorf("key %+v; the ES256 key %s is the active one", k, rotated.KID)
			}
		}
		// Both rotations are in the audit trail, by the CLI.
		trail, err := storetest.OpenURL(t, db, false).AuditEvents(t.Context(), 0, 10)
		if err != nil || len(trail) != 2 || trail[0].Action != "keys.rotate" || trail[0].Target != "key:"+rotated.KID || trail[0].Actor.Kind != "cli" {
			t.Fatalf("audit trail: %+v", trail)
		}
		// A wrong key-encryption secret is a clear error, not a crash.
		bad := map[string]string{"AAUTH_PS_DATABASE_URL": db, "AAUTH_PS_KEY_ENCRYPTION_KEY": strings.Repeat("z", 40)}
		if code, _, e := runCmd(t, bad, "keys", "rotate"); code != 1 || !strings.Contains(e, "secret") {
			t.Fatalf("wrong secret: %d %s", code, e)
		}
		var ms []store.Migration
		code, out, e = runCmd(t, env, "migrate", "status", "--json")
		if code != 0 || json.Unmarshal([]byte(out), &ms) != nil || len(ms) < 2 || ms[0].File != "00001_init.sql" {
			t.Fatalf("migrate status --json: %d %q %s", code, out, e)
		}
		for _, m := range ms {
			if m.State != "applied" || m.AppliedAt == nil {
				t.Fatalf("after migrate up: %+v", m)
			}
		}
		var down struct {
			OK      bool `json:"ok"`
			Pending int  `json:"pending"`
		}
		code, out, e = runCmd(t, env, "migrate", "down", "--json")
		if code != 0 || json.Unmarshal([]byte(out), &down) != nil || !down.OK || down.Pending != 1 {
			t.Fatalf("migrate down --json: %d %q %s", code, out, e)
		}
		if code, out, e := runCmd(t, env, "migrate", "status"); code != 0 || !strings.Contains(out, ms[len(ms)-1].File) || strings.Count(out, " pending ") != 1 {
			t.Fatalf("migrate status after down: %d %q %s", code, out, e)
		}
		if code, _, e := runCmd(t, env, "keys", "sideways"); code != 1 || !strings.Contains(e, "unknown subcommand") {
			t.Fatalf("keys sideways: %d %s", code, e)
		}
	})
}

// TestServeReportsEveryConfigProblem: Validate's joined errors reach the operator.
func TestServeReportsEveryConfigProblem(t *testing.T) {
	code, _, e := runCmd(t, nil, "serve", "--issuer", "http://ps.example", "--listen", "nope", "--log-level", "loud", "--resolve", "x")
	if code != 1 {
		t.Fatalf("serve with a bad config exited %d", code)
	}
	for _, want := range []string{"--issuer", "--listen", "--log-level", "--resolve", "key-encryption secret"} {
		if !strings.Contains(e, want) {
			t.Errorf("error output lacks %q:\n%s", want, e)
		}
	}
}

// Issue 12 (finding 47): once serving, the collector targets three times
// the live heap, unless the operator set GOGC, which wins.
func TestServingCollectsLessOftenUnlessGOGCIsSet(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))

	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	collectLessOftenWhileServing()
	if got := debug.SetGCPercent(100); got != servingGCPercent {
		t.Fatalf("GC percent %d after serving starts without GOGC, want %d", got, servingGCPercent)
	}

	t.Setenv("GOGC", "150")
	debug.SetGCPercent(150) // what the runtime applied at start
	collectLessOftenWhileServing()
	if got := debug.SetGCPercent(100); got != 150 {
		t.Fatalf("GC percent %d with GOGC=150 set, want the operator's 150", got)
	}
}
