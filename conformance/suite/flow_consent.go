package suite

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/html"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// What the person is shown (PS-161 to PS-164, PS-168, PS-169) is checked
// through the approver: pages reach the suite only from an approver that
// can read them (Interaction.Shown); with any other approver these checks
// are "not offered" and say what to look at by hand.

// xssMarker names the script the justification tries to smuggle in; the
// PS's own scripts never carry it.
const xssMarker = "cfXSS"

// hostileJustification is a justification with live-content payloads in
// Markdown and raw HTML (PS-168). Its first words are plain text the
// consent page must show (PS-169).
const hostileJustification = "aauth-conformance first person token. " +
	"<script>window." + xssMarker + "=1</script> <img src=x onerror=\"window." + xssMarker + "=2\"> " +
	"[details](javascript:window." + xssMarker + "=3) <a href=\"javascript:window." + xssMarker + "=4\" onclick=\"window." + xssMarker + "=5\">more</a>"

// justificationShown is the part of hostileJustification the page shows.
const justificationShown = "aauth-conformance first person token"

// liveMarker returns a description of the first live element of doc that
// runs the marker: a script whose text has it, an on* handler or a
// javascript: URL carrying it. "" when there is none.
func liveMarker(doc string) string {
	z := html.NewTokenizer(strings.NewReader(doc))
	inScript := false
	for {
		switch z.Next() {
		case html.ErrorToken:
			return ""
		case html.TextToken:
			if inScript && strings.Contains(string(z.Text()), xssMarker) {
				return "a <script> element runs " + strings.TrimSpace(string(z.Text()))
			}
		case html.EndTagToken:
			inScript = false
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			inScript = tok.Data == "script"
			for _, a := range tok.Attr {
				v := strings.ToLower(strings.TrimSpace(a.Val))
				if !strings.Contains(a.Val, xssMarker) {
					continue
				}
				if strings.HasPrefix(strings.ToLower(a.Key), "on") || strings.HasPrefix(v, "javascript:") {
					return fmt.Sprintf("<%s %s=%q>", tok.Data, a.Key, a.Val)
				}
			}
		}
	}
}

// showsAll checks the page text names each of want (any of its spellings).
func showsAll(p Page, want map[string][]string) error {
	var v verdict
	for what, spellings := range want {
		found := false
		for _, s := range spellings {
			found = found || strings.Contains(p.Text, s)
		}
		if !found {
			v.add(MUST, "the consent page does not show %s (%q)", what, spellings[0])
		}
	}
	return v.err()
}

// form is an HTML form the page offers.
type form struct {
	action string
	values url.Values
}

// postForms are the POST forms of p with their fields (hidden ones, a
// CSRF token among them) and the name=value of their submit buttons.
func postForms(p Page) []form {
	base, _ := url.Parse(p.URL)
	z := html.NewTokenizer(strings.NewReader(p.HTML))
	var out []form
	var cur *form
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return out
		}
		tok := z.Token()
		attr := func(k string) string {
			for _, a := range tok.Attr {
				if a.Key == k {
					return a.Val
				}
			}
			return ""
		}
		switch {
		case tt == html.StartTagToken && tok.Data == "form":
			cur = nil
			if strings.EqualFold(attr("method"), "post") {
				act, err := base.Parse(attr("action"))
				if err == nil {
					out = append(out, form{action: act.String(), values: url.Values{}})
					cur = &out[len(out)-1]
				}
			}
		case tt == html.EndTagToken && tok.Data == "form":
			cur = nil
		case cur != nil && (tok.Data == "input" || tok.Data == "button") && attr("name") != "":
			cur.values.Add(attr("name"), attr("value"))
		}
	}
}

// replayWithoutSession posts every form of the decision page from a
// client without the person's session (no cookies, no redirects
// followed) and returns the statuses it got.
func (t *Target) replayWithoutSession(ctx context.Context, p Page) ([]string, error) {
	c := *t.Client
	c.Jar = nil
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	var got []string
	for _, f := range postForms(p) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.action, strings.NewReader(f.values.Encode()))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxResponse))
		res.Body.Close()
		got = append(got, fmt.Sprintf("POST %s: %d", f.action, res.StatusCode))
	}
	return got, nil
}

// mangledCode is code as a person may type it (PS-161): lower case,
// without hyphens, with O for 0 and L for 1.
func mangledCode(code string) string {
	r := strings.NewReplacer("-", "", "0", "o", "1", "l")
	return r.Replace(strings.ToLower(code))
}

