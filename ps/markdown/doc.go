// Package markdown turns untrusted Markdown into HTML that is safe to embed
// in a Person Server page, or into plain text.
//
// Every Markdown field the PS shows comes from a party it does not trust:
// mission descriptions, justifications and clarification responses come from
// agents; metadata descriptions and R3 display text come from resources. The
// AAuth draft (§Untrusted Input, §Consent Presentation, §Agent Control of the
// Consent Surface) and PS-168 require that text to be sanitized before it is
// rendered: no live <script>, no event handlers, no javascript: URLs. This
// package is the single place where that happens; the web UI inserts the
// result of [Render] or [RenderInline] as trusted HTML, for example with
// templ.Raw(markdown.Render(s)).
//
// # Return type
//
// [Render] and [RenderInline] return html/template's [template.HTML]. It is a
// string type, so it works with templ.Raw (which accepts any ~string) and with
// html/template, which inserts it unescaped. [Plain] returns an ordinary
// string that is NOT HTML: callers must escape it like any other text (templ's
// { expr } does this).
//
// # Pipeline
//
// Input is first bounded and cleaned:
//
//   - inputs longer than [MaxSource] bytes are cut (on a UTF-8 boundary) and
//     end with "…", so the result is at most MaxSource bytes;
//   - invalid UTF-8 becomes U+FFFD, NUL becomes U+FFFD, CR LF and CR become
//     LF, and the remaining C0/C1 control characters and the bidirectional
//     embedding, override and isolate characters (U+202A–U+202E,
//     U+2066–U+2069) are removed, so agent text cannot reorder what the
//     person reads or inject terminal escapes into logs. The same filter runs
//     again on the output, because character references such as &#x202E; are
//     resolved during rendering.
//
// The text is then parsed by goldmark as CommonMark with the GFM table,
// strikethrough and autolink (linkify) extensions. Task lists, footnotes,
// attributes ({#id .class}) and heading IDs are not enabled. The raw-HTML
// block and inline parsers are removed altogether, so anything that looks
// like HTML (<script>, <img onerror=…>, <!-- comments -->) is ordinary text
// and is shown escaped, exactly as the agent wrote it, rather than silently
// dropped: the person sees what the agent tried to say.
//
// Before rendering:
//
//   - headings, at every level, become a paragraph of strong text, so
//     agent text shown inside the PS's pages cannot look like the PS's own
//     headings ("# Verified by your Person Server");
//   - images are never rendered: ![alt](src) becomes its alt text, so agents
//     cannot make the PS or the person's browser fetch remote content;
//   - links, autolinks and linkified URLs become <a> only when the
//     destination, after entity and percent processing, is an absolute
//     https: URL whose host is an ASCII DNS name or IP literal (no
//     user-info part, so "https://bank.example@evil.example" is refused), or
//     a mailto: URL; anything else (javascript:, vbscript:, data:, http:,
//     relative, non-ASCII hosts, …) is rendered as its text only. Bare www.
//     links are upgraded to https. Link titles are dropped. Every link
//     carries rel="nofollow noopener noreferrer" and no target;
//   - blockquotes, lists, emphasis, strikethrough and links that would nest
//     deeper than 32 elements are unwrapped (their content stays), so 8 KiB
//     of "> > > …" cannot build a tree browsers refuse or struggle to lay
//     out.
//
// Finally the HTML passes through a bluemonday policy that is a strict subset
// of bluemonday.UGCPolicy (bluemonday has no way to remove allowances from a
// policy, so the subset is built from NewPolicy): the elements p, br, strong,
// em, del, code, pre, blockquote, ul, ol, li, a, table, thead, tbody,
// tr, th, td and hr; the attributes href and rel on a (href only https: or
// mailto:, rel only the fixed value above) and a numeric start on ol;
// nothing else, in particular no class, style, id, on* or data-* attribute
// and no img. [RenderInline] uses a smaller policy with only strong, em, del,
// code and a. Rendering is deterministic: the same input always produces the
// same bytes.
//
// All functions are safe for concurrent use.
package markdown
