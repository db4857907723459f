// Package config holds the PS's settings: flags with AAUTH_PS_* environment
// variables, and one Validate that reports every problem at start.
//
// Flags are declared with the standard library's flag package and the
// environment overlay is done here (a dozen lines) rather than through a
// configuration framework: the set is small, repeatable flags need
// comma-splitting from the environment, and the exact names are a contract
// with operators' scripts and the conformance suite.
package config

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// EnvPrefix prefixes every environment variable: --trust-ca is AAUTH_PS_TRUST_CA.
const EnvPrefix = "AAUTH_PS_"

// DefaultDatabaseURL is the zero-setup embedded database.
const DefaultDatabaseURL = "sqlite:./data/aauth-ps.db"

// Config is every setting of the PS.
type Config struct {
	Issuer         string
	Listen         string
	TLSCert        string
	TLSKey         string
	TrustedProxies []string
	DatabaseURL    string
	Dev            bool
	TrustCA        []string
	Resolve        []string
	EgressAllow    []string
	LogLevel       string
	// MissionPolicy is the Mission composition policy file (catalog and
	// templates, ps/composition); "" derives every set from its proposal.
	MissionPolicy string

	// KeyEncryptionKey seals the PS's private signing keys in the database.
	KeyEncryptionKey     string
	KeyEncryptionKeyFile string
	// AuthorityAliases are further @authority values (host[:port]) the PS answers to.
	AuthorityAliases []string
	// SigningAlg is the algorithm of newly created PS signing keys.
	SigningAlg string
	// SignatureWindow bounds `created` on signed requests.
	SignatureWindow time.Duration
	// MaxBodyBytes caps request bodies (413 beyond it, before any parsing).
	MaxBodyBytes int64
	// StrictPSClaim rejects agent tokens whose ps names another PS.
	StrictPSClaim bool
	// AllowCrossOriginJWKS admits a jwks_uri on another host than its metadata.
	AllowCrossOriginJWKS bool
	// LegacyPersonTokenJTI lets an auth token request without
	// presented_token use the PS's own issuance record of the token the
	// resource token names (the August 2026 interop fallback, for agents
	// of that era). Off: presented_token is required (PS-260).
	LegacyPersonTokenJTI bool
	// Name and Description appear in the PS metadata.
	Name        string
	Description string
	// ShutdownTimeout bounds graceful shutdown.
	ShutdownTimeout time.Duration
	// AgentProviderPolicy is allow-any or allow-list.
	AgentProviderPolicy string
	// AccessServerPolicy is allow-any or allow-list (four-party, issue 11).
	AccessServerPolicy string
	// AccessServerWait bounds how long the PS keeps polling an access
	// server in one go (inside the agent's request, or one background
	// step); AccessServerPollLease is how long a replica's lease on
	// polling one request lasts beyond that (issue 11, poll leases).
	AccessServerWait      time.Duration
	AccessServerPollLease time.Duration
	// DatabaseMaxConns caps the PostgreSQL connection pool of this
	// process (each replica has its own; their sum stays under the
	// server's max_connections). Ignored on SQLite.
	DatabaseMaxConns int
	// AllowSignup lets anyone create an account at /signup.
	AllowSignup bool
	// PendingLifetime bounds a pending request (PS-155).
	PendingLifetime time.Duration
	// Bounds on pending requests (issue 15 item 2; ps/pending Limits):
	// open requests per agent, per agent provider and per client address,
	// first contacts per provider and minute, stored bytes per request.
	PendingMaxPerAgent            int
	PendingMaxPerProvider         int
	PendingMaxPerClient           int
	PendingFirstContactsPerMinute int
	PendingMaxBytes               int
	// MissionDefaultLifetime is the end a mission review selects at first
	// (0: when completed or revoked; issue 9 item 3; from one minute in
	// development mode, PS-211).
	MissionDefaultLifetime time.Duration
	// AuditRetention is how long audit events are kept (issue 14).
	AuditRetention time.Duration
	// MissionHoldTimeout is how long a suspension holds new requests
	// before the mission ends (administrative) unless resumed (issue 10);
	// MissionSuspendRevokes revokes the outstanding tokens at suspension.
	MissionHoldTimeout    time.Duration
	MissionSuspendRevokes bool
	// MissionRiskExclusions and MissionRiskWindow are the risk policy
	// (design §5): that many requests refused by an exclusion of one
	// mission within the window suspend it (0 turns it off).
	MissionRiskExclusions int
	MissionRiskWindow     time.Duration
	// RateLimits bound request rates per agent, provider and client (ratelimit.go).
	RateLimits RateLimits
	// EvidenceTSAURL is the RFC 3161 time-stamping authority that
	// anchors signed evidence chain heads ("" for none: the default);
	// EvidenceTSARoots a PEM file of the roots its certificate must
	// chain to before a token is stored (design §7, Level 4).
	EvidenceTSAURL   string
	EvidenceTSARoots string
	// Pprof is the loopback address of the opt-in net/http/pprof
	// listener ("" for none: the default).
	Pprof string
}

