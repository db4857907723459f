package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/aauth-ps/aauth-ps/conformance/suite"
	"github.com/aauth-ps/aauth-ps/ps/browsertest"
)

// envPersonPassword holds the password --approve browser logs in with.
const envPersonPassword = "AAUTH_CONFORMANCE_PASSWORD"

// stdin is where --approve manual reads the person's Enter (tests swap it).
var stdin io.Reader = os.Stdin

type personConfig struct {
	host, addr, caFile, user string
	// label names the person when there are two ("second"); "" is the
	// first.
	label string
	stdin io.Reader
	out   io.Writer
	// resource, at resourceAddr under a certificate from resourceCA, is
	// the suite's test resource, which the browser must reach too; so is
	// provider, the agent provider's host behind the same address (its
	// callback_endpoint, PS-170).
	resource, resourceAddr, resourceCA, provider string
}

// closablePerson is a suite.Person holding resources (a browser).
type closablePerson interface {
	suite.Person
	Close()
}

// newPerson builds the person of --approve; "" is none.
func newPerson(mode string, cfg personConfig) (closablePerson, error) {
	switch {
	case mode == "":
		return nil, nil
	case mode == "manual":
		return &manualPerson{in: bufio.NewReader(cfg.stdin), out: cfg.out, label: cfg.label}, nil
	case strings.HasPrefix(mode, "cmd:") && strings.TrimSpace(mode[4:]) != "":
		return &commandPerson{command: mode[4:], out: cfg.out, label: cfg.label}, nil
	case mode == "browser":
		return newBrowserPerson(cfg)
	}
	return nil, fmt.Errorf("--approve %q: want browser, manual or cmd:COMMAND", mode)
}

// decision is what the person does: approve, deny, ask (a clarification
// question, in.Ask) or answer (a relayed question, in.Answer).
func decision(in suite.Interaction) string {
	switch {
	case in.Ask != "":
		return "ask"
	case in.Answer != "":
		return "answer"
	case in.Approve:
		return "approve"
	}
	return "deny"
}

// decisionText is the question or answer the person writes, if any.
func decisionText(in suite.Interaction) string { return in.Ask + in.Answer }

// manualPerson prints the link and waits for the person to press Enter.
type manualPerson struct {
	mu    sync.Mutex
	in    *bufio.Reader
	out   io.Writer
	label string
}

func (m *manualPerson) Decide(ctx context.Context, in suite.Interaction) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.label != "" {
		fmt.Fprintf(m.out, "\n>>> As the %s person (not the first one):", m.label)
	}
	if in.URL == "" {
		fmt.Fprintf(m.out, "\n>>> The PS asks the person through its own channel: %s (%s).\n>>> Press Enter once done. ", decision(in), in.What)
	} else {
		what := decision(in)
		if t := decisionText(in); t != "" {
			what += " " + strconv.Quote(t)
		}
		fmt.Fprintf(m.out, "\n>>> Person step: open %s (code %s) and %s: %s.\n>>> Press Enter once done. ", in.Link(), in.Code, what, in.What)
	}
	line := make(chan error, 1)
	go func() { _, err := m.in.ReadString('\n'); line <- err }()
	select {
	case err := <-line:
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *manualPerson) Close() {}

// commandPerson runs COMMAND URL CODE approve|deny|ask|answer through sh,
// with the same values in AAUTH_URL, AAUTH_CODE, AAUTH_LINK,
// AAUTH_DECISION and AAUTH_WHAT, the question or answer to write in
// AAUTH_TEXT, the agent's callback (already in AAUTH_LINK) in
// AAUTH_CALLBACK, the URL the agent polls in AAUTH_PENDING (a request the
// PS raised through its own channel has no URL), and which person acts in AAUTH_PERSON (first or second):
// another PS's own automation does the person's part.
type commandPerson struct {
	command string
	out     io.Writer
	label   string
}

