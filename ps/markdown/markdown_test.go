package markdown

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// blockAllowed and inlineAllowed are the only elements the output may hold.
var (
	blockAllowed = set("p", "br", "strong", "em", "del", "code", "pre",
		"blockquote", "ul", "ol", "li", "a",
		"table", "thead", "tbody", "tr", "th", "td", "hr")
	inlineAllowed = set("strong", "em", "del", "code", "a")
	// dangerous is checked explicitly for a clearer failure message.
	dangerous = set("script", "style", "iframe", "object", "embed", "svg",
		"math", "img", "image", "frame", "frameset", "link", "meta", "base",
		"form", "input", "button", "textarea", "video", "audio", "source",
		"template", "noscript", "xmp", "plaintext")
)

func set(xs ...string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// clip shortens s for failure messages.
func clip(s string) string {
	if len(s) > 300 {
		return fmt.Sprintf("%q…(%d bytes)", s[:300], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// checkSafe asserts the invariants every rendered fragment must satisfy,
// both for a tokenizer (what bluemonday emitted) and for the HTML5 tree
// builder (what a browser would build from it, in a <div>).
func checkSafe(t testing.TB, out string, allowed map[string]bool) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("output is not valid UTF-8: %s", clip(out))
	}
	for _, r := range out {
		if r == 0 || dropRune(r) {
			t.Fatalf("output contains control/bidi rune %U: %s", r, clip(out))
		}
	}
	z := html.NewTokenizer(strings.NewReader(out))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		switch tt {
		case html.CommentToken, html.DoctypeToken:
			t.Fatalf("output contains %v token: %s", tt, clip(out))
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			tok := z.Token()
			checkElement(t, out, tok.Data, tok.Attr, allowed)
		}
	}
	ctx := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	nodes, err := html.ParseFragment(strings.NewReader(out), ctx)
	if err != nil {
		t.Fatalf("output does not parse: %v: %s", err, clip(out))
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.ElementNode:
			checkElement(t, out, n.Data, n.Attr, allowed)
		case html.CommentNode, html.DoctypeNode:
			t.Fatalf("parsed output contains a comment/doctype: %s", clip(out))
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	for _, n := range nodes {
		walk(n)
	}
}

func checkElement(t testing.TB, out, name string, attrs []html.Attribute, allowed map[string]bool) {
	t.Helper()
	name = strings.ToLower(name)
	if dangerous[name] {
		t.Fatalf("output contains <%s>: %s", name, clip(out))
	}
	if !allowed[name] {
		t.Fatalf("output contains disallowed element <%s>: %s", name, clip(out))
	}
	for _, a := range attrs {
		key := strings.ToLower(a.Key)
		switch {
		case strings.HasPrefix(key, "on"):
			t.Fatalf("output contains event attribute %s: %s", key, clip(out))
		case key == "src" || key == "srcset" || key == "style" || key == "class" || key == "id" ||
			key == "action" || key == "formaction" || key == "xlink:href" || key == "target" ||
			strings.HasPrefix(key, "data-"):
			t.Fatalf("output contains attribute %s: %s", key, clip(out))
		case name == "a" && key == "href":
			if !safeURLForTest(a.Val) {
				t.Fatalf("output contains unsafe href %q: %s", a.Val, clip(out))
			}
		case name == "a" && key == "rel":
			if a.Val != "nofollow noopener noreferrer" {
				t.Fatalf("unexpected rel %q: %s", a.Val, clip(out))
			}
		case name == "ol" && key == "start":
		default:
			t.Fatalf("output contains unexpected attribute %s on <%s>: %s", key, name, clip(out))
		}
	}
	if name == "a" {
		var href, rel bool
		for _, a := range attrs {
			href = href || a.Key == "href"
			rel = rel || a.Key == "rel"
		}
		if href && !rel {
			t.Fatalf("link without rel: %s", clip(out))
		}
	}
}

// safeURLForTest is an independent restatement of the link rule: the value a
// browser would use must be https: with a host, or mailto:.
func safeURLForTest(v string) bool {
	if v != strings.TrimSpace(v) || strings.ContainsAny(v, "\t\n\r\x00") {
		return false
	}
	u, err := url.Parse(v)
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return u.Host != "" && u.User == nil && strings.HasPrefix(strings.ToLower(v), "https://")
	case "mailto":
		return u.Opaque != "" && strings.HasPrefix(strings.ToLower(v), "mailto:")
	}
	return false
}

// xssPayloads are hostile inputs; each must render safely in both modes.
var xssPayloads = []struct{ name, src string }{
	{"script tag", `<script>alert(1)</script>`},
	{"script tag block", "<script>\nalert(1)\n</script>\n"},
	{"script in paragraph", `hello <script>alert(1)</script> world`},
	{"script uppercase", `<SCRIPT SRC=//evil.example/x.js></SCRIPT>`},
	{"script split", `<scr<script>ipt>alert(1)</script>`},
	{"img onerror", `<img src=x onerror=alert(1)>`},
	{"img onerror quoted", `<img src="x" onerror="alert(1)">`},
	{"svg onload", `<svg onload=alert(1)>`},
	{"svg script", `<svg><script>alert(1)</script></svg>`},
	{"math", `<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>`},
	{"iframe", `<iframe src="https://evil.example"></iframe>`},
	{"iframe srcdoc", `<iframe srcdoc="<script>alert(1)</script>">`},
	{"object", `<object data="javascript:alert(1)"></object>`},
	{"embed", `<embed src="javascript:alert(1)">`},
	{"style tag", `<style>body{display:none}</style>`},
	{"style attr", `<p style="background:url(javascript:alert(1))">x</p>`},
	{"event attrs", `<div onclick="alert(1)" onmouseover=alert(1)>x</div>`},
	{"body onload", `<body onload=alert(1)>`},
	{"details ontoggle", `<details open ontoggle=alert(1)>`},
	{"form action", `<form action="javascript:alert(1)"><button>x</button></form>`},
	{"button formaction", `<button formaction=javascript:alert(1)>x</button>`},
	{"meta refresh", `<meta http-equiv="refresh" content="0;url=javascript:alert(1)">`},
	{"base href", `<base href="javascript:alert(1)//">`},
	{"link import", `<link rel=import href="https://evil.example">`},
	{"html comment", `<!-- <script>alert(1)</script> -->`},
	{"html comment hiding", "visible <!-- hidden instructions --> text"},
	{"conditional comment", `<!--[if IE]><script>alert(1)</script><![endif]-->`},
	{"cdata", `<![CDATA[<script>alert(1)</script>]]>`},
	{"processing instruction", `<?xml version="1.0"?><script>alert(1)</script>`},
	{"raw a javascript", `<a href="javascript:alert(1)">x</a>`},
	{"raw a vbscript", `<a href="vbscript:msgbox(1)">x</a>`},
	{"raw a data", `<a href="data:text/html,<script>alert(1)</script>">x</a>`},
	{"md javascript", `[x](javascript:alert(1))`},
	{"md javascript angle", `[x](<javascript:alert(1)>)`},
	{"md javascript mixed case", `[x](JaVaScRiPt:alert(1))`},
	{"md javascript entity colon", `[x](javascript&#58;alert(1))`},
	{"md javascript hex entity", `[x](&#x6A;avascript:alert(1))`},
	{"md javascript named entity", `[x](javascript&colon;alert(1))`},
	{"md javascript percent", `[x](javascript%3Aalert(1))`},
	{"md javascript leading space", `[x]( javascript:alert(1))`},
	{"md javascript tab", "[x](java\tscript:alert(1))"},
	{"md javascript newline", "[x](<java\nscript:alert(1)>)"},
	{"md javascript nul", "[x](java\x00script:alert(1))"},
	{"md javascript escaped", `[x](javascript\:alert(1))`},
	{"md javascript title", `[x](javascript:alert(1) "t")`},
	{"md javascript reference", "[x][r]\n\n[r]: javascript:alert(1)\n"},
	{"md vbscript", `[x](vbscript:msgbox(1))`},
	{"md data html", `[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)`},
	{"md data image", `[x](data:image/png;base64,iVBORw0KGgo=)`},
	{"md file", `[x](file:///etc/passwd)`},
	{"md http", `[x](http://example.com)`},
	{"md relative", `[x](/admin)`},
	{"md protocol relative", `[x](//evil.example/)`},
	{"md userinfo", `[x](https://accounts.example.com@evil.example/)`},
	{"md backslash host", `[x](https:\\evil.example)`},
	{"md title breakout", `[x](https://ok.example "a\" onmouseover=\"alert(1))`},
	{"md dest quote breakout", `[x](https://ok.example/"onmouseover="alert(1))`},
	{"md dest angle breakout", `[x](<https://ok.example/"><script>alert(1)</script>>)`},
	{"autolink javascript", `<javascript:alert(1)>`},
	{"autolink javascript case", `<JAVASCRIPT:alert(1)>`},
	{"autolink vbscript", `<vbscript:msgbox(1)>`},
	{"autolink data", `<data:text/html,<script>alert(1)</script>>`},
	{"autolink quote breakout", `<https://ok.example/"onmouseover="alert(1)>`},
	{"linkify javascript", `see javascript:alert(1) here`},
	{"linkify www quote", `www.example.com/"onmouseover="alert(1)`},
	{"linkify email script", `a@b.example<script>alert(1)</script>`},
	{"image", `![alt](https://evil.example/track.png)`},
	{"image javascript", `![x](javascript:alert(1))`},
	{"image onerror title", `![x](x "onerror=alert(1)")`},
	{"image reference", "![x][i]\n\n[i]: https://evil.example/i.png\n"},
	{"image in link", `[![x](https://evil.example/i.png)](https://ok.example)`},
	{"link in image", `![[x](javascript:alert(1))](https://evil.example/i.png)`},
	{"nested md html", `**<img src=x onerror=alert(1)>**`},
	{"md inside attr", "<a href=\"[x](javascript:alert(1))\">y</a>"},
	{"html in code span", "`<script>alert(1)</script>`"},
	{"html in fenced code", "```html\n<script>alert(1)</script>\n```"},
	{"fence info breakout", "```\"><script>alert(1)</script>\nx\n```"},
	{"html in table", "| a |\n|---|\n| <img src=x onerror=alert(1)> |"},
	{"html in heading", "# <script>alert(1)</script>"},
	{"attribute syntax", "# h {#id .class onclick=alert(1)}"},
	{"task list", "- [x] done\n- [ ] <input onfocus=alert(1) autofocus>"},
	{"footnote", "x[^1]\n\n[^1]: <script>alert(1)</script>"},
	{"entity script", `&lt;script&gt;alert(1)&lt;/script&gt;`},
	{"numeric entity script", `&#60;script&#62;alert(1)&#60;/script&#62;`},
	{"nul bytes", "a\x00b<scr\x00ipt>alert(1)</script>\x00"},
	{"nul entity", "&#0;&#x0;"},
	{"control chars", "a\x01\x02\x1b[31mred\x7f\u0085b"},
	{"bidi override", "harmless \u202Etxt.exe\u202C \u2066x\u2069"},
	{"bidi entity", "&#x202E;gpj.exe"},
	{"invalid utf8", "\xff\xfe<script>\xc3\x28alert(1)</script>"},
	{"crlf", "line1\r\n<script>\r\nalert(1)\r\n</script>\r"},
	{"svg use", `<svg><use href="data:image/svg+xml,<svg id='x' xmlns='http://www.w3.org/2000/svg'><image href='1' onerror='alert(1)' /></svg>#x" /></svg>`},
	{"noscript mxss", `<noscript><p title="</noscript><img src=x onerror=alert(1)>">`},
	{"template", `<template><script>alert(1)</script></template>`},
	{"xmp", `<xmp><script>alert(1)</script></xmp>`},
	{"plaintext", `<plaintext><script>alert(1)</script>`},
	{"unclosed tag", `<img src=x onerror=alert(1)//`},
	{"mismatched quotes", `<a href='javascript:alert(1)"'>x</a>`},
	{"long script", strings.Repeat("<script>alert(1)</script>", 2000)},
	{"long brackets", strings.Repeat("[", 20000) + "x](javascript:alert(1))"},
	{"long nesting quote", strings.Repeat("> ", 5000) + "<script>alert(1)</script>"},
	{"long nesting list", strings.Repeat("- ", 5000) + "x"},
	{"long emphasis", strings.Repeat("*a **", 4000)},
	{"long link chain", strings.Repeat("[a](javascript:x)", 2000)},
	{"long backticks", strings.Repeat("`", 10000) + "<script>"},
	{"long nesting ordered list", strings.Repeat("1. ", 5000) + "<script>"},
	{"long nesting emphasis", strings.Repeat("*_", 2000) + "x" + strings.Repeat("_*", 2000)},
	{"long nesting strike", strings.Repeat("~~a ", 2000) + strings.Repeat(" b~~", 2000)},
	{"long open links", strings.Repeat("[a](", 3000) + "javascript:x)"},
	{"long table rows", "|a|b|\n|-|-|\n" + strings.Repeat("|<script>|\n", 2000)},
	{"long lt", strings.Repeat("<", 9000)},
}

func TestXSSPayloads(t *testing.T) {
	for _, tc := range xssPayloads {
		t.Run(tc.name, func(t *testing.T) {
			out := string(Render(tc.src))
			checkSafe(t, out, blockAllowed)
			in := string(RenderInline(tc.src))
			checkSafe(t, in, inlineAllowed)
			checkPlain(t, Plain(tc.src))
			if len(tc.src) <= MaxSource && out == "" && strings.TrimSpace(tc.src) != "" {
				t.Errorf("non-empty input rendered empty: %q", tc.src)
			}
		})
	}
}

func checkPlain(t testing.TB, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("Plain output is not valid UTF-8: %q", s)
	}
	for _, r := range s {
		if r == 0 || dropRune(r) {
			t.Fatalf("Plain output contains control/bidi rune %U: %q", r, s)
		}
	}
}

