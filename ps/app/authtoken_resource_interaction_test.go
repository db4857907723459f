package app_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

var relayLinkRE = regexp.MustCompile(`class="relay"><code>([^<]+)</code>`)

// TestAuthTokenResourceInitiatedInteraction: a resource token with an
// `interaction` claim (P§resource-initiated-interaction). The person opens
// the PS's interaction URL, sees that the resource needs them first, and
// is sent to {interaction.url}?code=…&callback={per-flow PS URL} before
// the PS's own consent (PS-113); the poll stays 202 until the callback
// and the approval have both happened (PS-115); back on the callback, the PS's consent
// follows and the token is issued. A callback error ends the request with
// the mapped polling error (PS-114); a wrong callback state changes
// nothing; an http interaction url is 400 invalid_resource_token (PS-098).
func TestAuthTokenResourceInitiatedInteraction(t *testing.T) {
	t.Parallel()
	w, b, rs := authWorld(t)
	pt := personToken(t, w, b, rs, `{"resource":"https://rs.test","capabilities":["interaction"]}`)
	withInteraction := func(u string) string {
		return resourceToken(t, w, rs, pt, "calendar.read", func(s *conformance.ResourceTokenSpec) {
			s.Overrides = map[string]any{"interaction": map[string]any{"url": u, "code": "RS-CODE-1"}}
		})
	}
	// startAtResource: the agent asks, the person opens the PS link and
	// goes on to the resource; returns the pending request, the link to
	// the resource and the callback it carries.
	startAtResource := func() (started, *url.URL, *url.URL) {
		t.Helper()
		s := w.expectInteraction(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": withInteraction("https://rs.test" + conformance.ResourceInteractionPath),
			"presented_token": pt, "capabilities": []string{"interaction"}})))
		pg := open(t, b, s)
		m := relayLinkRE.FindStringSubmatch(pg.HTML)
		if !strings.Contains(pg.HTML, "The resource needs you first") || m == nil || strings.Contains(pg.HTML, `action="`+s.path()+`/approve"`) {
			t.Fatalf("want the resource's step before the PS consent:\n%s", pg.HTML)
		}
		link, err := url.Parse(html.UnescapeString(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		if out := b.Post(t, s.path()+"/open", nil); out.Status != http.StatusOK || !strings.Contains(out.HTML, html.EscapeString(link.String())) {
			t.Fatalf("open: %d, want the page that sends the browser to %s\n%s", out.Status, link, out.HTML)
		}
		q := link.Query()
		cb, err := url.Parse(q.Get("callback"))
		if err != nil || link.Scheme+"://"+link.Host+link.Path != "https://rs.test/interact" || q.Get("code") != "RS-CODE-1" ||
			!strings.HasPrefix(cb.String(), w.ps.Issuer+s.path()+"/resource/") {
			t.Fatalf("resource link %s (PS-113)", link)
		}
		expect202(t, w.poll(t, w.agent, s.loc), w.ps.Issuer)
		return s, link, cb
	}

	s, link, cb := startAtResource()
	// A wrong state is not found and changes nothing.
	before := w.ps.TableCounts(t)
	if pg := b.Get(t, s.path()+"/resource/wrong"); pg.Status != http.StatusNotFound {
		t.Fatalf("wrong state: %d", pg.Status)
	}
	unchanged(t, w.ps, before)
	// The browser goes to the resource, which records the code and the
	// callback and sends the person back: the PS's consent, then the token.
	atResource := b.Get(t, link.String())
	if v := rs.InteractionVisits(); atResource.Status != http.StatusSeeOther || len(v) != 1 || v[0].Code != "RS-CODE-1" || v[0].Callback != cb.String() {
		t.Fatalf("the resource saw %+v, answered %d", v, atResource.Status)
	}
	back := b.Follow(t, atResource)
	if back.Status != http.StatusSeeOther || back.Location != s.path() {
		t.Fatalf("callback: %d to %q", back.Status, back.Location)
	}
	if pg := b.Follow(t, back); !strings.Contains(pg.HTML, `action="`+s.path()+`/approve"`) {
		t.Fatalf("after the resource, want the PS's consent:\n%s", pg.HTML)
	}
	expect202(t, w.poll(t, w.agent, s.loc), w.ps.Issuer) // not before the approval (PS-115)
	b.Post(t, s.path()+"/approve", nil)
	expectAuthToken(t, w, rs, w.poll(t, w.agent, s.loc), pt)
	// PS-116: the callback URL is single-use: once more, an error page,
	// and nothing changes.
	before = w.ps.TableCounts(t)
	if pg := b.Get(t, cb.String()); pg.Status < 400 {
		t.Fatalf("a used callback URL answered %d", pg.Status)
	}
	unchanged(t, w.ps, before)

	// The resource's flow ends with an error: each maps to the agent's
	// polling error (PS-114).
	for _, tc := range []struct {
		callback string
		status   int
		code     string
	}{
		{"access_denied", http.StatusForbidden, aauth.ErrDenied},
		{"user_abandoned", http.StatusForbidden, aauth.ErrAbandoned},
		{"interaction_expired", http.StatusRequestTimeout, aauth.ErrExpired},
		{"server_error", http.StatusInternalServerError, aauth.ErrServerError},
	} {
		s, link, _ = startAtResource()
		rs.SetInteractionError(tc.callback)
		b.Follow(t, b.Get(t, link.String()))
		expectProblem(t, w.poll(t, w.agent, s.loc), tc.status, tc.code)
	}

	// PS-098: not https.
	before = w.ps.TableCounts(t)
	expectProblem(t, w.post(t, w.agent, "/token", authBody(t, map[string]any{"resource_token": withInteraction("http://rs.test/interact"),
		"presented_token": pt, "capabilities": []string{"interaction"}})), http.StatusBadRequest, aauth.ErrInvalidResourceToken)
	writesNothing(t, w.ps, before)
}
