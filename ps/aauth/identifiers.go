package aauth

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// IdentifierPolicy validates server and agent identifiers
// (P§server-identifiers, P§agent-identifiers). Comparison of identifiers is
// always by exact bytes; nothing here normalises.
type IdentifierPolicy struct {
	// AllowLoopbackHTTP admits http://localhost[:port] and
	// http://127.0.0.1[:port] as server identifiers, and localhost[:port] /
	// 127.0.0.1[:port] as agent-identifier domains. Only --dev sets it.
	AllowLoopbackHTTP bool
}

// Strict is the production policy.
var Strict = IdentifierPolicy{}

var errNotHTTPS = errors.New("server identifier must use the https scheme")

// CheckServer reports why s is not a valid server identifier, or nil.
func (p IdentifierPolicy) CheckServer(s string) error {
	if p.AllowLoopbackHTTP && strings.HasPrefix(s, "http://") {
		if isLoopbackAuthority(strings.TrimPrefix(s, "http://")) {
			return nil
		}
		return errNotHTTPS
	}
	host, ok := strings.CutPrefix(s, "https://")
	if !ok {
		return errNotHTTPS
	}
	if host == "" {
		return errors.New("server identifier has no host")
	}
	if strings.ContainsAny(host, "/?#") {
		return errors.New("server identifier must contain only scheme and host (no path, query, fragment or trailing slash)")
	}
	if strings.Contains(host, ":") {
		return errors.New("server identifier must not contain a port")
	}
	if strings.Contains(host, "@") {
		return errors.New("server identifier must not contain userinfo")
	}
	return CheckDomain(host)
}

// ServerHost returns the host part of a server identifier that passed CheckServer.
func ServerHost(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		return s[i+3:]
	}
	return s
}

// CheckDomain validates a lowercase ASCII (A-label) DNS name: LDH labels of
// 1..63 octets, 253 octets in all, at least two labels, and a TLD that is
// not all digits (so IPv4 literals are refused).
func CheckDomain(host string) error {
	if len(host) > 253 {
		return errors.New("domain longer than 253 characters")
	}
	labels := strings.Split(host, ".")
	if len(labels) < 2 {
		return errors.New("domain must have at least two labels")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("domain label %q has invalid length", l)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("domain label %q starts or ends with a hyphen", l)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			switch {
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
			case c >= 'A' && c <= 'Z':
				return errors.New("domain must be lowercase")
			default:
				return fmt.Errorf("domain label %q contains %q (internationalized names must use the A-label form)", l, c)
			}
		}
	}
	if _, err := strconv.Atoi(labels[len(labels)-1]); err == nil {
		return errors.New("domain must not be an IP address")
	}
	return nil
}

func isLoopbackAuthority(a string) bool {
	host, port, hasPort := strings.Cut(a, ":")
	if host != "localhost" && host != "127.0.0.1" {
		return false
	}
	if !hasPort {
		return true
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n < 65536 && strconv.Itoa(n) == port
}

// AgentID is a parsed agent identifier `aauth:local@domain`.
type AgentID struct {
	Local  string
	Domain string
}

func (a AgentID) String() string { return "aauth:" + a.Local + "@" + a.Domain }

// IsSubAgentName reports whether the local part carries the sub-agent
// delimiter. It is for display only: protocol decisions use `parent_agent`.
func (a AgentID) IsSubAgentName() bool { return strings.Contains(a.Local, "+") }

// maxAgentLocal is the longest allowed local part (P§agent-identifiers).
const maxAgentLocal = 255

// ParseAgentID validates s as an agent identifier and splits it.
func (p IdentifierPolicy) ParseAgentID(s string) (AgentID, error) {
	rest, ok := strings.CutPrefix(s, "aauth:")
	if !ok {
		return AgentID{}, errors.New("agent identifier must use the aauth scheme")
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return AgentID{}, errors.New("agent identifier has no @domain")
	}
	local, domain := rest[:at], rest[at+1:]
	if local == "" {
		return AgentID{}, errors.New("agent identifier local part is empty")
	}
	if len(local) > maxAgentLocal {
		return AgentID{}, errors.New("agent identifier local part exceeds 255 characters")
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '+' || c == '.') {
			return AgentID{}, fmt.Errorf("agent identifier local part contains %q", c)
		}
	}
	if p.AllowLoopbackHTTP && isLoopbackAuthority(domain) {
		return AgentID{Local: local, Domain: domain}, nil
	}
	if err := CheckDomain(domain); err != nil {
		return AgentID{}, fmt.Errorf("agent identifier domain: %w", err)
	}
	return AgentID{Local: local, Domain: domain}, nil
}