// TestHostileTextIsShown checks that raw HTML is escaped, not dropped, so the
// person sees what the agent sent.
func TestHostileTextIsShown(t *testing.T) {
	tests := []struct{ src, want string }{
		{`<script>alert(1)</script>`, "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"},
		{"a <!-- hidden --> b", "<p>a &lt;!-- hidden --&gt; b</p>\n"},
		{`<b onclick=x>hi</b>`, "<p>&lt;b onclick=x&gt;hi&lt;/b&gt;</p>\n"},
	}
	for _, tc := range tests {
		if got := string(Render(tc.src)); got != tc.want {
			t.Errorf("Render(%q)\n got %q\nwant %q", tc.src, got, tc.want)
		}
	}
}

func TestDangerousLinksBecomeText(t *testing.T) {
	for _, src := range []string{
		`[click](javascript:alert(1))`,
		`[click](JaVaScRiPt&#x3A;alert(1))`,
		`[click](&#106;avascript:alert(1))`,
		`[click](vbscript:x)`,
		`[click](data:text/html,x)`,
		`[click](http://example.com)`,
		`[click](/relative)`,
		`[click](https://user:pw@example.com)`,
		`[click](https://例え.jp/)`,
		"[click][r]\n\n[r]: javascript:alert(1)",
	} {
		got := string(Render(src))
		if got != "<p>click</p>\n" {
			t.Errorf("Render(%q) = %q, want the bare link text", src, got)
		}
	}
}

