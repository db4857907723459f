package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// Black-box tests of the auth token endpoint (E4, three-party) over HTTPS
// with the conformance kit's test resource: PS-REQUIREMENTS §3.7, §3.8.

// authWorld is a world with the test resource at https://rs.test, person
// alice with a logged-in browser, and w.agent bound to her.
func authWorld(t *testing.T) (*world, *pstest.Browser, *conformance.Resource) {
	t.Helper()
	return authWorldWith(t, pstest.Options{})
}

// authWorldWith is authWorld with the PS's options.
func authWorldWith(t *testing.T, opt pstest.Options) (*world, *pstest.Browser, *conformance.Resource) {
	t.Helper()
	var rs *conformance.Resource
	w := newWorldWith(t, opt, func(env *pstest.Env) {
		var err error
		if rs, err = conformance.StartResource(env.CA, env.Resolver, "rs.test"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rs.Close() })
	})
	b := w.person(t, "alice", false)
	w.bind(t, w.agent, b)
	return w, b, rs
}

// personToken obtains a person token for rs.test through the person's
// consent (or at once when it exists), checked by the resource.
func personToken(t *testing.T, w *world, b *pstest.Browser, rs *conformance.Resource, body string) string {
	t.Helper()
	r := w.post(t, w.agent, "/person", body)
	if r.status == http.StatusAccepted {
		s := w.expectInteraction(t, r)
		open(t, b, s)
		b.Post(t, s.path()+"/approve", nil)
		r = w.poll(t, w.agent, s.loc)
	}
	pt, _ := r.body["person_token"].(string)
	if r.status != http.StatusOK || pt == "" {
		t.Fatalf("person token: %d %s", r.status, r.raw)
	}
	if _, err := rs.VerifyPersonToken(ctxT(), pt, w.agent.Key); err != nil {
		t.Fatalf("the resource refuses the person token: %v", err)
	}
	return pt
}

// resourceToken mints rs's resource token for presented, signed at the PS clock.
func resourceToken(t *testing.T, w *world, rs *conformance.Resource, presented, scope string, edit func(*conformance.ResourceTokenSpec)) string {
	t.Helper()
	rt, err := rs.MintFor(presented, w.agent.Key, scope, w.clock.Now(), edit)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func authBody(t *testing.T, m map[string]any) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// expectAuthToken asserts a 200 with an auth token the resource accepts and
// returns its claims (PS-103, PS-104, PS-105, PS-109).
func expectAuthToken(t *testing.T, w *world, rs *conformance.Resource, r result, presented string) map[string]any {
	t.Helper()
	at, _ := r.body["auth_token"].(string)
	if r.status != http.StatusOK || at == "" || r.body["expires_in"] == nil || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("want 200 with an auth token: %d %v %s", r.status, r.header, r.raw)
	}
	c, err := rs.VerifyAuthToken(ctxT(), at, w.agent.Key)
	if err != nil {
		t.Fatalf("the resource refuses the auth token (PS-104): %v", err)
	}
	_, pc, _ := conformance.DecodeJWT(presented)
	if c["iss"] != w.ps.Issuer || c["ps"] != w.ps.Issuer || c["aud"] != rs.Issuer() || c["sub"] != pc["sub"] {
		t.Fatalf("auth token claims %v (PS-104, PS-105)", c)
	}
	// PS-106: capped by the presented token (and 1 h).
	if num(c, "exp") > num(pc, "exp") || num(c, "exp")-num(c, "iat") > 3600 {
		t.Fatalf("exp %d beyond the presented token's %d or 1 h (PS-106)", num(c, "exp"), num(pc, "exp"))
	}
	// PS-109: no agent identifier anywhere.
	for k, v := range c {
		if s, ok := v.(string); (ok && strings.HasPrefix(s, "aauth:")) || k == "act" || k == "agent" || k == "azp" {
			t.Fatalf("auth token carries an agent identifier in %s (PS-109)", k)
		}
	}
	return c
}

