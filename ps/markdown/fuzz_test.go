package markdown

import (
	"strings"
	"testing"
)

// FuzzRender checks the safety invariants of Render, RenderInline and Plain
// on arbitrary input, and that rendering is deterministic.
func FuzzRender(f *testing.F) {
	for _, p := range xssPayloads {
		if len(p.src) <= 1024 {
			f.Add(p.src)
		}
	}
	for _, s := range []string{
		"**bold** _em_ ~~del~~ `code`", "# h\n## h\n###### h", "- a\n  - b\n1. c",
		"| a | b |\n|---|---|\n| 1 | 2 |", "[x](https://example.com) <https://a.example> www.b.example c@d.example",
		"![alt](https://example.com/i.png)", "```\ncode\n```", "> q\n>> qq", "a  \nb\\\nc",
		"[a]: https://example.com\n\n[a] [b][a] [a][]", "&#x6A;&#97;&#x76;&#x61;script:", "\x00\r\n\u202E",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		out := string(Render(src))
		checkSafe(t, out, blockAllowed)
		if again := string(Render(src)); again != out {
			t.Fatalf("Render not deterministic for %q", src)
		}
		in := string(RenderInline(src))
		checkSafe(t, in, inlineAllowed)
		if strings.Contains(in, "\n") {
			t.Fatalf("RenderInline output has a newline: %q", in)
		}
		checkPlain(t, Plain(src))
	})
}