func (c *commandPerson) Decide(ctx context.Context, in suite.Interaction) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", c.command+` "$@"`, "aauth-approve", in.URL, in.Code, decision(in))
	cmd.Env = append(os.Environ(), "AAUTH_URL="+in.URL, "AAUTH_CODE="+in.Code, "AAUTH_LINK="+in.Link(),
		"AAUTH_DECISION="+decision(in), "AAUTH_TEXT="+decisionText(in), "AAUTH_WHAT="+in.What, "AAUTH_CALLBACK="+in.Callback, "AAUTH_PENDING="+in.Pending, "AAUTH_PERSON="+cmp.Or(c.label, "first"))
	cmd.Stdout, cmd.Stderr = c.out, c.out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("--approve cmd: %w", err)
	}
	return nil
}

func (c *commandPerson) Close() {}

// browserPerson drives a PS web UI in headless Chromium: it opens the
// link, logs in when sent to a page with a password field, and submits
// the approve (or deny) form until none is left. It knows this project's
// UI (forms posting to …/approve and …/deny); another PS needs cmd:.
type browserPerson struct {
	mu             sync.Mutex
	ctx            context.Context
	cancel         func()
	user, password string
}

func newBrowserPerson(cfg personConfig) (*browserPerson, error) {
	if cfg.user == "" || os.Getenv(envPersonPassword) == "" {
		return nil, fmt.Errorf("--approve browser needs --person-user and the password in $%s", envPersonPassword)
	}
	exe, err := browsertest.Chromium()
	if err != nil {
		return nil, err
	}
	addr := cfg.addr
	if addr == "" {
		addr = net.JoinHostPort(cfg.host, "443")
	}
	var flags map[string]any
	if cfg.caFile != "" || cfg.addr != "" {
		pool, err := x509.SystemCertPool()
		if cfg.caFile != "" {
			pool, err = caPool(cfg.caFile)
		}
		if err != nil {
			return nil, err
		}
		spki, err := browsertest.LeafSPKIHash(addr, cfg.host, pool)
		if err != nil {
			return nil, err
		}
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		flags = browsertest.Flags([]string{cfg.host}, port, spki)
	} else {
		flags = browsertest.Flags(nil, "443", "")
		delete(flags, "host-resolver-rules")
		delete(flags, "ignore-certificate-errors-spki-list")
	}
	if cfg.resource != "" {
		if err := reachResource(flags, cfg); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "aauth-conformance-chromium-")
	if err != nil {
		return nil, err
	}
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(exe), chromedp.UserDataDir(dir), chromedp.WindowSize(390, 844)}
	for name, v := range flags {
		opts = append(opts, chromedp.Flag(name, v))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(string, ...any) {}))
	b := &browserPerson{ctx: ctx, user: cfg.user, password: os.Getenv(envPersonPassword), cancel: func() {
		cancelCtx()
		cancelAlloc()
		_ = os.RemoveAll(dir)
	}}
	if err := chromedp.Do(ctx); err != nil {
		b.cancel()
		return nil, fmt.Errorf("start Chromium (%s): %w", exe, err)
	}
	return b, nil
}

func (b *browserPerson) Close() { b.cancel() }

// stateJS says what the open page offers: "login" (a password field),
// "decide" (a submit button for a form posting to …/approve, or …/deny
// when denying, now marked data-aauth-conformance) or "".
const stateJS = `((want) => {
  if (document.querySelector('input[type="password"]')) return "login";
  const mark = (b) => { b.setAttribute("data-aauth-conformance", "go"); return "decide"; };
  for (const f of document.querySelectorAll('form[action$="' + want + '"]')) {
    const b = f.querySelector('button:not([type="button"]):not([formaction])') ||
      (f.id && document.querySelector('button[form="' + f.id + '"]'));
    if (b) return mark(b);
  }
  const b = document.querySelector('button[formaction$="' + want + '"]');
  return b ? mark(b) : "";
})`

// step runs a, which loads a page, and waits for the load.
func (b *browserPerson) step(ctx context.Context, what string, a chromedp.Action[chromedp.Void]) error {
	c, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	if _, err := chromedp.Run(c, chromedp.WaitEvent(page.LoadEventFired, nil, a)); err != nil {
		return fmt.Errorf("browser: %s: %w", what, err)
	}
	return nil
}