// stringList is a repeatable flag; from the environment it splits on commas.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// Register declares every configuration flag on fs.
func (c *Config) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.Issuer, "issuer", "", "the PS's issuer identifier (https://host; http://localhost:PORT only with --dev)")
	fs.StringVar(&c.Listen, "listen", ":8443", "listen address host:port")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate file (PEM)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	fs.Var((*stringList)(&c.TrustedProxies), "trusted-proxy", "CIDR of a TLS-terminating reverse proxy allowed to reach plain HTTP (repeatable)")
	fs.StringVar(&c.DatabaseURL, "database-url", DefaultDatabaseURL, "postgres://… or sqlite:PATH")
	fs.BoolVar(&c.Dev, "dev", false, "development mode: http://localhost identifiers, loopback fetches, a generated key-encryption key (never in production)")
	fs.Var((*stringList)(&c.TrustCA), "trust-ca", "extra trusted CA certificates for outbound HTTPS (PEM file, repeatable)")
	fs.Var((*stringList)(&c.Resolve), "resolve", "host=addr:port: connect to addr:port for host, as curl --resolve (repeatable)")
	fs.Var((*stringList)(&c.EgressAllow), "egress-allow", "CIDR of otherwise refused destinations (loopback, private) that outbound fetches may reach (repeatable)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.Pprof, "pprof", "", "loopback host:port for Go's pprof profiles (/debug/pprof/), off when empty; never expose it")
	fs.StringVar(&c.MissionPolicy, "mission-policy", "", "Mission composition policy file: the resource catalog and the operator's Authority Set templates (JSON)")
	fs.StringVar(&c.KeyEncryptionKey, "key-encryption-key", "", "secret (≥32 bytes) sealing the PS's private keys; prefer --key-encryption-key-file")
	fs.StringVar(&c.KeyEncryptionKeyFile, "key-encryption-key-file", "", "file holding the key-encryption secret")
	fs.Var((*stringList)(&c.AuthorityAliases), "authority-alias", "further host[:port] this PS answers signed requests for (repeatable)")
	fs.StringVar(&c.SigningAlg, "signing-alg", aauth.AlgEd25519, "algorithm of new PS signing keys: Ed25519 or ES256")
	fs.DurationVar(&c.SignatureWindow, "signature-window", aauth.DefaultSignatureWindowSeconds*time.Second, "validity window of a signature's created parameter")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", 64*1024, "largest accepted request body")
	fs.BoolVar(&c.StrictPSClaim, "strict-ps-claim", false, "reject agent tokens whose ps claim names another person server (except call chaining)")
	fs.BoolVar(&c.AllowCrossOriginJWKS, "allow-cross-origin-jwks", false, "admit a jwks_uri on a different host from its metadata document")
	fs.BoolVar(&c.LegacyPersonTokenJTI, "legacy-person-token-jti", false, "for agents of the August 2026 drafts: an auth token request without presented_token uses this PS's own record of the person or auth token the resource token names (presented_jti or person_token_jti); off, presented_token is required (PS-260)")
	fs.StringVar(&c.Name, "name", "", "display name in the PS metadata")
	fs.StringVar(&c.Description, "description", "", "Markdown description in the PS metadata")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "graceful shutdown bound")
	fs.StringVar(&c.AgentProviderPolicy, "agent-provider-policy", "allow-any", "which agent providers may present agents: allow-any (except blocked) or allow-list")
	fs.StringVar(&c.AccessServerPolicy, "access-server-policy", "allow-any", "which access servers the PS federates with: allow-any (except distrusted) or allow-list")
	fs.DurationVar(&c.AccessServerWait, "access-server-wait", 10*time.Second, "how long the PS polls an access server in one go, inside the agent's request or in the background (1s to 1m)")
	fs.DurationVar(&c.AccessServerPollLease, "access-server-poll-lease", 30*time.Second, "how long a replica's lease on polling an access server for one request outlasts its poll; another replica takes over once it lapses (1s to 10m)")
	fs.IntVar(&c.DatabaseMaxConns, "database-max-conns", 20, "PostgreSQL connections this process may open (5 to 500); size it to the server's max_connections over the replicas")
	fs.BoolVar(&c.AllowSignup, "allow-signup", false, "let anyone create an account at /signup")
	fs.DurationVar(&c.PendingLifetime, "pending-lifetime", 10*time.Minute, "how long a pending (202) request waits for its person")
	fs.IntVar(&c.PendingMaxPerAgent, "pending-max-per-agent", 20, "open pending requests one agent may have (429 rate_limited beyond)")
	fs.IntVar(&c.PendingMaxPerProvider, "pending-max-per-provider", 200, "open pending requests the agents of one agent provider may have")
	fs.IntVar(&c.PendingMaxPerClient, "pending-max-per-client", 200, "open pending requests created from one client address (IPv4) or IPv6 /64")
	fs.IntVar(&c.PendingFirstContactsPerMinute, "pending-first-contacts-per-minute", 30, "new agents (unknown to the PS) per agent provider and minute that may create pending requests")
	fs.IntVar(&c.PendingMaxBytes, "pending-max-bytes", 256<<10, "bytes one pending request may store (413 beyond)")
	c.RateLimits.register(fs)
	fs.DurationVar(&c.AuditRetention, "audit-retention", 90*24*time.Hour, "how long the administrator's audit trail keeps an event (24h to 87600h)")
	fs.DurationVar(&c.MissionDefaultLifetime, "mission-default-lifetime", 7*24*time.Hour, "the end the mission review selects at first (0: when completed or revoked; otherwise 1h to 8760h, from 1m with --dev)")
	fs.DurationVar(&c.MissionHoldTimeout, "mission-hold-timeout", 15*time.Minute, "how long a suspended mission holds new requests before it ends, unless resumed (1m to 24h)")
	fs.BoolVar(&c.MissionSuspendRevokes, "mission-suspend-revokes", true, "revoke a mission's outstanding tokens when it is suspended")
	fs.StringVar(&c.EvidenceTSAURL, "evidence-tsa-url", "", "RFC 3161 time-stamping authority (https URL) that anchors every signed evidence chain head; off when empty")
	fs.StringVar(&c.EvidenceTSARoots, "evidence-tsa-roots", "", "PEM file of the roots the TSA's certificate must chain to before a token is stored (default: any time-stamping certificate whose signature verifies)")
	fs.IntVar(&c.MissionRiskExclusions, "mission-risk-exclusions", 3, "suspend a mission after this many of its requests are refused by an exclusion within --mission-risk-window (0: never; at most 100)")
	fs.DurationVar(&c.MissionRiskWindow, "mission-risk-window", 10*time.Minute, "the window of --mission-risk-exclusions (1m to 24h)")
}

