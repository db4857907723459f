package markdown

import (
	"bytes"
	"html/template"
	"strings"
	"unicode/utf8"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"golang.org/x/net/html"
)

// MaxSource is the largest input, in bytes, that is rendered. Longer inputs
// are truncated on a UTF-8 boundary and end with an ellipsis ("…"); the
// truncated text including the ellipsis is at most MaxSource bytes. The AAuth
// protocol caps Markdown at 8 KiB.
const MaxSource = 8 << 10

const ellipsis = "…"

// The converters and policies are built once; goldmark and bluemonday are
// both safe for concurrent use once configured.
var (
	blockMD      = newBlockMarkdown()
	inlineMD     = newInlineMarkdown()
	blockPolicy  = newBlockPolicy()
	inlinePolicy = newInlinePolicy()
)

// Render converts untrusted Markdown to sanitized HTML that is safe to embed
// in a page. The result is an html/template.HTML (a ~string type, usable with
// templ.Raw). See the package documentation for exactly what is kept.
func Render(src string) template.HTML {
	return template.HTML(render(src, blockMD, blockPolicy))
}

// RenderInline renders a single line of Markdown for names and short labels.
// Line breaks are folded into spaces and no block structure is recognised
// ("# x" or "1. x" stay literal text); the result has no enclosing <p> and
// contains only strong, em, del, code and a elements.
func RenderInline(src string) template.HTML {
	src = cleanText(truncate(src))
	src = strings.Join(strings.Fields(src), " ")
	// Character references such as &#xA; can still produce line breaks.
	out := strings.NewReplacer("\n", " ", "\t", " ").Replace(convert(src, inlineMD, inlinePolicy))
	return template.HTML(out)
}

// Plain returns a plain-text rendering of untrusted Markdown, for
// notifications, logs and titles: markup is removed, links become their
// text, images their alt text, character references are resolved, and
// blocks (paragraphs, headings, list items, table rows) are separated by a
// single newline; list items start with "- " and table cells are separated by
// " | ". Code blocks keep their line breaks. Raw HTML in the source appears
// literally. The result is NOT HTML-safe: escape it like any other text. For
// a one-line title use strings.Join(strings.Fields(Plain(s)), " ").
func Plain(src string) string {
	return htmlToText(render(src, blockMD, blockPolicy))
}

func render(src string, md goldmark.Markdown, p *bluemonday.Policy) string {
	return convert(cleanText(truncate(src)), md, p)
}

func convert(src string, md goldmark.Markdown, p *bluemonday.Policy) string {
	if strings.TrimSpace(src) == "" {
		return ""
	}
	var buf bytes.Buffer
	buf.Grow(len(src) + len(src)/2 + 64)
	if err := md.Convert([]byte(src), &buf); err != nil {
		// goldmark only fails when the writer fails; a bytes.Buffer does
		// not. Fall back to fully escaped text rather than risk anything.
		return template.HTMLEscapeString(src)
	}
	return cleanText(p.SanitizeReader(&buf).String())
}

// truncate bounds src to MaxSource bytes, ellipsis included.
func truncate(src string) string {
	if len(src) <= MaxSource {
		return src
	}
	cut := MaxSource - len(ellipsis)
	// Back off to the start of a rune; at most 3 bytes for valid UTF-8.
	for i := 0; i < utf8.UTFMax-1 && cut > 0 && !utf8.RuneStart(src[cut]); i++ {
		cut--
	}
	return src[:cut] + ellipsis
}

// dropRune reports whether r is removed from input and output: C0 controls
// other than TAB and LF (CR is normalised before this), DEL, C1 controls and
// the bidirectional embedding/override/isolate controls.
func dropRune(r rune) bool {
	switch {
	case r < 0x20:
		return r != '\t' && r != '\n'
	case r >= 0x7f && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// needsClean is a fast check that s is valid UTF-8 with nothing to change.
func needsClean(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' || c == 0x7f {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || dropRune(r) {
			return true
		}
		i += size
	}
	return false
}

// cleanText makes s valid UTF-8, turns NUL into U+FFFD, CR LF and CR into
// LF, and drops the runes dropRune selects.
func cleanText(s string) string {
	if !needsClean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1, r == 0:
			b.WriteRune(utf8.RuneError)
		case r == '\r':
			if i < len(s) && s[i] == '\n' {
				i++
			}
			b.WriteByte('\n')
		case dropRune(r):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// blockTags end a line in Plain output.
var blockTags = map[string]bool{
	"p": true, "pre": true, "blockquote": true, "ul": true, "ol": true,
	"li":    true,
	"table": true, "thead": true, "tbody": true, "tr": true, "hr": true,
}

// htmlToText flattens sanitized HTML produced by render into text.
func htmlToText(h string) string {
	if h == "" {
		return ""
	}
	var b []byte
	newline := func() {
		b = bytes.TrimRight(b, " \t")
		if len(b) > 0 && b[len(b)-1] != '\n' {
			b = append(b, '\n')
		}
	}
	pre, cells := 0, 0
	z := html.NewTokenizer(strings.NewReader(h))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		switch tt {
		case html.TextToken:
			t := z.Text()
			if pre > 0 {
				b = append(b, t...)
				continue
			}
			if len(bytes.Trim(t, "\n")) == 0 {
				continue // goldmark's inter-block newlines
			}
			t = bytes.ReplaceAll(t, []byte("\n"), []byte(" "))
			if len(b) == 0 || b[len(b)-1] == '\n' {
				t = bytes.TrimLeft(t, " \t")
			}
			b = append(b, t...)
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			switch tag := string(name); tag {
			case "br":
				b = bytes.TrimRight(b, " \t")
				b = append(b, '\n')
			case "li":
				newline()
				b = append(b, "- "...)
			case "tr":
				newline()
				cells = 0
			case "td", "th":
				if cells > 0 {
					b = append(b, " | "...)
				}
				cells++
			case "pre":
				newline()
				pre++
			default:
				if blockTags[tag] {
					newline()
				}
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			tag := string(name)
			if tag == "pre" && pre > 0 {
				pre--
			}
			if blockTags[tag] {
				newline()
			}
		}
	}
	return cleanText(strings.TrimSpace(string(b)))
}
