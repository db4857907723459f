package app_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dunglas/httpsfv"
	"github.com/gowebpki/jcs"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// Black-box tests of the mission layer over HTTPS: E5 (PS-180..192), E6
// (PS-193..207, PS-209, PS-210), expiry (PS-061, PS-075, PS-211, A-39),
// PS-158, and the mission control API (PS-188, PS-213, A-43). The
// existence-oracle timing test (PS-196) is in mission_timing_test.go.

// TestMissionProposalValidation: PS-050 (the 256 KiB cap at E5, 413 before
// verification, nothing fetched), PS-181, PS-048, PS-051: each refusal is
// 400 invalid_request and writes nothing but the replay-cache entry.
func TestMissionProposalValidation(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})

	// PS-050: over 256 KiB is refused before the signature is looked at:
	// no metadata or JWKS fetch, no replay-cache entry.
	before := w.ps.TableCounts(t)
	huge := `{"description":"x","x":"` + strings.Repeat("a", 257<<10) + `"}`
	expectProblem(t, w.post(t, w.agent, "/mission", huge), http.StatusRequestEntityTooLarge, aauth.ErrInvalidRequest)
	unchanged(t, w.ps, before)
	if w.ap.MetadataFetches() != 0 || w.ap.JWKSFetches() != 0 {
		t.Fatalf("a 413 fetched agent-provider documents: %d metadata, %d JWKS", w.ap.MetadataFetches(), w.ap.JWKSFetches())
	}
	// The same body size elsewhere is over the general 64 KiB cap.
	expectProblem(t, w.post(t, w.agent, "/person", `{"resource":"https://rs.test","x":"`+strings.Repeat("a", 100<<10)+`"}`),
		http.StatusRequestEntityTooLarge, aauth.ErrInvalidRequest)

	cases := []string{
		// PS-181
		`{}`, `{"description":5}`, `{"description":null}`, `{"description":"   "}`,
		`{"description":"x","tools":[{}]}`, `{"description":"x","tools":"WebSearch"}`, `{"description":"x","tools":[{"name":5}]}`,
		`{"description":"x","tools":["WebSearch"]}`, `{"description":"x","tools":[{"name":"a","description":5}]}`,
		`{"description":"x","resources":["http://x"]}`, `{"description":"x","resources":["https://x.test/"]}`,
		`{"description":"x","resources":"https://x.test"}`, `{"description":"x","resources":[5]}`,
		`{"description":"x","capabilities":"interaction"}`,
		// PS-048
		`{"description":`, `[]`, `"x"`, ``,
		// PS-051
		`{"description":"a","description":"b"}`, "{\"description\":\"\xff\"}",
	}
	for _, body := range cases {
		before := w.ps.TableCounts(t)
		r := w.post(t, w.agent, "/mission", body)
		expectProblem(t, r, http.StatusBadRequest, aauth.ErrInvalidRequest)
		writesNothing(t, w.ps, before)
	}

	// A 100 KiB proposal is read in full at E5 (unknown members ignored,
	// PS-053): the unbound agent is sent to connect first.
	big := `{"description":"# Big","capabilities":["interaction"],"x":"` + strings.Repeat("a", 100<<10) + `"}`
	w.expectInteraction(t, w.post(t, w.agent, "/mission", big))
}

