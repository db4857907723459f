package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/apitoken"
	"github.com/aauth-ps/aauth-ps/ps/audit"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestAPITokensAtMissionControl (issue 14 "must show" 1): tokens made by
// `aauth-ps api-tokens create` are accepted by the mission-control JSON API
// as Authorization: Bearer, within their scope only — a read token is
// refused a change with 403 insufficient_scope and changes nothing; an
// admin token carries its administrator's rights; a revoked or unknown
// token gets 401 invalid_token with WWW-Authenticate, and so do an expired
// token and a disabled person's. Only the secret's
// hash is stored; last use is recorded. Both databases.
func TestAPITokensAtMissionControl(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, db string) {
		env := pstest.NewEnv(t)
		// The PS's clock runs skew ahead of the CLI's, to expire tokens.
		var skew atomic.Int64
		ps := env.Start(t, pstest.Options{DatabaseURL: db, Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
		ps.CreatePerson(t, "root", true)
		alice := ps.CreatePerson(t, "alice", false)
		m, err := ps.App.Missions.Create(t.Context(), mission.Approval{AgentIss: "https://ap.example", AgentSub: "aauth:a@ap.example",
			PersonID: alice.ID, Description: "Plan a trip", Resources: []string{"https://rs.example"}})
		if err != nil {
			t.Fatal(err)
		}

		create := func(username, scope string) apiTokenJSON {
			t.Helper()
			var tok apiTokenJSON
			cliJSON(t, db, &tok, "api-tokens", "create", username, "--scope", scope, "--name", "ci "+scope)
			if !strings.HasPrefix(tok.Secret, apitoken.Prefix) || tok.ID == "" {
				t.Fatalf("create: %+v", tok)
			}
			return tok
		}
		read, control, admin := create("alice", "read"), create("alice", "mission-control"), create("root", "admin")
		if code, _, errOut := runCmd(t, nil, append([]string{"api-tokens", "create", "alice", "--scope", "admin"}, cliConfig(db)...)...); code != 1 || !strings.Contains(errOut, "needs an administrator") {
			t.Fatalf("an admin token for a non-administrator: %d %s", code, errOut)
		}
		if stored, err := ps.App.Store.APITokenByHash(t.Context(), apitoken.Hash(read.Secret)); err != nil || stored.ID != read.ID {
			t.Fatalf("the token is not stored by its hash: %+v %v", stored, err)
		}

		call := func(method, path, secret string) (int, http.Header, map[string]any) {
			t.Helper()
			req, _ := http.NewRequestWithContext(t.Context(), method, ps.URL("/mission-control"+path), nil)
			if secret != "" {
				req.Header.Set("Authorization", "Bearer "+secret)
			}
			resp, err := env.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var body map[string]any
			_ = json.Unmarshal(b, &body)
			return resp.StatusCode, resp.Header, body
		}
		missionPath := "/missions/" + m.S256

		if code, _, body := call("GET", "/missions", read.Secret); code != 200 || len(body["missions"].([]any)) != 1 {
			t.Fatalf("read token lists: %d %v", code, body)
		}
		code, h, body := call("POST", missionPath+"/revoke", read.Secret)
		if code != 403 || body["error"] != "insufficient_scope" || !strings.Contains(h.Get("WWW-Authenticate"), "insufficient_scope") {
			t.Fatalf("read token revokes: %d %v %v", code, h, body)
		}
		if rec, _ := ps.App.Missions.Get(t.Context(), m.S256); rec.Terminated {
			t.Fatal("a refused read token ended the mission")
		}
		// The admin scope is what makes root an administrator here: root's
		// admin token sees every mission; alice's tokens do not gain it.
		if code, _, body := call("GET", "/missions?all=true", admin.Secret); code != 200 || len(body["missions"].([]any)) != 1 {
			t.Fatalf("admin token, all missions: %d %v", code, body)
		}
		if code, _, body := call("POST", missionPath+"/terminate", control.Secret); code != 403 || body["error"] != "admin_required" {
			t.Fatalf("mission-control token terminates: %d %v", code, body)
		}
		if code, _, body := call("POST", missionPath+"/revoke", control.Secret); code != 200 || body["mission_status"] == "active" {
			t.Fatalf("mission-control token revokes: %d %v", code, body)
		}
		// Issue 14: the change through mission control is in the audit
		// trail, attributed to the token (its person in the detail), after
		// the CLI's token creations.
		trail, err := ps.App.Store.AuditEvents(t.Context(), 0, 10)
		if err != nil || len(trail) != 4 || trail[0].Actor != (audit.Actor{Kind: audit.ActorAPIToken, ID: control.ID}) ||
			trail[0].Target != "mission:"+m.S256 || trail[0].Detail["person"] != alice.ID ||
			trail[1].Action != "api-token.create" || trail[1].Actor.Kind != audit.ActorCLI {
			t.Fatalf("audit trail: %+v %v", trail, err)
		}

		// Unknown, malformed and revoked tokens: 401 invalid_token.
		cli(t, db, "api-tokens", "revoke", read.ID)
		for _, secret := range []string{read.Secret, apitoken.Prefix + "nope", "not-a-token"} {
			code, h, body := call("GET", "/missions", secret)
			if code != 401 || body["error"] != "invalid_token" || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Fatalf("token %q: %d %v %v", secret, code, h, body)
			}
		}
		if code, _, _ := runCmd(t, nil, append([]string{"api-tokens", "revoke", read.ID}, cliConfig(db)...)...); code != 1 {
			t.Fatal("revoking twice succeeded")
		}

		// Expiry: an hour and a minute later the one-hour token gets 401
		// invalid_token; the 90-day one still works.
		var short apiTokenJSON
		cliJSON(t, db, &short, "api-tokens", "create", "alice", "--scope", "read", "--name", "an hour", "--expires", "1h")
		if d := short.Expires.Sub(short.Created); d != time.Hour {
			t.Fatalf("--expires 1h: the token lives %s", d)
		}
		if code, _, _ := call("GET", "/missions", short.Secret); code != 200 {
			t.Fatalf("the one-hour token before it expires: %d", code)
		}
		skew.Store(int64(time.Hour + time.Minute))
		if code, h, body := call("GET", "/missions", short.Secret); code != 401 || body["error"] != "invalid_token" || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("an expired token: %d %v %v", code, h, body)
		}
		if code, _, _ := call("GET", "/missions", control.Secret); code != 200 {
			t.Fatalf("a live token after the clock moved: %d", code)
		}
		// A disabled person's tokens stop working (a token never
		// grants more than its person has).
		cli(t, db, "persons", "disable", "alice")
		if code, _, body := call("GET", "/missions", control.Secret); code != 401 || body["error"] != "invalid_token" {
			t.Fatalf("the token of a disabled person: %d %v", code, body)
		}

		var list []apiTokenJSON
		cliJSON(t, db, &list, "api-tokens", "list")
		byID := map[string]apiTokenJSON{}
		for _, tok := range list {
			if tok.Secret != "" {
				t.Fatal("list shows a secret")
			}
			byID[tok.ID] = tok
		}
		if len(list) != 4 || byID[read.ID].Revoked == nil || byID[read.ID].LastUsed == nil || byID[control.ID].Revoked != nil {
			t.Fatalf("list: %+v", list)
		}
		table := cli(t, db, "api-tokens", "list")
		for _, want := range []string{"LAST USED", read.ID, "revoked"} {
			if !strings.Contains(table, want) {
				t.Fatalf("api-tokens list lacks %q:\n%s", want, table)
			}
		}
		for _, line := range strings.Split(table, "\n") {
			if strings.HasPrefix(line, read.ID) && strings.HasSuffix(strings.TrimSpace(line), "never") {
				t.Fatalf("the used token's last use is not shown:\n%s", table)
			}
		}
	})
}
