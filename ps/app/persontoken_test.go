package app_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

// Black-box tests of the person token endpoint (E3) over HTTPS:
// PS-REQUIREMENTS §3.5 and §3.6 (PS-056..080), PS-171, PS-256, PS-257,
// PS-259 and PS-282.

// TestPersonTokenRequestChecks: PS-057, PS-058, PS-059, PS-256, PS-048 and
// PS-051 are 400 invalid_request writing nothing; PS-060: an unknown
// mission and another agent's answer identically 404 mission_not_found.
func TestPersonTokenRequestChecks(t *testing.T) {
	t.Parallel()
	w, _, _ := missionWorld(t, pstest.Options{})
	bob := w.person(t, "bob", false)
	a3 := w.newAgent(t, "aauth:a3@ap.test")
	w.bind(t, a3, bob)
	m3 := w.approveMission(t, a3, bob, `{"description":"Bob's","capabilities":["interaction"]}`, nil)
	good := m3.s256

	bad := []string{
		// PS-057, PS-048, PS-051
		`{}`, `[]`, `"x"`, `{"resource":`, `{"resource":null}`, `{"resource":5}`,
		`{"resource":"https://a.test","resource":"https://b.test"}`, "{\"resource\":\"https://rs.test\",\"device\":\"\xff\"}",
		// PS-058: the nine bad server identifiers
		`{"resource":"http://rs.test"}`, `{"resource":"https://RS.test"}`, `{"resource":"https://rs.test:8443"}`,
		`{"resource":"https://rs.test/"}`, `{"resource":"https://rs.test/api"}`, `{"resource":"https://rs.test?x=1"}`,
		`{"resource":"https://rs.test#f"}`, `{"resource":"https://u@rs.test"}`, `{"resource":"https://bücher.test"}`,
		// PS-059: wrong length, padding, + and /, a non-canonical last character, wrong type
		missionBody("https://rs.test", good[:42]), missionBody("https://rs.test", good+"A"),
		missionBody("https://rs.test", good[:42]+"="), missionBody("https://rs.test", "+"+good[1:]),
		missionBody("https://rs.test", "/"+good[1:]), missionBody("https://rs.test", good[:42]+"B"),
		`{"resource":"https://rs.test","mission_s256":5}`,
		// The April object: approver must be this PS, s256 well-formed,
		// and it must agree with mission_s256.
		`{"resource":"https://rs.test","mission":{"approver":"https://other.test","s256":"` + good + `"}}`,
		`{"resource":"https://rs.test","mission":{"approver":"` + w.ps.Issuer + `","s256":"abc"}}`,
		`{"resource":"https://rs.test","mission":"` + good + `"}`,
		`{"resource":"https://rs.test","mission_s256":"` + randomS256() + `","mission":{"approver":"` + w.ps.Issuer + `","s256":"` + good + `"}}`,
		// PS-256: wrong types of the optional parameters
		`{"resource":"https://rs.test","capabilities":"interaction"}`, `{"resource":"https://rs.test","capabilities":[true]}`,
		`{"resource":"https://rs.test","justification":5}`, `{"resource":"https://rs.test","login_hint":[]}`,
		`{"resource":"https://rs.test","tenant":{}}`, `{"resource":"https://rs.test","domain_hint":1}`,
		`{"resource":"https://rs.test","prompt":5}`, `{"resource":"https://rs.test","prompt":"none consent"}`,
		`{"resource":"https://rs.test","platform":false}`, `{"resource":"https://rs.test","device":0}`,
	}
	for _, body := range bad {
		before := w.ps.TableCounts(t)
		expectProblem(t, w.post(t, w.agent, "/person", body), http.StatusBadRequest, aauth.ErrInvalidRequest)
		writesNothing(t, w.ps, before)
	}

	// PS-060: one answer for "no such mission" and "not yours".
	unknown := w.post(t, w.agent, "/person", missionBody("https://rs.test", randomS256()))
	expectProblem(t, unknown, http.StatusNotFound, aauth.ErrMissionNotFound)
	sameAnswer(t, unknown, w.post(t, w.agent, "/person", missionBody("https://rs.test", good)))
	sameAnswer(t, unknown, w.post(t, w.agent, "/person",
		`{"resource":"https://rs.test","mission":{"approver":"`+w.ps.Issuer+`","s256":"`+good+`"}}`))
	// Unknown members are ignored (PS-053): the owner's request goes through
	// to consent.
	w.expectInteraction(t, w.post(t, a3, "/person", `{"resource":"https://rs.test","mission_s256":"`+good+`","x":1}`))
}