// Parse registers the flags on a new set named name, applies AAUTH_PS_*
// variables from getenv for flags not given on the command line, then the
// arguments. It does not validate.
func Parse(name string, args []string, getenv func(string) string) (*Config, *flag.FlagSet, error) {
	c := &Config{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	c.Register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, fs, err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		env := EnvPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		val := getenv(env)
		if val == "" {
			return
		}
		values := []string{val}
		if _, repeatable := f.Value.(*stringList); repeatable {
			values = splitList(val)
		}
		for _, v := range values {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", env, err))
			}
		}
	})
	return c, fs, errors.Join(errs...)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' }) {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Identifiers is the identifier policy this configuration implies.
func (c *Config) Identifiers() aauth.IdentifierPolicy {
	return aauth.IdentifierPolicy{AllowLoopbackHTTP: c.Dev}
}

// IssuerAuthority is the @authority of the issuer (host[:port]).
func (c *Config) IssuerAuthority() string { return aauth.ServerHost(c.Issuer) }

// Validate reports every problem with the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.Issuer == "" {
		bad("--issuer is required")
	} else if err := c.Identifiers().CheckServer(c.Issuer); err != nil {
		if !c.Dev && strings.HasPrefix(c.Issuer, "http://") {
			bad("--issuer %q: http identifiers need --dev (and only localhost or 127.0.0.1)", c.Issuer)
		} else {
			bad("--issuer %q: %v", c.Issuer, err)
		}
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("--listen %q: %v", c.Listen, err)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		bad("--tls-cert and --tls-key must be given together")
	}
	for _, f := range []string{c.TLSCert, c.TLSKey} {
		if f != "" {
			if _, err := os.Stat(f); err != nil {
				bad("TLS file: %v", err)
			}
		}
	}
	httpsIssuer := strings.HasPrefix(c.Issuer, "https://")
	if httpsIssuer && c.TLSCert == "" && len(c.TrustedProxies) == 0 && !c.Dev {
		bad("an https issuer needs --tls-cert/--tls-key, or --trusted-proxy naming the TLS-terminating proxy")
	}
	for _, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err2 := netip.ParseAddr(p); err2 != nil {
				bad("--trusted-proxy %q: not a CIDR or address", p)
			}
		}
	}
	if err := checkDatabaseURL(c.DatabaseURL); err != nil {
		bad("--database-url: %v", err)
	}
	for _, f := range c.TrustCA {
		if err := checkCAFile(f); err != nil {
			bad("--trust-ca %q: %v", f, err)
		}
	}
	if _, err := c.ResolveMap(); err != nil {
		bad("--resolve: %v", err)
	}
	if _, err := c.EgressPrefixes(); err != nil {
		bad("--egress-allow: %v", err)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.KeyEncryptionKey != "" && c.KeyEncryptionKeyFile != "" {
		bad("give --key-encryption-key or --key-encryption-key-file, not both")
	}
	if c.KeyEncryptionKey == "" && c.KeyEncryptionKeyFile == "" && !c.Dev {
		bad("a key-encryption secret is required (--key-encryption-key-file or AAUTH_PS_KEY_ENCRYPTION_KEY); only --dev generates one")
	}
	if c.KeyEncryptionKey != "" && len(c.KeyEncryptionKey) < 32 {
		bad("--key-encryption-key must be at least 32 bytes")
	}
	if c.KeyEncryptionKeyFile != "" {
		if _, err := os.Stat(c.KeyEncryptionKeyFile); err != nil {
			bad("--key-encryption-key-file: %v", err)
		}
	}
	for _, a := range c.AuthorityAliases {
		if a == "" || a != strings.ToLower(a) || strings.ContainsAny(a, "/?#@ ") {
			bad("--authority-alias %q: want a lowercase host[:port]", a)
		}
	}
	if c.SigningAlg != aauth.AlgEd25519 && c.SigningAlg != aauth.AlgES256 {
		bad("--signing-alg %q: want Ed25519 or ES256", c.SigningAlg)
	}
	if c.SignatureWindow < 5*time.Second || c.SignatureWindow > 5*time.Minute {
		bad("--signature-window %s: want between 5s and 5m", c.SignatureWindow)
	}
	if c.AgentProviderPolicy != "allow-any" && c.AgentProviderPolicy != "allow-list" {
		bad("--agent-provider-policy %q: want allow-any or allow-list", c.AgentProviderPolicy)
	}
	if c.AccessServerWait < time.Second || c.AccessServerWait > time.Minute {
		bad("--access-server-wait %s: want 1s to 1m", c.AccessServerWait)
	}
	if c.AccessServerPollLease < time.Second || c.AccessServerPollLease > 10*time.Minute {
		bad("--access-server-poll-lease %s: want 1s to 10m", c.AccessServerPollLease)
	}
	if c.DatabaseMaxConns < 5 || c.DatabaseMaxConns > 500 {
		bad("--database-max-conns %d: want 5 to 500", c.DatabaseMaxConns)
	}
	if c.AccessServerPolicy != "allow-any" && c.AccessServerPolicy != "allow-list" {
		bad("--access-server-policy %q: want allow-any or allow-list", c.AccessServerPolicy)
	}
	if c.PendingLifetime < 5*time.Second || c.PendingLifetime > 24*time.Hour {
		bad("--pending-lifetime %s: want between 5s and 24h", c.PendingLifetime)
	}
	for _, b := range []struct {
		flag      string
		v, lo, hi int
	}{
		{"--pending-max-per-agent", c.PendingMaxPerAgent, 1, 10_000},
		{"--pending-max-per-provider", c.PendingMaxPerProvider, 1, 1_000_000},
		{"--pending-max-per-client", c.PendingMaxPerClient, 1, 1_000_000},
		{"--pending-first-contacts-per-minute", c.PendingFirstContactsPerMinute, 1, 100_000},
		{"--pending-max-bytes", c.PendingMaxBytes, 16 << 10, 16 << 20},
	} {
		if b.v < b.lo || b.v > b.hi {
			bad("%s %d: want between %d and %d", b.flag, b.v, b.lo, b.hi)
		}
	}
	if c.PendingMaxPerAgent > c.PendingMaxPerProvider {
		bad("--pending-max-per-agent %d exceeds --pending-max-per-provider %d", c.PendingMaxPerAgent, c.PendingMaxPerProvider)
	}
	// In development mode a mission may end within minutes, so a
	// conformance run can watch one pass its expires_at (PS-211).
	shortest := time.Hour
	if c.Dev {
		shortest = time.Minute
	}
	if d := c.MissionDefaultLifetime; d != 0 && (d < shortest || d > 365*24*time.Hour) {
		bad("--mission-default-lifetime %s: want 0 (no time limit) or between %s and 8760h", d, shortest)
	}
	if d := c.AuditRetention; d < 24*time.Hour || d > 10*365*24*time.Hour {
		bad("--audit-retention %s: want between 24h and 87600h", d)
	}
	if d := c.MissionHoldTimeout; d < time.Minute || d > 24*time.Hour {
		bad("--mission-hold-timeout %s: want between 1m and 24h", d)
	}
	if n := c.MissionRiskExclusions; n < 0 || n > 100 {
		bad("--mission-risk-exclusions %d: want between 0 (off) and 100", n)
	}
	if d := c.MissionRiskWindow; d < time.Minute || d > 24*time.Hour {
		bad("--mission-risk-window %s: want between 1m and 24h", d)
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 16<<20 {
		bad("--max-body-bytes %d: want between 1024 and 16777216", c.MaxBodyBytes)
	}
	if c.EvidenceTSAURL != "" {
		if err := c.checkTSAURL(c.EvidenceTSAURL); err != nil {
			bad("--evidence-tsa-url: %v", err)
		}
	}
	if c.EvidenceTSARoots != "" {
		if c.EvidenceTSAURL == "" {
			bad("--evidence-tsa-roots needs --evidence-tsa-url")
		}
		if err := checkCAFile(c.EvidenceTSARoots); err != nil {
			bad("--evidence-tsa-roots %q: %v", c.EvidenceTSARoots, err)
		}
	}
	if c.Pprof != "" {
		if err := checkLoopback(c.Pprof); err != nil {
			bad("--pprof %q: %v", c.Pprof, err)
		}
	}
	errs = append(errs, c.RateLimits.validate()...)
	return errors.Join(errs...)
}

// checkLoopback admits host:port whose host is a loopback IP address or
// localhost: the profiles show the PS's internals to whoever reaches them.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
		return nil
	}
	return errors.New("want a loopback address (127.0.0.1:PORT, [::1]:PORT or localhost:PORT)")
}

