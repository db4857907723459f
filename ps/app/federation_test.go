package app_test

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/federation"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/audit"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// Four-party federation (issue 11, PS-REQUIREMENTS §3.9) over HTTPS on
// loopback: the test resource at rs.test has its access server at as.test
// (conformance.AccessServer), which verifies the PS's signature with
// yaronf/httpsign and the tokens it forwards.

type fedWorld struct {
	*world
	b  *pstest.Browser
	rs *conformance.Resource
	as *conformance.AccessServer
	pt string
}

func newFedWorld(t *testing.T) *fedWorld { return newFedWorldOn(t, pstest.Options{}) }

func newFedWorldOn(t *testing.T, opt pstest.Options, more ...func(env *pstest.Env)) *fedWorld {
	t.Helper()
	f := &fedWorld{}
	f.world = newWorldWith(t, opt, func(env *pstest.Env) {
		var err error
		if f.rs, err = conformance.StartResource(env.CA, env.Resolver, "rs.test"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.rs.Close() })
		if f.as, err = conformance.StartAccessServer(env.CA, env.Resolver, "as.test"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.as.Close() })
		f.rs.SetAccessServer(f.as.Issuer())
		for _, m := range more {
			m(env)
		}
	})
	f.b = f.person(t, "alice", false)
	f.bind(t, f.agent, f.b)
	f.pt = personToken(t, f.world, f.b, f.rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	return f
}

// rt is the resource's resource token for the person token, aud the AS.
func (f *fedWorld) rt(t *testing.T, scope string) string {
	t.Helper()
	return resourceToken(t, f.world, f.rs, f.pt, scope, func(s *conformance.ResourceTokenSpec) { s.Aud = f.as.Issuer() })
}

func (f *fedWorld) request(t *testing.T, rt string) result {
	t.Helper()
	return f.post(t, f.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": f.pt,
		"capabilities": []string{"interaction"}}))
}

// consented makes the person grant calendar.read through the AS once, so
// later requests go to the AS at once; it returns that first answer.
func (f *fedWorld) consented(t *testing.T) result {
	t.Helper()
	s := f.expectInteraction(t, f.request(t, f.rt(t, "calendar.read")))
	open(t, f.b, s)
	f.b.Post(t, s.path()+"/approve", nil)
	return f.poll(t, f.agent, s.loc)
}

// expectASToken asserts a 200 whose auth token the AS issued and the
// resource accepts, and that the agent reaches the protected API with it
// (Must-show 1, PS-122).
func (f *fedWorld) expectASToken(t *testing.T, r result) map[string]any {
	t.Helper()
	at, _ := r.body["auth_token"].(string)
	if r.status != http.StatusOK || at == "" {
		t.Fatalf("want 200 with the AS's auth token: %d %s", r.status, r.raw)
	}
	c, err := f.rs.VerifyAccessToken(ctxT(), at, f.agent.Key)
	if err != nil {
		t.Fatalf("the resource refuses the delivered token: %v", err)
	}
	_, pc, _ := conformance.DecodeJWT(f.pt)
	if c["iss"] != f.as.Issuer() || c["aud"] != f.rs.Issuer() || c["sub"] != pc["sub"] || c["ps"] != f.ps.Issuer {
		t.Fatalf("delivered token claims %v", c)
	}
	res, err := f.agent.WithToken(at).Do(f.env.Client, http.MethodGet, f.rs.Issuer()+conformance.ResourceAPIPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("the resource API refuses the delivered token: %d %s", res.StatusCode, body)
	}
	return c
}

// TestFederationEndToEnd: the person consents in the PS, the PS signs its
// token request to the AS as a server (verified by yaronf/httpsign in the
// AS), forwards the exact tokens, checks the AS's token and hands it on
// unchanged; the resource accepts it. A second request is covered by the
// consent and answered at once. PS-117, PS-119, PS-120, PS-121, PS-122,
// PS-131, PS-274 (recorded presentation); Must-shows 1 and 3. On both
// databases.
func TestFederationEndToEnd(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			federationEndToEnd(t, newFedWorldOn(t, pstest.Options{DatabaseURL: b.NewMigratedURL(t)}))
		})
	}
}

func federationEndToEnd(t *testing.T, f *fedWorld) {
	rt := f.rt(t, "calendar.read")
	s := f.expectInteraction(t, f.request(t, rt))
	if n := len(f.as.Requests()); n != 0 {
		t.Fatalf("the AS was called before the person decided (PS-131): %d requests", n)
	}
	pg := open(t, f.b, s)
	if !strings.Contains(pg.HTML, "calendar.read") {
		t.Fatalf("consent page lacks the scope:\n%s", pg.HTML)
	}
	f.b.Post(t, s.path()+"/approve", nil)
	r := f.poll(t, f.agent, s.loc)
	c := f.expectASToken(t, r)
	reqs := f.as.Requests()
	if len(reqs) != 1 || f.as.MetadataGets() == 0 {
		t.Fatalf("the AS saw %d token requests and %d metadata fetches (PS-117)", len(reqs), f.as.MetadataGets())
	}
	got := reqs[0]
	if got.Signer.ID != f.ps.Issuer || got.Signer.KID == "" {
		t.Fatalf("signed by %+v, want the PS issuer with a kid (PS-120)", got.Signer)
	}
	for _, comp := range []string{"@method", "@authority", "@path", "signature-key", "content-type", "content-digest"} {
		if !slices.Contains(got.Signer.Components, comp) {
			t.Fatalf("the signature does not cover %s (PS-119): %v", comp, got.Signer.Components)
		}
	}
	if got.Body["resource_token"] != rt || got.Body["presented_token"] != f.pt || got.Body["agent_token"] != f.agent.Token {
		t.Fatalf("the body does not carry the exact tokens (PS-121): %v", got.Body)
	}
	if c["scope"] != "calendar.read" {
		t.Fatalf("scope %v", c["scope"])
	}
	to, err := f.ps.App.AccessServers.PresentedTo(ctxT(), pjti(t, f.pt))
	if err != nil || !slices.Equal(to, []string{f.as.Issuer()}) {
		t.Fatalf("presentation record %v %v (PS-274)", to, err)
	}
	// Covered by the consent: straight to the AS, 200 at once.
	f.expectASToken(t, f.request(t, f.rt(t, "calendar.read")))
	if n := len(f.as.Requests()); n != 2 {
		t.Fatalf("the AS saw %d requests, want 2", n)
	}
}