// TestAuthTokenThreePartyEndToEnd: agent → person token → the resource
// mints a resource token → auth token request → the person consents,
// seeing the resource's scope descriptions apart from the agent's
// justification → the resource accepts the auth token. PS-103..PS-109,
// PS-102 (a granted scope is not asked again), PS-282, the replay rule,
// person_token_jti (August 2026) beside presented_jti, and PS-260: without
// presented_token, 400 invalid_request though the PS issued the named token.
func TestAuthTokenThreePartyEndToEnd(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	rt := resourceToken(t, w, rs, pt, "calendar.read", nil)

	r := w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt,
		"capabilities": []string{"interaction"}, "justification": "I need to **read** your calendar to find a slot."}))
	s := w.expectInteraction(t, r)
	pg := open(t, b, s)
	res, agent := section(pg.HTML, "assert-resource"), section(pg.HTML, "assert-agent")
	for _, want := range []string{"calendar.read", "Read the events of your calendar", "Test Calendar"} {
		if !strings.Contains(res, want) {
			t.Fatalf("resource region lacks %q (P§consent-presentation):\n%s", want, pg.HTML)
		}
	}
	if !strings.Contains(agent, "<strong>read</strong>") || strings.Contains(res, "find a slot") || strings.Contains(agent, "Read the events") {
		t.Fatalf("justification and scope descriptions are not in their own regions (PS-282):\n%s", pg.HTML)
	}
	expect202(t, w.poll(t, w.agent, s.loc), w.ps.Issuer)
	b.Post(t, s.path()+"/approve", nil)
	c := expectAuthToken(t, w, rs, w.poll(t, w.agent, s.loc), pt)
	if c["scope"] != "calendar.read" {
		t.Fatalf("scope %v, want calendar.read (PS-107)", c["scope"])
	}
	if _, has := c["mission_s256"]; has {
		t.Fatal("mission_s256 without a mission (PS-108)")
	}

	// The issuance is recorded: jti, aud, exp, parent (the person token).
	recs, err := w.ps.App.Tokens.AuthRecords(ctxT(), "")
	if err != nil {
		t.Fatal(err)
	}
	_, pc, _ := conformance.DecodeJWT(pt)
	if len(recs) != 1 || recs[0].JTI != c["jti"] || recs[0].Aud != rs.Issuer() || recs[0].ParentJTI != pc["jti"] ||
		recs[0].Exp.Unix() != num(c, "exp") || recs[0].CnfThumbprint != w.agent.Key.Thumbprint() {
		t.Fatalf("auth token records %+v", recs)
	}

	// PS-102: the granted scope is not asked again; the same resource
	// token again is the same decision again (decisions.md), a new token.
	again := expectAuthToken(t, w, rs, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt})), pt)
	if again["jti"] == c["jti"] {
		t.Fatal("jti repeated (PS-106)")
	}
	// prompt=consent asks even so; the person refuses: 403 denied, and no
	// token is issued for it (PS-112).
	asked := w.expectInteraction(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt,
		"prompt": "consent", "capabilities": []string{"interaction"}})))
	open(t, b, asked)
	b.Post(t, asked.path()+"/deny", nil)
	expectProblem(t, w.poll(t, w.agent, asked.loc), http.StatusForbidden, aauth.ErrDenied)
	if recs, err := w.ps.App.Tokens.AuthRecords(ctxT(), ""); err != nil || len(recs) != 2 {
		t.Fatalf("after a denial: %d records, %v; want the 2 issued before", len(recs), err)
	}
	// A scope not granted yet is asked for; with prompt=none that is 403 user_unreachable.
	wider := resourceToken(t, w, rs, pt, "calendar.read calendar.write", nil)
	before := w.ps.TableCounts(t)
	expectProblem(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": wider, "presented_token": pt, "prompt": "none"})),
		http.StatusForbidden, aauth.ErrUserUnreachable)
	writesNothing(t, w.ps, before)

	// updated_request (PS-177): the new resource token goes through every
	// check again; one naming another sub is refused and changes nothing,
	// a narrower one replaces the request's and is what gets issued.
	pendingAsk := w.expectInteraction(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": wider,
		"presented_token": pt, "capabilities": []string{"interaction"}})))
	otherSub := resourceToken(t, w, rs, pt, "calendar.read", func(s *conformance.ResourceTokenSpec) { s.Sub = "someone-else" })
	before = w.ps.TableCounts(t)
	expectProblem(t, w.send(t, w.agent, http.MethodPost, pendingAsk.loc, []byte(authBody(t, map[string]any{"action": "updated_request",
		"resource_token": otherSub, "presented_token": pt}))), http.StatusBadRequest, aauth.ErrInvalidResourceToken)
	writesNothing(t, w.ps, before)
	narrower := resourceToken(t, w, rs, pt, "calendar.read", nil)
	expect202(t, w.send(t, w.agent, http.MethodPost, pendingAsk.loc, []byte(authBody(t, map[string]any{"action": "updated_request",
		"resource_token": narrower, "presented_token": pt}))), w.ps.Issuer)
	open(t, b, pendingAsk)
	b.Post(t, pendingAsk.path()+"/approve", nil)
	if up := expectAuthToken(t, w, rs, w.poll(t, w.agent, pendingAsk.loc), pt); up["scope"] != "calendar.read" {
		t.Fatalf("after updated_request: scope %v, want the updated calendar.read", up["scope"])
	}

	// August 2026: person_token_jti may name the presented token; both
	// names present must agree.
	legacy := resourceToken(t, w, rs, pt, "calendar.read", func(s *conformance.ResourceTokenSpec) { s.LegacyPresentedJTI = true })
	expectAuthToken(t, w, rs, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": legacy, "presented_token": pt})), pt)
	both := resourceToken(t, w, rs, pt, "calendar.read", func(s *conformance.ResourceTokenSpec) {
		s.Overrides = map[string]any{"person_token_jti": pc["jti"]}
	})
	expectAuthToken(t, w, rs, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": both, "presented_token": pt})), pt)
	before = w.ps.TableCounts(t)
	differ := resourceToken(t, w, rs, pt, "calendar.read", func(s *conformance.ResourceTokenSpec) {
		s.Overrides = map[string]any{"person_token_jti": "not-" + pc["jti"].(string)}
	})
	expectProblem(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": differ, "presented_token": pt})),
		http.StatusBadRequest, aauth.ErrInvalidResourceToken)
	// PS-260: without presented_token the answer is 400 invalid_request,
	// though this PS issued the token the resource token names (by either
	// name): the record fallback is the operator's opt-in
	// (TestAuthTokenLegacyPersonTokenJTI). Nothing is issued or recorded.
	for _, named := range []string{legacy, rt} {
		expectProblem(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": named})),
			http.StatusBadRequest, aauth.ErrInvalidRequest)
	}
	writesNothing(t, w.ps, before)
}

// TestAuthTokenLegacyPersonTokenJTI: with --legacy-person-token-jti (the
// August 2026 interop fallback, docs/decisions.md) a request without
// presented_token uses the PS's own issuance record of the token the
// resource token names, by person_token_jti or presented_jti, with the
// checks a presented token gets: no record is 400 invalid_request (PS-260),
// an expired one expired_presented_token (PS-265), a revoked one
// revoked_presented_token (PS-266), and none of them writes anything.
func TestAuthTokenLegacyPersonTokenJTI(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorldWith(t, pstest.Options{Configure: func(c *config.Config) { c.LegacyPersonTokenJTI = true }})
	pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	_, pc, _ := conformance.DecodeJWT(pt)
	legacy := resourceToken(t, w, rs, pt, "calendar.read", func(s *conformance.ResourceTokenSpec) { s.LegacyPresentedJTI = true })

	// The first grant: the person is asked, as with presented_token.
	s := w.expectInteraction(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": legacy,
		"capabilities": []string{"interaction"}})))
	open(t, b, s)
	b.Post(t, s.path()+"/approve", nil)
	c := expectAuthToken(t, w, rs, w.poll(t, w.agent, s.loc), pt)
	recs, err := w.ps.App.Tokens.AuthRecords(ctxT(), "")
	if err != nil || len(recs) != 1 || recs[0].JTI != c["jti"] || recs[0].ParentJTI != pc["jti"] {
		t.Fatalf("auth token records %+v %v: want one, whose parent is the recorded person token", recs, err)
	}
	// Granted: at once, by either name, and with presented_token as ever.
	expectAuthToken(t, w, rs, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": legacy})), pt)
	expectAuthToken(t, w, rs, w.post(t, w.agent, "/token", authBody(t, map[string]any{
		"resource_token": resourceToken(t, w, rs, pt, "calendar.read", nil)})), pt)
	expectAuthToken(t, w, rs, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": legacy, "presented_token": pt})), pt)

	before := w.ps.TableCounts(t)
	for _, tc := range []struct {
		name string
		body map[string]any
		code string
	}{
		{"PS-260 no record of the named token", map[string]any{"resource_token": resourceToken(t, w, rs, pt, "calendar.read",
			func(s *conformance.ResourceTokenSpec) { s.LegacyPresentedJTI, s.PresentedJTI = true, "unknown-jti" })}, aauth.ErrInvalidRequest},
		{"PS-260 presented_token not a string", map[string]any{"resource_token": legacy, "presented_token": 7}, aauth.ErrInvalidRequest},
		{"PS-093 the record's sub differs", map[string]any{"resource_token": resourceToken(t, w, rs, pt, "calendar.read",
			func(s *conformance.ResourceTokenSpec) { s.LegacyPresentedJTI, s.Sub = true, "someone-else" })}, aauth.ErrInvalidResourceToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectProblem(t, w.post(t, w.agent, "/token", authBody(t, tc.body)), http.StatusBadRequest, tc.code)
		})
	}
	writesNothing(t, w.ps, before)

	// PS-266: the agent provider revokes the agent token, so the PS
	// revokes the person token; its record is refused as the token is.
	jti, exp := agentTokenClaims(t, w.agent)
	expectEmpty200(t, w.revoke(t, apSigner(w.ap), authBody(t, map[string]any{"jti": jti, "exp": exp})))
	fresh := w.mint(t, conformance.TokenSpec{IssuedAt: w.clock.Now(), Lifetime: time.Hour})
	before = w.ps.TableCounts(t)
	expectProblem(t, w.post(t, fresh, "/token", authBody(t, map[string]any{"resource_token": resourceToken(t, w, rs, pt, "calendar.read", nil)})),
		http.StatusBadRequest, aauth.ErrRevokedPresentedToken)
	// PS-265: once the recorded token has expired, that is the answer
	// (a fresh agent token and resource token keep the rest valid).
	w.clock.Advance(time.Unix(num(pc, "exp"), 0).Sub(w.clock.Now()) + time.Second)
	fresh = w.mint(t, conformance.TokenSpec{IssuedAt: w.clock.Now(), Lifetime: time.Hour})
	expectProblem(t, w.post(t, fresh, "/token", authBody(t, map[string]any{"resource_token": resourceToken(t, w, rs, pt, "calendar.read",
		func(s *conformance.ResourceTokenSpec) { s.LegacyPresentedJTI = true })})), http.StatusBadRequest, aauth.ErrExpiredPresentedToken)
	writesNothing(t, w.ps, before)
}

