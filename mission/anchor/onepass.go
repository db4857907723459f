package anchor

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// canonicalAt checks raw against the design's restrictions and writes its
// RFC 8785 form in one pass (issue 12: the check with encoding/json's
// token decoder and then jcs.Transform parsed every record twice). depth
// is how deep raw sits in the document it will be hashed in, so the
// nesting bound counts from there. Byte for byte what check followed by
// jcs.Transform gives, refusing what either refused: FuzzOnePassIsReference
// holds it to that reference.
func canonicalAt(raw []byte, depth int) ([]byte, error) {
	w := workspaces.Get().(*workspace)
	defer w.keep()
	return w.canonical(raw, depth)
}

// canonical is canonicalAt with w's member stack and scratch bytes.
func (w *workspace) canonical(raw []byte, depth int) ([]byte, error) {
	if !utf8.Valid(raw) {
		return nil, fmt.Errorf("%w: invalid UTF-8", ErrNotCanonicalizable)
	}
	c := canonicaliser{raw: raw, w: w}
	c.out.Grow(len(raw))
	c.space()
	if err := c.value(depth); err != nil {
		return nil, err
	}
	c.space()
	if c.i != len(raw) {
		return nil, fmt.Errorf("%w: trailing data", ErrNotCanonicalizable)
	}
	return c.out.Bytes(), nil
}

// workspace is what canonicalising a document needs only while it runs:
// members, the members of the objects being read, innermost last (each
// object's own from where it began); scratch, the bytes an object
// rewrites in sorted order; input, MarshalMember's spliced input.
// Workspaces are pooled (issue 12, finding 64: grown anew for each
// document, they were 7 % of the bytes the PS allocated under load);
// the output is the caller's and is never pooled.
type workspace struct {
	members []member
	scratch []byte
	input   []byte
}

// maxKeptWorkspace bounds the bytes a pooled workspace keeps: one large
// document does not pin its buffers for every later one.
const maxKeptWorkspace = 64 << 10

var workspaces = sync.Pool{New: func() any { return new(workspace) }}

// keep returns w to the pool, trimmed.
func (w *workspace) keep() {
	w.trim()
	workspaces.Put(w)
}

// trim drops w's references into the document it served, and its buffers
// that grew past the bound.
func (w *workspace) trim() {
	clear(w.members[:cap(w.members)]) // names point into the input
	if cap(w.members)*int(unsafe.Sizeof(member{})) > maxKeptWorkspace {
		w.members = nil
	}
	if cap(w.scratch) > maxKeptWorkspace {
		w.scratch = nil
	}
	if cap(w.input) > maxKeptWorkspace {
		w.input = nil
	}
}

type canonicaliser struct {
	raw []byte
	i   int
	out bytes.Buffer

	// last, when hasLast, names the top-level object's last member in input
	// order, whose value must begin at or after lastFrom and end at the
	// object's closing brace (MarshalMember: the member given as raw
	// JSON, which must be one value). lastSpan is where its canonical
	// value is in out.
	hasLast  bool
	last     string
	lastFrom int
	lastSpan [2]int
	lastSeen bool

	// w holds the member stack and the scratch bytes, kept across
	// objects, so that a record is canonicalised without an allocation
	// per object.
	w *workspace
}

func (c *canonicaliser) fail(what string) error {
	return fmt.Errorf("%w: %s at offset %d", ErrNotCanonicalizable, what, c.i)
}

