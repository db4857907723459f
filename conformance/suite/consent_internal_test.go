package suite

import (
	"strings"
	"testing"
)

// TestConsentHelpers: the page-reading helpers behind PS-147, PS-161,
// PS-163, PS-164, PS-168 and PS-255 tell a bad page or value from a good
// one.
func TestConsentHelpers(t *testing.T) {
	// PS-168: the raw payload is live; escaped or stripped, it is not.
	if liveMarker("<p>"+hostileJustification+"</p>") == "" {
		t.Error("PS-168: the raw payload was not found live")
	}
	for _, doc := range []string{
		`<p><a href="javascript:window.` + xssMarker + `=4">x</a></p>`,
		`<p><img src=x onerror="window.` + xssMarker + `=2"></p>`,
		`<script>window.` + xssMarker + `=1</script>`,
	} {
		if liveMarker(doc) == "" {
			t.Errorf("PS-168: %s not found live", doc)
		}
	}
	for _, doc := range []string{
		"<p>" + strings.NewReplacer("<", "&lt;", ">", "&gt;").Replace(hostileJustification) + "</p><script src=/static/app.js></script>",
		`<p>aauth-conformance first person token. <a href="#" rel="nofollow">more</a> window.` + xssMarker + `=3</p>`,
	} {
		if live := liveMarker(doc); live != "" {
			t.Errorf("PS-168: a sanitized page is reported live: %s", live)
		}
	}
	// PS-164: the POST forms, hidden fields and buttons, absolute actions.
	fs := postForms(Page{URL: "https://ps.test/interact/abc?code=X", HTML: `<form method="get" action="/search"><input name="q"></form>
<form method="POST" action="abc/approve"><input type="hidden" name="csrf" value="t1"><button name="decision" value="yes">Approve</button></form>
<form method="post" action="https://ps.test/deny"><input type="hidden" name="csrf" value="t2"></form>`})
	if len(fs) != 2 || fs[0].action != "https://ps.test/interact/abc/approve" || fs[0].values.Get("csrf") != "t1" ||
		fs[0].values.Get("decision") != "yes" || fs[1].action != "https://ps.test/deny" {
		t.Errorf("PS-164: forms %+v", fs)
	}
	// PS-161, PS-163: codes as typed, and a wrong one.
	if got := mangledCode("AB01-CD2Z"); got != "abolcd2z" {
		t.Errorf("PS-161: mangled %q", got)
	}
	if got := wrongCode("ZB01-CD2Z"); got == "ZB01-CD2Z" || len(got) != 9 || got[4] != '-' || !crockford.MatchString(got) {
		t.Errorf("PS-163: wrong code %q", got)
	}
	// PS-147: entropy bounds by alphabet.
	for u, want := range map[string]int{
		"https://ps.test/pending/vi7ARW8SYyFLmhqso-N_CA":           132,
		"https://ps.test/pending/0123456789abcdef0123456789abcdef": 128,
		"https://ps.test/pending/42":                               8,
		"https://ps.test/pending/ABCD-EFGH":                        40,
	} {
		if got := randomBits(u); got != want {
			t.Errorf("PS-147: randomBits(%s) = %d, want %d", u, got, want)
		}
	}
	// PS-255: the twin differs only in case.
	if got := caseFolded("aauth:cf-a-1f@ap.test"); got != "aauth:CF-A-1F@ap.test" {
		t.Errorf("PS-255: %q", got)
	}
}

// TestAttributedToAgent: PS-282's page reading tells a page whose
// justification sits under the agent's name, apart from the resource's
// words, from one that mixes them or attributes it to nobody.
func TestAttributedToAgent(t *testing.T) {
	agent := []string{"aauth:cf-a-1@ap.test", "agent"}
	resource := []string{"Test Calendar", "Read the events of your calendar"}
	j := "<p>" + justificationShown + ". Trust me.</p>"
	for name, c := range map[string]struct {
		html string
		ok   bool
	}{
		"separate, labelled regions": {`<main><section><h2>What the resource says</h2><p>Test Calendar</p><p>Read the events of your calendar</p></section>
<section><h2>What the agent says</h2><figure><figcaption>Justification, from <code>aauth:cf-a-1@ap.test</code></figcaption><blockquote>` + j + `</blockquote></figure></section></main>`, true},
		"no resource words shown":    {`<div><p>The <b>agent</b> says:</p>` + j + `</div>`, true},
		"one paragraph for both":     {`<main><p>Test Calendar. ` + justificationShown + `. Asked by aauth:cf-a-1@ap.test</p></main>`, false},
		"one region, labelled after": {`<main><section><p>Test Calendar</p>` + j + `<p>the agent asked</p></section></main>`, false},
		"attributed to nobody":       {`<main>` + j + `</main>`, false},
		"not shown":                  {`<main><p>Test Calendar</p><p>the agent asked</p></main>`, false},
	} {
		err := attributedToAgent(Page{URL: "https://ps.test/interact/x", HTML: c.html}, justificationShown, agent, resource)
		if (err == nil) != c.ok {
			t.Errorf("%s: %v", name, err)
		}
	}
}