// checkTSAURL admits what the PS's outbound client will send to (ps/fetch
// egress admission): https, or with --dev http://localhost or
// http://127.0.0.1; no userinfo, no fragment. The URL is not printed back:
// its query may carry an account key.
func (c *Config) checkTSAURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return errors.New("not an absolute URL")
	}
	loopback := u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1"
	switch {
	case u.User != nil:
		return errors.New("no userinfo allowed")
	case u.Fragment != "":
		return errors.New("no fragment allowed")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && c.Dev && loopback:
		return nil
	}
	return errors.New("want https (http only for localhost or 127.0.0.1 with --dev)")
}

// EvidenceTSARootPool is the --evidence-tsa-roots pool, nil without it.
func (c *Config) EvidenceTSARootPool() (*x509.CertPool, error) {
	if c.EvidenceTSARoots == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(c.EvidenceTSARoots)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", c.EvidenceTSARoots)
	}
	return pool, nil
}

// ValidateDatabase checks only what the migrate and keys commands need.
func (c *Config) ValidateDatabase() error {
	if err := checkDatabaseURL(c.DatabaseURL); err != nil {
		return fmt.Errorf("--database-url: %w", err)
	}
	return nil
}

func checkDatabaseURL(u string) error {
	switch {
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		return nil
	case strings.HasPrefix(u, "sqlite:"):
		if strings.TrimPrefix(u, "sqlite:") == "" {
			return errors.New("sqlite: needs a path")
		}
		return nil
	}
	return errors.New("want postgres://… or sqlite:PATH")
}