// TestPersonTokenConsentAndContents: PS-063, PS-064, PS-282 (first use
// asks the person, showing the resource's own metadata apart from what the
// agent says), PS-056, PS-072..076 (contents, verified against the PS
// JWKS; 50 unique jtis; the agent-token cap), PS-259 (issuance records,
// purged only after exp + 300 s).
func TestPersonTokenConsentAndContents(t *testing.T) {
	t.Parallel()
	w, b, rs := missionWorld(t, pstest.Options{})

	r := w.post(t, w.agent, "/person", `{"resource":"https://rs.test","capabilities":["interaction"],`+
		`"justification":"I need your **calendar** to book the dentist.","platform":"desktop","device":"Work laptop"}`)
	s := w.expectInteraction(t, r)
	pg := open(t, b, s)
	if rs.Gets() == 0 {
		t.Fatal("the PS never fetched rs.test's metadata (PS-064)")
	}
	res, agent := section(pg.HTML, "assert-resource"), section(pg.HTML, "assert-agent")
	for _, want := range []string{"Fixture Calendar", "<strong>appointments</strong>", "identity", "https://rs.test"} {
		if !strings.Contains(res, want) {
			t.Fatalf("resource region lacks %q (PS-064):\n%s", want, pg.HTML)
		}
	}
	for _, want := range []string{"<strong>calendar</strong>", "Work laptop", "desktop", w.agent.ID} {
		if !strings.Contains(agent, want) {
			t.Fatalf("agent region lacks %q (PS-282):\n%s", want, pg.HTML)
		}
	}
	if strings.Contains(res, "calendar</strong>") || strings.Contains(agent, "Fixture Calendar") {
		t.Fatalf("resource- and agent-asserted content are mixed (PS-282):\n%s", pg.HTML)
	}
	if !strings.Contains(section(pg.HTML, "decide"), "act at Fixture Calendar as you") {
		t.Fatalf("the question is not whether the agent may act as the person (PS-063):\n%s", pg.HTML)
	}
	expect202(t, w.poll(t, w.agent, s.loc), w.ps.Issuer)
	b.Post(t, s.path()+"/approve", nil)
	done := w.poll(t, w.agent, s.loc)
	if done.status != http.StatusOK || done.body["person_token"] == nil || done.body["expires_in"] == nil {
		t.Fatalf("consent poll: %d %s", done.status, done.raw)
	}

	// PS-056: from now on at once, with no-store.
	ks := psKeys(t, w)
	seen := map[string]bool{}
	var sub string
	var first map[string]any
	for i := range 50 {
		r := w.post(t, w.agent, "/person", `{"resource":"https://rs.test","x":`+strconv.Itoa(i)+`}`)
		if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("E3 #%d: %d %v %s", i, r.status, r.header, r.raw)
		}
		c := verifyPT(t, w, ks, r.body["person_token"].(string), "https://rs.test", w.agent)
		jti := c["jti"].(string)
		if seen[jti] {
			t.Fatalf("jti %s repeated (PS-074)", jti)
		}
		seen[jti] = true
		if sub == "" {
			sub, first = c["sub"].(string), c
		} else if c["sub"] != sub {
			t.Fatal("sub changed between tokens (PS-077)")
		}
		if _, has := c["mission_s256"]; has {
			t.Fatal("mission_s256 without a mission (PS-062)")
		}
		in := int64(r.body["expires_in"].(float64))
		if life := num(c, "exp") - num(c, "iat"); life > 3600 || in < life-5 || in > life+5 {
			t.Fatalf("exp-iat %d, expires_in %d (PS-075)", life, in)
		}
	}
	if rs.Gets() != 1 {
		t.Logf("metadata fetched %d times (cached)", rs.Gets())
	}

	// PS-075: an agent token that ends in 5 minutes caps the person token.
	short := w.mint(t, conformance.TokenSpec{IssuedAt: w.clock.Now(), Lifetime: 5 * time.Minute})
	r = w.post(t, short, "/person", `{"resource":"https://rs.test"}`)
	if r.status != http.StatusOK {
		t.Fatalf("short agent token: %d %s", r.status, r.raw)
	}
	c := verifyPT(t, w, ks, r.body["person_token"].(string), "https://rs.test", short)
	_, at, _ := conformance.DecodeJWT(short.Token)
	if num(c, "exp") > num(at, "exp") || num(c, "exp") < num(at, "exp")-1 {
		t.Fatalf("person token exp %d, agent token exp %d", num(c, "exp"), num(at, "exp"))
	}
	if in := int64(r.body["expires_in"].(float64)); in < 295 || in > 305 {
		t.Fatalf("expires_in %d, want about 300", in)
	}

	// PS-259: a record per token with jti, aud and exp, kept until exp +
	// 300 s.
	recs, err := w.ps.App.Tokens.Records(ctxT(), "")
	if err != nil {
		t.Fatal(err)
	}
	byJTI := map[string]tokens.Record{}
	for _, rec := range recs {
		byJTI[rec.JTI] = rec
	}
	for jti := range seen {
		if rec, ok := byJTI[jti]; !ok || rec.Aud != "https://rs.test" || rec.Exp.Unix() == 0 || rec.CnfThumbprint != w.agent.Key.Thumbprint() {
			t.Fatalf("no usable record for jti %s: %+v", jti, rec)
		}
	}
	shortJTI := c["jti"].(string)
	exp := time.Unix(num(c, "exp"), 0)
	w.clock.Advance(exp.Add(tokens.ClockSkew - time.Second).Sub(w.clock.Now()))
	if _, err := w.ps.App.Tokens.Purge(ctxT()); err != nil {
		t.Fatal(err)
	}
	if !hasRecord(t, w, shortJTI) {
		t.Fatal("record purged before exp + 300 s (PS-259)")
	}
	w.clock.Advance(2 * time.Second)
	if _, err := w.ps.App.Tokens.Purge(ctxT()); err != nil {
		t.Fatal(err)
	}
	if hasRecord(t, w, shortJTI) {
		t.Fatal("record kept after exp + 300 s")
	}
	if !hasRecord(t, w, first["jti"].(string)) {
		t.Fatal("a one-hour token's record was purged early")
	}
}

