package aauth_test

import (
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// FuzzServerIdentifier: CheckServer never panics, and what it accepts is a
// lowercase https identifier of scheme and host only (P§server-identifiers,
// PS-034, PS-058); under --dev, http is accepted only for loopback.
func FuzzServerIdentifier(f *testing.F) {
	for _, s := range []string{
		"https://agent.example", "https://xn--nxasmq6b.example", "https://ap.test", "https://ps.test",
		"http://agent.example", "https://Agent.Example", "https://agent.example:8443",
		"https://agent.example/v1", "https://agent.example/", "https://u@rs.test", "https://rs.test?x=1",
		"https://rs.test#f", "https://127.0.0.1", "https://bücher.example", "http://localhost:8080",
		"http://127.0.0.1:8080", "http://localhost:0", "http://localhost:99999", "https://",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := aauth.Strict.CheckServer(s); err == nil {
			checkHTTPSIdentifier(t, s)
		}
		if err := dev.CheckServer(s); err == nil {
			if rest, ok := strings.CutPrefix(s, "http://"); ok {
				host, port, _ := strings.Cut(rest, ":")
				if host != "localhost" && host != "127.0.0.1" || strings.ContainsAny(port, "/?#@:") {
					t.Fatalf("dev accepted non-loopback http identifier %q", s)
				}
			} else {
				checkHTTPSIdentifier(t, s)
			}
		}
	})
}

func checkHTTPSIdentifier(t *testing.T, s string) {
	t.Helper()
	host, ok := strings.CutPrefix(s, "https://")
	if !ok {
		t.Fatalf("accepted %q without https://", s)
	}
	if s != strings.ToLower(s) {
		t.Fatalf("accepted %q, not lowercase", s)
	}
	if host == "" || strings.ContainsAny(host, ":/?#@ \\%[]") {
		t.Fatalf("accepted %q with more than a host", s)
	}
	if aauth.ServerHost(s) != host {
		t.Fatalf("ServerHost(%q) = %q", s, aauth.ServerHost(s))
	}
	if err := aauth.CheckDomain(host); err != nil {
		t.Fatalf("accepted %q but its host fails CheckDomain: %v", s, err)
	}
}

// FuzzAgentID: ParseAgentID never panics, and an accepted identifier splits
// into parts that round-trip through String() byte for byte (PS-039, PS-255).
func FuzzAgentID(f *testing.F) {
	for _, s := range []string{
		"aauth:assistant-v2@agent.example", "aauth:planner.7f3c@vendor.example",
		"aauth:planner.7f3c+search1@vendor.example", "aauth:Assistant-V2@ap.test",
		"My Agent@agent.example", "@agent.example", "agent@http://agent.example",
		"aauth:a b@ap.test", "aauth:@ap.test", "aauth:x@https://ap.test", "aauth:a*b@ap.test",
		"aauth:" + strings.Repeat("a", 256) + "@ap.test", "aauth:a@localhost:8080", "aauth:a@b@c.test",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range []aauth.IdentifierPolicy{aauth.Strict, dev} {
			id, err := p.ParseAgentID(s)
			if err != nil {
				continue
			}
			if id.String() != s {
				t.Fatalf("%q parsed to %+v, which renders as %q", s, id, id.String())
			}
			if id.Local == "" || len(id.Local) > 255 || strings.ContainsAny(id.Local, "@: ") {
				t.Fatalf("%q: bad local part %q accepted", s, id.Local)
			}
			again, err := p.ParseAgentID(id.String())
			if err != nil || again != id {
				t.Fatalf("%q does not re-parse: %v %+v", s, err, again)
			}
			if p == aauth.Strict {
				if err := aauth.CheckDomain(id.Domain); err != nil {
					t.Fatalf("%q: domain %q accepted but fails CheckDomain: %v", s, id.Domain, err)
				}
			}
		}
	})
}
