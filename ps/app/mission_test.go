package app_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/dunglas/httpsfv"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// bindAgent connects w.agent to person username through a question relay,
// so later tests start from a bound agent.
func bindAgent(t *testing.T, w *world, username string) *pstest.Browser {
	t.Helper()
	res := w.do(t, signed(t, w.agent, http.MethodPost, w.ps.URL("/interaction"),
		relayQuestion("May I connect?", "interaction"), conformance.WithCreatedOffset(w.clock.Offset())))
	loc := expect202(t, res, w.ps.Issuer)
	_, params := requirement(t, res)
	b := w.ps.NewBrowser(t)
	b.Login(t, username)
	b.Get(t, params["url"]+"?code="+params["code"])
	b.Post(t, "/interact/"+pathID(params["url"])+"/approve", nil)
	b.Post(t, "/interact/"+pathID(params["url"])+"/answer", map[string]string{"answer": "yes"})
	if r := w.poll(t, w.agent, loc); r.status != http.StatusOK {
		t.Fatalf("binding flow did not complete: %d %s", r.status, r.raw)
	}
	return b
}

// claimsOf decodes a JWT payload without verifying it.
func claimsOf(t *testing.T, tok string) (map[string]any, map[string]any) {
	t.Helper()
	h, c, err := conformance.DecodeJWT(tok)
	if err != nil {
		t.Fatal(err)
	}
	return h, c
}