func hasRecord(t *testing.T, w *world, jti string) bool {
	t.Helper()
	recs, err := w.ps.App.Tokens.Records(ctxT(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.JTI == jti {
			return true
		}
	}
	return false
}

// TestPersonTokenUnreachable: PS-171 (no interaction capability and no
// PS channel: 403 user_unreachable, never 202), A-26 (prompt=none when the
// person would have to be asked), PS-065 (an unbound agent never gets a
// token: 403 or 202).
func TestPersonTokenUnreachable(t *testing.T) {
	t.Parallel()
	w, b, _ := missionWorld(t, pstest.Options{})
	before := w.ps.TableCounts(t)
	expectProblem(t, w.post(t, w.agent, "/person", `{"resource":"https://rs.test"}`), http.StatusForbidden, aauth.ErrUserUnreachable)
	expectProblem(t, w.post(t, w.agent, "/person", `{"resource":"https://rs.test","capabilities":["clarification","payment"]}`),
		http.StatusForbidden, aauth.ErrUserUnreachable)
	expectProblem(t, w.post(t, w.agent, "/person", `{"resource":"https://rs.test","capabilities":["interaction"],"prompt":"none"}`),
		http.StatusForbidden, aauth.ErrUserUnreachable)
	if after := w.ps.TableCounts(t); after["pending_requests"] != before["pending_requests"] {
		t.Fatal("a user_unreachable answer left a pending request")
	}
	// prompt=none is fine when nothing needs asking.
	s := w.expectInteraction(t, w.post(t, w.agent, "/person", `{"resource":"https://rs.test","capabilities":["interaction"]}`))
	open(t, b, s)
	b.Post(t, s.path()+"/approve", nil)
	if r := w.poll(t, w.agent, s.loc); r.status != http.StatusOK {
		t.Fatalf("consent: %d %s", r.status, r.raw)
	}
	if r := w.post(t, w.agent, "/person", `{"resource":"https://rs.test","prompt":"none"}`); r.status != http.StatusOK {
		t.Fatalf("prompt=none with consent: %d %s", r.status, r.raw)
	}
	// prompt=consent asks again even though consent is remembered.
	w.expectInteraction(t, w.post(t, w.agent, "/person", `{"resource":"https://rs.test","prompt":"consent","capabilities":["interaction"]}`))

	// PS-065: an agent nobody connected.
	a9 := w.newAgent(t, "aauth:a9@ap.test")
	expectProblem(t, w.post(t, a9, "/person", `{"resource":"https://rs.test"}`), http.StatusForbidden, aauth.ErrUserUnreachable)
	w.expectInteraction(t, w.post(t, a9, "/person", `{"resource":"https://rs.test","capabilities":["interaction"]}`))
}

// TestDirectedSub: PS-077 (one sub per person and resource across the
// person's agents, a rotated agent key and missions), PS-078 (another
// resource, another sub), PS-079 (another person, another sub), PS-080
// (opaque).
func TestDirectedSub(t *testing.T) {
	t.Parallel()
	w, alice, _ := missionWorld(t, pstest.Options{})
	bob := w.person(t, "bob", false)
	a2 := w.newAgent(t, "aauth:a2@ap.test")
	w.bind(t, a2, alice)
	a3 := w.newAgent(t, "aauth:a3@ap.test")
	w.bind(t, a3, bob)

	props := `{"description":"Subs","resources":["https://rs.test","https://rs2.test"],"capabilities":["interaction"]}`
	subOf := func(a approved, res string) string {
		_, c := claimsOf(t, a.res.body["person_tokens"].(map[string]any)[res].(string))
		return c["sub"].(string)
	}
	m1 := w.approveMission(t, w.agent, alice, props, nil)
	m2 := w.approveMission(t, w.agent, alice, props, nil)
	ma2 := w.approveMission(t, a2, alice, props, nil)
	ma3 := w.approveMission(t, a3, bob, props, nil)
	sub := subOf(m1, "https://rs.test")

	get := func(a *conformance.Agent, body string) string {
		t.Helper()
		r := w.post(t, a, "/person", body)
		if r.status != http.StatusOK {
			t.Fatalf("E3 %s: %d %s", body, r.status, r.raw)
		}
		_, c := claimsOf(t, r.body["person_token"].(string))
		return c["sub"].(string)
	}
	// The agent's signing key rotates: a new key, a new agent token, the
	// same agent.
	key, err := conformance.NewAgentKey(aauth.AlgEd25519)
	if err != nil {
		t.Fatal(err)
	}
	rotated := w.mint(t, conformance.TokenSpec{Agent: key, IssuedAt: w.clock.Now()})
	// A mission's approval is no consent outside the mission (issue 9
	// item 4): alice consents at rs.test for the agent, as the consent
	// page records it, for the requests without a mission below.
	consentAs(t, w, "alice", w.agent, "https://rs.test")
	for name, got := range map[string]string{
		"second mission":      subOf(m2, "https://rs.test"),
		"another agent":       subOf(ma2, "https://rs.test"),
		"E3 under mission 1":  get(w.agent, missionBody("https://rs.test", m1.s256)),
		"E3 under mission 2":  get(w.agent, missionBody("https://rs.test", m2.s256)),
		"E3 without mission":  get(w.agent, `{"resource":"https://rs.test"}`),
		"rotated key":         get(rotated, `{"resource":"https://rs.test"}`),
		"rotated key+mission": get(rotated, missionBody("https://rs.test", m1.s256)),
	} {
		if got != sub {
			t.Fatalf("%s: sub %s, want %s (PS-077)", name, got, sub)
		}
	}
	if other := subOf(m1, "https://rs2.test"); other == sub {
		t.Fatal("the same sub at two resources (PS-078)")
	}
	if bobs := subOf(ma3, "https://rs.test"); bobs == sub || bobs == subOf(ma3, "https://rs2.test") {
		t.Fatal("two persons share a sub at one resource (PS-079)")
	}
	// PS-080: nothing known about the person or agent shows through.
	person, err := w.ps.App.Accounts.PersonByUsername(ctxT(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, known := range []string{"alice", "Alice", person.ID, w.agent.ID, "ap.test", "rs.test", "@"} {
		if strings.Contains(sub, known) {
			t.Fatalf("sub %q contains %q (PS-080)", sub, known)
		}
	}
	if len(sub) < 16 {
		t.Fatalf("sub %q is short enough to guess", sub)
	}
}

// TestPersonTokenRateLimit: PS-070. Each new resource obliges the PS to
// keep a directed sub, so an agent gets at most 20 new resources an hour:
// the 21st is 429 with Retry-After, while resources it already has still
// work, and the window reopens after an hour.
func TestPersonTokenRateLimit(t *testing.T) {
	t.Parallel()
	w, b, _ := missionWorld(t, pstest.Options{})
	var res []string
	for i := range 20 {
		res = append(res, fmt.Sprintf(`"https://r%d.test"`, i))
	}
	m := w.approveMission(t, w.agent, b, `{"description":"Many","resources":[`+strings.Join(res, ",")+`],"capabilities":["interaction"]}`, nil)
	if n := len(m.res.body["person_tokens"].(map[string]any)); n != 20 {
		t.Fatalf("%d person tokens for 20 approved resources", n)
	}
	before := w.ps.TableCounts(t)
	r := w.post(t, w.agent, "/person", `{"resource":"https://r20.test","capabilities":["interaction"]}`)
	expectProblem(t, r, http.StatusTooManyRequests, aauth.ErrRateLimited)
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra <= 0 {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}
	writesNothing(t, w.ps, before)
	if r := w.post(t, w.agent, "/person", missionBody("https://r3.test", m.s256)); r.status != http.StatusOK {
		t.Fatalf("a known resource: %d %s", r.status, r.raw)
	}
	w.clock.Advance(time.Hour + time.Minute)
	fresh := w.mint(t, conformance.TokenSpec{IssuedAt: w.clock.Now()})
	w.expectInteraction(t, w.post(t, fresh, "/person", `{"resource":"https://r20.test","capabilities":["interaction"]}`))
}

// TestMissionOfAnotherPerson: a mission authorizes only for the person who
// approved it. When alice unbinds her agent, the missions it runs for her
// end with the binding (revoked), so after bob enrolls the agent, alice's
// mission yields nothing for bob: every request naming it is
// 403 mission_terminated, while bob is asked as usual without it (PS-063).
func TestMissionOfAnotherPerson(t *testing.T) {
	t.Parallel()
	w, alice, _ := missionWorld(t, pstest.Options{})
	m := w.approveMission(t, w.agent, alice, `{"description":"Alice's","resources":["https://rs.test"],"capabilities":["interaction"]}`, nil)
	bnd, err := w.ps.App.Agents.Lookup(ctxT(), w.ap.Issuer(), w.agent.ID)
	if err != nil {
		t.Fatal(err)
	}
	alice.Get(t, "/agents")
	if pg := alice.Post(t, "/agents/"+bnd.ID+"/unbind", nil); pg.Status != http.StatusSeeOther {
		t.Fatalf("unbind: %d\n%s", pg.Status, pg.HTML)
	}
	// The mission ended with the binding.
	r := w.post(t, w.agent, "/person", `{"capabilities":["interaction"],"resource":"https://rs.test","mission_s256":"`+m.s256+`"}`)
	expectProblem(t, r, http.StatusForbidden, aauth.ErrMissionTerminated)
	if r.body["termination_reason"] != "revoked" {
		t.Fatalf("termination_reason = %v", r.body["termination_reason"])
	}
	// Bob enrolls the agent; alice's mission stays ended for him too.
	bob := w.person(t, "bob", false)
	s := w.expectInteraction(t, w.post(t, w.agent, "/person", `{"resource":"https://rs.test","capabilities":["interaction"]}`))
	open(t, bob, s)
	bob.Post(t, s.path()+"/approve", nil)
	for _, body := range []string{
		missionBody("https://rs.test", m.s256),
		`{"resource":"https://rs.test","mission_s256":"` + m.s256 + `","capabilities":["interaction"]}`,
	} {
		r := w.post(t, w.agent, "/person", body)
		expectProblem(t, r, http.StatusForbidden, aauth.ErrMissionTerminated)
	}
}

// TestPersonTokenConsentResourceContentIsInert: what a resource says
// about itself reaches the consent page as inert text and sanitized
// Markdown (PS-064, PS-168, PS-282): no script, handler or javascript: URL
// from its metadata survives.
func TestPersonTokenConsentResourceContentIsInert(t *testing.T) {
	t.Parallel()
	w := newWorldWith(t, pstest.Options{}, func(env *pstest.Env) {
		startRS(t, env, "evil.test", map[string]any{
			"name":        `<script>alert("name")</script>Evil`,
			"description": "<img src=x onerror=alert(1)> [click](javascript:alert(2)) <iframe src=https://evil.test></iframe> **bold**",
			"access_mode": `<b onmouseover="alert(3)">identity</b>`,
			"logo_uri":    "javascript:alert(4)",
		})
	})
	b := w.person(t, "alice", false)
	w.bind(t, w.agent, b)
	s := w.expectInteraction(t, w.post(t, w.agent, "/person", `{"resource":"https://evil.test","capabilities":["interaction"]}`))
	pg := open(t, b, s)
	if bad := liveHTML(t, pg.HTML); len(bad) > 0 {
		t.Fatalf("active content from resource metadata: %v\n%s", bad, pg.HTML)
	}
	if !strings.Contains(section(pg.HTML, "assert-resource"), "<strong>bold</strong>") {
		t.Fatalf("the description's Markdown is not rendered:\n%s", pg.HTML)
	}
}

// consentAs records username's standing consent for agent a at resource
// through the issuance service, as the person's "Allow" on a consent page
// does.
func consentAs(t *testing.T, w *world, username string, a *conformance.Agent, resource string) {
	t.Helper()
	p, err := w.ps.App.Accounts.PersonByUsername(ctxT(), username)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.ps.App.Tokens.GrantConsent(ctxT(), p.ID, a.Issuer, a.ID, resource); err != nil {
		t.Fatal(err)
	}
}
