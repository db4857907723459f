package aauth_test

import (
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// dev is the --dev identifier policy (A-16: loopback http only in dev).
var dev = aauth.IdentifierPolicy{AllowLoopbackHTTP: true}

// hostOfLength builds a valid LDH host name of exactly n octets (n ≥ 3)
// from labels of at most 63 octets.
func hostOfLength(n int) string {
	var labels []string
	for n > 0 {
		l := min(63, n)
		if n-l == 1 { // never leave a remainder that cannot hold a dot plus a label
			l--
		}
		labels = append(labels, strings.Repeat("a", l))
		n -= l
		if n > 0 {
			n-- // the dot
		}
	}
	return strings.Join(labels, ".")
}

func TestHostOfLength(t *testing.T) {
	for _, n := range []int{3, 63, 64, 65, 127, 253, 254} {
		if got := len(hostOfLength(n)); got != n {
			t.Fatalf("hostOfLength(%d) has length %d", n, got)
		}
	}
}

// TestCheckServerStrict covers P§server-identifiers: every example of the
// draft's Server Identifiers section, the PS-058 cases and the DNS limits
// (PS-034, PS-058, A-16).
func TestCheckServerStrict(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	valid := []string{
		// The draft's valid examples.
		"https://agent.example",
		"https://xn--nxasmq6b.example", // IDN in A-label form
		// More.
		"https://ps.test",
		"https://a.b",
		"https://sub.agent.example",
		"https://a-b.example",
		"https://a--b.example",
		"https://123.example", // an all-digit label is fine unless it is the TLD
		"https://xn--bcher-kva.example",
		"https://" + label63 + ".example",
		"https://" + hostOfLength(253),
	}
	for _, s := range valid {
		if err := aauth.Strict.CheckServer(s); err != nil {
			t.Errorf("CheckServer(%q) = %v, want valid", s, err)
		}
		if err := dev.CheckServer(s); err != nil {
			t.Errorf("dev CheckServer(%q) = %v, want valid", s, err)
		}
	}
	invalid := []struct{ s, why string }{
		// The draft's invalid examples.
		{"http://agent.example", "not https"},
		{"https://Agent.Example", "not lowercase"},
		{"https://agent.example:8443", "port"},
		{"https://agent.example/v1", "path"},
		{"https://agent.example/", "trailing slash"},
		// PS-058 and more.
		{"https://AGENT.EXAMPLE", "upper case"},
		{"https://agent.Example", "upper-case TLD"},
		{"https://XN--nxasmq6b.example", "upper-case A-label prefix"},
		{"HTTPS://agent.example", "upper-case scheme"},
		{"Https://agent.example", "mixed-case scheme"},
		{"https://agent.example:443", "default port is still a port"},
		{"https://agent.example:", "empty port"},
		{"https://agent.example?x=1", "query"},
		{"https://agent.example/?x=1", "path and query"},
		{"https://agent.example#f", "fragment"},
		{"https://agent.example#", "empty fragment"},
		{"https://agent.example?", "empty query"},
		{"https://u@agent.example", "userinfo"},
		{"https://u:p@agent.example", "userinfo with password"},
		{"https://@agent.example", "empty userinfo"},
		{"https://", "empty host"},
		{"https:///", "empty host with slash"},
		{"https:agent.example", "no authority"},
		{"https//agent.example", "malformed scheme"},
		{"//agent.example", "scheme-relative"},
		{"agent.example", "no scheme"},
		{"", "empty"},
		{"https://bücher.example", "IDN not in A-label form"},
		{"https://агент.example", "Cyrillic U-label"},
		{"https://127.0.0.1", "IPv4 literal"},
		{"https://10.1.2.3", "IPv4 literal"},
		{"https://[::1]", "IPv6 literal"},
		{"https://[2001:db8::1]", "IPv6 literal"},
		{"https://localhost", "single label"},
		{"https://example", "single label"},
		{"https://agent.123", "all-digit TLD"},
		{"https://agent.example.", "trailing dot (empty label)"},
		{"https://.agent.example", "leading dot"},
		{"https://agent..example", "empty label"},
		{"https://-agent.example", "leading hyphen"},
		{"https://agent-.example", "trailing hyphen"},
		{"https://agent.-example", "TLD leading hyphen"},
		{"https://agent.example-", "TLD trailing hyphen"},
		{"https://ag_ent.example", "underscore"},
		{"https://ag ent.example", "space"},
		{"https://agent.example%2F", "percent"},
		{" https://agent.example", "leading space"},
		{"https://agent.example ", "trailing space"},
		{"https://agent.example\n", "trailing newline"},
		{"https://agent.example\x00", "NUL"},
		{"https://agent.example\\", "backslash"},
		{"https://" + strings.Repeat("a", 64) + ".example", "label of 64 octets"},
		{"https://" + hostOfLength(254), "254 octets"},
		{"http://localhost", "loopback http outside dev"},
		{"http://localhost:8080", "loopback http outside dev"},
		{"http://127.0.0.1:8080", "loopback http outside dev"},
		{"https://localhost:8443", "port"},
	}
	for _, c := range invalid {
		if err := aauth.Strict.CheckServer(c.s); err == nil {
			t.Errorf("CheckServer(%q) accepted (%s)", c.s, c.why)
		}
	}
}

// TestCheckServerDev covers the --dev exception: http on localhost or
// 127.0.0.1 with an optional canonical port, nothing else.
func TestCheckServerDev(t *testing.T) {
	accepted := []string{
		"http://localhost",
		"http://127.0.0.1",
		"http://localhost:8080",
		"http://127.0.0.1:8080",
		"http://localhost:1",
		"http://localhost:65535",
		"https://agent.example", // https identifiers stay valid in dev
	}
	for _, s := range accepted {
		if err := dev.CheckServer(s); err != nil {
			t.Errorf("dev CheckServer(%q) = %v, want accepted", s, err)
		}
	}
	refused := []string{
		"http://example.com",
		"http://agent.example",
		"http://localhost:0",
		"http://localhost:99999",
		"http://localhost:65536",
		"http://localhost:",
		"http://localhost:080",
		"http://localhost:+80",
		"http://localhost:-1",
		"http://localhost:80a",
		"http://localhost/",
		"http://localhost:8080/",
		"http://localhost:8080/path",
		"http://localhost?x",
		"http://LOCALHOST",
		"http://Localhost:8080",
		"http://127.0.0.2",
		"http://127.1",
		"http://[::1]:8080",
		"http://0.0.0.0:8080",
		"http://localhost.example",
		"http://u@localhost",
		"http://",
		"https://localhost", // https loopback is still not a domain
		"https://127.0.0.1",
		"ftp://localhost",
	}
	for _, s := range refused {
		if err := dev.CheckServer(s); err == nil {
			t.Errorf("dev CheckServer(%q) accepted", s)
		}
	}
}

func TestServerHost(t *testing.T) {
	for in, want := range map[string]string{
		"https://agent.example":  "agent.example",
		"https://xn--nxasmq6b.x": "xn--nxasmq6b.x",
		"http://localhost:8080":  "localhost:8080",
		"http://127.0.0.1":       "127.0.0.1",
		"agent.example":          "agent.example",
		"":                       "",
	} {
		if got := aauth.ServerHost(in); got != want {
			t.Errorf("ServerHost(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestParseAgentID covers P§agent-identifiers and PS-039, PS-255: the
// draft's valid and invalid examples, the 255-octet local part, upper case
// kept as is, the sub-agent '+' and the domain rules.
func TestParseAgentID(t *testing.T) {
	local255 := strings.Repeat("a", 255)
	valid := []struct {
		s, local, domain string
		sub              bool
	}{
		// The draft's valid examples.
		{"aauth:assistant-v2@agent.example", "assistant-v2", "agent.example", false},
		{"aauth:planner.7f3c@vendor.example", "planner.7f3c", "vendor.example", false},
		{"aauth:planner.7f3c+search1@vendor.example", "planner.7f3c+search1", "vendor.example", true},
		// Upper case is valid since -11 and is never folded (PS-039, PS-255).
		{"aauth:Assistant-V2@ap.test", "Assistant-V2", "ap.test", false},
		{"aauth:A1@ap.test", "A1", "ap.test", false},
		{"aauth:a_b.c-d@ap.test", "a_b.c-d", "ap.test", false},
		{"aauth:a+b+c@ap.test", "a+b+c", "ap.test", true},
		{"aauth:.@ap.test", ".", "ap.test", false},
		{"aauth:" + local255 + "@ap.test", local255, "ap.test", false},
		{"aauth:x@xn--nxasmq6b.example", "x", "xn--nxasmq6b.example", false},
		{"aauth:x@" + hostOfLength(253), "x", hostOfLength(253), false},
	}
	for _, c := range valid {
		id, err := aauth.Strict.ParseAgentID(c.s)
		if err != nil {
			t.Errorf("ParseAgentID(%q) = %v, want valid", c.s, err)
			continue
		}
		if id.Local != c.local || id.Domain != c.domain {
			t.Errorf("ParseAgentID(%q) = %+v", c.s, id)
		}
		if id.String() != c.s {
			t.Errorf("String() = %q, want %q", id.String(), c.s)
		}
		if id.IsSubAgentName() != c.sub {
			t.Errorf("IsSubAgentName(%q) = %v", c.s, id.IsSubAgentName())
		}
	}
	invalid := []struct{ s, why string }{
		// The draft's invalid examples, as written and with the scheme.
		{"My Agent@agent.example", "space, no scheme"},
		{"@agent.example", "empty local, no scheme"},
		{"agent@http://agent.example", "scheme in domain, no scheme"},
		{"aauth:My Agent@agent.example", "space in local part"},
		{"aauth:@agent.example", "empty local part"},
		{"aauth:agent@http://agent.example", "domain includes scheme"},
		{"aauth:x@https://ap.test", "domain includes scheme"},
		// PS-039 cases and more.
		{"aauth:a b@ap.test", "space"},
		{"aauth:a*b@ap.test", "asterisk"},
		{"aauth:a/b@ap.test", "slash"},
		{"aauth:a:b@ap.test", "colon"},
		{"aauth:a%20b@ap.test", "percent"},
		{"aauth:é@ap.test", "non-ASCII"},
		{"aauth:a\x00@ap.test", "NUL"},
		{"aauth:a@b@ap.test", "two @"},
		{"aauth:" + strings.Repeat("a", 256) + "@ap.test", "local part of 256"},
		{"aauth:a", "no @domain"},
		{"aauth:a@", "empty domain"},
		{"aauth:", "empty"},
		{"", "empty string"},
		{"a@ap.test", "no scheme"},
		{"AAUTH:a@ap.test", "upper-case scheme"},
		{"aauth::a@ap.test", "colon in local"},
		{"urn:aauth:a@ap.test", "other scheme"},
		{" aauth:a@ap.test", "leading space"},
		{"aauth:a@AP.test", "upper-case domain"},
		{"aauth:a@ap.test:443", "port in domain"},
		{"aauth:a@ap.test/", "path in domain"},
		{"aauth:a@ap", "single-label domain"},
		{"aauth:a@127.0.0.1", "IPv4 domain"},
		{"aauth:a@[::1]", "IPv6 domain"},
		{"aauth:a@-ap.test", "leading hyphen"},
		{"aauth:a@ap-.test", "trailing hyphen"},
		{"aauth:a@ap..test", "empty label"},
		{"aauth:a@ap.test.", "trailing dot"},
		{"aauth:a@bücher.example", "U-label domain"},
		{"aauth:a@" + strings.Repeat("a", 64) + ".test", "label of 64"},
		{"aauth:a@" + hostOfLength(254), "domain of 254"},
		{"aauth:a@localhost", "loopback outside dev"},
		{"aauth:a@localhost:8080", "loopback outside dev"},
		{"aauth:a@127.0.0.1:8080", "loopback outside dev"},
	}
	for _, c := range invalid {
		if id, err := aauth.Strict.ParseAgentID(c.s); err == nil {
			t.Errorf("ParseAgentID(%q) = %+v, want refused (%s)", c.s, id, c.why)
		}
	}
}

// TestParseAgentIDDev: --dev admits loopback agent domains and
// nothing more.
func TestParseAgentIDDev(t *testing.T) {
	for _, s := range []string{"aauth:a@localhost", "aauth:a@localhost:8080", "aauth:a@127.0.0.1", "aauth:a@127.0.0.1:8080", "aauth:a@ap.test"} {
		id, err := dev.ParseAgentID(s)
		if err != nil {
			t.Errorf("dev ParseAgentID(%q) = %v", s, err)
			continue
		}
		if id.String() != s {
			t.Errorf("round trip %q -> %q", s, id.String())
		}
	}
	for _, s := range []string{"aauth:a@localhost:0", "aauth:a@localhost:99999", "aauth:a@LOCALHOST", "aauth:a@127.0.0.2", "aauth:@localhost", "aauth:a b@localhost"} {
		if _, err := dev.ParseAgentID(s); err == nil {
			t.Errorf("dev ParseAgentID(%q) accepted", s)
		}
	}
}

// TestAgentIDsAreCaseSensitive: identifiers differing only in case are
// different agents (PS-255).
func TestAgentIDsAreCaseSensitive(t *testing.T) {
	a, err := aauth.Strict.ParseAgentID("aauth:A1@ap.test")
	if err != nil {
		t.Fatal(err)
	}
	b, err := aauth.Strict.ParseAgentID("aauth:a1@ap.test")
	if err != nil {
		t.Fatal(err)
	}
	if a == b || a.String() == b.String() {
		t.Fatalf("A1 and a1 compare equal: %v %v", a, b)
	}
}

func TestWellKnownPath(t *testing.T) {
	if got := aauth.WellKnownPath(aauth.DWKAgent); got != "/.well-known/aauth-agent.json" {
		t.Fatal(got)
	}
}

// TestSupportedAlgs: the accepted set is exactly Ed25519 and ES256, spelled
// as registered, never EdDSA, none or HS* (PS-007, PS-026, PS-254).
func TestSupportedAlgs(t *testing.T) {
	if strings.Join(aauth.SupportedAlgs, ",") != "Ed25519,ES256" {
		t.Fatalf("SupportedAlgs = %v", aauth.SupportedAlgs)
	}
}