// space skips JSON's insignificant whitespace.
func (c *canonicaliser) space() {
	for c.i < len(c.raw) {
		switch c.raw[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

func (c *canonicaliser) value(depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: nested deeper than %d", ErrNotCanonicalizable, maxDepth)
	}
	if c.i >= len(c.raw) {
		return c.fail("unexpected end")
	}
	switch b := c.raw[c.i]; {
	case b == '{':
		return c.object(depth)
	case b == '[':
		return c.array(depth)
	case b == '"':
		return c.stringValue()
	case b == '-' || (b >= '0' && b <= '9'):
		return c.number()
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(c.raw[c.i:], []byte(lit)) {
				c.i += len(lit)
				c.out.WriteString(lit)
				return nil
			}
		}
		return c.fail("invalid character")
	}
}

func (c *canonicaliser) array(depth int) error {
	c.i++ // [
	c.out.WriteByte('[')
	c.space()
	if c.i < len(c.raw) && c.raw[c.i] == ']' {
		c.i++
		c.out.WriteByte(']')
		return nil
	}
	for {
		c.space()
		if err := c.value(depth + 1); err != nil {
			return err
		}
		c.space()
		if c.i >= len(c.raw) {
			return c.fail("unexpected end")
		}
		switch c.raw[c.i] {
		case ',':
			c.i++
			c.out.WriteByte(',')
		case ']':
			c.i++
			c.out.WriteByte(']')
			return nil
		default:
			return c.fail("expected , or ]")
		}
	}
}

// member is one written "name":value of an object, by its span in out.
type member struct {
	name       []byte
	start, end int
	value      int // where the value begins
}

func (c *canonicaliser) object(depth int) error {
	c.i++ // {
	c.out.WriteByte('{')
	start := c.out.Len()
	base := len(c.w.members)
	defer func() { c.w.members = c.w.members[:base] }()
	c.space()
	if c.i < len(c.raw) && c.raw[c.i] == '}' {
		c.i++
		c.out.WriteByte('}')
		return nil
	}
	for {
		c.space()
		if c.i >= len(c.raw) || c.raw[c.i] != '"' {
			return c.fail("expected a member name")
		}
		literal := c.i
		name, plain, err := c.string()
		if err != nil {
			return err
		}
		nameLiteral := c.raw[literal:c.i]
		c.space()
		if c.i >= len(c.raw) || c.raw[c.i] != ':' {
			return c.fail("expected :")
		}
		c.i++
		c.space()
		if len(c.w.members) > base {
			c.out.WriteByte(',')
		}
		m := member{name: name, start: c.out.Len()}
		c.writeString(nameLiteral, name, plain)
		c.out.WriteByte(':')
		m.value = c.out.Len()
		in := c.i
		if err := c.value(depth + 1); err != nil {
			return err
		}
		m.end = c.out.Len()
		c.w.members = append(c.w.members, m)
		c.space()
		if depth == 0 && c.hasLast && string(name) == c.last {
			// The given member is one value, the last: nothing of it can
			// have become another member.
			if in < c.lastFrom || c.i != len(c.raw)-1 {
				return fmt.Errorf("%w: member %q is not one JSON value", ErrNotCanonicalizable, name)
			}
			c.lastSeen = true
		}
		if c.i >= len(c.raw) {
			return c.fail("unexpected end")
		}
		if c.raw[c.i] == '}' {
			c.i++
			break
		}
		if c.raw[c.i] != ',' {
			return c.fail("expected , or }")
		}
		c.i++
	}
	// RFC 8785 §3.2.3: members sorted by their names' UTF-16 code units;
	// equal names sort next to each other (the design refuses them).
	members := c.w.members[base:]
	sorted := slices.IsSortedFunc(members, compareMembers)
	if !sorted {
		slices.SortStableFunc(members, compareMembers)
	}
	for k := 1; k < len(members); k++ {
		if bytes.Equal(members[k].name, members[k-1].name) {
			return fmt.Errorf("%w: duplicate member %q", ErrNotCanonicalizable, members[k].name)
		}
	}
	if !sorted { // written in the input's order: rewrite them sorted
		c.w.scratch = append(c.w.scratch[:0], c.out.Bytes()[start:]...)
		written := c.w.scratch
		c.out.Truncate(start)
		for k, m := range members {
			if k > 0 {
				c.out.WriteByte(',')
			}
			c.out.Write(written[m.start-start : m.end-start])
		}
	}
	if depth == 0 && c.lastSeen {
		pos := start
		for k, m := range members {
			if k > 0 {
				pos++ // ,
			}
			if string(m.name) == c.last {
				c.lastSpan = [2]int{pos + m.value - m.start, pos + m.end - m.start}
			}
			pos += m.end - m.start
		}
	}
	c.out.WriteByte('}')
	return nil
}

func compareMembers(a, b member) int { return compareUTF16(string(a.name), string(b.name)) }

// compareUTF16 orders strings by their UTF-16 code units (RFC 8785
// §3.2.3). Byte order is the same except where a character above U+FFFF
// (a surrogate pair) meets one in U+E000–U+FFFF.
func compareUTF16(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			// The first code units decide, unless both are the same high
			// surrogate: then the low ones do, in the runes' own order.
			if ua, ub := firstUTF16Unit(ra), firstUTF16Unit(rb); ua != ub {
				return cmp.Compare(ua, ub)
			}
			return cmp.Compare(ra, rb)
		}
		a, b = a[na:], b[nb:]
	}
	return len(a) - len(b)
}

// firstUTF16Unit is r's first UTF-16 code unit: r itself in the Basic
// Multilingual Plane, its high surrogate above it.
func firstUTF16Unit(r rune) rune {
	if r >= 0x10000 {
		return 0xD800 + (r-0x10000)>>10
	}
	return r
}

// stringValue reads a JSON string literal at c.i and writes its
// canonical form.
func (c *canonicaliser) stringValue() error {
	from := c.i
	s, plain, err := c.string()
	if err != nil {
		return err
	}
	c.writeString(c.raw[from:c.i], s, plain)
	return nil
}

