package app_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// Helpers for the black-box tests of agents ↔ person interaction
// (PS-REQUIREMENTS §3.12, §3.13, §3.14, §3.20).

// newWorldWith is newWorld with setup run on the environment before the PS
// starts: extra test host names, a second agent provider.
func newWorldWith(t *testing.T, opt pstest.Options, setup func(env *pstest.Env)) *world {
	t.Helper()
	env := pstest.NewEnv(t)
	ap := env.StartAP(t, "ap.test")
	if setup != nil {
		setup(env)
	}
	clock := &offsetClock{}
	if opt.Now == nil {
		opt.Now = clock.Now
	}
	ps := env.Start(t, opt)
	agent, err := ap.NewAgent(conformance.TokenSpec{Sub: "aauth:a1@ap.test"})
	if err != nil {
		t.Fatal(err)
	}
	return &world{env: env, ap: ap, ps: ps, agent: agent, clock: clock}
}

// send signs a request as a at the PS's time and sends it.
func (w *world) send(t *testing.T, a *conformance.Agent, method, url string, body []byte, opts ...conformance.SignOption) result {
	t.Helper()
	opts = append([]conformance.SignOption{conformance.WithCreatedOffset(w.clock.Offset())}, opts...)
	return w.do(t, signed(t, a, method, url, body, opts...))
}

// relay POSTs an interaction-endpoint (E9) body: []byte and string are sent
// as they are, anything else JSON-encoded.
func (w *world) relay(t *testing.T, a *conformance.Agent, body any) result {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case []byte:
		raw = b
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	return w.send(t, a, http.MethodPost, w.ps.URL("/interaction"), raw)
}

// started is a pending request that needs the person at the interaction
// URL: its pending URL, interaction URL, code and id.
type started struct{ loc, url, code, id string }

// link is the interaction URL with the code, as the agent hands it over.
func (s started) link() string { return s.url + "?code=" + s.code }

// path is the interaction page's path on the PS.
func (s started) path() string { return "/interact/" + s.id }

// ask relays a question for a with caps and expects 202
// requirement=interaction with a url and a code (PS-146, PS-159).
func (w *world) ask(t *testing.T, a *conformance.Agent, q string, caps ...string) started {
	t.Helper()
	return w.expectInteraction(t, w.relay(t, a, map[string]any{"type": "question", "question": q, "capabilities": caps}))
}

// expectInteraction checks a 202 requirement=interaction and returns it.
func (w *world) expectInteraction(t *testing.T, r result) started {
	t.Helper()
	loc := expect202(t, r, w.ps.Issuer)
	req, params := requirement(t, r)
	if req != "interaction" || !strings.HasPrefix(params["url"], w.ps.Issuer+"/interact/") || params["code"] == "" {
		t.Fatalf("want requirement=interaction with url and code, got %q %v", req, params)
	}
	if strings.ContainsAny(params["url"], "?#") {
		t.Fatalf("interaction url %q carries a query or fragment (PS-159)", params["url"])
	}
	return started{loc: loc, url: params["url"], code: params["code"], id: pathID(params["url"])}
}

// person creates a person and returns a browser logged in as them.
func (w *world) person(t *testing.T, username string, admin bool) *pstest.Browser {
	t.Helper()
	w.ps.CreatePerson(t, username, admin)
	b := w.ps.NewBrowser(t)
	b.Login(t, username)
	return b
}

// open visits the interaction link and expects the consent page.
func open(t *testing.T, b *pstest.Browser, s started) pstest.Page {
	t.Helper()
	pg := b.Get(t, s.link())
	if pg.Status != http.StatusOK || !strings.Contains(pg.HTML, `class="consent"`) {
		t.Fatalf("opening %s: %d\n%s", s.link(), pg.Status, pg.HTML)
	}
	return pg
}

// bind connects agent a to the person of browser b the way a real agent
// does it: a question with the interaction capability, the person opens
// the link, connects the agent and answers.
func (w *world) bind(t *testing.T, a *conformance.Agent, b *pstest.Browser) {
	t.Helper()
	s := w.ask(t, a, "Shall we connect?", "interaction")
	open(t, b, s)
	pg := b.Post(t, s.path()+"/approve", nil)
	if pg.Status != http.StatusSeeOther {
		t.Fatalf("approve: %d\n%s", pg.Status, pg.HTML)
	}
	b.Follow(t, pg)
	if pg = afterDecision(t, b, b.Post(t, s.path()+"/answer", map[string]string{"answer": "yes"})); pg.Status != http.StatusOK {
		t.Fatalf("answer: %d\n%s", pg.Status, pg.HTML)
	}
	if r := w.poll(t, a, s.loc); r.status != http.StatusOK || r.body["answer"] != "yes" {
		t.Fatalf("binding question: %d %s", r.status, r.raw)
	}
}