func TestPositive(t *testing.T) {
	const rel = ` rel="nofollow noopener noreferrer"`
	tests := []struct{ name, src, want string }{
		{"bold", "**bold**", "<p><strong>bold</strong></p>\n"},
		{"emphasis", "*em* and _em_", "<p><em>em</em> and <em>em</em></p>\n"},
		{"strikethrough", "~~gone~~", "<p><del>gone</del></p>\n"},
		{"code span", "use `a < b`", "<p>use <code>a &lt; b</code></p>\n"},
		{"code block", "```go\nif a < b {}\n```", "<pre><code>if a &lt; b {}\n</code></pre>\n"},
		{"indented code", "    x := 1", "<pre><code>x := 1\n</code></pre>\n"},
		{"unordered list", "- a\n- b", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n"},
		{"ordered list", "1. a\n2. b", "<ol>\n<li>a</li>\n<li>b</li>\n</ol>\n"},
		{"ordered list start", "3. a\n4. b", "<ol start=\"3\">\n<li>a</li>\n<li>b</li>\n</ol>\n"},
		{"blockquote", "> q", "<blockquote>\n<p>q</p>\n</blockquote>\n"},
		{"hr", "a\n\n---\n\nb", "<p>a</p>\n<hr>\n<p>b</p>\n"},
		{"hard break", "a  \nb", "<p>a<br>\nb</p>\n"},
		{"https link", "[docs](https://example.com/a?b=1&c=2)",
			`<p><a href="https://example.com/a?b=1&amp;c=2"` + rel + ">docs</a></p>\n"},
		{"link title dropped", `[docs](https://example.com "Title")`,
			`<p><a href="https://example.com"` + rel + ">docs</a></p>\n"},
		{"link uppercase scheme", "[docs](HTTPS://example.com/)",
			`<p><a href="https://example.com/"` + rel + ">docs</a></p>\n"},
		{"link with emphasis", "[**docs**](https://example.com)",
			`<p><a href="https://example.com"` + rel + "><strong>docs</strong></a></p>\n"},
		{"reference link", "[docs][d]\n\n[d]: https://example.com",
			`<p><a href="https://example.com"` + rel + ">docs</a></p>\n"},
		{"mailto link", "[mail](mailto:a@example.com)",
			`<p><a href="mailto:a@example.com"` + rel + ">mail</a></p>\n"},
		{"autolink", "<https://example.com>",
			`<p><a href="https://example.com"` + rel + ">https://example.com</a></p>\n"},
		{"linkify https", "see https://example.com/x now",
			`<p>see <a href="https://example.com/x"` + rel + ">https://example.com/x</a> now</p>\n"},
		{"linkify www", "see www.example.com",
			`<p>see <a href="https://www.example.com"` + rel + ">www.example.com</a></p>\n"},
		{"linkify email", "mail a@example.com",
			`<p>mail <a href="mailto:a@example.com"` + rel + ">a@example.com</a></p>\n"},
		{"linkify http stays text", "see http://example.com", "<p>see http://example.com</p>\n"},
		{"table", "| a | b |\n|:--|--:|\n| 1 | **2** |",
			"<table>\n<thead>\n<tr>\n<th>a</th>\n<th>b</th>\n</tr>\n</thead>\n<tbody>\n<tr>\n<td>1</td>\n<td><strong>2</strong></td>\n</tr>\n</tbody>\n</table>\n"},
		// Headings are flattened to strong paragraphs (issue 9 item 2;
		// they were demoted to h3–h6 before, which still read as the PS).
		{"h1 flattened", "# Title", "<p><strong>Title</strong></p>\n"},
		{"h2 flattened", "## Title", "<p><strong>Title</strong></p>\n"},
		{"h3 flattened", "### Title", "<p><strong>Title</strong></p>\n"},
		{"h4 flattened", "#### Title", "<p><strong>Title</strong></p>\n"},
		{"h6 flattened", "###### Title", "<p><strong>Title</strong></p>\n"},
		{"setext h1 flattened", "Title\n=====", "<p><strong>Title</strong></p>\n"},
		{"setext h2 flattened", "Title\n-----", "<p><strong>Title</strong></p>\n"},
		{"heading in blockquote", "> # T", "<blockquote>\n<p><strong>T</strong></p>\n</blockquote>\n"},
		{"heading keeps its emphasis", "# *Verified* by `PS`", "<p><strong><em>Verified</em> by <code>PS</code></strong></p>\n"},
		{"heading in a list", "- # T", "<ul>\n<li>\n<p><strong>T</strong></p>\n</li>\n</ul>\n"},
		{"empty heading dropped", "#\n\nx", "<p>x</p>\n"},
		{"image becomes alt", "![a *cat*](https://example.com/cat.png)", "<p>a cat</p>\n"},
		{"image alt escaped", "![<b>](x)", "<p>&lt;b&gt;</p>\n"},
		{"image in link", "[![logo](https://example.com/l.png)](https://example.com)",
			`<p><a href="https://example.com"` + rel + ">logo</a></p>\n"},
		{"entities", "AT&amp;T &copy; &#169;", "<p>AT&amp;T © ©</p>\n"},
		{"unicode", "naïve — 日本語 🎉", "<p>naïve — 日本語 🎉</p>\n"},
		{"fenced class dropped", "```js\nx\n```", "<pre><code>x\n</code></pre>\n"},
		{"task list not enabled", "- [x] done", "<ul>\n<li>[x] done</li>\n</ul>\n"},
		{"empty", "", ""},
		{"whitespace", " \n\t ", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(Render(tc.src))
			if got != tc.want {
				t.Errorf("Render(%q)\n got %q\nwant %q", tc.src, got, tc.want)
			}
			checkSafe(t, got, blockAllowed)
		})
	}
}

