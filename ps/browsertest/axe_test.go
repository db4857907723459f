package browsertest_test

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// axePath is axe-core's browser build, installed from axe/package-lock.json
// by .ci/prereqs (npm ci). It is not committed.
const axePath = "axe/node_modules/axe-core/axe.min.js"

var axeSource = sync.OnceValues(func() (string, error) {
	src, err := os.ReadFile(axePath)
	if err != nil {
		return "", fmt.Errorf("axe-core is not installed (%w): run ./.ci/prereqs, or npm ci in ps/browsertest/axe", err)
	}
	return string(src), nil
})

// axeViolation is one failed axe rule, with the first few elements that fail it.
type axeViolation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
	Summary string   `json:"summary"`
}

// axeRun runs every axe rule on the page except the experimental ones, and
// keeps the serious and critical violations: those are what a test fails
// on (issue 9 must-show 2). axe is injected through the DevTools protocol,
// so the page's strict Content-Security-Policy stays as it is.
const axeRun = `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations
	.filter(v => v.impact === "serious" || v.impact === "critical")
	.map(v => ({id: v.id, impact: v.impact, help: v.help,
		targets: v.nodes.slice(0, 5).map(n => n.target.join(" ")),
		summary: v.nodes.length ? v.nodes[0].failureSummary : ""})))`

// expectAccessible fails the test for every serious or critical axe-core
// violation on the current page, at width (for the message).
func (b *browser) expectAccessible(width int) {
	b.t.Helper()
	for _, v := range b.axeViolations() {
		b.t.Errorf("at %d px, %s: axe %s (%s): %s\n  on: %s\n  %s", width, b.location(), v.ID, v.Impact, v.Help,
			strings.Join(v.Targets, " | "), strings.ReplaceAll(v.Summary, "\n", "\n  "))
	}
}

// axeViolations injects axe-core into the page (once) and returns its
// serious and critical violations.
func (b *browser) axeViolations() []axeViolation {
	b.t.Helper()
	src, err := axeSource()
	if err != nil {
		b.t.Fatal(err)
	}
	run(b, "inject axe-core", chromedp.Evaluate[bool](`(() => { if (typeof axe === "undefined") { `+src+`
	} return true; })()`))
	return run(b, "run axe-core", chromedp.Evaluate[[]axeViolation](axeRun, chromedp.EvalAwaitPromise))
}

// widths are the two viewports every page is checked at: a desktop and a phone.
var widths = []struct{ w, h int }{{viewportW, viewportH}, {phoneW, phoneH}}

// audit checks the current page at 1280 and then 390 px, as it is (not
// loaded again, so a page that answers a form keeps its notice or alert):
// the smoke check (status want), no horizontal overflow and no serious or
// critical axe-core violation at each width, then axe again in the dark
// colour scheme. With a name it is also a screenshot, name-1280 and
// name-390. The tab is left at 1280 px in the default scheme.
func (b *browser) audit(name string, status int) {
	b.t.Helper()
	for _, vw := range widths {
		b.setViewport(vw.w, vw.h)
		b.checkPageStatus("", status)
		b.expectNoHorizontalOverflow(vw.w)
		b.expectAccessible(vw.w)
		if name != "" {
			b.screenshot(fmt.Sprintf("%s-%d", name, vw.w))
		}
	}
	b.setViewport(viewportW, viewportH)
	// The dark colour scheme, at the desktop width: contrast and the rest.
	b.setColorScheme("dark")
	b.expectAccessible(viewportW)
	b.setColorScheme("")
}

// setColorScheme emulates prefers-color-scheme (dark or light; "" for the default).
func (b *browser) setColorScheme(scheme string) {
	b.t.Helper()
	var features []*emulation.MediaFeature
	if scheme != "" {
		features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}
	}
	if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: features}); err != nil {
		b.t.Fatal(err)
	}
	if scheme != "" && !run(b, "read the colour scheme", chromedp.Evaluate[bool](`matchMedia("(prefers-color-scheme: `+scheme+`)").matches`)) {
		b.t.Fatalf("the page does not see prefers-color-scheme: %s", scheme)
	}
}

// TestBrowserAxeFindsViolations: the check is live. On a real page, an
// image without alternative text, grey-on-white text and an unnamed button
// (added by the test) are reported as critical or serious by axe-core.
func TestBrowserAxeFindsViolations(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	b := newBrowser(t, w)
	b.open("/login")
	b.checkPage("")
	if v := b.axeViolations(); len(v) != 0 {
		t.Fatalf("the login page already has violations: %+v", v)
	}
	run(b, "add inaccessible content", chromedp.Evaluate[bool](`(() => {
		const main = document.querySelector("main");
		const img = document.createElement("img"); img.src = "/static/favicon.svg"; main.append(img);
		const p = document.createElement("p"); p.textContent = "Barely readable"; p.style.color = "#cccccc"; main.append(p);
		const btn = document.createElement("button"); main.append(btn);
		return true;
	})()`))
	found := map[string]bool{}
	for _, v := range b.axeViolations() {
		found[v.ID] = true
	}
	for _, id := range []string{"image-alt", "color-contrast", "button-name"} {
		if !found[id] {
			t.Errorf("axe-core did not report %s; it reported %v", id, found)
		}
	}
}
