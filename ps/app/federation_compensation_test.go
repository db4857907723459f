package app_test

import (
	"encoding/json"
	"html"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/mission/evidence"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// reservationPolicy bounds four-party grants on rs.test (behind as.test):
// one calendar.read token per mission, and each calendar.write token needs
// the person's single_use write_ok approval first.
const reservationPolicy = `{"policy_version":"test-4p-res",
 "catalog":{"version":"cat-1","resources":{"https://rs.test":{"name":"Calendar"}}},
 "templates":[{"name":"calendar@1","resources":["https://rs.test"],
  "authority_set":{"object":"aauth-mm/authority-set/v1","default_outside":"deny",
   "entries":[
    {"id":"calendar-read","target":"resource","resource":{"id":"https://rs.test"},"scopes":["calendar.read"],"grant":"auto",
     "constraints":{"max_grants":1,"on_violation":"deny"}},
    {"id":"calendar-write","target":"resource","resource":{"id":"https://rs.test"},"scopes":["calendar.write"],"grant":"auto",
     "requires":["write_ok"]}],
   "checkpoints":[{"id":"write_ok","label":"The person agrees to this change","kind":"approval","approver":"person",
     "satisfy_via":["inline","permission"],"single_use":true}]}}]}`

func newReservationWorld(t *testing.T, dbURL string) *fedWorld {
	t.Helper()
	return newFedWorldOn(t, reservationOptions(t, dbURL))
}

// reservationOptions start a PS on dbURL under reservationPolicy.
func reservationOptions(t *testing.T, dbURL string) pstest.Options {
	t.Helper()
	policy := filepath.Join(t.TempDir(), "mission-policy.json")
	if err := os.WriteFile(policy, []byte(reservationPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	return pstest.Options{DatabaseURL: dbURL, Configure: func(c *config.Config) { c.MissionPolicy = policy }}
}

// fedMission is an approved mission on rs.test and a way to ask for an
// auth token under it.
type fedMission struct {
	s256 string
	auth func(scope string) result
}

func (f *fedWorld) mission(t *testing.T) fedMission {
	t.Helper()
	ap := f.approveMission(t, f.agent, f.b, `{"description":"# Keep the calendar\n\nRead and update it.",`+
		`"resources":["https://rs.test"],"capabilities":["interaction"]}`, nil)
	pt, _ := ap.res.body["person_tokens"].(map[string]any)["https://rs.test"].(string)
	if pt == "" {
		t.Fatalf("no mission person token for rs.test: %s", ap.res.raw)
	}
	return fedMission{s256: ap.s256, auth: func(scope string) result {
		rt := resourceToken(t, f.world, f.rs, pt, scope, func(s *conformance.ResourceTokenSpec) {
			s.Aud, s.MissionS256 = f.as.Issuer(), ap.s256
		})
		return f.post(t, f.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt,
			"capabilities": []string{"interaction"}}))
	}}
}

// deliveries are the mission's token_delivered records: outcome, and what
// a failed delivery gave back.
func (f *fedWorld) deliveries(t *testing.T, s256 string) []map[string]any {
	t.Helper()
	chain, err := f.ps.App.Store.Evidence(ctxT(), s256)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, e := range chain {
		if e.Record.Type != evidence.TokenDelivered {
			continue
		}
		var b map[string]any
		if err := json.Unmarshal(e.Record.Body, &b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestFederationCompensation: a four-party mission decision's effects are a
// reservation settled by what came of the AS exchange, atomically with a
// token_delivered evidence record. An AS refusal, a token failing a
// delivery check and a dropped connection give the max_grants count and
// the single_use checkpoint back, so the retry succeeds; a delivered
// token consumes them exactly once, also when two requests race. Issue 11
// (four-party effects), PS-122, PS-123, PS-130, PS-131. On both databases.
func TestFederationCompensation(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			f := newReservationWorld(t, b.NewMigratedURL(t))
			federationCompensation(t, f)
			federationReservationRace(t, f)
			federationDeferredCompensation(t, f)
		})
	}
}

func federationCompensation(t *testing.T, f *fedWorld) {
	m := f.mission(t)
	// max_grants 1: three failures, each given back, then the one grant.
	failures := []struct {
		step   conformance.ASStep
		status int
		code   string
	}{
		{conformance.ASStep{Kind: conformance.ASError, Status: http.StatusForbidden, Code: aauth.ErrDenied}, http.StatusForbidden, aauth.ErrDenied},
		{conformance.ASStep{Kind: conformance.ASGrant, Defect: conformance.DefectIss}, http.StatusBadGateway, aauth.ErrASUnreachable},
		{conformance.ASStep{Kind: conformance.ASDrop}, http.StatusBadGateway, aauth.ErrASUnreachable},
	}
	for _, c := range failures {
		f.as.Script(c.step)
		expectNoToken(t, m.auth("calendar.read"), c.status, c.code)
	}
	f.as.Script()
	f.expectASToken(t, m.auth("calendar.read"))
	before := len(f.as.Requests())
	missionDecision(t, m.auth("calendar.read"), http.StatusForbidden, "constraint_violation", "calendar-read", "")
	if len(f.as.Requests()) != before {
		t.Fatal("the AS was asked past max_grants")
	}

	// The single_use checkpoint: recorded once by the person, kept through
	// an AS refusal, consumed by the delivered token.
	s := f.expectInteraction(t, f.post(t, f.agent, "/permission",
		`{"action":"mission.checkpoint","parameters":{"checkpoint":"write_ok"},"mission_s256":"`+m.s256+`"}`))
	open(t, f.b, s)
	f.b.Post(t, s.path()+"/approve", nil)
	if cb := f.poll(t, f.agent, s.loc); cb.status != http.StatusOK || cb.body["permission"] != "granted" {
		t.Fatalf("checkpoint call-back: %d %s", cb.status, cb.raw)
	}
	f.as.Script(conformance.ASStep{Kind: conformance.ASError, Status: http.StatusForbidden, Code: aauth.ErrDenied})
	expectNoToken(t, m.auth("calendar.write"), http.StatusForbidden, aauth.ErrDenied)
	f.as.Script()
	// (The resource's API reads; a calendar.write token is checked as delivered.)
	w := m.auth("calendar.write")
	at, _ := w.body["auth_token"].(string)
	if c, err := f.rs.VerifyAccessToken(ctxT(), at, f.agent.Key); w.status != http.StatusOK || err != nil || c["scope"] != "calendar.write" {
		t.Fatalf("want the AS's calendar.write token: %d %v %s", w.status, err, w.raw)
	}
	// Consumed: the next write asks the person again (inline), the AS not yet.
	before = len(f.as.Requests())
	f.expectInteraction(t, m.auth("calendar.write"))
	if len(f.as.Requests()) != before {
		t.Fatal("the AS was asked with the single_use checkpoint consumed")
	}

	got := f.deliveries(t, m.s256)
	want := []string{"not_delivered", "not_delivered", "not_delivered", "delivered", "not_delivered", "delivered"}
	if len(got) != len(want) {
		t.Fatalf("%d token_delivered records, want %d: %v", len(got), len(want), got)
	}
	for i, d := range got {
		if d["outcome"] != want[i] || d["decision"] == "" || d["access_server"] != f.as.Issuer() {
			t.Fatalf("record %d: %v, want outcome %s", i, d, want[i])
		}
		if want[i] == "delivered" && d["jti"] == nil {
			t.Fatalf("record %d names no jti: %v", i, d)
		}
	}
	if rel, _ := got[0]["released"].(map[string]any); rel == nil || rel["count_grants"] == nil || got[0]["error"] != aauth.ErrDenied {
		t.Fatalf("the refusal's record does not name what it gave back: %v", got[0])
	}
	if rel, _ := got[4]["released"].(map[string]any); rel == nil || rel["consume_checkpoints"] == nil {
		t.Fatalf("the checkpoint was not given back: %v", got[4])
	}
}

// federationReservationRace: two requests race for the one calendar.read
// grant of a fresh mission: exactly one reaches the AS and is delivered.
func federationReservationRace(t *testing.T, f *fedWorld) {
	m := f.mission(t)
	f.as.Script()
	before := len(f.as.Requests())
	var wg sync.WaitGroup
	res := make([]result, 2)
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = m.auth("calendar.read")
		}()
	}
	wg.Wait()
	ok := 0
	for _, r := range res {
		switch {
		case r.status == http.StatusOK:
			ok++
		case r.status == http.StatusForbidden && r.body["error"] == aauth.ErrDenied:
		case r.status == http.StatusConflict:
		default:
			t.Fatalf("unexpected answer in the race: %d %s", r.status, r.raw)
		}
	}
	if ok != 1 || len(f.as.Requests()) != before+1 {
		t.Fatalf("%d delivered and %d AS requests, want exactly one of each: %v", ok, len(f.as.Requests())-before, res)
	}
}