// TestAuthTokenUnderMission: under an approved mission the person token,
// the resource token and the auth token carry mission_s256 (PS-108), the
// issuance is in the mission log, and a terminated mission is 403
// mission_terminated (PS-097) with nothing issued.
func TestAuthTokenUnderMission(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	m := w.approveMission(t, w.agent, b, `{"description":"# Plan the week","resources":["https://rs.test"],"capabilities":["interaction"]}`, nil)
	pt := personToken(t, w, b, rs, missionBody("https://rs.test", m.s256))
	rt := resourceToken(t, w, rs, pt, "calendar.read", nil)
	s := w.expectInteraction(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt})))
	open(t, b, s)
	b.Post(t, s.path()+"/approve", nil)
	c := expectAuthToken(t, w, rs, w.poll(t, w.agent, s.loc), pt)
	if c["mission_s256"] != m.s256 {
		t.Fatalf("mission_s256 %v, want %s (PS-108)", c["mission_s256"], m.s256)
	}
	recs, err := w.ps.App.Tokens.AuthRecords(ctxT(), m.s256)
	if err != nil || len(recs) != 1 || recs[0].JTI != c["jti"] {
		t.Fatalf("mission's auth token records %+v %v", recs, err)
	}

	// Mission stripping (PS-094): the resource token leaves mission_s256 out.
	stripped := resourceToken(t, w, rs, pt, "calendar.read", func(s *conformance.ResourceTokenSpec) { s.MissionS256 = "" })
	before := w.ps.TableCounts(t)
	expectProblem(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": stripped, "presented_token": pt})),
		http.StatusBadRequest, aauth.ErrInvalidResourceToken)
	writesNothing(t, w.ps, before)

	// PS-097: the person ends the mission; the next request is refused.
	if r := mc(t, w, b, http.MethodPost, "/missions/"+m.s256+"/revoke", "", csrfOf(t, b)); r.status >= 300 {
		t.Fatalf("terminate: %d %s", r.status, r.raw)
	}
	before = w.ps.TableCounts(t)
	expectTerminated(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt})), "revoked")
	writesNothing(t, w.ps, before)
}