// writeString writes the canonical form of a string read by c.string:
// literal is its JSON literal, value its value.
func (c *canonicaliser) writeString(literal, value []byte, plain bool) {
	if plain { // no escape: the literal is its own canonical form
		c.out.Write(literal)
		return
	}
	writeString(&c.out, value)
}

// string reads a JSON string literal at c.i and returns its value, and
// whether the literal held no escape. Then the value is the literal's
// bytes (in raw, not copied), and the literal is its own RFC 8785 form:
// it holds neither a quote nor a backslash, nor a control character, and
// raw is valid UTF-8.
func (c *canonicaliser) string() (value []byte, plain bool, err error) {
	c.i++ // "
	start := c.i
	// Fast path: no escapes.
	for c.i < len(c.raw) {
		switch b := c.raw[c.i]; {
		case b == '"':
			c.i++
			return c.raw[start : c.i-1], true, nil
		case b == '\\':
			s, err := c.escapedString(start)
			return s, false, err
		case b < 0x20:
			return nil, false, c.fail("control character in string")
		default:
			c.i++
		}
	}
	return nil, false, c.fail("unterminated string")
}

func (c *canonicaliser) escapedString(start int) ([]byte, error) {
	buf := make([]byte, 0, c.i-start+16)
	buf = append(buf, c.raw[start:c.i]...)
	for c.i < len(c.raw) {
		b := c.raw[c.i]
		switch {
		case b == '"':
			c.i++
			return buf, nil
		case b < 0x20:
			return nil, c.fail("control character in string")
		case b != '\\':
			buf = append(buf, b)
			c.i++
			continue
		}
		if c.i+1 >= len(c.raw) {
			return nil, c.fail("unterminated string")
		}
		e := c.raw[c.i+1]
		c.i += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := c.hex4()
			if !ok {
				return nil, c.fail("invalid \\u escape")
			}
			switch {
			case r >= 0xD800 && r <= 0xDBFF:
				if c.i+1 >= len(c.raw) || c.raw[c.i] != '\\' || c.raw[c.i+1] != 'u' {
					return nil, fmt.Errorf("%w: lone surrogate", ErrNotCanonicalizable)
				}
				c.i += 2
				lo, ok := c.hex4()
				if !ok || lo < 0xDC00 || lo > 0xDFFF {
					return nil, fmt.Errorf("%w: lone surrogate", ErrNotCanonicalizable)
				}
				r = utf16.DecodeRune(r, lo)
			case r >= 0xDC00 && r <= 0xDFFF:
				return nil, fmt.Errorf("%w: lone surrogate", ErrNotCanonicalizable)
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return nil, c.fail("invalid escape")
		}
	}
	return nil, c.fail("unterminated string")
}

// hex4 reads the four hex digits of a \u escape.
func (c *canonicaliser) hex4() (rune, bool) {
	if c.i+4 > len(c.raw) {
		return 0, false
	}
	var r rune
	for _, h := range c.raw[c.i : c.i+4] {
		switch {
		case h >= '0' && h <= '9':
			r = r<<4 | rune(h-'0')
		case h >= 'a' && h <= 'f':
			r = r<<4 | rune(h-'a'+10)
		case h >= 'A' && h <= 'F':
			r = r<<4 | rune(h-'A'+10)
		default:
			return 0, false
		}
	}
	c.i += 4
	return r, true
}

// number reads a JSON number; only integers within ±(2^53−1) are
// admitted, written in their shortest decimal form (what RFC 8785's
// ECMAScript number serialisation gives for them).
func (c *canonicaliser) number() error {
	start := c.i
	if c.raw[c.i] == '-' {
		c.i++
	}
	digits := func() int {
		n := 0
		for c.i < len(c.raw) && c.raw[c.i] >= '0' && c.raw[c.i] <= '9' {
			c.i++
			n++
		}
		return n
	}
	if c.i < len(c.raw) && c.raw[c.i] == '0' {
		c.i++
	} else if digits() == 0 {
		return c.fail("invalid number")
	}
	if c.i < len(c.raw) && c.raw[c.i] == '.' {
		c.i++
		if digits() == 0 {
			return c.fail("invalid number")
		}
	}
	if c.i < len(c.raw) && (c.raw[c.i] == 'e' || c.raw[c.i] == 'E') {
		c.i++
		if c.i < len(c.raw) && (c.raw[c.i] == '+' || c.raw[c.i] == '-') {
			c.i++
		}
		if digits() == 0 {
			return c.fail("invalid number")
		}
	}
	v, err := SafeInteger(json.Number(c.raw[start:c.i]))
	if err != nil {
		return err
	}
	c.out.WriteString(strconv.FormatInt(v, 10))
	return nil
}
