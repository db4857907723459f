package browsertest_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/aauth-ps/aauth-ps/ps/browsertest"
	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

const (
	viewportW, viewportH = 1280, 900
	// testTimeout bounds one browser test, the browser included: a bound
	// on hangs, not on speed (the longest flows, audited at two widths,
	// took 94 s on a 2-core machine at load 11).
	testTimeout = 180 * time.Second
	// stepTimeout bounds one wait for a page or an element.
	stepTimeout = 15 * time.Second
	// screenshotsDir is docs/screenshots at the repository root.
	screenshotsDir = "../../docs/screenshots"
)

// templLeak is templ syntax that reached the page as text.
var templLeak = regexp.MustCompile(`@[A-Za-z_][\w.]*\(|\{ *[a-z]\w*\.[A-Z]\w* *\}`)

// writeScreenshots: the PNGs in docs/screenshots are rewritten only on
// request, so that `make test` leaves the committed files alone.
var writeScreenshots = os.Getenv("AAUTH_PS_SCREENSHOTS") == "1"

// browser is one headless Chromium with one tab, pointed at the world's PS.
// It records every console error, uncaught exception, failed or blocked
// load and Content-Security-Policy report, and the CSP header of every page.
type browser struct {
	t   *testing.T
	w   *world
	ctx context.Context
	js  bool

	mu       sync.Mutex
	problems []problem                    // console errors, exceptions, CSP violations
	docs     map[string]docInfo           // by URL: every page (document) loaded
	methods  map[network.RequestID]string // the method of each page request, the last after redirects
}

// problem is something the browser reported about a page.
type problem struct {
	text string
	url  string // the resource a network error is about
}

// docInfo is the response of a page.
type docInfo struct {
	status int64
	csp    string
}

type browserOption func(*browser)

// withoutJavaScript disables script execution in the tab.
func withoutJavaScript(b *browser) { b.js = false }

// newBrowser starts Chromium for w's PS. The test fails when there is no
// Chromium: the browser tests are never skipped.
func newBrowser(t *testing.T, w *world, opts ...browserOption) *browser {
	t.Helper()
	exe, err := browsertest.Chromium()
	if err != nil {
		t.Fatal(err)
	}
	spki, err := browsertest.LeafSPKIHash(w.ps.Addr, pstest.DefaultHost, w.env.CA.Pool())
	if err != nil {
		t.Fatal(err)
	}
	_, port, err := net.SplitHostPort(w.ps.Addr)
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, w: w, js: true, docs: map[string]docInfo{}, methods: map[network.RequestID]string{}}
	for _, o := range opts {
		o(b)
	}

	dataDir := t.TempDir() // removed after the browser has exited (cleanups run last-in first-out)
	allocOpts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(exe), chromedp.UserDataDir(dataDir),
		chromedp.WindowSize(viewportW, viewportH)}
	for name, v := range browsertest.Flags([]string{pstest.DefaultHost}, port, spki) {
		allocOpts = append(allocOpts, chromedp.Flag(name, v))
	}
	base, cancelBase := context.WithTimeout(context.Background(), testTimeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(base, allocOpts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithListener(b.listen),
		chromedp.WithErrorf(func(string, ...any) {}))
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		cancelBase()
	})
	b.ctx = ctx
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium (%s): %v", exe, err)
	}
	if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
		Width: viewportW, Height: viewportH, DeviceScaleFactor: 1}); err != nil {
		t.Fatal(err)
	}
	if !b.js {
		if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled,
			emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// listen runs in the tab's event loop: it only records.
func (b *browser) listen(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range ev.Args {
				args = append(args, remoteText(a))
			}
			b.problems = append(b.problems, problem{text: "console." + string(ev.Type) + ": " + strings.Join(args, " ")})
		} else if ev.Type == runtime.ConsoleAPICalledTypeWarning {
			for _, a := range ev.Args {
				if isCSP(remoteText(a)) {
					b.problems = append(b.problems, problem{text: "console.warn: " + remoteText(a)})
				}
			}
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg += " " + d.Exception.Description
		}
		b.problems = append(b.problems, problem{text: fmt.Sprintf("uncaught exception at %s:%d: %s", d.URL, d.LineNumber+1, msg)})
	case *cdplog.EventEntryAdded:
		e := ev.Entry
		if e.Level == cdplog.EntryLevelError || isCSP(e.Text) {
			b.problems = append(b.problems, problem{text: fmt.Sprintf("log %s/%s: %s (%s)", e.Source, e.Level, e.Text, e.URL), url: e.URL})
		}
	case *network.EventLoadingFailed:
		if ev.BlockedReason != "" || !ev.Canceled {
			b.problems = append(b.problems, problem{text: fmt.Sprintf("load of a %s failed: %s %s", ev.Type, ev.ErrorText, ev.BlockedReason)})
		}
	case *network.EventRequestWillBeSent:
		// A redirect is the same request again, now with the method of
		// its next hop (303: GET).
		if ev.Type == network.ResourceTypeDocument && ev.Request != nil {
			b.methods[ev.RequestID] = ev.Request.Method
		}
	case *network.EventResponseReceived:
		if ev.Type == network.ResourceTypeDocument && ev.Response != nil {
			// POST/redirect/GET (issue 9 item 8): a form is answered with
			// a redirect to a page, so that Reload and Back show that page
			// and never send the form again. A page that is the answer to
			// a POST is a problem on every form any test submits.
			if b.methods[ev.RequestID] == "POST" {
				b.problems = append(b.problems, problem{text: fmt.Sprintf("the form POST %s was answered %d with a page, not a redirect to one (POST/redirect/GET)",
					ev.Response.URL, ev.Response.Status)})
			}
			delete(b.methods, ev.RequestID)
			csp := ""
			for k, v := range ev.Response.Headers {
				if strings.EqualFold(k, "Content-Security-Policy") {
					csp, _ = v.(string)
				}
			}
			b.docs[ev.Response.URL] = docInfo{status: ev.Response.Status, csp: csp}
		}
	}
}