func TestRenderInline(t *testing.T) {
	const rel = ` rel="nofollow noopener noreferrer"`
	tests := []struct{ src, want string }{
		{"**Acme** Agent", "<strong>Acme</strong> Agent"},
		{"# Not a heading", "# Not a heading"},
		{"1. not a list", "1. not a list"},
		{"- not a list", "- not a list"},
		{"> not a quote", "&gt; not a quote"},
		{"two\n\nparagraphs\nand lines", "two paragraphs and lines"},
		{"[site](https://example.com)", `<a href="https://example.com"` + rel + ">site</a>"},
		{"[site](javascript:alert(1))", "site"},
		{"![logo](https://example.com/l.png) Acme", "logo Acme"},
		{"<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
		{"`code` ~~x~~ _e_", "<code>code</code> <del>x</del> <em>e</em>"},
		{"| a | b |\n|---|---|\n| 1 | 2 |", "| a | b | |---|---| | 1 | 2 |"},
		{"```\nfenced\n```", "<code>fenced</code>"},
		{"  padded  ", "padded"},
		{"a&#xA;b&#9;c&#13;d", "a b c d"},
		{"[a]: /x", "[a]: /x"},
		{"[a]: https://example.com", `[a]: <a href="https://example.com"` + rel + ">https://example.com</a>"},
		{"", ""},
	}
	for _, tc := range tests {
		got := string(RenderInline(tc.src))
		if got != tc.want {
			t.Errorf("RenderInline(%q)\n got %q\nwant %q", tc.src, got, tc.want)
		}
		checkSafe(t, got, inlineAllowed)
	}
}

func TestPlain(t *testing.T) {
	tests := []struct{ src, want string }{
		{"**bold** and _em_", "bold and em"},
		{"# Title\n\nBody text\nwraps here.", "Title\nBody text wraps here."},
		{"- a\n- b\n\n1. c", "- a\n- b\n- c"},
		{"[docs](https://example.com) [bad](javascript:x)", "docs bad"},
		{"![a cat](https://example.com/c.png)", "a cat"},
		{"AT&amp;T &lt;tag&gt;", "AT&T <tag>"},
		{"<script>alert(1)</script>", "<script>alert(1)</script>"},
		{"```\nline 1\n\n  line 2\n```", "line 1\n\n  line 2"},
		{"| a | b |\n|---|---|\n| 1 | 2 |", "a | b\n1 | 2"},
		{"> quoted", "quoted"},
		{"a  \nb", "a\nb"},
		{"x\u202Ey &#x202E;z \x1b[31m", "xy z [31m"},
		{"", ""},
	}
	for _, tc := range tests {
		got := Plain(tc.src)
		if got != tc.want {
			t.Errorf("Plain(%q)\n got %q\nwant %q", tc.src, got, tc.want)
		}
		checkPlain(t, got)
	}
}

func TestTruncation(t *testing.T) {
	// Exactly MaxSource is kept whole.
	exact := strings.Repeat("a", MaxSource)
	if got := truncate(exact); got != exact {
		t.Fatalf("truncate changed an input of exactly MaxSource bytes")
	}
	// One byte over is cut and ends with the ellipsis, within MaxSource.
	over := strings.Repeat("a", MaxSource+1)
	got := truncate(over)
	if len(got) > MaxSource || !strings.HasSuffix(got, "…") {
		t.Fatalf("truncate: len %d, suffix %q", len(got), got[len(got)-8:])
	}
	// Multi-byte runes are not split.
	for shift := range 4 {
		s := strings.Repeat("x", shift) + strings.Repeat("日本語🎉", MaxSource)
		got := truncate(s)
		if !utf8.ValidString(got) || len(got) > MaxSource || !strings.HasSuffix(got, "…") {
			t.Fatalf("shift %d: invalid truncation (len %d, valid %v)", shift, len(got), utf8.ValidString(got))
		}
		if len(got) < MaxSource-len("…")-utf8.UTFMax {
			t.Fatalf("shift %d: cut too much: %d", shift, len(got))
		}
	}
	// Rendering a long input shows the ellipsis and not the tail.
	long := strings.Repeat("word ", MaxSource) + "TAIL"
	for name, out := range map[string]string{
		"Render":       string(Render(long)),
		"RenderInline": string(RenderInline(long)),
		"Plain":        Plain(long),
	} {
		if strings.Contains(out, "TAIL") || !strings.Contains(out, "…") {
			t.Errorf("%s: long input not truncated with an ellipsis", name)
		}
	}
	// A run of continuation bytes (invalid UTF-8) does not make truncate
	// discard everything.
	junk := strings.Repeat("\x80", MaxSource*2)
	if got := truncate(junk); len(got) < MaxSource-len("…")-utf8.UTFMax {
		t.Fatalf("truncate of invalid UTF-8 cut to %d bytes", len(got))
	}
	checkSafe(t, string(Render(junk)), blockAllowed)
}

func TestCleanText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"a\r\nb\rc\nd", "a\nb\nc\nd"},
		{"a\x00b", "a\uFFFDb"},
		{"a\x01\x08\x0b\x0c\x1b\x7fb\tc", "ab\tc"},
		{"a\u0085\u009fb", "ab"},
		{"a\u202Ab\u202Bc\u202Cd\u202De\u202Ef\u2066g\u2067h\u2068i\u2069j", "abcdefghij"},
		{"a\u200Fb\u200Ec", "a\u200Fb\u200Ec"}, // marks are harmless and kept
		{"\xffa\xc3", "\uFFFDa\uFFFD"},
		{"עברית العربية", "עברית العربية"},
	}
	for _, tc := range tests {
		if got := cleanText(tc.in); got != tc.want {
			t.Errorf("cleanText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// maxTreeDepth returns the element depth of the parsed fragment.
func maxTreeDepth(t *testing.T, out string) int {
	t.Helper()
	ctx := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	nodes, err := html.ParseFragment(strings.NewReader(out), ctx)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	var depth func(n *html.Node) int
	depth = func(n *html.Node) int {
		best := 0
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			best = max(best, depth(c))
		}
		if n.Type == html.ElementNode {
			best++
		}
		return best
	}
	best := 0
	for _, n := range nodes {
		best = max(best, depth(n))
	}
	return best
}

func TestDepthLimit(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"blockquotes", strings.Repeat("> ", 200) + "deep **text**", "deep text"},
		{"lists", strings.Repeat("- ", 200) + "deep item", "deep item"},
		{"ordered lists", strings.Repeat("1. ", 200) + "deep item", "deep item"},
		{"indented lists", func() string {
			var b strings.Builder
			for i := range 60 {
				fmt.Fprintf(&b, "%s- item%d\n", strings.Repeat("  ", i), i)
			}
			return b.String()
		}(), "item59"},
		{"emphasis", strings.Repeat("*_", 300) + "deep" + strings.Repeat("_*", 300), "deep"},
		{"mixed", strings.Repeat("> - ", 100) + "*[link](https://example.com)*", "link"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := string(Render(tc.src))
			checkSafe(t, out, blockAllowed)
			if d := maxTreeDepth(t, out); d > maxDepth+4 {
				t.Errorf("output depth %d > %d", d, maxDepth+4)
			}
			if !strings.Contains(Plain(tc.src), tc.want) {
				t.Errorf("content %q lost: %s", tc.want, clip(Plain(tc.src)))
			}
			in := string(RenderInline(tc.src))
			if d := maxTreeDepth(t, in); d > maxDepth+1 {
				t.Errorf("inline output depth %d > %d", d, maxDepth+1)
			}
		})
	}
	// Moderate nesting is untouched.
	const nested = "> - a\n>   - b\n>     - **c**"
	want := "<blockquote>\n<ul>\n<li>a\n<ul>\n<li>b\n<ul>\n<li><strong>c</strong></li>\n</ul>\n</li>\n</ul>\n</li>\n</ul>\n</blockquote>\n"
	if got := string(Render(nested)); got != want {
		t.Errorf("Render(%q)\n got %q\nwant %q", nested, got, want)
	}
}