var rfc3339ms = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// TestMissionApproval: the approval response and blob (PS-182..187),
// the April header, PS-189 (identical proposals, different s256), PS-190
// (denial), PS-191 (edited description is hashed), PS-192/PS-257
// (proposal capabilities are the default under the mission).
func TestMissionApproval(t *testing.T) {
	t.Parallel()
	w, b, _ := missionWorld(t, pstest.Options{})
	planner := w.newAgent(t, "aauth:Planner@ap.test") // upper case kept (PS-184, A-50)
	w.bind(t, planner, b)

	proposal := `{"description":"# Japan\n\nBook flights, a hotel and a calendar entry.",` +
		`"tools":[{"name":"WebSearch","description":"Search the web"},{"name":"BookFlight"},{"name":"BookHotel","description":"Hotels"}],` +
		`"resources":["https://rs.test","https://flights.test","https://hotels.test"],"capabilities":["interaction"]}`
	s := w.propose(t, planner, proposal)
	pg := open(t, b, s)
	for _, want := range []string{"https://flights.test", "BookHotel", "Fixture Calendar"} {
		if !strings.Contains(pg.HTML, want) {
			t.Fatalf("review page lacks %q:\n%s", want, pg.HTML)
		}
	}
	edited := "# Japan\n\nBook flights and the calendar entry only."
	b.Post(t, s.path()+"/approve", map[string]string{"description": edited,
		"tools_submitted": "1", "tools": "WebSearch\nBookFlight",
		"resources_submitted": "1", "resources": "https://rs.test\nhttps://flights.test", "expires": "1d"})
	r := w.poll(t, planner, s.loc)
	if r.status != http.StatusOK {
		t.Fatalf("poll: %d %s", r.status, r.raw)
	}
	ap := decodeApproval(t, r)

	// PS-182: schema.
	caps, ok := r.body["capabilities"].([]any)
	if !ok {
		t.Fatalf("capabilities is not an array: %s", r.raw)
	}
	for _, c := range caps {
		if _, ok := c.(string); !ok {
			t.Fatalf("capabilities member %v is not a string", c)
		}
	}
	pts, ok := r.body["person_tokens"].(map[string]any)
	if !ok {
		t.Fatalf("person_tokens is not an object: %s", r.raw)
	}

	// PS-184..186, PS-191: the blob, as received.
	bl := ap.bl
	if bl["approver"] != w.ps.Issuer || bl["agent"] != "aauth:Planner@ap.test" || bl["description"] != edited {
		t.Fatalf("blob %s", ap.blob)
	}
	if _, has := bl["capabilities"]; has {
		t.Fatal("the blob carries capabilities (PS-186)")
	}
	at, _ := bl["approved_at"].(string)
	exp, _ := bl["expires_at"].(string)
	if !rfc3339ms.MatchString(at) || !rfc3339ms.MatchString(exp) {
		t.Fatalf("approved_at %q / expires_at %q are not RFC 3339 UTC with milliseconds", at, exp)
	}
	atT, _ := time.Parse(time.RFC3339Nano, at)
	expT, _ := time.Parse(time.RFC3339Nano, exp)
	if d := expT.Sub(atT); d < 23*time.Hour || d > 25*time.Hour {
		t.Fatalf("expires_at - approved_at = %v, want about 1 day (PS-185)", d)
	}
	var tools []string
	for _, x := range bl["approved_tools"].([]any) {
		tools = append(tools, x.(map[string]any)["name"].(string))
	}
	if !slices.Equal(tools, []string{"WebSearch", "BookFlight"}) {
		t.Fatalf("approved_tools = %v (PS-185)", tools)
	}
	var resources []string
	for _, x := range bl["approved_resources"].([]any) {
		resources = append(resources, x.(string))
	}
	if !slices.Equal(resources, []string{"https://rs.test", "https://flights.test"}) {
		t.Fatalf("approved_resources = %v (PS-185)", resources)
	}
	// Serialized once, canonically (JCS): the received bytes are their own
	// canonical form.
	if canon, err := jcs.Transform(ap.blob); err != nil || string(canon) != string(ap.blob) {
		t.Fatalf("blob is not JCS-canonical:\n%s\n%s", ap.blob, canon)
	}

	// PS-187: person tokens for the kept resources only.
	ks := psKeys(t, w)
	if len(pts) != 2 {
		t.Fatalf("person_tokens %v", pts)
	}
	for res, tok := range pts {
		if !slices.Contains(resources, res) {
			t.Fatalf("a person token for %s, which the person did not approve", res)
		}
		c := verifyPT(t, w, ks, tok.(string), res, planner)
		if c["mission_s256"] != ap.s256 || num(c, "exp") > expT.Unix() {
			t.Fatalf("person token %v", c)
		}
	}

	// The April form: AAuth-Mission: approver="<issuer>";s256="<s256>".
	d, err := httpsfv.UnmarshalDictionary(r.header.Values("AAuth-Mission"))
	if err != nil {
		t.Fatalf("AAuth-Mission %q: %v", r.header.Values("AAuth-Mission"), err)
	}
	m, ok := d.Get("approver")
	if !ok {
		t.Fatalf("AAuth-Mission %q has no approver", r.header.Values("AAuth-Mission"))
	}
	it := m.(httpsfv.Item)
	hs, _ := it.Params.Get("s256")
	if it.Value != w.ps.Issuer || hs != ap.s256 {
		t.Fatalf("AAuth-Mission = %q", r.header.Values("AAuth-Mission"))
	}

	// PS-192, PS-257: a new resource under the mission, no capabilities in
	// the request: the proposal's ["interaction"] applies (202, not 403);
	// outside the mission the same request is user_unreachable.
	w.expectInteraction(t, w.post(t, planner, "/person", missionBody("https://new.test", ap.s256)))
	expectProblem(t, w.post(t, planner, "/person", `{"resource":"https://new.test"}`), http.StatusForbidden, aauth.ErrUserUnreachable)
	// The approved resources need no consent round under the mission.
	if r := w.post(t, planner, "/person", missionBody("https://flights.test", ap.s256)); r.status != http.StatusOK {
		t.Fatalf("approved resource: %d %s", r.status, r.raw)
	}

	// PS-189: two identical proposals approved back to back.
	same := `{"description":"Same","capabilities":["interaction"]}`
	s1 := w.propose(t, planner, same)
	w.clock.Advance(time.Second) // the same bytes signed in the same second would be a replay
	s2 := w.propose(t, planner, same)
	open(t, b, s1)
	b.Post(t, s1.path()+"/approve", nil)
	open(t, b, s2)
	b.Post(t, s2.path()+"/approve", nil)
	a1, a2 := decodeApproval(t, w.poll(t, planner, s1.loc)), decodeApproval(t, w.poll(t, planner, s2.loc))
	if a1.s256 == a2.s256 || a1.bl["approved_at"] == a2.bl["approved_at"] {
		t.Fatalf("identical proposals share s256 %s / approved_at %v", a1.s256, a1.bl["approved_at"])
	}

	// PS-171 at E5: without the interaction capability and with no PS
	// channel to the person, a proposal cannot reach anyone.
	expectProblem(t, w.post(t, planner, "/mission", `{"description":"Unreachable"}`), http.StatusForbidden, aauth.ErrUserUnreachable)
	expectProblem(t, w.post(t, w.newAgent(t, "aauth:a9@ap.test"), "/mission", `{"description":"Unbound"}`),
		http.StatusForbidden, aauth.ErrUserUnreachable)

	// PS-190: the person refuses; the poll is 403 denied, no mission exists.
	before := w.ps.TableCounts(t)["missions"]
	s3 := w.propose(t, planner, `{"description":"Refuse me","capabilities":["interaction"]}`)
	open(t, b, s3)
	b.Post(t, s3.path()+"/deny", nil)
	w.terminal(t, planner, s3.loc, http.StatusForbidden, aauth.ErrDenied)
	if after := w.ps.TableCounts(t)["missions"]; after != before {
		t.Fatalf("a denied proposal left a mission (%d → %d)", before, after)
	}
}

