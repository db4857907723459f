package browsertest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/aauth-ps/aauth-ps/ps/pstest"
)

// TestBrowserHonestColoursAndTimes (issue 9 item 11): the keyboard focus
// ring has at least 3:1 contrast against the page; a new agent is marked
// as a caution (amber), not in the "fine" green; every time is shown in
// the person's own time zone (the browser's, here India's +05:30) with how
// long ago it was, and no raw UTC or ISO string; the agents page says in
// plain words what Revoke and Unbind do.
func TestBrowserHonestColoursAndTimes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.ps.CreatePerson(t, "alice", false)
	b := newBrowser(t, w)
	if _, err := chromedp.Call(b.ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Kolkata"}); err != nil {
		t.Fatal(err)
	}
	b.open("/login")
	b.login("alice", pstest.TestPassword)

	in := w.ask(t, "May I plan your trips?", "I book travel for you.")
	b.open(in.url + "?code=" + in.code)
	b.expectHeading("An agent wants to act for you")
	b.checkPage("")

	type colours struct {
		Badge, Green string
		Ring         float64
		Times        []struct{ Datetime, Text string }
	}
	read := func() colours {
		return run(b, "read the colours and times", chromedp.Evaluate[colours](`(() => {
			const rgb = s => s.match(/[\d.]+/g).slice(0, 3).map(Number);
			const lum = c => { const [r, g, b] = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
			const contrast = (a, b) => { const [x, y] = [lum(rgb(a)), lum(rgb(b))].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
			const focused = getComputedStyle(document.activeElement);
			const ring = focused.outlineStyle === "none" ? 0 : contrast(focused.outlineColor, getComputedStyle(document.documentElement).backgroundColor);
			const badge = document.querySelector(".badge.caution");
			const ok = document.createElement("span"); ok.className = "badge allowed"; document.body.append(ok);
			const green = getComputedStyle(ok).color; ok.remove();
			return {Badge: badge ? getComputedStyle(badge).color : "", Green: green, Ring: ring,
				Times: [...document.querySelectorAll("time[datetime]")].map(e => ({Datetime: e.getAttribute("datetime"), Text: e.textContent}))};
		})()`))
	}
	// The ring the keyboard shows (:focus-visible), on the first element Tab reaches.
	b.step("press Tab", chromedp.KeyEvent("\t"))
	c := read()
	if c.Ring < 3 {
		t.Errorf("the focus ring's contrast against the page is %.2f:1, want at least 3:1", c.Ring)
	}
	if c.Badge == "" || c.Badge == c.Green {
		t.Errorf("the New agent badge is %q, the same green as what is fine (%q), or missing", c.Badge, c.Green)
	}
	expectLocalTimes(t, c.Times)

	b.clickButton("Connect the agent")
	b.fill("answer", "Yes.")
	b.clickButton("Send answer")
	b.open("/agents")
	b.expectText("Stop this agent for good", "Disconnect this agent from you", "new link and code")
	times := run(b, "read the times", chromedp.Evaluate[[]struct{ Datetime, Text string }](
		`[...document.querySelectorAll("time[datetime]")].map(e => ({Datetime: e.getAttribute("datetime"), Text: e.textContent}))`))
	expectLocalTimes(t, times)
	b.checkPage("")
}

// expectLocalTimes checks each <time>: its text is the time in India
// (+05:30, no daylight saving) with a relative part, never UTC or ISO.
func expectLocalTimes(t *testing.T, times []struct{ Datetime, Text string }) {
	t.Helper()
	if len(times) == 0 {
		t.Fatal("the page shows no <time datetime> element")
	}
	india := time.FixedZone("IST", 5*3600+1800)
	for _, tm := range times {
		at, err := time.Parse(time.RFC3339, tm.Datetime)
		if err != nil {
			t.Fatalf("<time datetime=%q>: %v", tm.Datetime, err)
		}
		local := at.In(india).Format("3:04")
		if !strings.Contains(tm.Text, local) || strings.Contains(tm.Text, "UTC") || strings.Contains(tm.Text, tm.Datetime[:10]) {
			t.Errorf("the time %s reads %q: want the Indian local time %s, no UTC and no ISO date", tm.Datetime, tm.Text, local)
		}
		if !strings.Contains(tm.Text, "ago") && !strings.Contains(tm.Text, "just now") && !strings.Contains(tm.Text, "in ") {
			t.Errorf("the time %s reads %q: no relative time (ago, just now, in …)", tm.Datetime, tm.Text)
		}
	}
}