func isCSP(s string) bool {
	return strings.Contains(s, "Content Security Policy") || strings.Contains(s, "Content-Security-Policy")
}

func remoteText(o *runtime.RemoteObject) string {
	if o == nil {
		return ""
	}
	if o.Description != "" {
		return o.Description
	}
	if len(o.Value) > 0 {
		return strings.Trim(string(o.Value), `"`)
	}
	return string(o.Type)
}

// takeProblems returns and clears what went wrong so far, except the
// console's report of the page's own error status (wantStatus, which the
// test asserts): Chromium logs every 4xx page as a failed load.
func (b *browser) takeProblems(page string, wantStatus int) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, p := range b.problems {
		if wantStatus >= 400 && p.url == page && strings.Contains(p.text, fmt.Sprintf("status of %d", wantStatus)) {
			continue
		}
		out = append(out, p.text)
	}
	b.problems = nil
	return out
}

// step runs actions with the step timeout and fails the test with what
// was being done.
func (b *browser) step(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %s: %v (on %s)\nvisible text:\n%s", what, err, b.location(), b.textOrError())
	}
}

// run runs one action that returns a value, with the step timeout.
func run[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %s: %v (on %s)", what, err, b.location())
	}
	return v
}

// location is the tab's URL, for messages.
func (b *browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "?"
	}
	return loc
}

// open loads a path (or absolute URL) of the PS and waits for the page.
func (b *browser) open(path string) {
	b.t.Helper()
	u := path
	if strings.HasPrefix(path, "/") {
		u = b.w.ps.URL(path)
	}
	// A waiting page's wait.js reloads it when its request changes; if
	// that lands while the test navigates away, Chromium aborts one of the
	// two navigations (net::ERR_ABORTED, seen in CI on the narrowing page).
	// The page then is the waiting page or the one asked for: ask again.
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	err := chromedp.Do(ctx, chromedp.Navigate(u))
	cancel()
	if browsertest.NavigationAborted(err) {
		b.t.Logf("browser: open %s: %v; navigating again", path, err)
		err = nil
		b.step("open "+path+" again", chromedp.Navigate(u))
	}
	if err != nil {
		b.t.Fatalf("browser: open %s: %v (on %s)\nvisible text:\n%s", path, err, b.location(), b.textOrError())
	}
}

// submit performs a, which navigates (a click on a submit button, Enter on
// a focused button) and waits for the next page to load.
func (b *browser) submit(what string, a chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, a)); err != nil {
		b.t.Fatalf("browser: %s: %v (on %s)\nvisible text:\n%s", what, err, b.location(), b.textOrError())
	}
}

// click clicks the first element matching a CSS selector and waits for
// the page it leads to.
func (b *browser) click(css string) {
	b.t.Helper()
	b.submit("click "+css, chromedp.Click(chromedp.CSS(css), chromedp.NodeVisible))
}