// TestAuthTokenPartialScopeApproval: the person unticks a scope on the
// consent page (issue 8): the auth token carries only what they approved
// (PS-107: never broader than requested and granted), only that is
// remembered (PS-102), and a scope that was not asked cannot be approved
// by a forged form, which approves nothing and issues nothing.
func TestAuthTokenPartialScopeApproval(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	both := resourceToken(t, w, rs, pt, "calendar.read calendar.write", nil)
	ask := func() started {
		return w.expectInteraction(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": both,
			"presented_token": pt, "capabilities": []string{"interaction"}})))
	}

	s := ask()
	pg := open(t, b, s)
	for _, want := range []string{`name="scopes_submitted"`, `name="scope" value="calendar.read" checked`, `name="scope" value="calendar.write" checked`} {
		if !strings.Contains(section(pg.HTML, "decide"), want) {
			t.Fatalf("the decision form lacks %s:\n%s", want, section(pg.HTML, "decide"))
		}
	}
	// A forged form ticking only a scope that was not asked: refused, the
	// request still waits, nothing issued or remembered.
	before := w.ps.TableCounts(t)
	if r := b.Post(t, s.path()+"/approve", map[string]string{"scopes_submitted": "1", "scope": "calendar.admin"}); r.Status != http.StatusSeeOther {
		t.Fatalf("forged approval: %d %s", r.Status, r.HTML)
	}
	writesNothing(t, w.ps, before)
	expect202(t, w.poll(t, w.agent, s.loc), w.ps.Issuer)

	// Only calendar.read ticked, back on the page (the code is spent).
	if pg := b.Get(t, s.path()); !strings.Contains(pg.HTML, "Tick at least one scope") || !strings.Contains(pg.HTML, `class="consent"`) {
		t.Fatalf("after the forged form: %d\n%s", pg.Status, pg.HTML)
	}
	b.Post(t, s.path()+"/approve", map[string]string{"scopes_submitted": "1", "scope": "calendar.read"})
	if c := expectAuthToken(t, w, rs, w.poll(t, w.agent, s.loc), pt); c["scope"] != "calendar.read" {
		t.Fatalf("scope %v, want only the approved calendar.read (PS-107)", c["scope"])
	}
	// calendar.read is remembered, calendar.write is not.
	read := resourceToken(t, w, rs, pt, "calendar.read", nil)
	expectAuthToken(t, w, rs, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": read, "presented_token": pt})), pt)
	write := resourceToken(t, w, rs, pt, "calendar.write", nil)
	expectProblem(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": write, "presented_token": pt, "prompt": "none"})),
		http.StatusForbidden, aauth.ErrUserUnreachable)

	// Without the form's choice (an older page), approve means every scope.
	s = ask()
	open(t, b, s)
	b.Post(t, s.path()+"/approve", nil)
	if c := expectAuthToken(t, w, rs, w.poll(t, w.agent, s.loc), pt); c["scope"] != "calendar.read calendar.write" {
		t.Fatalf("scope %v, want both", c["scope"])
	}
}