func TestDeterministic(t *testing.T) {
	src := benchDescription()
	first := Render(src)
	for range 20 {
		if Render(src) != first {
			t.Fatal("Render is not deterministic")
		}
	}
}

func TestConcurrent(t *testing.T) {
	inputs := make([]string, 0, len(xssPayloads)+1)
	for _, p := range xssPayloads {
		if len(p.src) <= 1024 {
			inputs = append(inputs, p.src)
		}
	}
	inputs = append(inputs, benchDescription())
	want := make([]string, len(inputs))
	for i, s := range inputs {
		want[i] = string(Render(s)) + "\x00" + string(RenderInline(s)) + "\x00" + Plain(s)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range inputs {
				j := (i + g) % len(inputs)
				s := inputs[j]
				got := string(Render(s)) + "\x00" + string(RenderInline(s)) + "\x00" + Plain(s)
				if got != want[j] {
					t.Errorf("concurrent render of input %d differs", j)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// benchDescription is a realistic ~2 KiB mission description.
func benchDescription() string {
	var b strings.Builder
	b.WriteString("# Quarterly travel planning\n\n")
	b.WriteString("I will **book travel** for the *Q3 offsite* and keep costs under the ~~old~~ new budget.\n\n")
	b.WriteString("## Steps\n\n")
	for i := 1; i <= 6; i++ {
		fmt.Fprintf(&b, "%d. Search flights on [the airline site](https://airline.example/search?leg=%d) and compare `fare_class` options.\n", i, i)
	}
	b.WriteString("\n> Note: the person asked me to prefer morning departures. Contact travel@example.com with questions.\n\n")
	b.WriteString("| Item | Limit | Notes |\n|------|------:|-------|\n")
	for _, r := range []string{"Flights", "Hotel", "Meals", "Ground"} {
		fmt.Fprintf(&b, "| %s | $%d | per policy, see www.example.com/policy |\n", r, len(r)*100)
	}
	b.WriteString("\n```\nbudget = 4200\ncurrency = USD\n```\n\n")
	for b.Len() < 2048-40 {
		b.WriteString("- Confirm with the person before any non-refundable purchase.\n")
	}
	return b.String()
}

func BenchmarkRender(b *testing.B) {
	src := benchDescription()
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		_ = Render(src)
	}
}

func BenchmarkRenderInline(b *testing.B) {
	src := "**Acme Travel Agent** — books flights via [Acme](https://acme.example)"
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		_ = RenderInline(src)
	}
}

func BenchmarkPlain(b *testing.B) {
	src := benchDescription()
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		_ = Plain(src)
	}
}

// TestHeadingsCannotPoseAsThePS: agent Markdown is shown inside the PS's
// pages, so no heading of any level, in any container, survives rendering
// (issue 9 item 2). The PS's own headings are the only ones on a page.
func TestHeadingsCannotPoseAsThePS(t *testing.T) {
	for _, src := range []string{
		"# Verified by your Person Server\n\nAll good.",
		"Verified by your Person Server\n===",
		"> ## What you approved",
		"1. ###### Approved\n2. text",
		"| a |\n|---|\n| # not a heading in a cell |",
	} {
		got := string(Render(src))
		if strings.Contains(got, "<h") {
			t.Errorf("Render(%q) = %q: a heading reached the page", src, got)
		}
		checkSafe(t, got, blockAllowed)
	}
	if got := string(Render("# Verified by your Person Server")); got != "<p><strong>Verified by your Person Server</strong></p>\n" {
		t.Errorf("a heading renders as %q, want strong text in a paragraph", got)
	}
}
