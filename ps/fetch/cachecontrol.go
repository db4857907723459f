package fetch

import (
	"net/http"
	"strings"
	"time"
)

// cacheDirectives is what discovery needs from a response's Cache-Control.
type cacheDirectives struct {
	noStore   bool
	noCache   bool
	hasMaxAge bool
	// maxAge is the smallest max-age seen; an unparsable max-age counts as 0
	// (RFC 9111 §4.2.1: an invalid freshness lifetime makes the response stale).
	maxAge time.Duration
}

// maxDeltaSeconds is RFC 9111 §1.2.2's ceiling for delta-seconds.
const maxDeltaSeconds = 1 << 31

// parseCacheControl parses the Cache-Control field lines of a response
// (RFC 9111 §5.2): comma-separated directives, each a token with an
// optional token or quoted-string argument. Names compare
// case-insensitively; unknown directives and malformed members are
// ignored. It never panics on hostile input.
func parseCacheControl(lines []string) cacheDirectives {
	var d cacheDirectives
	for _, line := range lines {
		for len(line) > 0 {
			var name, value string
			name, value, line = nextDirective(line)
			switch strings.ToLower(name) {
			case "no-store":
				d.noStore = true
			case "no-cache":
				// no-cache="field" restricts only those fields for a shared
				// cache; revalidating at the floor is the safe reading.
				d.noCache = true
			case "max-age":
				secs, ok := parseDelta(value)
				if !ok {
					secs = 0
				}
				v := time.Duration(secs) * time.Second
				if !d.hasMaxAge || v < d.maxAge {
					d.maxAge = v
				}
				d.hasMaxAge = true
			}
		}
	}
	return d
}

// nextDirective splits the first directive off s.
func nextDirective(s string) (name, value, rest string) {
	s = strings.TrimLeft(s, " \t,")
	i := 0
	for i < len(s) && s[i] != '=' && s[i] != ',' {
		i++
	}
	name = strings.TrimSpace(s[:i])
	if i >= len(s) || s[i] == ',' {
		return name, "", s[i:]
	}
	s = strings.TrimLeft(s[i+1:], " \t") // after '='
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		j := 1
		for ; j < len(s); j++ {
			if s[j] == '\\' && j+1 < len(s) {
				j++
				b.WriteByte(s[j])
				continue
			}
			if s[j] == '"' {
				j++
				break
			}
			b.WriteByte(s[j])
		}
		rest = s[j:]
		if k := strings.IndexByte(rest, ','); k >= 0 {
			rest = rest[k:]
		} else {
			rest = ""
		}
		return name, b.String(), rest
	}
	k := strings.IndexByte(s, ',')
	if k < 0 {
		return name, strings.TrimSpace(s), ""
	}
	return name, strings.TrimSpace(s[:k]), s[k:]
}

// parseDelta parses delta-seconds: one or more digits, saturating at
// maxDeltaSeconds.
func parseDelta(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < maxDeltaSeconds {
			n = n*10 + int64(c-'0')
		}
	}
	return min(n, maxDeltaSeconds), true
}

// freshness computes how long a response may be served from cache before
// revalidation, from Cache-Control (no-store and no-cache mean 0),
// max-age, or Expires (relative to Date when present), minus Age. ok is
// false when the headers say nothing, so the caller applies its default.
func freshness(h http.Header, now time.Time) (ttl time.Duration, ok bool) {
	cc := parseCacheControl(h.Values("Cache-Control"))
	switch {
	case cc.noStore || cc.noCache:
		return 0, true
	case cc.hasMaxAge:
		ttl = cc.maxAge
	case h.Get("Expires") != "":
		exp, err := http.ParseTime(h.Get("Expires"))
		if err != nil {
			return 0, true // an invalid Expires means already expired
		}
		base := now
		if date, err := http.ParseTime(h.Get("Date")); err == nil {
			base = date
		}
		ttl = exp.Sub(base)
	default:
		return 0, false
	}
	if ttl <= 0 {
		return 0, true
	}
	if age, ok := parseDelta(strings.TrimSpace(h.Get("Age"))); ok {
		ttl -= time.Duration(age) * time.Second
	}
	return max(ttl, 0), true
}