func pjti(t *testing.T, tok string) string {
	t.Helper()
	_, c, err := conformance.DecodeJWT(tok)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := c["jti"].(string)
	return s
}

// expectNoToken asserts status and code, and that no auth token reached
// the agent.
func expectNoToken(t *testing.T, r result, status int, code string) {
	t.Helper()
	expectProblem(t, r, status, code)
	if strings.Contains(string(r.raw), "auth_token") {
		t.Fatalf("a token reached the agent: %s", r.raw)
	}
}

// TestFederationDeliveryChecks: an AS token failing any delivery check
// never reaches the agent: 502 as_unreachable, as for an AS that drops the
// connection, is slow, answers garbage or a 5xx. PS-122, PS-123, PS-130;
// Must-show 2.
func TestFederationDeliveryChecks(t *testing.T) {
	t.Parallel()
	f := newFedWorld(t)
	f.expectASToken(t, f.consented(t))
	for _, d := range conformance.TokenDefects {
		f.as.Script(conformance.ASStep{Kind: conformance.ASGrant, Defect: d})
		expectNoToken(t, f.request(t, f.rt(t, "calendar.read")), http.StatusBadGateway, aauth.ErrASUnreachable)
	}
	for name, step := range map[string]conformance.ASStep{
		"drop":      {Kind: conformance.ASDrop},
		"malformed": {Kind: conformance.ASMalformed},
		"5xx":       {Kind: conformance.ASError, Status: 500, Code: "server_error"},
		"slow":      {Kind: conformance.ASGrant, Delay: 7 * time.Second},
		"foreign":   {Kind: conformance.ASApproval, Location: "https://rs.test/elsewhere"},
	} {
		f.as.Script(step)
		r := f.request(t, f.rt(t, "calendar.read"))
		if r.status != http.StatusBadGateway {
			t.Fatalf("%s: %d %s", name, r.status, r.raw)
		}
		expectNoToken(t, r, http.StatusBadGateway, aauth.ErrASUnreachable)
	}
	// A well-formed AS refusal is relayed with its status and code (PS-130).
	for _, e := range []struct {
		status int
		code   string
	}{{403, aauth.ErrDenied}, {408, aauth.ErrExpired}, {400, aauth.ErrInvalidResourceToken}} {
		f.as.Script(conformance.ASStep{Kind: conformance.ASError, Status: e.status, Code: e.code, Detail: "no\x00 way"})
		r := f.request(t, f.rt(t, "calendar.read"))
		expectNoToken(t, r, e.status, e.code)
		if r.body["access_server"] != f.as.Issuer() {
			t.Fatalf("the relayed error does not name the AS: %s", r.raw)
		}
	}
	// Bad metadata: no POST (PS-118).
	before := len(f.as.Requests())
	f.as.SetMetadata(map[string]any{"issuer": "https://other.test"})
	f.clock.Advance(2 * time.Minute) // past the discovery cache's refetch floor
	expectNoToken(t, f.request(t, f.rt(t, "calendar.read")), http.StatusBadGateway, aauth.ErrASUnreachable)
	if len(f.as.Requests()) != before {
		t.Fatal("the PS posted to an AS whose metadata names another issuer (PS-118)")
	}
}

// TestFederationR3Mismatch: PS-246. An AS token whose r3_uri or
// r3_s256 differs from the resource token's is not delivered: the agent
// gets 502 as_unreachable and the PS writes nothing. This PS does
// not federate a resource token naming an R3 document (400
// invalid_resource_token before any AS is called), so the resource token
// here names none and the AS's token names one; the hash compare itself
// is in federation.TestCheckDeliveredR3.
func TestFederationR3Mismatch(t *testing.T) {
	t.Parallel()
	f := newFedWorld(t)
	f.expectASToken(t, f.consented(t))
	minted := len(f.as.Minted())
	f.as.Script(conformance.ASStep{Kind: conformance.ASGrant, Defect: conformance.DefectR3})
	before := f.ps.TableCounts(t)
	expectNoToken(t, f.request(t, f.rt(t, "calendar.read")), http.StatusBadGateway, aauth.ErrASUnreachable)
	writesNothing(t, f.ps, before)
	if len(f.as.Minted()) != minted+1 {
		t.Fatalf("the AS minted %d tokens, want %d: the mismatched one was never issued", len(f.as.Minted()), minted+1)
	}
	// A token naming no R3 document, like the resource token, is delivered.
	f.as.Script()
	f.expectASToken(t, f.request(t, f.rt(t, "calendar.read")))
}

// claimsAsked opens the person's page for an AS's requirement=claims and
// checks it keeps what the PS verified and would send (name: Alice) apart
// from what the AS says it wants, never sending sub.
func (f *fedWorld) claimsAsked(t *testing.T, s started, as string, withheld bool) {
	t.Helper()
	pg := open(t, f.b, s)
	ps, _, okPS := strings.Cut(pg.HTML, "What the access server says")
	if !strings.Contains(pg.HTML, "asks for your details") || !okPS ||
		!strings.Contains(ps, "What this Person Server would send") || !strings.Contains(ps, "<code>"+as+"</code>") ||
		!strings.Contains(ps, "<code>name</code>: Alice") || strings.Contains(ps, "<code>email</code>:") ||
		strings.Contains(ps, "Never sent") != withheld || !strings.Contains(pg.HTML, "Share these details") ||
		strings.Contains(pg.HTML, "What you grant") {
		t.Fatalf("the claims page does not say what would be sent to whom:\n%s", pg.HTML)
	}
}

