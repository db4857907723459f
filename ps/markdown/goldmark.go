package markdown

import (
	"bytes"
	"net/url"
	"reflect"
	"regexp"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	extast "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/renderer"
	"github.com/yuin/goldmark/renderer/html"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// linkRel is the rel value of every rendered link.
const linkRel = "nofollow noopener noreferrer"

// newBlockMarkdown builds the converter behind Render and Plain: CommonMark
// without raw HTML, plus GFM tables, strikethrough and linkify.
func newBlockMarkdown() goldmark.Markdown {
	p := parser.NewParser(
		parser.WithBlockParsers(without(parser.DefaultBlockParsers(), parser.NewHTMLBlockParser())...),
		parser.WithInlineParsers(without(parser.DefaultInlineParsers(), parser.NewRawHTMLParser())...),
		parser.WithParagraphTransformers(parser.DefaultParagraphTransformers()...),
		parser.WithASTTransformers(
			util.Prioritized(headingFlattener{}, 100),
			util.Prioritized(depthLimiter{}, 200),
		),
	)
	return goldmark.New(
		goldmark.WithParser(p),
		goldmark.WithExtensions(
			extension.NewTable(extension.WithTableCellAlignMethod(extension.TableCellAlignNone)),
			extension.Strikethrough,
			extension.NewLinkify(extension.WithLinkifyAllowedProtocols([]string{"https:"})),
		),
		goldmark.WithRendererOptions(
			renderer.WithNodeRenderers(util.Prioritized(safeRenderer{}, 100)),
		),
	)
}

// newInlineMarkdown builds the converter behind RenderInline: only the
// paragraph block parser, so no block structure is recognised, and a
// paragraph renderer that writes no <p>.
func newInlineMarkdown() goldmark.Markdown {
	p := parser.NewParser(
		parser.WithBlockParsers(util.Prioritized(parser.NewParagraphParser(), 1000)),
		parser.WithInlineParsers(without(parser.DefaultInlineParsers(), parser.NewRawHTMLParser())...),
		// No paragraph transformers: "[a]: https://…" stays literal text
		// instead of becoming an invisible link reference definition.
		parser.WithASTTransformers(util.Prioritized(depthLimiter{}, 200)),
	)
	return goldmark.New(
		goldmark.WithParser(p),
		goldmark.WithExtensions(
			extension.Strikethrough,
			extension.NewLinkify(extension.WithLinkifyAllowedProtocols([]string{"https:"})),
		),
		goldmark.WithRendererOptions(
			renderer.WithNodeRenderers(
				util.Prioritized(safeRenderer{}, 100),
				util.Prioritized(bareParagraphRenderer{}, 100),
			),
		),
	)
}

// without returns in minus the parsers of the same type as drop. It removes
// the HTML block parser and the inline raw HTML parser, so HTML in the source
// is parsed as ordinary text and escaped on output. (The autolink parser,
// which shares the '<' trigger, is kept.)
func without(in []util.PrioritizedValue, drop any) []util.PrioritizedValue {
	t := reflect.TypeOf(drop)
	out := make([]util.PrioritizedValue, 0, len(in))
	for _, v := range in {
		if reflect.TypeOf(v.Value) != t {
			out = append(out, v)
		}
	}
	if len(out) == len(in) {
		panic("markdown: goldmark parser to remove not found")
	}
	return out
}

// headingFlattener turns every heading into a paragraph of strong text
// ("# Verified by your Person Server" becomes <p><strong>Verified by your
// Person Server</strong></p>): agent text is shown inside the PS's pages,
// and a heading there, at any level, reads as the PS speaking (issue 9
// item 2). Empty headings are dropped.
type headingFlattener struct{}

func (headingFlattener) Transform(doc *ast.Document, _ text.Reader, _ parser.Context) {
	var headings []*ast.Heading
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		if h, ok := n.(*ast.Heading); ok {
			headings = append(headings, h)
			return ast.WalkSkipChildren, nil
		}
		if n.Type() == ast.TypeInline {
			return ast.WalkSkipChildren, nil
		}
		return ast.WalkContinue, nil
	})
	for _, h := range headings {
		parent := h.Parent()
		if !h.HasChildren() {
			parent.RemoveChild(parent, h)
			continue
		}
		strong := ast.NewEmphasis(2)
		for c := h.FirstChild(); c != nil; {
			next := c.NextSibling()
			strong.AppendChild(strong, c) // AppendChild detaches c from h
			c = next
		}
		p := ast.NewParagraph()
		p.AppendChild(p, strong)
		parent.ReplaceChild(parent, h, p)
	}
}