// TestMissionURL: E6 end to end for one agent's mission while another
// agent probes it. PS-193..195, PS-197..207, PS-209, PS-210.
func TestMissionURL(t *testing.T) {
	t.Parallel()
	w, alice, _ := missionWorld(t, pstest.Options{})
	bob := w.person(t, "bob", false)
	a3 := w.newAgent(t, "aauth:a3@ap.test")
	w.bind(t, a3, bob)
	m := w.approveMission(t, w.agent, alice, `{"description":"# Calendar\n\nTidy my calendar.","resources":["https://rs.test"],`+
		`"capabilities":["interaction","clarification"]}`, nil)
	other := w.approveMission(t, a3, bob, `{"description":"Bob's","capabilities":["interaction"]}`, nil)
	url := "/mission/" + m.s256

	// PS-193, PS-194, PS-199: 400 invalid_request, nothing written.
	for _, c := range []struct{ path, body string }{
		{url, `{}`}, {url, `{"action":"pause"}`}, {url, `{"action":5}`}, {url, `{"action":"UPDATE","description":"x"}`},
		{url, `{"action":"update"}`}, {url, `{"action":"update","description":5}`}, {url, `{"action":"update","description":" "}`},
		{url, `{"action":"completion"}`}, {url, `{"action":"completion","summary":{}}`},
		{url, `[]`}, {url, `{"action":`},
		{"/mission/abc", `{"action":"update","description":"x"}`},
		{"/mission/" + m.s256[:42] + "=", `{"action":"update","description":"x"}`},
		{"/mission/" + m.s256 + "=", `{"action":"update","description":"x"}`},
		{"/mission/" + strings.Replace(m.s256[:42], m.s256[:1], "+", 1) + "A", `{"action":"update","description":"x"}`},
	} {
		before := w.ps.TableCounts(t)
		expectProblem(t, w.post(t, w.agent, c.path, c.body), http.StatusBadRequest, aauth.ErrInvalidRequest)
		writesNothing(t, w.ps, before)
	}

	// PS-195: unknown and another agent's mission: one answer.
	body := `{"action":"update","description":"probe"}`
	unknown := w.post(t, w.agent, "/mission/"+randomS256(), body)
	notMine := w.post(t, w.agent, "/mission/"+other.s256, body)
	expectProblem(t, unknown, http.StatusNotFound, aauth.ErrMissionNotFound)
	sameAnswer(t, unknown, notMine)

	// PS-197: nothing is disclosed before authentication: unsigned and
	// badly signed requests get the same 401 for an existing mission and
	// an unknown one.
	for _, probe := range []func(path string) result{
		func(path string) result {
			return w.do(t, conformance.NewRequest(http.MethodPost, w.ps.URL(path), []byte(body)))
		},
		func(path string) result {
			return w.send(t, w.agent, http.MethodPost, w.ps.URL(path), []byte(body), conformance.WithCorruptSignature())
		},
		func(path string) result {
			return w.send(t, a3, http.MethodPost, w.ps.URL(path), []byte(body), conformance.WithCreatedOffset(w.clock.Offset()-time.Hour))
		},
	} {
		x, y := probe("/mission/"+m.s256), probe("/mission/"+randomS256())
		if x.status != http.StatusUnauthorized {
			t.Fatalf("want 401: %d %s", x.status, x.raw)
		}
		sameAnswer(t, x, y)
	}

	// PS-207: reads belong to mission control.
	g := w.do(t, conformance.NewRequest(http.MethodGet, w.ps.URL(url), nil))
	if g.status != http.StatusMethodNotAllowed || !strings.Contains(g.header.Get("Allow"), http.MethodPost) {
		t.Fatalf("GET %s: %d Allow=%q", url, g.status, g.header.Get("Allow"))
	}

	// PS-200: the update digest is the request's Content-Digest sha-256,
	// re-encoded as base64url.
	for i, desc := range []string{"# Moved\n\nThe dentist moved to Friday.", "Also **cancelled** the gym."} {
		ub := []byte(`{"action":"update","description":` + jsonString(desc) + `}`)
		req := signed(t, w.agent, http.MethodPost, w.ps.URL(url), ub, conformance.WithCreatedOffset(w.clock.Offset()))
		cd := req.Header.Get("Content-Digest")
		r := w.do(t, req)
		if r.status != http.StatusOK {
			t.Fatalf("update: %d %s", r.status, r.raw)
		}
		dict, err := httpsfv.UnmarshalDictionary([]string{cd})
		if err != nil {
			t.Fatal(err)
		}
		sha, _ := dict.Get("sha-256")
		raw := sha.(httpsfv.Item).Value.([]byte)
		if r.body["s256"] != base64.RawURLEncoding.EncodeToString(raw) {
			t.Fatalf("update s256 %v, Content-Digest %s (PS-200)", r.body["s256"], cd)
		}
		// PS-201: the mission is unchanged and still usable.
		e3 := `{"resource":"https://rs.test","mission_s256":"` + m.s256 + `","justification":"after update ` + strconv.Itoa(i) + `"}`
		if r := w.post(t, w.agent, "/person", e3); r.status != http.StatusOK {
			t.Fatalf("E3 after an update: %d %s", r.status, r.raw)
		}
	}

	// Completion: 202 while the person reviews; the mission stays active
	// (PS-205).
	cs := w.expectInteraction(t, w.post(t, w.agent, url, `{"action":"completion","summary":"Calendar *tidied*."}`))
	if r := w.post(t, w.agent, "/person", missionBody("https://rs.test", m.s256)); r.status != http.StatusOK {
		t.Fatalf("E3 while completion is pending: %d %s", r.status, r.raw)
	}
	// PS-202: the review shows what was approved and every accepted
	// update; the updates are the agent's reports, shown in the agent's
	// region and never inside what the person approved (issue 9 item 1).
	pg := open(t, alice, cs)
	approvedPart, agentPart := section(pg.HTML, "assert-mission"), section(pg.HTML, "assert-agent")
	if !strings.Contains(approvedPart, "Tidy my calendar.") {
		t.Fatalf("completion review lacks the approved description in the approved region:\n%s", pg.HTML)
	}
	for _, want := range []string{"The dentist moved to Friday.", "<strong>cancelled</strong>"} {
		if !strings.Contains(agentPart, want) || strings.Contains(approvedPart, want) {
			t.Fatalf("completion review does not show the update %q as the agent's report, outside the approved region:\n%s", want, pg.HTML)
		}
	}
	if !strings.Contains(section(pg.HTML, "assert-agent"), "<em>tidied</em>") {
		t.Fatalf("summary not shown as the agent's:\n%s", pg.HTML)
	}

	// PS-204: a follow-up question: 202 clarification, mission active.
	if pg := alice.Post(t, cs.path()+"/ask", map[string]string{"question": "Did you keep Tuesday free?"}); pg.Status != http.StatusSeeOther {
		t.Fatalf("ask: %d\n%s", pg.Status, pg.HTML)
	}
	cl := w.poll(t, w.agent, cs.loc)
	if req, _ := requirement(t, cl); cl.status != http.StatusAccepted || req != "clarification" || cl.body["clarification"] != "Did you keep Tuesday free?" {
		t.Fatalf("follow-up poll: %d %s %s", cl.status, req, cl.raw)
	}
	if r := w.post(t, w.agent, "/person", missionBody("https://rs.test", m.s256)); r.status != http.StatusOK {
		t.Fatalf("E3 during the follow-up: %d %s", r.status, r.raw)
	}
	expect202(t, w.send(t, w.agent, http.MethodPost, cs.loc, []byte(`{"action":"clarification_response","clarification_response":"Yes."}`)), w.ps.Issuer)

	// PS-203: the person accepts; the mission ends as completed.
	alice.Get(t, cs.path())
	alice.Post(t, cs.path()+"/approve", nil)
	done := w.poll(t, w.agent, cs.loc)
	if done.status != http.StatusOK || string(done.raw) != `{"mission_status":"terminated","termination_reason":"completed"}` {
		t.Fatalf("completion poll: %d %s", done.status, done.raw)
	}
	// PS-198, PS-203, PS-206, PS-209: every later use is 403 with the reason.
	for _, c := range []struct{ path, body string }{
		{"/person", missionBody("https://rs.test", m.s256)},
		{"/person", `{"resource":"https://rs.test","mission":{"approver":"` + w.ps.Issuer + `","s256":"` + m.s256 + `"}}`},
		{url, `{"action":"update","description":"one more thing"}`},
		{url, `{"action":"completion","summary":"again"}`},
		{"/interaction", `{"type":"question","question":"?","mission_s256":"` + m.s256 + `","capabilities":["interaction"]}`},
	} {
		expectTerminated(t, w.post(t, w.agent, c.path, c.body), "completed")
	}
	// PS-210: another agent's terminated mission is not found, exactly as
	// an unknown one.
	x := w.post(t, a3, url, body)
	expectProblem(t, x, http.StatusNotFound, aauth.ErrMissionNotFound)
	sameAnswer(t, x, w.post(t, a3, "/mission/"+randomS256(), body))
	y := w.post(t, a3, "/person", missionBody("https://rs.test", m.s256))
	expectProblem(t, y, http.StatusNotFound, aauth.ErrMissionNotFound)
	sameAnswer(t, y, w.post(t, a3, "/person", missionBody("https://rs.test", randomS256())))
}