// TestAuthTokenStepUp: PS-273. The agent showed the resource an auth
// token this PS issued; the resource's new resource token names it
// (presented_jti = its jti) and asks for more. The agent sends that auth
// token as presented_token: the PS verifies it as an auth token, asks the
// person for the new scope, and the new auth token expires no later than
// the one presented.
func TestAuthTokenStepUp(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	first := w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": resourceToken(t, w, rs, pt, "calendar.read", nil),
		"presented_token": pt, "capabilities": []string{"interaction"}}))
	s := w.expectInteraction(t, first)
	open(t, b, s)
	b.Post(t, s.path()+"/approve", nil)
	r := w.poll(t, w.agent, s.loc)
	expectAuthToken(t, w, rs, r, pt)
	at, _ := r.body["auth_token"].(string)

	stepUp := resourceToken(t, w, rs, at, "calendar.read calendar.write", nil)
	s = w.expectInteraction(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": stepUp,
		"presented_token": at, "capabilities": []string{"interaction"}})))
	open(t, b, s)
	b.Post(t, s.path()+"/approve", nil)
	c := expectAuthToken(t, w, rs, w.poll(t, w.agent, s.loc), at)
	if c["scope"] != "calendar.read calendar.write" {
		t.Fatalf("step-up scope %v", c["scope"])
	}
	recs, err := w.ps.App.Tokens.AuthRecords(ctxT(), "")
	_, ac, _ := conformance.DecodeJWT(at)
	var parent string
	for _, rec := range recs {
		if rec.JTI == c["jti"] {
			parent = rec.ParentJTI
		}
	}
	if err != nil || parent != ac["jti"] {
		t.Fatalf("the step-up token's record names parent %q, want the presented auth token %v (%v)", parent, ac["jti"], err)
	}
}