// maxDepth bounds the element nesting of the output. Markdown lets 8 KiB of
// input nest thousands of blockquotes, lists or emphases; browsers (and
// golang.org/x/net/html) give up on trees deeper than 512 elements and deep
// trees are a layout cost. Containers below this depth are unwrapped: their
// content stays, in order, one level up.
const maxDepth = 32

// depthLimiter unwraps blockquotes, lists, emphasis, strikethrough and links
// that would nest deeper than maxDepth elements.
type depthLimiter struct{}

func (depthLimiter) Transform(doc *ast.Document, _ text.Reader, _ parser.Context) {
	limitDepth(doc, 0)
}

// depthCost is the number of HTML elements a node opens.
func depthCost(n ast.Node) int {
	switch n.Kind() {
	case ast.KindText, ast.KindString, ast.KindTextBlock, ast.KindListItem:
		return 0 // ListItem is counted by its List
	case ast.KindList:
		return 2 // ul/ol + li
	}
	return 1
}

func unwrappable(n ast.Node) bool {
	switch n.Kind() {
	case ast.KindBlockquote, ast.KindList, ast.KindEmphasis, ast.KindLink, extast.KindStrikethrough:
		return true
	}
	return false
}

func limitDepth(n ast.Node, depth int) {
	for c := n.FirstChild(); c != nil; {
		next := c.NextSibling()
		d := depth + depthCost(c)
		if d <= maxDepth || !unwrappable(c) {
			limitDepth(c, d)
			c = next
			continue
		}
		// Move c's content up in its place and look at it again at this depth.
		lifted := unwrap(n, c)
		n.RemoveChild(n, c)
		if lifted != nil {
			next = lifted
		}
		c = next
	}
}

// unwrap moves the content of c into parent, just before c, and returns the
// first node moved (nil if none). A list gives up its items' content; a tight
// item's text block becomes a paragraph so items stay apart.
func unwrap(parent, c ast.Node) ast.Node {
	var first ast.Node
	move := func(x ast.Node) {
		if tb, ok := x.(*ast.TextBlock); ok {
			p := ast.NewParagraph()
			p.SetLines(tb.Lines())
			for gc := tb.FirstChild(); gc != nil; {
				nx := gc.NextSibling()
				p.AppendChild(p, gc)
				gc = nx
			}
			tb.Parent().RemoveChild(tb.Parent(), tb)
			x = p
		}
		parent.InsertBefore(parent, c, x)
		if first == nil {
			first = x
		}
	}
	for x := c.FirstChild(); x != nil; {
		nx := x.NextSibling()
		if item, ok := x.(*ast.ListItem); ok {
			for y := item.FirstChild(); y != nil; {
				ny := y.NextSibling()
				move(y)
				y = ny
			}
		} else {
			move(x)
		}
		x = nx
	}
	return first
}

// safeRenderer overrides goldmark's rendering of links, autolinks and images.
type safeRenderer struct{}

func (safeRenderer) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(ast.KindLink, renderLink)
	reg.Register(ast.KindAutoLink, renderAutoLink)
	reg.Register(ast.KindImage, renderImage)
}

// bareParagraphRenderer renders paragraphs as their content only.
type bareParagraphRenderer struct{}

func (bareParagraphRenderer) RegisterFuncs(reg renderer.NodeRendererFuncRegisterer) {
	reg.Register(ast.KindParagraph, func(w util.BufWriter, _ []byte, n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering && n.NextSibling() != nil {
			_ = w.WriteByte(' ')
		}
		return ast.WalkContinue, nil
	})
}

func writeLinkOpen(w util.BufWriter, href string) {
	_, _ = w.WriteString(`<a href="`)
	_, _ = w.Write(util.EscapeHTML([]byte(href)))
	_, _ = w.WriteString(`" rel="` + linkRel + `">`)
}

// renderLink writes <a> for an allowed destination; otherwise only the link
// text (the children) is rendered. The title is never rendered.
func renderLink(w util.BufWriter, _ []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	n := node.(*ast.Link)
	href, ok := safeHref(util.URLEscape(n.Destination, true))
	if !ok {
		return ast.WalkContinue, nil
	}
	if entering {
		writeLinkOpen(w, href)
	} else {
		_, _ = w.WriteString("</a>")
	}
	return ast.WalkContinue, nil
}