// TestFederationClaims: the first requirement=claims from an AS defers the
// agent's request and asks the person in the PS's page which AS asks for
// what and exactly what would be sent; nothing goes to the AS before they
// choose. Yes releases exactly what the operator's rule for the AS allows,
// never sub, is remembered for that AS (the next claims are answered
// without asking) and shown on /access, where Stop sharing ends further
// release. No is remembered as well: nothing is released, the agent gets
// 403 denied, and the AS's later claims receive nothing without asking.
// PS-124, PS-131; Must-show 4. On both databases.
func TestFederationClaims(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			var as2 *conformance.AccessServer
			f := newFedWorldOn(t, pstest.Options{DatabaseURL: b.NewMigratedURL(t)}, func(env *pstest.Env) {
				var err error
				if as2, err = conformance.StartAccessServer(env.CA, env.Resolver, "as2.test"); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = as2.Close() })
			})
			federationClaims(t, f, as2)
			federationShareAgain(t, f, as2)
		})
	}
}

func federationClaims(t *testing.T, f *fedWorld, as2 *conformance.AccessServer) {
	f.expectASToken(t, f.consented(t))
	for _, as := range []string{f.as.Issuer(), as2.Issuer()} {
		if err := f.ps.App.AccessServers.Set(ctxT(), as, federation.StatusTrusted, []string{"name"}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	person, err := f.ps.App.Accounts.PersonByUsername(ctxT(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	// First time: the agent waits while the person is asked.
	f.as.Script(conformance.ASStep{Kind: conformance.ASClaims, Claims: []string{"name", "email", "sub", "foo"}})
	s := f.expectInteraction(t, f.request(t, f.rt(t, "calendar.read")))
	expect202(t, f.poll(t, f.agent, s.loc), f.ps.Issuer)
	f.claimsAsked(t, s, f.as.Issuer(), true)
	if reqs := f.as.Requests(); reqs[len(reqs)-1].Claims != nil {
		t.Fatalf("claims went to the AS before the person chose: %v", reqs[len(reqs)-1].Claims)
	}
	if rel, _ := f.ps.App.AccessServers.Releases(ctxT(), person.ID); len(rel) != 0 {
		t.Fatalf("a choice was recorded before the person made it: %v", rel)
	}
	f.b.Post(t, s.path()+"/approve", nil)
	f.expectASToken(t, f.awaitResult(t, s.loc))
	reqs := f.as.Requests()
	if claims := reqs[len(reqs)-1].Claims; len(claims) != 1 || claims["name"] != "Alice" {
		t.Fatalf("released %v, want exactly {name: Alice}", claims)
	}
	rel, err := f.ps.App.AccessServers.Releases(ctxT(), person.ID)
	if err != nil || len(rel) != 1 || rel[0].Claim != "name" || rel[0].AccessServer != f.as.Issuer() {
		t.Fatalf("releases %v %v", rel, err)
	}
	// Remembered for this AS: answered at once.
	f.as.Script(conformance.ASStep{Kind: conformance.ASClaims, Claims: []string{"name"}})
	f.expectASToken(t, f.request(t, f.rt(t, "calendar.read")))
	reqs = f.as.Requests()
	if claims := reqs[len(reqs)-1].Claims; len(claims) != 1 || claims["name"] != "Alice" {
		t.Fatalf("released %v the second time, want exactly {name: Alice}", claims)
	}
	// The person sees it per AS on /access and stops future release (PRG);
	// another person cannot, with the answer of a made-up AS.
	pg := f.b.Get(t, "/access")
	if !strings.Contains(pg.HTML, "What access servers received about you") || !strings.Contains(pg.HTML, f.as.Issuer()) ||
		!strings.Contains(pg.HTML, "<code>name</code>") || strings.Contains(pg.HTML, "<code>email") {
		t.Fatalf("the access page does not show the release:\n%s", pg.HTML)
	}
	mallory := f.person(t, "mallory", false)
	mallory.Get(t, "/access")
	theirs := mallory.Post(t, "/access/access-servers/stop", map[string]string{"access_server": f.as.Issuer()})
	none := mallory.Post(t, "/access/access-servers/stop", map[string]string{"access_server": "https://nowhere.test"})
	if theirs.Status != http.StatusNotFound || theirs.HTML != none.HTML {
		t.Fatalf("another person's stop: %d / %d", theirs.Status, none.Status)
	}
	f.b.Get(t, "/access")
	if out := f.b.Post(t, "/access/access-servers/stop", map[string]string{"access_server": f.as.Issuer()}); out.Status != http.StatusSeeOther {
		t.Fatalf("stop: %d %s", out.Status, out.HTML)
	}
	if pg := f.b.Get(t, "/access"); !strings.Contains(pg.HTML, "Stopped") {
		t.Fatalf("the stop is not shown:\n%s", pg.HTML)
	}
	f.as.Script(conformance.ASStep{Kind: conformance.ASClaims, Claims: []string{"name"}})
	f.expectASToken(t, f.request(t, f.rt(t, "calendar.read")))
	reqs = f.as.Requests()
	if c := reqs[len(reqs)-1].Claims; len(c) != 0 {
		t.Fatalf("released %v after the person stopped release", c)
	}

	// Another AS for the resource: the person refuses.
	f.rs.SetAccessServer(as2.Issuer())
	rt2 := func() string {
		return resourceToken(t, f.world, f.rs, f.pt, "calendar.read", func(s *conformance.ResourceTokenSpec) { s.Aud = as2.Issuer() })
	}
	as2.Script(conformance.ASStep{Kind: conformance.ASClaims, Claims: []string{"name"}})
	s = f.expectInteraction(t, f.request(t, rt2()))
	f.claimsAsked(t, s, as2.Issuer(), false)
	f.b.Post(t, s.path()+"/deny", nil)
	expectNoToken(t, f.awaitResult(t, s.loc), http.StatusForbidden, aauth.ErrDenied)
	if reqs := as2.Requests(); len(reqs) != 1 || reqs[0].Claims != nil {
		t.Fatalf("claims went to the AS the person refused: %+v", reqs)
	}
	if pg := f.b.Get(t, "/access"); !strings.Contains(pg.HTML, "as2<wbr>.test") || strings.Count(pg.HTML, "Stopped") < 2 {
		t.Fatalf("the refusal is not shown on /access:\n%s", pg.HTML)
	}
	// Remembered: the AS's next claims receive nothing, without asking.
	as2.Script(conformance.ASStep{Kind: conformance.ASClaims, Claims: []string{"name"}})
	f.expectASToken2(t, f.request(t, rt2()), as2)
	if reqs := as2.Requests(); len(reqs) != 2 || len(reqs[1].Claims) != 0 {
		t.Fatalf("after the refusal the AS received %+v", reqs)
	}
}

// federationShareAgain (after federationClaims: the person stopped
// sharing with as and refused as2): /access undoes each choice with Share
// again (post-redirect-get; another person's or a made-up AS: the same
// 404, and no audit event). Each Share again is in the audit trail. as
// gets the allowed name again without asking; as2's claims ask the person
// again; Stop sharing undoes the undo. Issue 11, PS-124, PS-131.
func federationShareAgain(t *testing.T, f *fedWorld, as2 *conformance.AccessServer) {
	pg := f.b.Get(t, "/access")
	if strings.Count(pg.HTML, ">Share again</button>") != 2 {
		t.Fatalf("want a Share again button for the stop and the refusal:\n%s", pg.HTML)
	}
	mallory := f.person(t, "mallory2", false)
	mallory.Get(t, "/access")
	newest := func() []audit.Event { return auditTrail(t, f.ps, 1) }
	before := newest()
	theirs := mallory.Post(t, "/access/access-servers/share-again", map[string]string{"access_server": f.as.Issuer()})
	none := mallory.Post(t, "/access/access-servers/share-again", map[string]string{"access_server": "https://nowhere.test"})
	if theirs.Status != http.StatusNotFound || theirs.HTML != none.HTML {
		t.Fatalf("another person's share again: %d / %d", theirs.Status, none.Status)
	}
	if after := newest(); !reflect.DeepEqual(after, before) {
		t.Fatalf("a refused share again was audited: %+v", after)
	}
	for _, as := range []string{f.as.Issuer(), as2.Issuer()} {
		f.b.Get(t, "/access")
		if out := f.b.Post(t, "/access/access-servers/share-again", map[string]string{"access_server": as}); out.Status != http.StatusSeeOther {
			t.Fatalf("share again with %s: %d %s", as, out.Status, out.HTML)
		}
		// In the audit trail: by the person, naming the AS (issues 10/11 review).
		if trail := newest(); len(trail) != 1 || trail[0].Action != "access-server.share-again" || trail[0].Target != "access-server:"+as ||
			trail[0].Actor.Kind != "person" || trail[0].Detail["access_server"] != as {
			t.Fatalf("share again with %s: the newest audit event is %+v", as, trail)
		}
	}
	f.b.Get(t, "/access")
	if again := f.b.Post(t, "/access/access-servers/share-again", map[string]string{"access_server": as2.Issuer()}); again.Status != http.StatusNotFound {
		t.Fatalf("share again without a stop: %d", again.Status)
	}
	if pg := f.b.Get(t, "/access"); strings.Contains(pg.HTML, "Stopped") || !strings.Contains(pg.HTML, "Stop sharing") {
		t.Fatalf("after share again /access still shows a stop:\n%s", pg.HTML)
	}
	// as2 (refused before anything was released): the person is asked again.
	as2.Script(conformance.ASStep{Kind: conformance.ASClaims, Claims: []string{"name"}})
	s := f.expectInteraction(t, f.request(t, resourceToken(t, f.world, f.rs, f.pt, "calendar.read",
		func(s *conformance.ResourceTokenSpec) { s.Aud = as2.Issuer() })))
	f.claimsAsked(t, s, as2.Issuer(), false)
	f.b.Post(t, s.path()+"/deny", nil)
	expectNoToken(t, f.awaitResult(t, s.loc), http.StatusForbidden, aauth.ErrDenied)
	// as: the name the person allowed goes again, without asking.
	f.rs.SetAccessServer(f.as.Issuer())
	f.as.Script(conformance.ASStep{Kind: conformance.ASClaims, Claims: []string{"name"}})
	f.expectASToken(t, f.request(t, f.rt(t, "calendar.read")))
	reqs := f.as.Requests()
	if claims := reqs[len(reqs)-1].Claims; len(claims) != 1 || claims["name"] != "Alice" {
		t.Fatalf("released %v after share again, want exactly {name: Alice}", claims)
	}
	// Undoable: Stop sharing again.
	f.b.Get(t, "/access")
	if out := f.b.Post(t, "/access/access-servers/stop", map[string]string{"access_server": f.as.Issuer()}); out.Status != http.StatusSeeOther {
		t.Fatalf("stop after share again: %d", out.Status)
	}
	if pg := f.b.Get(t, "/access"); !strings.Contains(pg.HTML, "Stopped") {
		t.Fatalf("the new stop is not shown:\n%s", pg.HTML)
	}
}

// expectASToken2 asserts a 200 with an auth token issued by as.
func (f *fedWorld) expectASToken2(t *testing.T, r result, as *conformance.AccessServer) {
	t.Helper()
	at, _ := r.body["auth_token"].(string)
	if r.status != http.StatusOK || at == "" {
		t.Fatalf("want 200 with the AS's auth token: %d %s", r.status, r.raw)
	}
	if c, err := f.rs.VerifyAccessToken(ctxT(), at, f.agent.Key); err != nil || c["iss"] != as.Issuer() {
		t.Fatalf("the resource refuses the token of %s: %v %v", as.Issuer(), c, err)
	}
}

// TestFederationApprovalPolling: requirement=approval is polled with
// signed GETs after Retry-After, a 429 adds 5 s, then the grant is
// delivered. PS-127.
func TestFederationApprovalPolling(t *testing.T) {
	t.Parallel()
	f := newFedWorld(t)
	f.expectASToken(t, f.consented(t))
	n := len(f.as.Hits())
	f.as.Script(conformance.ASStep{Kind: conformance.ASApproval, RetryAfter: 1}, conformance.ASStep{Kind: conformance.ASSlowDown})
	f.expectASToken(t, f.request(t, f.rt(t, "calendar.read")))
	hits := f.as.Hits()[n:]
	if len(hits) != 3 || hits[1].Method != http.MethodGet || hits[2].Method != http.MethodGet {
		t.Fatalf("hits %v, want POST then two GETs", hits)
	}
	if d := hits[1].At.Sub(hits[0].At); d < time.Second {
		t.Fatalf("polled after %s, before Retry-After 1 s", d)
	}
	if d := hits[2].At.Sub(hits[1].At); d < 5*time.Second {
		t.Fatalf("polled %s after a 429, want at least 5 s more", d)
	}
}

// TestFederationUntrustedAS: under allow-list an AS the operator has not
// trusted is refused before anything is fetched from it.
func TestFederationUntrustedAS(t *testing.T) {
	t.Parallel()
	f := newFedWorld(t)
	if err := f.ps.App.AccessServers.Set(ctxT(), f.as.Issuer(), federation.StatusDistrusted, nil, "test"); err != nil {
		t.Fatal(err)
	}
	expectNoToken(t, f.request(t, f.rt(t, "calendar.read")), http.StatusBadRequest, aauth.ErrInvalidResourceToken)
	if f.as.MetadataGets() != 0 || len(f.as.Requests()) != 0 {
		t.Fatal("the PS contacted a distrusted AS")
	}
}

// awaitResult polls the agent's pending URL until it is no longer 202
// (the PS finishes with the AS in the background).
func (f *fedWorld) awaitResult(t *testing.T, loc string) result {
	t.Helper()
	// A wall-clock budget, not a number of polls: the PS's own polling of
	// the AS runs beside the test, and under make test's load (-race, 2
	// cores) a replica's take-over once needed more than twenty polls.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		r := f.poll(t, f.agent, loc)
		if r.status != http.StatusAccepted {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pending request did not end in 20 s: %d %s", r.status, r.raw)
		}
	}
}

// TestFederationInteraction: an AS's requirement=interaction sends the
// person through the PS's page to the AS's interaction URL (url?code=);
// once they were there, the PS's polling gets the token. PS-125.
func TestFederationInteraction(t *testing.T) {
	t.Parallel()
	f := newFedWorld(t)
	f.expectASToken(t, f.consented(t))
	f.as.Script(conformance.ASStep{Kind: conformance.ASInteraction})
	s := f.expectInteraction(t, f.request(t, f.rt(t, "calendar.read")))
	pg := open(t, f.b, s)
	m := relayLinkRE.FindStringSubmatch(pg.HTML)
	if !strings.Contains(pg.HTML, "access server needs you first") || m == nil {
		t.Fatalf("want the AS's step:\n%s", pg.HTML)
	}
	link := html.UnescapeString(m[1])
	if !strings.HasPrefix(link, f.as.Issuer()+conformance.InteractionPath+"?code=") {
		t.Fatalf("AS link %q", link)
	}
	expect202(t, f.poll(t, f.agent, s.loc), f.ps.Issuer)
	if out := f.b.Post(t, s.path()+"/open", nil); out.Status != http.StatusOK || !strings.Contains(out.HTML, html.EscapeString(link)) {
		t.Fatalf("open: %d\n%s", out.Status, out.HTML)
	}
	if at := f.b.Get(t, link); at.Status != http.StatusOK {
		t.Fatalf("the AS's interaction page: %d %s", at.Status, at.HTML)
	}
	f.expectASToken(t, f.awaitResult(t, s.loc))
}

// TestFederationInteractionToAgent: when the PS cannot reach the person
// (the agent did not declare interaction, the person has no inbox), an
// AS's requirement=interaction is passed to the agent with the AS's own url
// and code (no longer 403 user_unreachable), on its first 202 and on every
// poll's 202 while it is outstanding; the person completes it at the AS
// and the agent's poll gets the token. PS-125.
func TestFederationInteractionToAgent(t *testing.T) {
	t.Parallel()
	f := newFedWorld(t)
	f.expectASToken(t, f.consented(t))
	f.as.Script(conformance.ASStep{Kind: conformance.ASInteraction})
	r := f.post(t, f.agent, "/token", authBody(t, map[string]any{"resource_token": f.rt(t, "calendar.read"), "presented_token": f.pt}))
	loc := expect202(t, r, f.ps.Issuer)
	req, params := requirement(t, r)
	if req != "interaction" || params["url"] != f.as.Issuer()+conformance.InteractionPath || params["code"] == "" {
		t.Fatalf("want the AS's interaction passed to the agent: %q %v", req, params)
	}
	// Every later 202 while the AS's interaction is outstanding carries it
	// again (not only the first).
	for range 2 {
		again := f.poll(t, f.agent, loc)
		expect202(t, again, f.ps.Issuer)
		if req2, p2 := requirement(t, again); req2 != "interaction" || p2["url"] != params["url"] || p2["code"] != params["code"] {
			t.Fatalf("a later poll lost the AS's interaction: %q %v", req2, p2)
		}
	}
	if at := f.b.Get(t, params["url"]+"?code="+params["code"]); at.Status != http.StatusOK {
		t.Fatalf("the AS's interaction page: %d %s", at.Status, at.HTML)
	}
	f.expectASToken(t, f.awaitResult(t, loc))
}

// TestFederationPayment: an AS's 402 is surfaced to the person; their
// acceptance records a billing relationship with that AS, the PS polls
// the Location and the token is delivered; the next 402 from the same AS
// is settled without asking. PS-129.
func TestFederationPayment(t *testing.T) {
	t.Parallel()
	f := newFedWorld(t)
	f.expectASToken(t, f.consented(t))
	f.as.Script(conformance.ASStep{Kind: conformance.ASPayment})
	s := f.expectInteraction(t, f.request(t, f.rt(t, "calendar.read")))
	pg := open(t, f.b, s)
	if !strings.Contains(pg.HTML, "billing relationship") {
		t.Fatalf("want the payment step:\n%s", pg.HTML)
	}
	if ok, _ := f.ps.App.AccessServers.Billing(ctxT(), f.as.Issuer()); ok {
		t.Fatal("billing recorded before the person accepted")
	}
	f.b.Post(t, s.path()+"/approve", nil)
	f.expectASToken(t, f.awaitResult(t, s.loc))
	if ok, _ := f.ps.App.AccessServers.Billing(ctxT(), f.as.Issuer()); !ok {
		t.Fatal("no billing relationship recorded")
	}
	// Remembered per AS: the next 402 is followed without the person.
	f.as.Script(conformance.ASStep{Kind: conformance.ASPayment})
	r := f.request(t, f.rt(t, "calendar.read"))
	loc := expect202(t, r, f.ps.Issuer)
	f.expectASToken(t, f.awaitResult(t, loc))
}

// TestFederationRevocationReachesAS: when the person removes the consent
// behind a person token the PS presented to an AS, the cascade revokes it
// at the resource and at the AS's revocation endpoint (signed as the PS).
// PS-274 (the presentation is recorded), P§revocation-cascade.
func TestFederationRevocationReachesAS(t *testing.T) {
	t.Parallel()
	f := newFedWorld(t)
	f.expectASToken(t, f.consented(t))
	f.b.Get(t, "/access")
	remove := map[string]string{"kind": "consent", "agent_iss": f.agent.Issuer, "agent_sub": f.agent.ID, "resource": f.rs.Issuer()}
	if pg := f.b.Post(t, "/access/remove", remove); pg.Status != http.StatusSeeOther {
		t.Fatalf("remove: %d %s", pg.Status, pg.HTML)
	}
	jti := pjti(t, f.pt)
	deadline := time.Now().Add(10 * time.Second)
	for {
		revs := f.as.Revocations()
		if len(revs) == 1 && revs[0].Iss == f.ps.Issuer && revs[0].JTI == jti {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the AS was not told of the revocation: %+v", revs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitRevoked(t, f.world, f.rs, f.pt)
	// A revoked presented token is never presented to the AS again.
	before := len(f.as.Requests())
	r := f.request(t, f.rt(t, "calendar.read"))
	expectNoToken(t, r, http.StatusBadRequest, aauth.ErrRevokedPresentedToken)
	if len(f.as.Requests()) != before {
		t.Fatal("a revoked presented token went to the AS")
	}
}

// TestFederationClarification: an AS's requirement=clarification is passed
// to the agent as requirement=clarification on its pending URL; the agent's
// clarification_response is forwarded to the AS's Location, and the token
// follows. When the agent cannot answer questions the person is asked in
// the PS's page and their answer goes to the AS (declining: 403 denied);
// when neither can be reached, 403 user_unreachable. PS-126.
func TestFederationClarification(t *testing.T) {
	t.Parallel()
	f := newFedWorld(t)
	f.expectASToken(t, f.consented(t))
	f.as.Script(conformance.ASStep{Kind: conformance.ASClarification, Question: "Which calendar: work or home?"})
	r := f.post(t, f.agent, "/token", authBody(t, map[string]any{"resource_token": f.rt(t, "calendar.read"), "presented_token": f.pt,
		"capabilities": []string{"interaction", "clarification"}}))
	loc := expect202(t, r, f.ps.Issuer)
	if req, _ := requirement(t, r); req != "clarification" || !strings.Contains(string(r.raw), "Which calendar") {
		t.Fatalf("want the AS's question as requirement=clarification: %q %s", req, r.raw)
	}
	// The person's page of the request names the AS as the one asking
	// (its words), never "You asked".
	pg := f.b.Get(t, "/interact/"+loc[strings.LastIndex(loc, "/")+1:])
	if !strings.Contains(pg.HTML, "The access server <code>"+f.as.Issuer()+"</code> asked the agent") ||
		!strings.Contains(pg.HTML, "Which calendar: work or home?") || strings.Contains(pg.HTML, "You asked") {
		t.Fatalf("want the AS's question attributed to the AS on the person's page:\n%s", pg.HTML)
	}
	ans := f.send(t, f.agent, http.MethodPost, loc, []byte(`{"action":"clarification_response","clarification_response":"The work one."}`))
	if ans.status != http.StatusAccepted {
		t.Fatalf("clarification_response: %d %s", ans.status, ans.raw)
	}
	f.expectASToken(t, f.awaitResult(t, loc))
	reqs := f.as.Requests()
	if c := reqs[len(reqs)-1].Clarification; c["action"] != "clarification_response" || c["clarification_response"] != "The work one." {
		t.Fatalf("the AS received %v", c)
	}
	// An agent that cannot answer questions: the person is asked in the
	// PS's page (the AS named apart from its question) and their answer
	// goes to the AS.
	f.as.Script(conformance.ASStep{Kind: conformance.ASClarification, Question: "Which calendar: **work** or home?"})
	s := f.expectInteraction(t, f.request(t, f.rt(t, "calendar.read")))
	pg = open(t, f.b, s)
	who, said, ok := strings.Cut(pg.HTML, "What the access server asks")
	if !ok || !strings.Contains(pg.HTML, "access server has a question") || !strings.Contains(who, "<code>"+f.as.Issuer()+"</code>") ||
		!strings.Contains(said, "<strong>work</strong>") || !strings.Contains(pg.HTML, "Your answer to the access server") {
		t.Fatalf("want the AS's question put to the person:\n%s", pg.HTML)
	}
	empty := f.b.Follow(t, f.b.Post(t, s.path()+"/answer", map[string]string{"answer": "  "}))
	if !strings.Contains(empty.HTML, "answer of 1 to 8192 characters") || !strings.Contains(empty.HTML, "Your answer to the access server") {
		t.Fatalf("an empty answer was not refused:\n%s", empty.HTML)
	}
	f.b.Post(t, s.path()+"/answer", map[string]string{"answer": "Home, please."})
	f.expectASToken(t, f.awaitResult(t, s.loc))
	reqs = f.as.Requests()
	if c := reqs[len(reqs)-1].Clarification; c["clarification_response"] != "Home, please." {
		t.Fatalf("the AS received %v, want the person's answer", c)
	}
	// The person declines: 403 denied, the AS receives nothing.
	f.as.Script(conformance.ASStep{Kind: conformance.ASClarification, Question: "Which calendar?"})
	s = f.expectInteraction(t, f.request(t, f.rt(t, "calendar.read")))
	open(t, f.b, s)
	f.b.Post(t, s.path()+"/deny", nil)
	expectNoToken(t, f.awaitResult(t, s.loc), http.StatusForbidden, aauth.ErrDenied)
	if reqs = f.as.Requests(); reqs[len(reqs)-1].Clarification != nil {
		t.Fatalf("the AS received an answer the person declined: %v", reqs[len(reqs)-1].Clarification)
	}
	// Neither the agent nor the person can be reached: 403 user_unreachable.
	f.as.Script(conformance.ASStep{Kind: conformance.ASClarification, Question: "Which calendar?"})
	r = f.post(t, f.agent, "/token", authBody(t, map[string]any{"resource_token": f.rt(t, "calendar.read"), "presented_token": f.pt}))
	expectNoToken(t, r, http.StatusForbidden, aauth.ErrUserUnreachable)
}

// TestFederationClarificationOptions: an AS's clarification options and
// timeout reach whoever answers. The agent's 202 carries the options and a
// timeout no longer than the AS's (PS-126, PS-174); the person picks one of
// the options on the PS's page, which says until when the AS waits, and an
// answer outside them is refused and sends nothing; an AS whose options
// are malformed gets 502 as_unreachable and no token.
func TestFederationClarificationOptions(t *testing.T) {
	t.Parallel()
	f := newFedWorld(t)
	f.expectASToken(t, f.consented(t))
	f.as.Script(conformance.ASStep{Kind: conformance.ASClarification, Question: "Which calendar?", Options: []string{"work", "home"}, Timeout: 120})
	r := f.post(t, f.agent, "/token", authBody(t, map[string]any{"resource_token": f.rt(t, "calendar.read"), "presented_token": f.pt,
		"capabilities": []string{"interaction", "clarification"}}))
	loc := expect202(t, r, f.ps.Issuer)
	var body struct {
		Clarification string   `json:"clarification"`
		Options       []string `json:"options"`
		Timeout       int      `json:"timeout"`
	}
	if err := json.Unmarshal(r.raw, &body); err != nil || body.Clarification != "Which calendar?" ||
		!slices.Equal(body.Options, []string{"work", "home"}) || body.Timeout <= 0 || body.Timeout > 120 {
		t.Fatalf("want the AS's options and a timeout of at most its 120 s: %s (%v)", r.raw, err)
	}
	if a := f.send(t, f.agent, http.MethodPost, loc, []byte(`{"action":"clarification_response","clarification_response":"work"}`)); a.status != http.StatusAccepted {
		t.Fatalf("clarification_response: %d %s", a.status, a.raw)
	}
	f.expectASToken(t, f.awaitResult(t, loc))

	// The person answers: the AS's choices, and until when it waits.
	f.as.Script(conformance.ASStep{Kind: conformance.ASClarification, Question: "Which calendar?", Options: []string{"work", "home "}, Timeout: 600})
	s := f.expectInteraction(t, f.request(t, f.rt(t, "calendar.read")))
	pg := open(t, f.b, s)
	if !strings.Contains(pg.HTML, `type="radio"`) || !strings.Contains(pg.HTML, `value="home "`) || strings.Contains(pg.HTML, "<textarea") ||
		!strings.Contains(pg.HTML, "It says it waits for an answer until <time") {
		t.Fatalf("want the AS's options as choices and its deadline:\n%s", pg.HTML)
	}
	before := len(f.as.Requests())
	off := f.b.Follow(t, f.b.Post(t, s.path()+"/answer", map[string]string{"answer": "both"}))
	if !strings.Contains(off.HTML, "one of the access server&#39;s choices") || len(f.as.Requests()) != before {
		t.Fatalf("an answer outside the options was not refused, or reached the AS:\n%s", off.HTML)
	}
	f.b.Post(t, s.path()+"/answer", map[string]string{"answer": "home "})
	f.expectASToken(t, f.awaitResult(t, s.loc))
	reqs := f.as.Requests()
	if c := reqs[len(reqs)-1].Clarification; c["clarification_response"] != "home " {
		t.Fatalf("the AS received %v, want the option exactly as it wrote it", c)
	}

	// Malformed options: the AS is unreachable for this request.
	f.as.Script(conformance.ASStep{Kind: conformance.ASClarification, Question: "Which calendar?", Options: []string{""}})
	r = f.post(t, f.agent, "/token", authBody(t, map[string]any{"resource_token": f.rt(t, "calendar.read"), "presented_token": f.pt,
		"capabilities": []string{"interaction", "clarification"}}))
	expectNoToken(t, r, http.StatusBadGateway, aauth.ErrASUnreachable)
}

// TestFederationDirectedSub: two resources behind one AS see two different
// directed subs for the same person; each delivered token carries its own
// resource's, an AS token carrying the other resource's sub never reaches
// the agent, and no released claim carries a sub. PS-122, PS-124;
// Must-show 4.
func TestFederationDirectedSub(t *testing.T) {
	t.Parallel()
	var rs2 *conformance.Resource
	f := newFedWorldOn(t, pstest.Options{}, func(env *pstest.Env) {
		var err error
		if rs2, err = conformance.StartResource(env.CA, env.Resolver, "rs2.test"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rs2.Close() })
	})
	rs2.SetAccessServer(f.as.Issuer())
	if err := f.ps.App.AccessServers.Set(ctxT(), f.as.Issuer(), federation.StatusTrusted, []string{"name", "email"}, "test"); err != nil {
		t.Fatal(err)
	}
	c1 := f.expectASToken(t, f.consented(t))

	pt2 := personToken(t, f.world, f.b, rs2, `{"resource":"https://rs2.test","capabilities":["interaction"]}`)
	rt2 := resourceToken(t, f.world, rs2, pt2, "calendar.read", func(s *conformance.ResourceTokenSpec) { s.Aud = f.as.Issuer() })
	f.as.Script(conformance.ASStep{Kind: conformance.ASClaims, Claims: []string{"sub", "name"}})
	body := authBody(t, map[string]any{"resource_token": rt2, "presented_token": pt2, "capabilities": []string{"interaction"}})
	s := f.expectInteraction(t, f.post(t, f.agent, "/token", body))
	open(t, f.b, s)
	f.b.Post(t, s.path()+"/approve", nil)
	// The AS asks for claims: the person is asked first (this AS is new).
	f.b.Get(t, s.path())
	f.b.Post(t, s.path()+"/approve", nil)
	r := f.awaitResult(t, s.loc)
	at, _ := r.body["auth_token"].(string)
	c2, err := rs2.VerifyAccessToken(ctxT(), at, f.agent.Key)
	if r.status != http.StatusOK || err != nil {
		t.Fatalf("rs2: %d %s %v", r.status, r.raw, err)
	}
	_, p2, _ := conformance.DecodeJWT(pt2)
	if c1["sub"] == c2["sub"] || c2["sub"] != p2["sub"] {
		t.Fatalf("subs are not directed per resource: rs %v, rs2 %v (person token for rs2: %v)", c1["sub"], c2["sub"], p2["sub"])
	}
	for _, req := range f.as.Requests() {
		if _, ok := req.Claims["sub"]; ok {
			t.Fatalf("a sub was released to the AS: %v", req.Claims)
		}
	}
	// An AS token for rs2 carrying rs's sub is refused.
	rt2 = resourceToken(t, f.world, rs2, pt2, "calendar.read", func(s *conformance.ResourceTokenSpec) { s.Aud = f.as.Issuer() })
	f.as.Script(conformance.ASStep{Kind: conformance.ASGrant, Sub: c1["sub"].(string)})
	expectNoToken(t, f.post(t, f.agent, "/token", authBody(t, map[string]any{"resource_token": rt2, "presented_token": pt2})),
		http.StatusBadGateway, aauth.ErrASUnreachable)
}

// TestFederationSubAgent: the parent redeems its sub-agent's resource
// token for an AS-protected resource: the AS receives the parent's agent
// token as agent_token and the sub-agent's as subagent_token, exactly as
// sent, and the delivered token is bound to the sub-agent's key, which the
// resource accepts. PS-121, PS-142, PS-144.
func TestFederationSubAgent(t *testing.T) {
	t.Parallel()
	f := newFedWorld(t)
	sub := newSubAgent(t, f.world, "aauth:a1+search@ap.test", 30*time.Minute)
	r := f.post(t, f.agent, "/person", authBody(t, map[string]any{"resource": "https://rs.test", "subagent_token": sub.Token,
		"capabilities": []string{"interaction"}})) // the person's consent for rs.test stands: at once
	pt, _ := r.body["person_token"].(string)
	if r.status != http.StatusOK || pt == "" {
		t.Fatalf("person token for the sub-agent: %d %s", r.status, r.raw)
	}
	rt, err := f.rs.MintFor(pt, sub.Key, "calendar.read", f.clock.Now(), func(s *conformance.ResourceTokenSpec) { s.Aud = f.as.Issuer() })
	if err != nil {
		t.Fatal(err)
	}
	s := f.expectInteraction(t, f.post(t, f.agent, "/token", authBody(t, map[string]any{"resource_token": rt, "presented_token": pt,
		"subagent_token": sub.Token, "capabilities": []string{"interaction"}})))
	open(t, f.b, s)
	f.b.Post(t, s.path()+"/approve", nil)
	r = f.poll(t, f.agent, s.loc)
	at, _ := r.body["auth_token"].(string)
	if r.status != http.StatusOK || at == "" {
		t.Fatalf("auth token for the sub-agent: %d %s", r.status, r.raw)
	}
	if _, err := f.rs.VerifyAccessToken(ctxT(), at, sub.Key); err != nil {
		t.Fatalf("the resource refuses the sub-agent's AS token: %v", err)
	}
	reqs := f.as.Requests()
	got := reqs[len(reqs)-1].Body
	if got["agent_token"] != f.agent.Token || got["subagent_token"] != sub.Token || got["presented_token"] != pt {
		t.Fatalf("the AS body does not carry the parent's and the sub-agent's tokens (PS-144): %v", got)
	}
}

// TestFederationDeferred: an AS that asks for more time than the PS
// follows within one agent request (Retry-After 11 s) makes the agent's
// answer a 202 on its own pending URL; the PS polls the AS no earlier than
// Retry-After in the background and the agent's poll then gets the token.
// PS-127, PS-146, PS-151.
func TestFederationDeferred(t *testing.T) {
	t.Parallel()
	f := newFedWorld(t)
	f.expectASToken(t, f.consented(t))
	n := len(f.as.Hits())
	f.as.Script(conformance.ASStep{Kind: conformance.ASApproval, RetryAfter: 11})
	loc := expect202(t, f.request(t, f.rt(t, "calendar.read")), f.ps.Issuer)
	expect202(t, f.poll(t, f.agent, loc), f.ps.Issuer)
	time.Sleep(11 * time.Second)
	f.expectASToken(t, f.awaitResult(t, loc))
	hits := f.as.Hits()[n:]
	if len(hits) < 2 || hits[1].At.Sub(hits[0].At) < 11*time.Second {
		t.Fatalf("the PS polled before Retry-After: %v", hits)
	}
}