// jsonString is s as a JSON string literal.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestMissionExpiry: PS-061, PS-075, PS-211, A-39. A mission approved for
// one hour caps the person tokens issued under it, counts as expired 5 s
// before expires_at and after it on every path (E3, E6, E9) with reason
// expired, with no background job.
func TestMissionExpiry(t *testing.T) {
	t.Parallel()
	w, b, _ := missionWorld(t, pstest.Options{})
	m := w.approveMission(t, w.agent, b, `{"description":"Short","resources":["https://rs.test"],"capabilities":["interaction"]}`,
		map[string]string{"expires": "1h"})
	expT, err := time.Parse(time.RFC3339Nano, m.bl["expires_at"].(string))
	if err != nil {
		t.Fatal(err)
	}
	// A second one-hour mission nothing touches until it has expired.
	idle := w.approveMission(t, w.agent, b, `{"description":"Idle","capabilities":["interaction"]}`, map[string]string{"expires": "1h"})
	if d := expT.Sub(w.clock.Now()); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("expires_at is %v away", d)
	}
	ks := psKeys(t, w)
	tok := m.res.body["person_tokens"].(map[string]any)["https://rs.test"].(string)
	if c := verifyPT(t, w, ks, tok, "https://rs.test", w.agent); num(c, "exp") > expT.Unix() {
		t.Fatalf("approval person token outlives the mission: exp %d > %d", num(c, "exp"), expT.Unix())
	}

	// 50 minutes on, with a fresh agent token: the token is capped at
	// expires_at, and expires_in says so.
	w.clock.Advance(50 * time.Minute)
	fresh := w.mint(t, conformance.TokenSpec{IssuedAt: w.clock.Now()})
	r := w.post(t, fresh, "/person", missionBody("https://rs.test", m.s256))
	if r.status != http.StatusOK {
		t.Fatalf("E3 at +50 min: %d %s", r.status, r.raw)
	}
	c := verifyPT(t, w, ks, r.body["person_token"].(string), "https://rs.test", fresh)
	if num(c, "exp") > expT.Unix() || num(c, "exp") < expT.Unix()-1 {
		t.Fatalf("exp %d, want expires_at %d (PS-075)", num(c, "exp"), expT.Unix())
	}
	if in := int64(r.body["expires_in"].(float64)); in > num(c, "exp")-num(c, "iat")+5 || in < num(c, "exp")-num(c, "iat")-5 {
		t.Fatalf("expires_in %d, exp-iat %d (PS-075)", in, num(c, "exp")-num(c, "iat"))
	}

	// with under 5 s left the mission already counts as expired.
	w.clock.Advance(expT.Sub(w.clock.Now()) - 3*time.Second)
	expectTerminated(t, w.post(t, fresh, "/person", missionBody("https://rs.test", m.s256)), "expired")
	w.clock.Advance(time.Minute)
	for _, c := range []struct{ path, body string }{
		{"/person", missionBody("https://rs.test", m.s256)},
		{"/mission/" + m.s256, `{"action":"update","description":"late"}`},
		{"/mission/" + m.s256, `{"action":"completion","summary":"late"}`},
		{"/interaction", `{"type":"question","question":"?","mission_s256":"` + m.s256 + `","capabilities":["interaction"]}`},
	} {
		expectTerminated(t, w.post(t, fresh, c.path, c.body), "expired")
	}
	// Mission control reports it the same way, and an expiry nobody
	// observed yet is still the reason: revoking afterwards changes
	// nothing (A-39, P§mission-management).
	for _, s256 := range []string{m.s256, idle.s256} {
		st := mc(t, w, b, http.MethodGet, "/missions/"+s256, "", "")
		if st.status != http.StatusOK || st.body["mission_status"] != "terminated" || st.body["termination_reason"] != "expired" {
			t.Fatalf("mission control: %d %s", st.status, st.raw)
		}
		rv := mc(t, w, b, http.MethodPost, "/missions/"+s256+"/revoke", "", csrfOf(t, b))
		if rv.status != http.StatusOK || rv.body["termination_reason"] != "expired" {
			t.Fatalf("revoking an expired mission: %d %s", rv.status, rv.raw)
		}
		expectTerminated(t, w.post(t, fresh, "/mission/"+s256, `{"action":"update","description":"after revoke"}`), "expired")
	}
}