// renderAutoLink handles <scheme:…> autolinks and linkify matches. Email
// addresses become mailto:, bare www. hosts become https://.
func renderAutoLink(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if !entering {
		return ast.WalkContinue, nil
	}
	n := node.(*ast.AutoLink)
	label := n.Label(source)
	var dest []byte
	switch {
	case n.AutoLinkType == ast.AutoLinkEmail:
		dest = n.URL(source)
		if !bytes.HasPrefix(bytes.ToLower(dest), []byte("mailto:")) {
			dest = append([]byte("mailto:"), dest...)
		}
	case n.Protocol != nil: // linkify "www.example.com"
		dest = append([]byte("https://"), label...)
	default:
		dest = n.URL(source)
	}
	href, ok := safeHref(util.URLEscape(dest, false))
	if ok {
		writeLinkOpen(w, href)
	}
	_, _ = w.Write(util.EscapeHTML(label))
	if ok {
		_, _ = w.WriteString("</a>")
	}
	return ast.WalkContinue, nil
}

// renderImage writes an image's alt text instead of an <img>.
func renderImage(w util.BufWriter, source []byte, node ast.Node, entering bool) (ast.WalkStatus, error) {
	if entering {
		writeAltText(w, source, node, false)
	}
	return ast.WalkSkipChildren, nil
}

// writeAltText writes the text content of n's descendants, HTML-escaped, as
// goldmark does for an alt attribute.
func writeAltText(w util.BufWriter, source []byte, n ast.Node, raw bool) {
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.Text:
			v := c.Segment.Value(source)
			if raw || c.IsRaw() {
				html.DefaultWriter.RawWrite(w, v)
			} else {
				html.DefaultWriter.Write(w, v)
			}
			if c.SoftLineBreak() || c.HardLineBreak() {
				_ = w.WriteByte(' ')
			}
		case *ast.String:
			if c.IsCode() || c.IsRaw() {
				html.DefaultWriter.RawWrite(w, c.Value)
			} else {
				html.DefaultWriter.Write(w, c.Value)
			}
		case *ast.AutoLink:
			_, _ = w.Write(util.EscapeHTML(c.Label(source)))
		case *ast.CodeSpan:
			writeAltText(w, source, c, true)
		default:
			writeAltText(w, source, c, raw)
		}
	}
}

// safeHref returns the canonical form of dest if it is an allowed link
// destination: an absolute https: URL with a host and no user-info, or a
// mailto: URL with an address. dest must already have had character
// references resolved and been percent-encoded (util.URLEscape).
func safeHref(dest []byte) (string, bool) {
	s := string(dest)
	if s == "" || strings.ContainsAny(s, " \t\n\r\\") {
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil || !allowedURL(u) {
		return "", false
	}
	return u.String(), true
}

// allowedURL is the URL rule shared by the renderer and the bluemonday policy.
func allowedURL(u *url.URL) bool {
	switch u.Scheme {
	case "https":
		return u.Opaque == "" && u.Host != "" && u.User == nil && validHost(u.Hostname())
	case "mailto":
		return u.Opaque != "" && u.Host == "" && u.User == nil
	}
	return false
}

var hostRE = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?$|^\[?[0-9A-Fa-f:.]+\]?$`)

// validHost accepts DNS names (ASCII, including punycode) and IP literals.
func validHost(h string) bool {
	return h != "" && len(h) <= 253 && hostRE.MatchString(h)
}

// newBlockPolicy is the bluemonday policy applied to Render's HTML: a strict
// subset of bluemonday.UGCPolicy.
func newBlockPolicy() *bluemonday.Policy {
	p := linkPolicy()
	p.AllowElements("p", "br", "strong", "em", "del", "code", "pre",
		"blockquote", "ul", "ol", "li",
		"table", "thead", "tbody", "tr", "th", "td", "hr")
	p.AllowAttrs("start").Matching(regexp.MustCompile(`^[0-9]{1,9}$`)).OnElements("ol")
	return p
}

// newInlinePolicy is the policy applied to RenderInline's HTML.
func newInlinePolicy() *bluemonday.Policy {
	p := linkPolicy()
	p.AllowElements("strong", "em", "del", "code")
	return p
}

// linkPolicy is the common base: <a> with an https:/mailto: href and the
// fixed rel, nothing else.
func linkPolicy() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.RequireParseableURLs(true)
	p.AllowRelativeURLs(false)
	p.AllowURLSchemeWithCustomPolicy("https", allowedURL)
	p.AllowURLSchemeWithCustomPolicy("mailto", allowedURL)
	p.AllowAttrs("href").OnElements("a")
	p.AllowAttrs("rel").Matching(regexp.MustCompile(`^` + linkRel + `$`)).OnElements("a")
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(false)
	return p
}