func checkCAFile(path string) error {
	pem, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return errors.New("no PEM certificate found")
	}
	return nil
}

// ResolveMap parses --resolve host=addr:port entries.
func (c *Config) ResolveMap() (map[string]string, error) {
	m := map[string]string{}
	for _, r := range c.Resolve {
		host, addr, ok := strings.Cut(r, "=")
		if !ok || host == "" {
			return nil, fmt.Errorf("%q: want host=addr:port", r)
		}
		h, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", r, err)
		}
		if _, err := netip.ParseAddr(h); err != nil {
			return nil, fmt.Errorf("%q: %q is not an IP address", r, h)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("%q: bad port", r)
		}
		m[strings.ToLower(host)] = addr
	}
	return m, nil
}

// EgressPrefixes parses --egress-allow CIDRs (a bare address is a /32 or /128).
func (c *Config) EgressPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.EgressAllow {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, err2 := netip.ParseAddr(s)
			if err2 != nil {
				return nil, fmt.Errorf("%q: not a CIDR or address", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// TrustedProxyPrefixes parses --trusted-proxy.
func (c *Config) TrustedProxyPrefixes() []string {
	var out []string
	for _, s := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(s); err == nil {
			out = append(out, s)
		} else if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()).String())
		}
	}
	return out
}

// RootCAs is the system pool plus every --trust-ca certificate.
func (c *Config) RootCAs() (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	for _, f := range c.TrustCA {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", f)
		}
	}
	return pool, nil
}

// DataDir is where development-mode files live: the directory of the
// embedded database, or ./data.
func (c *Config) DataDir() string {
	if p, ok := strings.CutPrefix(c.DatabaseURL, "sqlite:"); ok {
		return filepath.Dir(p)
	}
	return "data"
}