// TestMissionRevokedWhilePending: PS-158. A pending completion, and a
// pending first-use consent under the mission, end with 403
// mission_terminated at the next poll after the person revokes the
// mission on its page.
func TestMissionRevokedWhilePending(t *testing.T) {
	t.Parallel()
	w, b, _ := missionWorld(t, pstest.Options{})
	m := w.approveMission(t, w.agent, b, `{"description":"Revoke me","capabilities":["interaction"]}`, nil)
	cs := w.expectInteraction(t, w.post(t, w.agent, "/mission/"+m.s256, `{"action":"completion","summary":"Done?"}`))
	ps := w.expectInteraction(t, w.post(t, w.agent, "/person", missionBody("https://rs.test", m.s256)))
	w.pollState(t, w.agent, cs.loc)

	if pg := b.Get(t, "/missions/"+m.s256); pg.Status != http.StatusOK {
		t.Fatalf("mission page: %d", pg.Status)
	}
	if pg := b.Post(t, "/missions/"+m.s256+"/revoke", nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("revoke: %d\n%s", pg.Status, pg.HTML)
	}
	expectTerminated(t, w.terminal(t, w.agent, cs.loc, http.StatusForbidden, aauth.ErrMissionTerminated), "revoked")
	expectTerminated(t, w.terminal(t, w.agent, ps.loc, http.StatusForbidden, aauth.ErrMissionTerminated), "revoked")
	// A late acceptance of the ended completion cannot revive the mission.
	b.Get(t, cs.link())
	b.Post(t, cs.path()+"/approve", nil)
	expectTerminated(t, w.post(t, w.agent, "/mission/"+m.s256, `{"action":"update","description":"x"}`), "revoked")
}