// federationDeferredCompensation: the AS first needs the person at its own
// page (the agent gets 202, the PS polls in the background), then refuses:
// the background answer gives the grant back in its transaction, and the
// retry is delivered.
func federationDeferredCompensation(t *testing.T, f *fedWorld) {
	m := f.mission(t)
	f.as.Script(conformance.ASStep{Kind: conformance.ASInteraction},
		conformance.ASStep{Kind: conformance.ASError, Status: http.StatusForbidden, Code: aauth.ErrDenied})
	s := f.expectInteraction(t, m.auth("calendar.read"))
	pg := open(t, f.b, s)
	link := relayLinkRE.FindStringSubmatch(pg.HTML)
	if link == nil {
		t.Fatalf("want the AS's step:\n%s", pg.HTML)
	}
	f.b.Post(t, s.path()+"/open", nil)
	if at := f.b.Get(t, html.UnescapeString(link[1])); at.Status != http.StatusOK {
		t.Fatalf("the AS's interaction page: %d", at.Status)
	}
	expectNoToken(t, f.awaitResult(t, s.loc), http.StatusForbidden, aauth.ErrDenied)
	f.as.Script()
	f.expectASToken(t, m.auth("calendar.read"))
	got := f.deliveries(t, m.s256)
	if len(got) != 2 || got[0]["outcome"] != "not_delivered" || got[1]["outcome"] != "delivered" {
		t.Fatalf("token_delivered records %v, want not_delivered then delivered", got)
	}
}