// TestMissionLifecycle is the mission layer end to end over HTTPS (the
// browser version is in ps/browsertest): propose, the person edits and
// approves, the agent checks s256 over the returned bytes and receives a
// person token naming the mission, updates the mission, completes it, and
// every mission-bound request afterwards is refused with mission_terminated.
// PS-180..187, PS-193..206, PS-056, PS-062, PS-072..076, PS-209.
func TestMissionLifecycle(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	w.ps.CreatePerson(t, "alice", false)
	b := bindAgent(t, w, "alice")

	post := func(url string, body []byte) result {
		return w.do(t, signed(t, w.agent, http.MethodPost, url, body, conformance.WithCreatedOffset(w.clock.Offset())))
	}
	proposal := []byte(`{"description":"# Plan Japan Vacation\n\nBook flights and a hotel.","tools":[{"name":"WebSearch","description":"Search"},{"name":"BookFlight"}],` +
		`"resources":["https://flights.test","https://hotels.test"],"capabilities":["interaction","clarification"]}`)
	res := post(w.ps.URL("/mission"), proposal)
	loc := expect202(t, res, w.ps.Issuer)
	_, params := requirement(t, res)
	id := pathID(params["url"])

	// The person reviews: drops a tool and a resource, edits the text.
	pg := b.Get(t, params["url"]+"?code="+params["code"])
	if !strings.Contains(pg.HTML, "Your agent proposes a mission") || !strings.Contains(pg.HTML, "https://hotels.test") {
		t.Fatalf("review page:\n%s", pg.HTML)
	}
	pg = b.Post(t, "/interact/"+id+"/approve", map[string]string{
		"description": "# Plan Japan Vacation\n\nBook flights only.", "tools_submitted": "1", "tools": "WebSearch",
		"resources_submitted": "1", "resources": "https://flights.test", "expires": "7d"})
	if pg.Status != http.StatusSeeOther && pg.Status != http.StatusOK {
		t.Fatalf("approve: %d %s", pg.Status, pg.HTML)
	}
	final := w.poll(t, w.agent, loc)
	if final.status != http.StatusOK {
		t.Fatalf("approval poll: %d %s", final.status, final.raw)
	}
	s256, _ := final.body["s256"].(string)
	blob, err := base64.RawURLEncoding.DecodeString(final.body["mission"].(string))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(blob)
	if base64.RawURLEncoding.EncodeToString(sum[:]) != s256 {
		t.Fatal("s256 is not the SHA-256 of the returned bytes (PS-183)")
	}
	var bl map[string]any
	if err := json.Unmarshal(blob, &bl); err != nil {
		t.Fatal(err)
	}
	if bl["agent"] != w.agent.ID || bl["approver"] != w.ps.Issuer || bl["description"] != "# Plan Japan Vacation\n\nBook flights only." ||
		bl["expires_at"] == nil || bl["capabilities"] != nil {
		t.Fatalf("blob = %s", blob)
	}
	if tools := bl["approved_tools"].([]any); len(tools) != 1 {
		t.Fatalf("approved_tools = %v", tools)
	}
	// The April form, beside the -11 body.
	d, err := httpsfv.UnmarshalDictionary(final.header.Values("AAuth-Mission"))
	if err != nil {
		t.Fatalf("AAuth-Mission: %v", err)
	}
	ap, _ := d.Get("approver")
	apS256, _ := ap.(httpsfv.Item).Params.Get("s256")
	if ap.(httpsfv.Item).Value != w.ps.Issuer || apS256 != s256 {
		t.Fatalf("AAuth-Mission = %q", final.header.Values("AAuth-Mission"))
	}
	pts := final.body["person_tokens"].(map[string]any)
	if len(pts) != 1 || pts["https://flights.test"] == nil {
		t.Fatalf("person_tokens = %v", pts)
	}
	h, c := claimsOf(t, pts["https://flights.test"].(string))
	if h["typ"] != aauth.TypPersonToken || h["alg"] != "Ed25519" || c["aud"] != "https://flights.test" || c["mission_s256"] != s256 ||
		c["iss"] != w.ps.Issuer || c["dwk"] != aauth.DWKPerson || c["scope"] != nil {
		t.Fatalf("person token %v %v", h, c)
	}

	// A person token for the approved resource, by either mission form.
	for _, body := range []string{
		`{"resource":"https://flights.test","mission_s256":"` + s256 + `"}`,
		`{"resource":"https://flights.test","mission":{"approver":"` + w.ps.Issuer + `","s256":"` + s256 + `"}}`,
	} {
		r := post(w.ps.URL("/person"), []byte(body))
		if r.status != http.StatusOK || r.body["person_token"] == nil || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("E3 %s: %d %s", body, r.status, r.raw)
		}
		_, c2 := claimsOf(t, r.body["person_token"].(string))
		if c2["sub"] != c["sub"] || c2["mission_s256"] != s256 {
			t.Fatalf("directed sub changed or mission missing: %v vs %v", c2, c)
		}
	}

	// Update: the digest of the exact body.
	upd := []byte(`{"action":"update","description":"# Hotel unavailable"}`)
	r := post(w.ps.URL("/mission/"+s256), upd)
	du := sha256.Sum256(upd)
	if r.status != http.StatusOK || r.body["s256"] != base64.RawURLEncoding.EncodeToString(du[:]) {
		t.Fatalf("update: %d %s", r.status, r.raw)
	}

	// Completion: the person accepts; the mission ends.
	r = post(w.ps.URL("/mission/"+s256), []byte(`{"action":"completion","summary":"Flights booked."}`))
	cloc := expect202(t, r, w.ps.Issuer)
	_, cp := requirement(t, r)
	pg = b.Get(t, cp["url"]+"?code="+cp["code"])
	if !strings.Contains(pg.HTML, "What you approved") || !strings.Contains(pg.HTML, "Flights booked.") || !strings.Contains(pg.HTML, "Hotel unavailable") {
		t.Fatalf("completion page:\n%s", pg.HTML)
	}
	b.Post(t, "/interact/"+pathID(cp["url"])+"/approve", nil)
	done := w.poll(t, w.agent, cloc)
	if done.status != http.StatusOK || done.body["termination_reason"] != "completed" {
		t.Fatalf("completion poll: %d %s", done.status, done.raw)
	}
	for _, req := range []struct{ url, body string }{
		{w.ps.URL("/person"), `{"resource":"https://flights.test","mission_s256":"` + s256 + `"}`},
		{w.ps.URL("/mission/" + s256), `{"action":"update","description":"more"}`},
		{w.ps.URL("/interaction"), `{"type":"question","question":"?","mission_s256":"` + s256 + `"}`},
	} {
		r := post(req.url, []byte(req.body))
		expectProblem(t, r, http.StatusForbidden, aauth.ErrMissionTerminated)
		if r.body["termination_reason"] != "completed" || r.body["mission_status"] != "terminated" {
			t.Fatalf("%s: %s", req.url, r.raw)
		}
	}
	// The person's mission page and mission control serve the same bytes.
	pg = b.Get(t, "/mission-control/missions/"+s256+"/blob")
	if pg.Status != http.StatusOK || pg.HTML != string(blob) {
		t.Fatalf("mission control blob differs (PS-188): %d\n%s", pg.Status, pg.HTML)
	}
}