// wrongCode is a well-formed code other than code.
func wrongCode(code string) string {
	out := []byte(strings.ToUpper(code))
	for i, c := range out {
		if c != '-' {
			if c == 'Z' {
				out[i] = 'Y'
			} else {
				out[i] = 'Z'
			}
		}
	}
	return string(out)
}

// refusedLink has the person open a link the PS must refuse (a used or
// wrong code) and reports whether it offered a decision anyway.
func (t *Target) refusedLink(ctx context.Context, link, code, what string) error {
	shown := false
	err := t.Person.Decide(ctx, Interaction{URL: link, Code: code, Approve: true, What: what, Shown: func(Page) { shown = true }})
	switch {
	case !shown:
		return errNotShown
	case err == nil:
		return Failf(MUST, "the PS offered the person a decision at %s?code=%s", link, code)
	}
	return nil
}

// pollPaced polls loc as a once the pace the PS set has passed (first's
// Retry-After), and again after a 429 slow_down (up to twice): a check
// that is not about polling must not trip the PS's rate rule.
func (t *Target) pollPaced(ctx context.Context, a *conformance.Agent, loc string, first *Response) (*Response, error) {
	time.Sleep(retryAfter(first))
	for i := 0; ; i++ {
		r, err := t.agentSend(ctx, a, http.MethodGet, loc, nil, nil)
		if err != nil || i == 2 || r.Status != http.StatusTooManyRequests || r.Body["error"] != aauth.ErrSlowDown {
			return r, err
		}
		time.Sleep(max(retryAfter(r), 6*time.Second))
	}
}

// resourceAssertions are the texts the test resource asserts about itself
// in its metadata (P§consent-presentation: name, description,
// scope_descriptions), as a consent page may show them.
func resourceAssertions(rs *conformance.Resource) []string {
	md := rs.Metadata()
	var out []string
	for _, k := range []string{"name", "description"} {
		if s, _ := md[k].(string); s != "" {
			out = append(out, s)
		}
	}
	scopes, _ := md["scope_descriptions"].(map[string]any)
	for _, v := range scopes {
		if s, _ := v.(string); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// attributedToAgent checks PS-282 on one consent page: the justification
// is shown, and the smallest region around it that names the agent (its
// identifier, or the word "agent") holds nothing the resource asserts. A
// region reached first that holds the resource's words puts both under
// one voice. The page's structure is all a black box can see of "visually
// separates": a page showing none of the resource's words is checked for
// the attribution alone.
func attributedToAgent(p Page, justification string, agent, resource []string) error {
	doc, err := html.Parse(strings.NewReader(p.HTML))
	if err != nil {
		return Failf(MUST, "%s: the page does not parse: %v", p.URL, err)
	}
	j := deepestWith(doc, justification)
	if j == nil {
		return Failf(MUST, "%s: the justification (%q) is not shown", p.URL, justification)
	}
	for n := j; n != nil; n = n.Parent {
		text := strings.Replace(nodeText(n), justification, "", 1)
		for _, r := range resource {
			if strings.Contains(text, squash(r)) {
				return Failf(MUST, "%s: the justification shares a region (<%s>) with the resource's own words %q before anything attributes it to the agent", p.URL, n.Data, r)
			}
		}
		lower := strings.ToLower(text)
		for _, a := range agent {
			if strings.Contains(lower, strings.ToLower(a)) {
				return nil
			}
		}
	}
	return Failf(MUST, "%s: nothing around the justification attributes it to the agent", p.URL)
}

// deepestWith is the deepest element whose text contains s.
func deepestWith(n *html.Node, s string) *html.Node {
	if n.Type == html.ElementNode && (n.Data == "script" || n.Data == "style" || n.Data == "template") {
		return nil
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if d := deepestWith(c, s); d != nil {
			return d
		}
	}
	if (n.Type == html.ElementNode || n.Type == html.DocumentNode) && strings.Contains(nodeText(n), s) {
		return n
	}
	return nil
}

// nodeText is n's text with runs of white space made one space (scripts,
// styles and templates left out).
func nodeText(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch {
		case n.Type == html.TextNode:
			b.WriteString(n.Data)
			b.WriteByte(' ')
		case n.Type == html.ElementNode && (n.Data == "script" || n.Data == "style" || n.Data == "template"):
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return squash(b.String())
}

// squash makes runs of white space one space.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }
