package load

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/aauth-ps/aauth-ps/conformance"
)

// Person is a person using the PS's web UI: logged in with a password,
// deciding the pending requests their agents raise. It is the setup's only
// way to approve anything, so the load runs against any PS deployment. It
// is a conformance.Person, the contract the conformance suite's persons
// (browser, manual, command) keep too.
type Person struct {
	issuer string
	client *http.Client

	mu   sync.Mutex // one form at a time: the CSRF token is the last page's
	csrf string
	// shown is the request digest the last page's decision forms carry
	// (a PS that binds a decision to the request as shown refuses one
	// without it).
	shown string
}

// maxPage bounds what is read of a page.
const maxPage = 1 << 20

var (
	csrfRE  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	shownRE = regexp.MustCompile(`name="shown" value="([^"]*)"`)
)

// Login logs username in at issuer through base's transport (its trust
// anchors and name mapping), with its own cookie jar.
func Login(ctx context.Context, base *http.Client, issuer, username, password string) (*Person, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	p := &Person{issuer: issuer, client: &http.Client{
		Transport:     base.Transport,
		Timeout:       base.Timeout,
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	if _, _, err := p.get(ctx, "/login"); err != nil {
		return nil, err
	}
	st, loc, err := p.post(ctx, "/login", url.Values{"username": {username}, "password": {password}, "next": {"/"}})
	if err != nil {
		return nil, err
	}
	if st != http.StatusSeeOther || strings.Contains(loc, "login") {
		return nil, fmt.Errorf("login as %s: status %d (to %q): wrong user name or password?", username, st, loc)
	}
	return p, nil
}

var _ conformance.Person = (*Person)(nil)

// Decide opens the interaction link and approves the request as it is
// asked, or denies it (conformance.Person).
func (p *Person) Decide(ctx context.Context, in conformance.Interaction) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := p.decide(ctx, in)
	return err
}

// Approve opens the interaction link (url with code) and approves the
// request as it is asked; a question is then answered "yes".
func (p *Person) Approve(ctx context.Context, interactURL, code string, question bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	loc, err := p.decide(ctx, conformance.Interaction{URL: interactURL, Code: code, Approve: true})
	if err != nil || !question {
		return err
	}
	path := strings.TrimPrefix(interactURL, p.issuer)
	if _, _, err := p.get(ctx, loc); err != nil {
		return err
	}
	st, _, err := p.post(ctx, path+"/answer", url.Values{"answer": {"yes"}})
	if err != nil {
		return err
	}
	if st != http.StatusSeeOther {
		return fmt.Errorf("answering %s: status %d", path, st)
	}
	return nil
}

// decide is Decide under p.mu; it returns where the decision redirected.
func (p *Person) decide(ctx context.Context, in conformance.Interaction) (string, error) {
	if in.URL == "" {
		return "", fmt.Errorf("the PS asked through its own channel (requirement=approval): a web-UI person cannot answer it")
	}
	st, _, err := p.get(ctx, in.Link())
	if err != nil {
		return "", err
	}
	if st != http.StatusOK {
		return "", fmt.Errorf("opening %s: status %d", in.URL, st)
	}
	action := "deny"
	if in.Approve {
		action = "approve"
	}
	path := strings.TrimPrefix(in.URL, p.issuer)
	st, loc, err := p.post(ctx, path+"/"+action, url.Values{})
	if err != nil {
		return "", err
	}
	if st != http.StatusSeeOther {
		return "", fmt.Errorf("%s %s: status %d", action, path, st)
	}
	return loc, nil
}

func (p *Person) abs(path string) string {
	if strings.HasPrefix(path, "https://") || strings.HasPrefix(path, "http://") {
		return path
	}
	return p.issuer + path
}

func (p *Person) get(ctx context.Context, path string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.abs(path), nil)
	if err != nil {
		return 0, "", err
	}
	return p.do(req)
}

func (p *Person) post(ctx context.Context, path string, form url.Values) (int, string, error) {
	if p.csrf != "" && form.Get("csrf") == "" {
		form.Set("csrf", p.csrf)
	}
	if p.shown != "" && form.Get("shown") == "" {
		form.Set("shown", p.shown)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.abs(path), strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return p.do(req)
}

// do sends req and keeps the page's CSRF token and, from a page read,
// the request digest of its decision forms.
func (p *Person) do(req *http.Request) (int, string, error) {
	res, err := p.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	page, err := io.ReadAll(io.LimitReader(res.Body, maxPage))
	if err != nil {
		return 0, "", err
	}
	if m := csrfRE.FindSubmatch(page); m != nil {
		p.csrf = string(m[1])
	}
	if req.Method == http.MethodGet {
		p.shown = ""
		if m := shownRE.FindSubmatch(page); m != nil {
			p.shown = string(m[1])
		}
	}
	return res.StatusCode, res.Header.Get("Location"), nil
}
