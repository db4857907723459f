package pstest

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/account"
)

// TestPassword is the password CreatePerson gives test persons.
const TestPassword = "correct horse battery staple"

// CreatePerson adds a person with TestPassword directly through the
// accounts service (the administrator's path is tested separately).
func (p *PS) CreatePerson(t testing.TB, username string, admin bool) *account.Person {
	t.Helper()
	person, err := p.App.Accounts.CreatePerson(context.Background(), account.NewPerson{
		Username: username, Name: strings.ToUpper(username[:1]) + username[1:], Password: TestPassword, IsAdmin: admin,
	})
	if err != nil {
		t.Fatalf("create person %s: %v", username, err)
	}
	return person
}

// Browser is a person's HTTP client for the web UI: cookies, no
// redirects followed automatically, the last page's CSRF token, and for
// each interaction the request as its last page showed it (the hidden
// "shown" field its decision forms carry), which Post sends like a
// browser submitting that page.
type Browser struct {
	PS     *PS
	Client *http.Client
	csrf   string
	shown  map[string]string
}

// NewBrowser returns a logged-out browser for p.
func (p *PS) NewBrowser(t testing.TB) *Browser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := conformance.NewHTTPClient(p.Env.CA, p.Env.Resolver)
	c.Jar = jar
	return &Browser{PS: p, Client: c}
}

// Page is a fetched page.
type Page struct {
	Status   int
	Location string
	Header   http.Header
	HTML     string
}

var (
	csrfRE       = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	shownRE      = regexp.MustCompile(`name="shown" value="([^"]*)"`)
	decisionForm = regexp.MustCompile(`action="/interact/([^/"?]+)/[a-z]+"`)
	decisionPath = regexp.MustCompile(`^/interact/([^/?]+)/[a-z]+$`)
)

func (b *Browser) do(t testing.TB, req *http.Request) Page {
	t.Helper()
	res, err := b.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	pg := Page{Status: res.StatusCode, Location: res.Header.Get("Location"), Header: res.Header, HTML: string(body)}
	if m := csrfRE.FindStringSubmatch(pg.HTML); m != nil {
		b.csrf = m[1]
	}
	if id, v := decisionForm.FindStringSubmatch(pg.HTML), shownRE.FindStringSubmatch(pg.HTML); id != nil && v != nil {
		if b.shown == nil {
			b.shown = map[string]string{}
		}
		b.shown[id[1]] = v[1]
	}
	return pg
}

// Get fetches a path (or absolute URL) on the PS.
func (b *Browser) Get(t testing.TB, path string) Page {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.abs(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	return b.do(t, req)
}

// Post submits a form; the CSRF token of the last page is added unless
// fields sets "csrf" itself.
func (b *Browser) Post(t testing.TB, path string, fields map[string]string) Page {
	t.Helper()
	form := url.Values{}
	for k, v := range fields {
		form.Set(k, v)
	}
	if _, ok := fields["csrf"]; !ok && b.csrf != "" {
		form.Set("csrf", b.csrf)
	}
	if m := decisionPath.FindStringSubmatch(strings.TrimPrefix(path, b.PS.Issuer)); m != nil {
		if _, ok := fields["shown"]; !ok && b.shown[m[1]] != "" {
			form.Set("shown", b.shown[m[1]])
		}
	}
	req, err := http.NewRequest(http.MethodPost, b.abs(path), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(t, req)
}

// Login logs in with username and TestPassword and fails the test if it
// does not work.
func (b *Browser) Login(t testing.TB, username string) {
	t.Helper()
	pg := b.Post(t, "/login", map[string]string{"username": username, "password": TestPassword, "next": "/"})
	if pg.Status != http.StatusSeeOther {
		t.Fatalf("login as %s: status %d\n%s", username, pg.Status, pg.HTML)
	}
}

// Follow GETs a redirect target.
func (b *Browser) Follow(t testing.TB, pg Page) Page {
	t.Helper()
	if pg.Location == "" {
		t.Fatalf("no redirect to follow (status %d)", pg.Status)
	}
	return b.Get(t, pg.Location)
}

func (b *Browser) abs(path string) string {
	if strings.HasPrefix(path, "https://") || strings.HasPrefix(path, "http://") {
		return path
	}
	return b.PS.Issuer + path
}