// clickButton clicks the button whose visible text is label.
func (b *browser) clickButton(label string) {
	b.t.Helper()
	b.submit("click the button "+label, chromedp.Click(chromedp.Search(`//button[normalize-space()="`+label+`"]`), chromedp.NodeVisible))
}

// fill types into the field with id.
func (b *browser) fill(id, text string) {
	b.t.Helper()
	// Select what is there and type over it, as a person would (this
	// needs no script in the page, unlike chromedp.Clear and SetValue).
	b.step("type into #"+id, chromedp.WaitVisible(chromedp.ID(id)), chromedp.Focus(chromedp.ID(id)),
		chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)), chromedp.KeyEvent(kb.Delete),
		chromedp.SendKeys(chromedp.ID(id), text))
}

// text is the visible text of the page (what a person reads).
func (b *browser) text() string {
	b.t.Helper()
	return run(b, "read the page", chromedp.Text(chromedp.CSS("body")))
}

func (b *browser) textOrError() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

// heading is the text of the page's <h1>.
func (b *browser) heading() string {
	b.t.Helper()
	return strings.TrimSpace(run(b, "read the heading", chromedp.Text(chromedp.CSS("h1"))))
}

// expectHeading fails unless the page's <h1> is want.
func (b *browser) expectHeading(want string) {
	b.t.Helper()
	if got := b.heading(); got != want {
		b.t.Fatalf("on %s the heading is %q, want %q\nvisible text:\n%s", b.location(), got, want, b.textOrError())
	}
}

// expectText fails unless every want is in the page's visible text.
func (b *browser) expectText(wants ...string) {
	b.t.Helper()
	txt := b.text()
	for _, w := range wants {
		if !strings.Contains(txt, w) {
			b.t.Fatalf("on %s the page does not show %q\nvisible text:\n%s", b.location(), w, txt)
		}
	}
}