// TestMissionControl: the JSON control plane: session-only (401
// JSON without one), a person's own missions only (another person: 404),
// administrators everything; the exact blob bytes (PS-188); the ordered
// log with the accepted updates' bytes and digests (PS-213); revoke with
// the CSRF header, after which the mission is terminated everywhere; an
// administrator's terminate with a reason.
func TestMissionControl(t *testing.T) {
	t.Parallel()
	w, alice, _ := missionWorld(t, pstest.Options{})
	bob := w.person(t, "bob", false)
	carol := w.person(t, "carol", true)
	m := w.approveMission(t, w.agent, alice, `{"description":"# Audit me","resources":["https://rs.test"],"capabilities":["interaction"]}`, nil)
	m2 := w.approveMission(t, w.agent, alice, `{"description":"# Supersede me","capabilities":["interaction"]}`, nil)

	// A session of activity: a person token with a justification, an
	// update, a completion proposal.
	if r := w.post(t, w.agent, "/person", `{"resource":"https://rs.test","mission_s256":"`+m.s256+`","justification":"Reading the calendar"}`); r.status != http.StatusOK {
		t.Fatalf("E3: %d %s", r.status, r.raw)
	}
	upd := `{"action":"update","description":"Found a clash on Monday."}`
	if r := w.post(t, w.agent, "/mission/"+m.s256, upd); r.status != http.StatusOK {
		t.Fatalf("update: %d %s", r.status, r.raw)
	}
	cs := w.expectInteraction(t, w.post(t, w.agent, "/mission/"+m.s256, `{"action":"completion","summary":"Audited."}`))

	// No session: 401 JSON, never a redirect.
	for _, p := range []string{"/missions", "/missions/" + m.s256, "/missions/" + m.s256 + "/blob"} {
		r := mc(t, w, nil, http.MethodGet, p, "", "")
		if r.status != http.StatusUnauthorized || r.header.Get("Content-Type") != aauth.ProblemContentType || r.body["error"] != aauth.ErrLoginRequired {
			t.Fatalf("GET %s without a session: %d %q %s", p, r.status, r.header.Get("Content-Type"), r.raw)
		}
	}
	// The person's list and reads.
	l := mc(t, w, alice, http.MethodGet, "/missions", "", "")
	list, _ := l.body["missions"].([]any)
	if l.status != http.StatusOK || len(list) != 2 {
		t.Fatalf("list: %d %s", l.status, l.raw)
	}
	st := mc(t, w, alice, http.MethodGet, "/missions/"+m.s256, "", "")
	if st.status != http.StatusOK || st.body["s256"] != m.s256 || st.body["mission_status"] != "active" || st.body["agent"] != w.agent.ID {
		t.Fatalf("status: %d %s", st.status, st.raw)
	}
	bl := mc(t, w, alice, http.MethodGet, "/missions/"+m.s256+"/blob", "", "")
	if bl.status != http.StatusOK || string(bl.raw) != string(m.blob) {
		t.Fatalf("blob bytes differ from the approval's (PS-188):\n%s\n%s", bl.raw, m.blob)
	}
	// Another person: not found, for every read and for revoke.
	for _, p := range []string{"/missions/" + m.s256, "/missions/" + m.s256 + "/blob", "/missions/" + m.s256 + "/log"} {
		if r := mc(t, w, bob, http.MethodGet, p, "", ""); r.status != http.StatusNotFound || r.body["error"] != aauth.ErrMissionNotFound {
			t.Fatalf("bob GET %s: %d %s", p, r.status, r.raw)
		}
	}
	if r := mc(t, w, bob, http.MethodPost, "/missions/"+m.s256+"/revoke", "", csrfOf(t, bob)); r.status != http.StatusNotFound {
		t.Fatalf("bob revoke: %d %s", r.status, r.raw)
	}
	if r := mc(t, w, bob, http.MethodGet, "/missions", "", ""); r.status != http.StatusOK || len(r.body["missions"].([]any)) != 0 {
		t.Fatalf("bob's list: %s", r.raw)
	}

	// Revoke: the CSRF header is required, and another site cannot send it.
	if r := mc(t, w, alice, http.MethodPost, "/missions/"+m.s256+"/revoke", "", ""); r.status != http.StatusForbidden || r.body["error"] != aauth.ErrInvalidCSRF {
		t.Fatalf("revoke without X-CSRF-Token: %d %s", r.status, r.raw)
	}
	if r := mc(t, w, alice, http.MethodPost, "/missions/"+m.s256+"/revoke", "", "not-the-token"); r.status != http.StatusForbidden {
		t.Fatalf("revoke with a wrong X-CSRF-Token: %d %s", r.status, r.raw)
	}
	cross, _ := http.NewRequest(http.MethodPost, w.ps.URL("/mission-control/missions/"+m.s256+"/revoke"), nil)
	cross.Header.Set("X-CSRF-Token", csrfOf(t, alice))
	cross.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := alice.Client.Do(cross)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site revoke: %d", res.StatusCode)
	}
	if r := mc(t, w, alice, http.MethodGet, "/missions/"+m.s256, "", ""); r.body["mission_status"] != "active" {
		t.Fatalf("a refused revoke ended the mission: %s", r.raw)
	}
	rv := mc(t, w, alice, http.MethodPost, "/missions/"+m.s256+"/revoke", "", csrfOf(t, alice))
	if rv.status != http.StatusOK || rv.body["mission_status"] != "terminated" || rv.body["termination_reason"] != "revoked" {
		t.Fatalf("revoke: %d %s", rv.status, rv.raw)
	}
	expectTerminated(t, w.post(t, w.agent, "/person", missionBody("https://rs.test", m.s256)), "revoked")
	expectTerminated(t, w.terminal(t, w.agent, cs.loc, http.StatusForbidden, aauth.ErrMissionTerminated), "revoked")

	// PS-213: the log, in order, with the update's exact bytes and digest.
	lg := mc(t, w, alice, http.MethodGet, "/missions/"+m.s256+"/log", "", "")
	entries, _ := lg.body["log"].([]any)
	var kinds []string
	tokens, justified := 0, false
	for i, e := range entries {
		x := e.(map[string]any)
		if int(x["seq"].(float64)) != i+1 {
			t.Fatalf("log entry %d has seq %v", i, x["seq"])
		}
		k := x["kind"].(string)
		if len(kinds) == 0 || kinds[len(kinds)-1] != k {
			kinds = append(kinds, k)
		}
		switch k {
		case "update":
			raw, err := base64.RawURLEncoding.DecodeString(x["body"].(string))
			sum := sha256.Sum256(raw)
			if err != nil || string(raw) != upd || x["s256"] != base64.RawURLEncoding.EncodeToString(sum[:]) {
				t.Fatalf("update entry %v", x)
			}
		case "person_token":
			tokens++
			justified = justified || strings.Contains(x["summary"].(string), "Reading the calendar")
		}
	}
	want := []string{"proposal", "approval", "person_token", "update", "completion", "termination"}
	if !slices.Equal(kinds, want) || tokens < 2 || !justified {
		t.Fatalf("log: kinds %v (want %v), %d token entries, justification logged %v\n%s", kinds, want, tokens, justified, lg.raw)
	}

	// Administrative termination: not for a person, yes for an admin.
	if r := mc(t, w, alice, http.MethodPost, "/missions/"+m2.s256+"/terminate", `{"reason":"superseded"}`, csrfOf(t, alice)); r.status != http.StatusForbidden {
		t.Fatalf("person terminate: %d %s", r.status, r.raw)
	}
	cc := csrfOf(t, carol)
	if r := mc(t, w, carol, http.MethodPost, "/missions/"+m2.s256+"/terminate", `{"reason":"bored"}`, cc); r.status != http.StatusBadRequest {
		t.Fatalf("unknown reason: %d %s", r.status, r.raw)
	}
	tr := mc(t, w, carol, http.MethodPost, "/missions/"+m2.s256+"/terminate", `{"reason":"superseded"}`, cc)
	if tr.status != http.StatusOK || tr.body["termination_reason"] != "superseded" {
		t.Fatalf("admin terminate: %d %s", tr.status, tr.raw)
	}
	expectTerminated(t, w.post(t, w.agent, "/mission/"+m2.s256, `{"action":"update","description":"x"}`), "superseded")
	// A terminated mission stays terminated with its first reason.
	if r := mc(t, w, alice, http.MethodPost, "/missions/"+m2.s256+"/revoke", "", csrfOf(t, alice)); r.status != http.StatusOK || r.body["termination_reason"] != "superseded" {
		t.Fatalf("revoking a terminated mission: %d %s", r.status, r.raw)
	}
	// The administrator reads anyone's mission; a person only their own.
	if r := mc(t, w, carol, http.MethodGet, "/missions/"+m.s256+"/blob", "", ""); r.status != http.StatusOK || string(r.raw) != string(m.blob) {
		t.Fatalf("admin blob: %d", r.status)
	}
	if r := mc(t, w, carol, http.MethodGet, "/missions?all=true", "", ""); r.status != http.StatusOK || len(r.body["missions"].([]any)) != 2 {
		t.Fatalf("admin list: %d %s", r.status, r.raw)
	}
	if r := mc(t, w, carol, http.MethodGet, "/missions", "", ""); len(r.body["missions"].([]any)) != 0 {
		t.Fatalf("admin's own list: %s", r.raw)
	}
	if r := mc(t, w, alice, http.MethodGet, "/missions/"+randomS256(), "", ""); r.status != http.StatusNotFound {
		t.Fatalf("unknown mission: %d", r.status)
	}
}