// logIn fills the open login page and submits it.
func (b *browserPerson) logIn(ctx context.Context) error {
	c, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	err := chromedp.Do(c, chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), b.user),
		chromedp.SendKeys(chromedp.CSS(`input[type="password"]`), b.password))
	cancel()
	if err != nil {
		return fmt.Errorf("browser: fill the login form: %w", err)
	}
	return b.step(ctx, "log in", chromedp.Submit(chromedp.CSS(`input[type="password"]`)))
}

// inboxJS finds the link to the request whose pending id is given on the
// open page: its href, "login" (a password field) or "".
const inboxJS = `((id) => {
  if (document.querySelector('input[type="password"]')) return "login";
  for (const a of document.querySelectorAll('a[href]')) {
    if (new URL(a.href).pathname.endsWith("/" + id)) return a.href;
  }
  return "";
})`

// inboxLink is how the person reaches a request the PS raised through its
// own channel (requirement=approval, no URL): this project's UI lists
// what waits for the person on its home page, each under the id of the
// URL the agent polls.
func (b *browserPerson) inboxLink(ctx context.Context, pending string) (string, error) {
	u, err := url.Parse(pending)
	if err != nil || pending == "" {
		return "", errors.New("the PS asked through its own channel (requirement=approval) and the request's pending URL is unknown")
	}
	id := path.Base(u.Path)
	for tries := 0; tries < 2; tries++ {
		if err := b.step(ctx, "open the PS's home page", chromedp.Navigate(u.Scheme+"://"+u.Host+"/")); err != nil {
			return "", err
		}
		c, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		got, err := chromedp.Run(c, chromedp.Evaluate[string](inboxJS+`(`+strconv.Quote(id)+`)`))
		cancel()
		switch {
		case err != nil:
			return "", fmt.Errorf("browser: read the home page: %w", err)
		case got == "login":
			if err := b.logIn(ctx); err != nil {
				return "", err
			}
		case got != "":
			return got, nil
		}
	}
	return "", fmt.Errorf("browser: the PS's home page lists no link to the request %s", id)
}

