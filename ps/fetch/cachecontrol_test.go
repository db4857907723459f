package fetch

import (
	"net/http"
	"testing"
	"time"
)

func TestParseCacheControl(t *testing.T) {
	cases := []struct {
		in      string
		want    cacheDirectives
		comment string
	}{
		{"max-age=300", cacheDirectives{hasMaxAge: true, maxAge: 300 * time.Second}, ""},
		{"public, MAX-AGE=60", cacheDirectives{hasMaxAge: true, maxAge: time.Minute}, "case-insensitive"},
		{`max-age="120"`, cacheDirectives{hasMaxAge: true, maxAge: 2 * time.Minute}, "quoted"},
		{"no-cache", cacheDirectives{noCache: true}, "bare no-cache"},
		{`no-cache="Set-Cookie", max-age=5`, cacheDirectives{noCache: true, hasMaxAge: true, maxAge: 5 * time.Second}, ""},
		{"no-store", cacheDirectives{noStore: true}, ""},
		{"max-age=", cacheDirectives{hasMaxAge: true}, "empty value: stale"},
		{"max-age=abc", cacheDirectives{hasMaxAge: true}, "invalid: stale"},
		{"max-age=-5", cacheDirectives{hasMaxAge: true}, "negative: stale"},
		{"max-age=100, max-age=50", cacheDirectives{hasMaxAge: true, maxAge: 50 * time.Second}, "conflict: smallest"},
		{"max-age=99999999999999999999", cacheDirectives{hasMaxAge: true, maxAge: maxDeltaSeconds * time.Second}, "saturates"},
		{`private="a,b", max-age=7`, cacheDirectives{hasMaxAge: true, maxAge: 7 * time.Second}, "comma in quotes"},
		{",,, ,max-age=1,,", cacheDirectives{hasMaxAge: true, maxAge: time.Second}, "empty members"},
		{"s-maxage=10", cacheDirectives{}, "shared-cache only"},
		{"", cacheDirectives{}, ""},
	}
	for _, tc := range cases {
		if got := parseCacheControl([]string{tc.in}); got != tc.want {
			t.Errorf("%q (%s): got %+v, want %+v", tc.in, tc.comment, got, tc.want)
		}
	}
	// Several field lines combine.
	got := parseCacheControl([]string{"max-age=60", "no-store"})
	if !got.noStore || got.maxAge != time.Minute {
		t.Errorf("two lines: %+v", got)
	}
}

func TestFreshness(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	h := func(kv ...string) http.Header {
		hh := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			hh.Add(kv[i], kv[i+1])
		}
		return hh
	}
	date := now.Format(http.TimeFormat)
	cases := []struct {
		h   http.Header
		ttl time.Duration
		ok  bool
	}{
		{h(), 0, false},
		{h("Cache-Control", "max-age=300"), 300 * time.Second, true},
		{h("Cache-Control", "max-age=300", "Age", "200"), 100 * time.Second, true},
		{h("Cache-Control", "max-age=300", "Age", "900"), 0, true},
		{h("Cache-Control", "no-store, max-age=300"), 0, true},
		{h("Cache-Control", "no-cache"), 0, true},
		{h("Cache-Control", "max-age=60", "Expires", now.Add(time.Hour).Format(http.TimeFormat)), time.Minute, true},
		{h("Date", date, "Expires", now.Add(10*time.Minute).Format(http.TimeFormat)), 10 * time.Minute, true},
		{h("Expires", now.Add(5*time.Minute).Format(http.TimeFormat)), 5 * time.Minute, true},
		{h("Expires", "0"), 0, true},
		{h("Date", date, "Expires", now.Add(-time.Hour).Format(http.TimeFormat)), 0, true},
		{h("Cache-Control", "public"), 0, false},
	}
	for i, tc := range cases {
		ttl, ok := freshness(tc.h, now)
		if ttl != tc.ttl || ok != tc.ok {
			t.Errorf("case %d %v: got %s %v, want %s %v", i, tc.h, ttl, ok, tc.ttl, tc.ok)
		}
	}
}

func FuzzCacheControl(f *testing.F) {
	for _, s := range []string{
		"max-age=300", "no-cache", `no-cache="a, b"`, "max-age=", `max-age="`, `"`, "=", ",=,",
		`private="\"`, "max-age=99999999999999999999999", "no-store, max-age=0", "\x00\xff=,\"",
	} {
		f.Add(s, "17")
	}
	f.Fuzz(func(t *testing.T, cc, age string) {
		d := parseCacheControl([]string{cc})
		if d.maxAge < 0 || d.maxAge > maxDeltaSeconds*time.Second {
			t.Fatalf("max-age out of range: %s", d.maxAge)
		}
		if d.maxAge != 0 && !d.hasMaxAge {
			t.Fatal("maxAge without hasMaxAge")
		}
		h := http.Header{"Cache-Control": {cc}, "Age": {age}, "Expires": {cc}}
		ttl, _ := freshness(h, time.Unix(0, 0))
		if ttl < 0 {
			t.Fatalf("negative ttl %s", ttl)
		}
	})
}