// TestMissionApprovedOnce: one proposal is one mission. Approving twice
// at once (a double click, two tabs) must not create a second mission the
// agent never hears of, with its own person tokens and consents: on
// PostgreSQL, before the fix, eight concurrent approvals created up to
// eight missions. PS-180, PS-187.
func TestMissionApprovedOnce(t *testing.T) {
	t.Parallel()
	for _, backend := range storetest.Backends {
		t.Run(backend.Name, func(t *testing.T) {
			w, b, _ := missionWorld(t, pstest.Options{DatabaseURL: backend.NewMigratedURL(t)})
			s := w.propose(t, w.agent, `{"description":"Once","resources":["https://rs.test"],"capabilities":["interaction"]}`)
			pg := open(t, b, s)
			csrf := csrfValue.FindStringSubmatch(pg.HTML)[1]
			// The page's version goes with the approval (PS-177).
			shown := regexp.MustCompile(`name="shown" value="([^"]*)"`).FindStringSubmatch(pg.HTML)[1]
			// The browser's cookie jar is shared; its CSRF bookkeeping is
			// not, so the racing posts are built by hand.
			var wg sync.WaitGroup
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, _ := http.NewRequest(http.MethodPost, w.ps.URL(s.path()+"/approve"), strings.NewReader("csrf="+csrf+"&shown="+shown))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					if res, err := b.Client.Do(req); err == nil {
						res.Body.Close()
					}
				}()
			}
			wg.Wait()
			// Connections the racing posts dialed but never used would hold
			// up the PS's shutdown for 5 s (net/http treats them as busy).
			b.Client.CloseIdleConnections()
			a := decodeApproval(t, w.poll(t, w.agent, s.loc))
			counts := w.ps.TableCounts(t)
			if counts["missions"] != 1 || counts["person_token_records"] != 1 {
				t.Fatalf("%d missions and %d person tokens for one proposal", counts["missions"], counts["person_token_records"])
			}
			if l := mc(t, w, b, http.MethodGet, "/missions", "", ""); len(l.body["missions"].([]any)) != 1 {
				t.Fatalf("mission list: %s", l.raw)
			}
			if r := w.post(t, w.agent, "/mission/"+a.s256, `{"action":"update","description":"still here"}`); r.status != http.StatusOK {
				t.Fatalf("the delivered mission: %d %s", r.status, r.raw)
			}
		})
	}
}

// TestMissionNotFoundRateLimit: PS-208. After 20 mission_not_found answers
// in a minute one agent gets 429 rate_limited with Retry-After (for any
// mission reference, so the limit itself reveals nothing), and after the
// window it is served again.
func TestMissionNotFoundRateLimit(t *testing.T) {
	t.Parallel()
	w := newWorld(t, pstest.Options{})
	probe := func(i int) result {
		body := []byte(`{"action":"update","description":"probe ` + strconv.Itoa(i) + `"}`)
		return w.do(t, signed(t, w.agent, http.MethodPost, w.ps.URL("/mission/"+randomS256()), body, conformance.WithCreatedOffset(w.clock.Offset())))
	}
	for i := range 20 {
		expectProblem(t, probe(i), http.StatusNotFound, aauth.ErrMissionNotFound)
	}
	r := probe(20)
	expectProblem(t, r, http.StatusNotFound, aauth.ErrMissionNotFound) // the 21st miss trips the limit
	r = probe(21)
	expectProblem(t, r, http.StatusTooManyRequests, aauth.ErrRateLimited)
	if r.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	w.clock.Advance(61 * time.Second)
	expectProblem(t, probe(22), http.StatusNotFound, aauth.ErrMissionNotFound)
}