// writesNothing asserts that a request refused after signature
// verification wrote nothing but its replay-cache entry.
func writesNothing(t *testing.T, ps *pstest.PS, before map[string]int64) {
	t.Helper()
	after := ps.TableCounts(t)
	b, a := maps.Clone(before), maps.Clone(after)
	delete(b, "replay_cache")
	delete(a, "replay_cache")
	if !maps.Equal(b, a) {
		t.Fatalf("a refused request changed the database: before %v, after %v", before, after)
	}
}

// pollState polls and returns the 202 status member (failing on anything else).
func (w *world) pollState(t *testing.T, a *conformance.Agent, loc string) string {
	t.Helper()
	r := w.poll(t, a, loc)
	expect202(t, r, w.ps.Issuer)
	s, _ := r.body["status"].(string)
	return s
}

// terminal polls twice: the first answer is want (status and, for an
// error, its code), the second 410 (PS-152).
func (w *world) terminal(t *testing.T, a *conformance.Agent, loc string, status int, code string) result {
	t.Helper()
	r := w.poll(t, a, loc)
	if code != "" {
		expectProblem(t, r, status, code)
	} else if r.status != status {
		t.Fatalf("poll: %d %s, want %d", r.status, r.raw, status)
	}
	expectProblem(t, w.poll(t, a, loc), http.StatusGone, "invalid_request")
	return r
}

// timed runs f and returns how long it took.
func timed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

// section returns the inner HTML of the first <section> whose class list
// contains class, or "".
func section(page, class string) string {
	re := regexp.MustCompile(`(?s)<section class="[^"]*\b` + regexp.QuoteMeta(class) + `\b[^"]*"[^>]*>(.*?)</section>`)
	if m := re.FindStringSubmatch(page); m != nil {
		return m[1]
	}
	return ""
}

// liveHTML reports every active-content construct in a page: script
// elements, event-handler attributes, and javascript:/data:/vbscript: URLs
// in any URL-bearing attribute (PS-168).
func liveHTML(t *testing.T, page string) []string {
	t.Helper()
	var bad []string
	z := html.NewTokenizer(strings.NewReader(page))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return bad
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			if tok.Data == "script" && ownScript(tok) {
				// The PS's own static scripts (times, waiting pages,
				// passkeys), allowed by the CSP's script-src 'self'.
				continue
			}
			if tok.Data == "script" || tok.Data == "iframe" || tok.Data == "object" || tok.Data == "embed" {
				bad = append(bad, "<"+tok.Data+">")
			}
			for _, at := range tok.Attr {
				k := strings.ToLower(at.Key)
				v := strings.ToLower(strings.TrimSpace(at.Val))
				v = strings.Join(strings.Fields(v), "")
				if strings.HasPrefix(k, "on") {
					bad = append(bad, tok.Data+" "+k)
				}
				for _, scheme := range []string{"javascript:", "vbscript:", "data:"} {
					if (k == "href" || k == "src" || k == "action" || k == "formaction" || k == "content") && strings.Contains(v, scheme) {
						bad = append(bad, tok.Data+" "+k+"="+at.Val)
					}
				}
			}
		}
	}
}

// ownScript reports whether a <script> loads one of the PS's files under
// /static/ (nothing a third party wrote can be there).
func ownScript(tok html.Token) bool {
	for _, at := range tok.Attr {
		if at.Key == "src" && strings.HasPrefix(at.Val, "/static/") && strings.HasSuffix(at.Val, ".js") && !strings.Contains(at.Val, "..") {
			return true
		}
	}
	return false
}

// afterDecision follows the redirect a decision is answered with
// (POST/redirect/GET, issue 9 item 8) to the request's own page, which
// shows the outcome.
func afterDecision(t *testing.T, b *pstest.Browser, pg pstest.Page) pstest.Page {
	t.Helper()
	if pg.Status != http.StatusSeeOther || !strings.HasPrefix(pg.Location, "/interact/") {
		t.Fatalf("decision: %d to %q, want 303 to the request's page\n%s", pg.Status, pg.Location, pg.HTML)
	}
	return b.Follow(t, pg)
}