func (b *browserPerson) Decide(ctx context.Context, in suite.Interaction) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	link := in.Link()
	if in.URL == "" {
		var err error
		if link, err = b.inboxLink(ctx, in.Pending); err != nil {
			return err
		}
	}
	step := func(what string, a chromedp.Action[chromedp.Void]) error { return b.step(ctx, what, a) }
	err := step("open the interaction link", chromedp.Navigate(link))
	for tries := 0; tries < 2 && browsertest.NavigationAborted(err) && ctx.Err() == nil; tries++ {
		// The page left open by the last decision (a waiting page whose
		// wait.js reloads it when the request changes) navigated at the
		// same moment, and Chromium kept its navigation: ask again.
		err = step("open the interaction link", chromedp.Navigate(link))
	}
	if err != nil {
		return err
	}
	decided, opened := 0, 0
	var changed error // the last action the browser refused because the page changed under it
	// readAgain: the page was replaced under an action (a redirect, a
	// waiting page reloading itself), so nothing was done: read the new
	// page, where what was not done is offered again.
	readAgain := func(err error) bool {
		if err == nil || !browsertest.PageChanged(err) || ctx.Err() != nil {
			return false
		}
		changed = err
		return true
	}
	for steps := 0; steps < 16; steps++ {
		c, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		want := "/" + decision(in)
		st, err := chromedp.Run(c, chromedp.Evaluate[string](stateJS+`("`+want+`")`))
		if err == nil && st == "" && in.Approve {
			// An interstitial before another party's own step (a resource's
			// interaction, P§resource-initiated-interaction): approving
			// everything includes going on to it.
			want = "/open"
			st, err = chromedp.Run(c, chromedp.Evaluate[string](stateJS+`("`+want+`")`))
		}
		cancel()
		if readAgain(err) {
			time.Sleep(100 * time.Millisecond) // the next page is on its way
			continue
		}
		if err != nil {
			return fmt.Errorf("browser: read the page: %w", err)
		}
		switch {
		case st == "login":
			err := b.logIn(ctx)
			if readAgain(err) {
				continue
			}
			if err != nil {
				return err
			}
		case st == "decide":
			b.show(in)
			if t := decisionText(in); t != "" {
				c, cancel := context.WithTimeout(b.ctx, 10*time.Second)
				ok, err := chromedp.Run(c, chromedp.Evaluate[bool](fillJS+`(`+strconv.Quote(want)+`, `+strconv.Quote(t)+`)`))
				cancel()
				if readAgain(err) {
					continue
				}
				if err != nil || !ok {
					return fmt.Errorf("browser: no field to write the %s in (%v)", decision(in), err)
				}
			}
			if err := step(strings.TrimPrefix(want, "/"), chromedp.Click(chromedp.CSS(`[data-aauth-conformance="go"]`), chromedp.NodeVisible)); err != nil {
				if readAgain(err) {
					continue
				}
				// A click whose page load was missed (a redirect chain
				// through another party on a busy machine) may have gone
				// through: read the page again rather than give up; a click
				// that did not go through is offered again.
				if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
					return err
				}
			}
			decided++
			if decision(in) != "approve" {
				return nil
			}
			opened = 0
			if want == "/open" {
				opened = 1
			}
		default:
			if opened > 0 && in.Visited != nil && in.Visited() {
				return nil // the rest is redirects; the caller polls to the end
			}
			if opened > 0 && opened < 60 {
				// After "open" the browser goes through the other party and
				// back: the PS's next page may not be there yet (up to 15 s
				// on a busy machine; a wait is not a step).
				opened++
				steps--
				time.Sleep(250 * time.Millisecond)
				continue
			}
			if decided == 0 {
				b.show(in)
				c, cancel := context.WithTimeout(b.ctx, 5*time.Second)
				txt, _ := chromedp.Run(c, chromedp.Text(chromedp.CSS("body")))
				cancel()
				return fmt.Errorf("browser: nothing to %s at %s: %.300s", decision(in), link, strings.Join(strings.Fields(txt), " "))
			}
			return nil
		}
	}
	if changed != nil {
		return fmt.Errorf("browser: still asked to %s after 16 steps (the page last changed under: %w)", decision(in), changed)
	}
	return fmt.Errorf("browser: still asked to %s after 16 steps", decision(in))
}

// reachResource maps the test resource's host (and the provider's, which
// the same front serves with the same certificate) to its address and
// trusts its leaf certificate in the browser flags.
func reachResource(flags map[string]any, cfg personConfig) error {
	pool, err := caPool(cfg.resourceCA)
	if err != nil {
		return err
	}
	spki, err := browsertest.LeafSPKIHash(cfg.resourceAddr, cfg.resource, pool)
	if err != nil {
		return err
	}
	rule := "MAP " + cfg.resource + ":443 " + cfg.resourceAddr
	if cfg.provider != "" {
		rule += ", MAP " + cfg.provider + ":443 " + cfg.resourceAddr
	}
	if r, _ := flags["host-resolver-rules"].(string); r != "" {
		rule += ", " + r
	}
	flags["host-resolver-rules"] = rule
	if l, _ := flags["ignore-certificate-errors-spki-list"].(string); l != "" {
		spki = l + "," + spki
	}
	flags["ignore-certificate-errors-spki-list"] = spki
	return nil
}

// fillJS writes text into the field of the form posting to …want and
// opens the disclosure it may sit in.
const fillJS = `((want, text) => {
  for (const f of document.querySelectorAll('form[action$="' + want + '"]')) {
    const t = f.querySelector('textarea, input[type="text"]');
    if (!t) continue;
    const d = f.closest('details');
    if (d) d.open = true;
    t.value = text;
    return true;
  }
  return false;
})`

// pageJS reads the open page: its address, visible text and markup.
const pageJS = `[location.href, document.body ? document.body.innerText : "", document.documentElement.outerHTML]`

// show hands the open page to in.Shown, when set.
func (b *browserPerson) show(in suite.Interaction) {
	if in.Shown == nil {
		return
	}
	c, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[[]string](pageJS))
	if err != nil || len(v) != 3 {
		return
	}
	in.Shown(suite.Page{URL: v[0], Text: v[1], HTML: v[2]})
}