// waitText waits (up to within, across page reloads such as a meta
// refresh) until the visible text contains want.
func (b *browser) waitText(want string, within time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		txt, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		cancel()
		if err == nil && strings.Contains(txt, want) {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("on %s the page did not show %q within %s\nvisible text:\n%s", b.location(), want, within, txt)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// pageFacts is what the accessibility smoke check reads from a page.
type pageFacts struct {
	Lang      string   `json:"lang"`
	H1        int      `json:"h1"`
	Unlabeled []string `json:"unlabeled"`
	Title     string   `json:"title"`
	Text      string   `json:"text"`
	Icon      string   `json:"icon"`
}

// checkPage is the smoke check of the current page: status 200, the
// strict Content-Security-Policy, no console error or CSP violation since
// the last check, <html lang>, one <h1>, a <title>, a label for every
// field. Then its screenshot (under name, when screenshots are written and
// name is not empty). Every page a test visits goes through it.
func (b *browser) checkPage(name string) {
	b.t.Helper()
	b.checkPageStatus(name, 200)
}

// checkPageStatus is checkPage for a page answered with status.
func (b *browser) checkPageStatus(name string, status int) {
	b.t.Helper()
	facts := run(b, "read the page structure", chromedp.Evaluate[pageFacts](`(() => {
		const unlabeled = [];
		for (const el of document.querySelectorAll("input, textarea, select")) {
			if (el.type === "hidden" || el.hidden || el.type === "submit" || el.type === "button") continue;
			const id = el.id;
			if (!id || !document.querySelector('label[for="' + CSS.escape(id) + '"]')) {
				unlabeled.push(el.outerHTML);
			}
		}
		return {lang: document.documentElement.lang, h1: document.querySelectorAll("h1").length,
			unlabeled: unlabeled, title: document.title, text: document.body.innerText,
			icon: document.querySelector('link[rel="icon"]')?.getAttribute("href") || ""};
	})()`))
	loc := b.location()
	if facts.Lang == "" {
		b.t.Errorf("%s: <html> has no lang", loc)
	}
	if facts.H1 != 1 {
		b.t.Errorf("%s: %d <h1> elements, want exactly one", loc, facts.H1)
	}
	if facts.Title == "" {
		b.t.Errorf("%s: no <title>", loc)
	}
	// Without a linked icon Chromium requests /favicon.ico, a 404 and a
	// console error on every page.
	if facts.Icon != "/static/favicon.svg" {
		b.t.Errorf("%s: the page links icon %q, want /static/favicon.svg", loc, facts.Icon)
	}
	for _, u := range facts.Unlabeled {
		b.t.Errorf("%s: input without a <label for=…>: %s", loc, u)
	}
	for _, m := range templLeak.FindAllString(facts.Text, -1) {
		b.t.Errorf("%s: template syntax shown as text: %q", loc, m)
	}
	b.mu.Lock()
	doc, seen := b.docs[loc]
	b.mu.Unlock()
	switch {
	case !seen:
		b.t.Errorf("%s: no response recorded for the page", loc)
	case doc.status != int64(status):
		b.t.Errorf("%s: status %d, want %d", loc, doc.status, status)
	case !strings.Contains(doc.csp, "default-src 'none'") || !strings.Contains(doc.csp, "script-src 'self'"):
		b.t.Errorf("%s: Content-Security-Policy is %q, want the strict policy", loc, doc.csp)
	}
	if p := b.takeProblems(loc, status); len(p) > 0 {
		b.t.Fatalf("the browser reported problems on %s:\n  %s", loc, strings.Join(p, "\n  "))
	}
	if name != "" {
		b.screenshot(name)
	}
}

// screenshot saves the page (full height, 1280 wide) as
// docs/screenshots/<name>.png when AAUTH_PS_SCREENSHOTS=1.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	if !writeScreenshots {
		return
	}
	png := run(b, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.MkdirAll(screenshotsDir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(screenshotsDir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// login fills and submits the login form as username.
func (b *browser) login(username, password string) {
	b.t.Helper()
	b.fill("username", username)
	b.fill("password", password)
	b.clickButton("Log in")
}

// tabTo presses Tab until the focused element is the button labelled
// label, and fails after max presses. Only the keyboard is used.
func (b *browser) tabTo(label string, max int) {
	b.t.Helper()
	b.tabUntil("BUTTON:"+label, max, false)
}

// focused is the focused element as "TAG:text" (a field: "TAG#id").
func (b *browser) focused() string {
	b.t.Helper()
	return run(b, "read the focused element", chromedp.Evaluate[string](`(() => { const e = document.activeElement;
		if (!e) return "";
		return (e.tagName === "TEXTAREA" || e.tagName === "INPUT") ? e.tagName + "#" + e.id : e.tagName + ":" + e.textContent.trim(); })()`))
}

// tabUntil presses Tab (Shift-Tab when back) until focused() is want,
// then checks the focus is visible; it fails after max presses.
func (b *browser) tabUntil(want string, max int, back bool) {
	b.t.Helper()
	key, what := chromedp.KeyEvent("\t"), "press Tab"
	if back {
		key, what = chromedp.KeyEvent("\t", chromedp.KeyModifiers(chromedp.ModifierShift)), "press Shift-Tab"
	}
	for i := 0; i < max; i++ {
		b.step(what, key)
		if b.focused() == want {
			b.expectFocusRing(want)
			return
		}
	}
	b.t.Fatalf("on %s, %d presses of Tab did not reach %q", b.location(), max, want)
}

// expectFocusRing fails unless the focused element shows a focus outline
// (the style sheet's :focus-visible ring).
func (b *browser) expectFocusRing(what string) {
	b.t.Helper()
	outline := run(b, "read the focus outline", chromedp.Evaluate[string](
		`(() => { const s = getComputedStyle(document.activeElement); return s.outlineStyle + " " + s.outlineWidth; })()`))
	if strings.HasPrefix(outline, "none") || strings.HasSuffix(outline, " 0px") {
		b.t.Fatalf("the focused %q has no visible focus outline (%s)", what, outline)
	}
}

// typeText types text into the focused field, key by key.
func (b *browser) typeText(text string) {
	b.t.Helper()
	b.step("type "+text, chromedp.KeyEvent(text))
}

// pressSpace presses Space on the focused button and waits for the page
// it leads to.
func (b *browser) pressSpace() {
	b.t.Helper()
	b.submit("press Space", chromedp.KeyEvent(" "))
}

// pressEnter presses Enter on the focused element and waits for the page
// it leads to.
func (b *browser) pressEnter() {
	b.t.Helper()
	b.submit("press Enter", chromedp.KeyEvent("\r"))
}

// textOf reads the visible text of the first element matching css.
func textOf(css string) chromedp.Action[string] {
	return chromedp.Text(chromedp.CSS(css), chromedp.NodeVisible)
}

// openDetails opens a <details> by clicking its summary.
func (b *browser) openDetails(summary string) {
	b.t.Helper()
	b.step("open "+summary, chromedp.Click(chromedp.Search(`//summary[normalize-space()="`+summary+`"]`), chromedp.NodeVisible))
}
