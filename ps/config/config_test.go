package config_test

import (
	"crypto/x509"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/config"
)

const secret32 = "0123456789abcdef0123456789abcdef"

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func parse(t *testing.T, args []string, vars map[string]string) *config.Config {
	t.Helper()
	c, _, err := config.Parse("aauth-ps", args, env(vars))
	if err != nil {
		t.Fatalf("Parse(%q): %v", args, err)
	}
	return c
}

// TestFlagNames: operators' scripts and the conformance suite rely on these
// exact names.
func TestFlagNames(t *testing.T) {
	_, fs, err := config.Parse("aauth-ps", nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"issuer", "listen", "tls-cert", "tls-key", "trusted-proxy", "database-url", "dev",
		"trust-ca", "resolve", "egress-allow", "log-level",
		"key-encryption-key", "key-encryption-key-file", "authority-alias", "signing-alg",
		"signature-window", "max-body-bytes", "strict-ps-claim", "allow-cross-origin-jwks",
		"name", "description", "shutdown-timeout", "legacy-person-token-jti", "evidence-tsa-url", "evidence-tsa-roots",
	} {
		if fs.Lookup(name) == nil {
			t.Errorf("flag --%s is missing", name)
		}
	}
}

func TestParseDefaults(t *testing.T) {
	c := parse(t, nil, nil)
	if c.Listen != ":8443" || c.DatabaseURL != config.DefaultDatabaseURL || c.LogLevel != "info" ||
		c.SigningAlg != "Ed25519" || c.SignatureWindow != 60*time.Second || c.MaxBodyBytes != 64*1024 ||
		c.Dev || c.StrictPSClaim || c.AllowCrossOriginJWKS || c.ShutdownTimeout != 15*time.Second ||
		c.LegacyPersonTokenJTI { // presented_token required (PS-260)
		t.Fatalf("defaults = %+v", c)
	}
}

func TestParseFlags(t *testing.T) {
	c := parse(t, []string{
		"--issuer", "https://ps.example", "--listen", "127.0.0.1:9443",
		"--tls-cert", "/c.pem", "--tls-key", "/k.pem",
		"--trusted-proxy", "10.0.0.0/8", "--trusted-proxy=192.0.2.1",
		"--database-url", "postgres://u@db/aauth", "--dev",
		"--trust-ca", "/ca1.pem", "--trust-ca", "/ca2.pem",
		"--resolve", "ap.test=127.0.0.1:8443", "--resolve", "rs.test=127.0.0.1:9443",
		"--egress-allow", "127.0.0.0/8", "--log-level", "debug",
		"--signature-window", "30s", "--max-body-bytes", "2048", "--strict-ps-claim",
		"--legacy-person-token-jti",
	}, nil)
	if c.Issuer != "https://ps.example" || c.Listen != "127.0.0.1:9443" || c.TLSCert != "/c.pem" || c.TLSKey != "/k.pem" ||
		!slices.Equal(c.TrustedProxies, []string{"10.0.0.0/8", "192.0.2.1"}) || c.DatabaseURL != "postgres://u@db/aauth" || !c.Dev ||
		!slices.Equal(c.TrustCA, []string{"/ca1.pem", "/ca2.pem"}) ||
		!slices.Equal(c.Resolve, []string{"ap.test=127.0.0.1:8443", "rs.test=127.0.0.1:9443"}) ||
		!slices.Equal(c.EgressAllow, []string{"127.0.0.0/8"}) || c.LogLevel != "debug" ||
		c.SignatureWindow != 30*time.Second || c.MaxBodyBytes != 2048 || !c.StrictPSClaim || !c.LegacyPersonTokenJTI {
		t.Fatalf("parsed %+v", c)
	}
	if _, _, err := config.Parse("aauth-ps", []string{"--no-such-flag"}, env(nil)); err == nil {
		t.Fatal("unknown flag accepted")
	}
}

// TestParseEnv: every flag has an AAUTH_PS_* variable; repeatable flags
// split on commas (and white space).
func TestParseEnv(t *testing.T) {
	c := parse(t, nil, map[string]string{
		"AAUTH_PS_ISSUER":                  "https://ps.example",
		"AAUTH_PS_LISTEN":                  "0.0.0.0:443",
		"AAUTH_PS_TLS_CERT":                "/c.pem",
		"AAUTH_PS_TLS_KEY":                 "/k.pem",
		"AAUTH_PS_TRUSTED_PROXY":           "10.0.0.0/8,192.0.2.1",
		"AAUTH_PS_DATABASE_URL":            "sqlite:/var/lib/aauth/ps.db",
		"AAUTH_PS_DEV":                     "true",
		"AAUTH_PS_TRUST_CA":                "/ca1.pem, /ca2.pem",
		"AAUTH_PS_RESOLVE":                 "ap.test=127.0.0.1:8443,rs.test=127.0.0.1:9443\nas.test=127.0.0.1:7443",
		"AAUTH_PS_EGRESS_ALLOW":            "127.0.0.0/8,::1",
		"AAUTH_PS_LOG_LEVEL":               "warn",
		"AAUTH_PS_KEY_ENCRYPTION_KEY":      secret32,
		"AAUTH_PS_AUTHORITY_ALIAS":         "ps.internal:8443",
		"AAUTH_PS_SIGNATURE_WINDOW":        "90s",
		"AAUTH_PS_STRICT_PS_CLAIM":         "1",
		"AAUTH_PS_ALLOW_CROSS_ORIGIN_JWKS": "true",
		"AAUTH_PS_LEGACY_PERSON_TOKEN_JTI": "true",
	})
	if c.Issuer != "https://ps.example" || c.Listen != "0.0.0.0:443" || c.TLSCert != "/c.pem" || c.TLSKey != "/k.pem" ||
		!slices.Equal(c.TrustedProxies, []string{"10.0.0.0/8", "192.0.2.1"}) || c.DatabaseURL != "sqlite:/var/lib/aauth/ps.db" || !c.Dev ||
		!slices.Equal(c.TrustCA, []string{"/ca1.pem", "/ca2.pem"}) ||
		!slices.Equal(c.Resolve, []string{"ap.test=127.0.0.1:8443", "rs.test=127.0.0.1:9443", "as.test=127.0.0.1:7443"}) ||
		!slices.Equal(c.EgressAllow, []string{"127.0.0.0/8", "::1"}) || c.LogLevel != "warn" ||
		c.KeyEncryptionKey != secret32 || !slices.Equal(c.AuthorityAliases, []string{"ps.internal:8443"}) ||
		c.SignatureWindow != 90*time.Second || !c.StrictPSClaim || !c.AllowCrossOriginJWKS || !c.LegacyPersonTokenJTI {
		t.Fatalf("parsed %+v", c)
	}
	// A malformed value names its variable.
	_, _, err := config.Parse("aauth-ps", nil, env(map[string]string{"AAUTH_PS_DEV": "maybe", "AAUTH_PS_MAX_BODY_BYTES": "lots"}))
	if err == nil || !strings.Contains(err.Error(), "AAUTH_PS_DEV") || !strings.Contains(err.Error(), "AAUTH_PS_MAX_BODY_BYTES") {
		t.Fatalf("bad env values: %v", err)
	}
}

// TestFlagsWinOverEnv, repeatable flags included: a flag given on the
// command line replaces its variable entirely.
func TestFlagsWinOverEnv(t *testing.T) {
	c := parse(t, []string{"--issuer", "https://flag.example", "--resolve", "ap.test=127.0.0.1:1", "--dev=false"}, map[string]string{
		"AAUTH_PS_ISSUER":    "https://env.example",
		"AAUTH_PS_RESOLVE":   "ap.test=127.0.0.1:2,rs.test=127.0.0.1:3",
		"AAUTH_PS_DEV":       "true",
		"AAUTH_PS_LOG_LEVEL": "debug", // not given as a flag: the variable applies
	})
	if c.Issuer != "https://flag.example" || !slices.Equal(c.Resolve, []string{"ap.test=127.0.0.1:1"}) || c.Dev || c.LogLevel != "debug" {
		t.Fatalf("parsed %+v", c)
	}
}

// valid returns a production configuration that passes Validate.
func valid(t *testing.T) *config.Config {
	t.Helper()
	c := parse(t, []string{"--issuer", "https://ps.example", "--trusted-proxy", "10.0.0.0/8", "--key-encryption-key", secret32}, nil)
	if err := c.Validate(); err != nil {
		t.Fatalf("baseline config invalid: %v", err)
	}
	return c
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestValidateReportsEveryProblem: one Validate call names every mistake.
func TestValidateReportsEveryProblem(t *testing.T) {
	c := parse(t, []string{
		"--issuer", "http://ps.example",
		"--listen", "no-port",
		"--tls-cert", filepath.Join(t.TempDir(), "missing.pem"),
		"--trusted-proxy", "not-a-cidr",
		"--database-url", "mysql://db",
		"--trust-ca", filepath.Join(t.TempDir(), "missing-ca.pem"),
		"--resolve", "ap.test",
		"--egress-allow", "everywhere",
		"--log-level", "loud",
		"--key-encryption-key", "short",
		"--key-encryption-key-file", "/nonexistent/secret",
		"--authority-alias", "PS.Example",
		"--signing-alg", "RS256",
		"--signature-window", "1s",
		"--max-body-bytes", "10",
	}, nil)
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted a broken configuration")
	}
	msg := err.Error()
	for _, want := range []string{
		`--issuer "http://ps.example": http identifiers need --dev`,
		`--listen "no-port"`,
		"--tls-cert and --tls-key must be given together",
		"TLS file:",
		`--trusted-proxy "not-a-cidr"`,
		"--database-url:",
		"--trust-ca",
		"--resolve:",
		"--egress-allow:",
		`--log-level "loud"`,
		"not both",
		"--key-encryption-key must be at least 32 bytes",
		"--key-encryption-key-file:",
		`--authority-alias "PS.Example"`,
		`--signing-alg "RS256"`,
		"--signature-window 1s",
		"--max-body-bytes 10",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("Validate error lacks %q:\n%s", want, msg)
		}
	}
	if n := strings.Count(msg, "\n") + 1; n < 17 {
		t.Errorf("Validate reported %d problems, want at least 17:\n%s", n, msg)
	}
}

// TestValidateIssuer: the issuer is a server identifier (P§server-identifiers,
// PS-002); http only with --dev and only on loopback.
func TestValidateIssuer(t *testing.T) {
	for _, c := range []struct {
		name string
		mod  func(c *config.Config)
		want string // "" means valid
	}{
		{"baseline", func(*config.Config) {}, ""},
		{"missing", func(c *config.Config) { c.Issuer = "" }, "--issuer is required"},
		{"http without --dev", func(c *config.Config) { c.Issuer = "http://localhost:8080" }, "http identifiers need --dev"},
		{"http non-loopback with --dev", func(c *config.Config) { c.Issuer, c.Dev = "http://ps.example", true }, "--issuer"},
		{"dev loopback", func(c *config.Config) { c.Issuer, c.Dev = "http://localhost:8080", true }, ""},
		{"dev 127.0.0.1", func(c *config.Config) { c.Issuer, c.Dev = "http://127.0.0.1:8080", true }, ""},
		{"dev port 0", func(c *config.Config) { c.Issuer, c.Dev = "http://localhost:0", true }, "--issuer"},
		{"port", func(c *config.Config) { c.Issuer = "https://ps.example:8443" }, "port"},
		{"trailing slash", func(c *config.Config) { c.Issuer = "https://ps.example/" }, "--issuer"},
		{"upper case", func(c *config.Config) { c.Issuer = "https://PS.example" }, "lowercase"},
		{"https without TLS or proxy", func(c *config.Config) { c.TrustedProxies = nil },
			"an https issuer needs --tls-cert/--tls-key, or --trusted-proxy"},
		{"https without TLS in dev", func(c *config.Config) { c.TrustedProxies, c.Dev = nil, true }, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := valid(t)
			c.mod(cfg)
			err := cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("Validate = %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("Validate = %v, want %q", err, c.want)
			}
		})
	}
}

// TestValidateDev: `make run` works with nothing but --dev and an http
// loopback issuer (no TLS, no secret, the embedded database).
func TestValidateDev(t *testing.T) {
	c := parse(t, []string{"--dev", "--issuer", "http://localhost:8080", "--listen", "127.0.0.1:8080"}, nil)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !c.Identifiers().AllowLoopbackHTTP || c.IssuerAuthority() != "localhost:8080" {
		t.Fatalf("dev identifiers %+v, authority %q", c.Identifiers(), c.IssuerAuthority())
	}
	if p := valid(t); p.Identifiers().AllowLoopbackHTTP || p.IssuerAuthority() != "ps.example" {
		t.Fatal("production config allows loopback http")
	}
}

func TestValidateTLS(t *testing.T) {
	cert, key := writeFile(t, "c.pem", "x"), writeFile(t, "k.pem", "x")
	c := valid(t)
	c.TrustedProxies, c.TLSCert, c.TLSKey = nil, cert, key
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.TLSKey = ""
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "together") {
		t.Fatalf("cert without key: %v", err)
	}
}

// TestValidateKeySecret: required outside dev, at least 32 bytes, flag and
// file not both.
func TestValidateKeySecret(t *testing.T) {
	file := writeFile(t, "kek", secret32+"\n")
	for _, c := range []struct {
		name      string
		key, file string
		dev       bool
		want      string
	}{
		{"flag", secret32, "", false, ""},
		{"file", "", file, false, ""},
		{"none outside dev", "", "", false, "a key-encryption secret is required"},
		{"none in dev", "", "", true, ""},
		{"31 bytes", secret32[:31], "", false, "at least 32 bytes"},
		{"31 bytes in dev", secret32[:31], "", true, "at least 32 bytes"},
		{"both", secret32, file, false, "not both"},
		{"missing file", "", filepath.Join(t.TempDir(), "nope"), false, "--key-encryption-key-file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := valid(t)
			cfg.KeyEncryptionKey, cfg.KeyEncryptionKeyFile, cfg.Dev = c.key, c.file, c.dev
			err := cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("Validate = %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("Validate = %v, want %q", err, c.want)
			}
		})
	}
}

func TestKeyEncryptionSecret(t *testing.T) {
	c := valid(t)
	s, gen, err := c.KeyEncryptionSecret()
	if err != nil || gen || string(s) != secret32 {
		t.Fatalf("from flag: %q %v %v", s, gen, err)
	}

	c.KeyEncryptionKey, c.KeyEncryptionKeyFile = "", writeFile(t, "kek", "  "+secret32+"\n")
	s, gen, err = c.KeyEncryptionSecret()
	if err != nil || gen || string(s) != secret32 {
		t.Fatalf("from file (trimmed): %q %v %v", s, gen, err)
	}
	c.KeyEncryptionKeyFile = writeFile(t, "short", secret32[:31]+"\n")
	if _, _, err := c.KeyEncryptionSecret(); err == nil {
		t.Fatal("short secret file accepted")
	}
	c.KeyEncryptionKeyFile = filepath.Join(t.TempDir(), "missing")
	if _, _, err := c.KeyEncryptionSecret(); err == nil {
		t.Fatal("missing secret file accepted")
	}
	c.KeyEncryptionKeyFile = ""
	if _, _, err := c.KeyEncryptionSecret(); err == nil {
		t.Fatal("no secret outside dev accepted")
	}
}

// TestKeyEncryptionSecretDev: --dev generates a secret once into a 0600 file
// under the data directory, then reuses it.
func TestKeyEncryptionSecretDev(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	c := parse(t, []string{"--dev", "--issuer", "http://localhost:8080", "--database-url", "sqlite:" + filepath.Join(dir, "ps.db")}, nil)
	if c.DataDir() != dir {
		t.Fatalf("DataDir = %q, want %q", c.DataDir(), dir)
	}
	s1, gen, err := c.KeyEncryptionSecret()
	if err != nil || !gen || len(s1) < 32 {
		t.Fatalf("first call: %q %v %v", s1, gen, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("data dir holds %v, %v", entries, err)
	}
	info, err := entries[0].Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v, want 0600", info.Mode().Perm())
	}
	s2, gen, err := c.KeyEncryptionSecret()
	if err != nil || gen || string(s2) != string(s1) {
		t.Fatalf("second call: %q %v %v, want the first secret again", s2, gen, err)
	}
	// A second process (a fresh Config) finds the same secret.
	c2 := parse(t, []string{"--dev", "--database-url", "sqlite:" + filepath.Join(dir, "other.db")}, nil)
	if s3, gen, err := c2.KeyEncryptionSecret(); err != nil || gen || string(s3) != string(s1) {
		t.Fatalf("fresh config: %q %v %v", s3, gen, err)
	}
	// A truncated secret file is refused rather than used as a weak key.
	path := filepath.Join(dir, entries[0].Name())
	if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, _, err := c.KeyEncryptionSecret(); err == nil {
		t.Fatalf("truncated dev secret %q accepted", s)
	}
	// Outside dev nothing is generated.
	c.Dev = false
	if _, _, err := c.KeyEncryptionSecret(); err == nil {
		t.Fatal("secret generated outside dev")
	}
}

func TestDataDir(t *testing.T) {
	for url, want := range map[string]string{
		"sqlite:/var/lib/aauth/ps.db": "/var/lib/aauth",
		"sqlite:./data/aauth-ps.db":   "data",
		"sqlite:ps.db":                ".",
		"postgres://u@db/aauth":       "data",
	} {
		c := &config.Config{DatabaseURL: url}
		if got := c.DataDir(); got != want {
			t.Errorf("DataDir(%s) = %q, want %q", url, got, want)
		}
	}
}

func TestDatabaseURL(t *testing.T) {
	for url, ok := range map[string]bool{
		"postgres://u:p@db:5432/aauth": true, "postgresql://db/aauth": true, "sqlite:/x.db": true,
		"sqlite:": false, "mysql://db": false, "": false, "/x.db": false,
	} {
		c := &config.Config{DatabaseURL: url}
		if err := c.ValidateDatabase(); (err == nil) != ok {
			t.Errorf("ValidateDatabase(%q) = %v", url, err)
		}
	}
}

func TestResolveMap(t *testing.T) {
	c := &config.Config{Resolve: []string{"AP.test=127.0.0.1:8443", "rs.test=[::1]:443"}}
	m, err := c.ResolveMap()
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m["ap.test"] != "127.0.0.1:8443" || m["rs.test"] != "[::1]:443" {
		t.Fatalf("ResolveMap = %v", m)
	}
	for _, bad := range []string{"ap.test", "=127.0.0.1:443", "ap.test=127.0.0.1", "ap.test=localhost:443",
		"ap.test=127.0.0.1:0", "ap.test=127.0.0.1:65536", "ap.test=127.0.0.1:http", "ap.test="} {
		c := &config.Config{Resolve: []string{bad}}
		if m, err := c.ResolveMap(); err == nil {
			t.Errorf("ResolveMap(%q) = %v", bad, m)
		}
	}
}

func TestEgressPrefixes(t *testing.T) {
	c := &config.Config{EgressAllow: []string{"127.0.0.1", "10.1.2.3/8", "::1", "fd00::/8", "192.0.2.0/24"}}
	got, err := c.EgressPrefixes()
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("192.0.2.0/24"),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("EgressPrefixes = %v, want %v", got, want)
	}
	for _, bad := range []string{"everywhere", "10.0.0.0/33", "300.1.1.1", ""} {
		c := &config.Config{EgressAllow: []string{bad}}
		if p, err := c.EgressPrefixes(); err == nil {
			t.Errorf("EgressPrefixes(%q) = %v", bad, p)
		}
	}
}

func TestTrustedProxyPrefixes(t *testing.T) {
	c := &config.Config{TrustedProxies: []string{"10.0.0.0/8", "192.0.2.1", "::1", "bogus"}}
	got := c.TrustedProxyPrefixes()
	if !slices.Equal(got, []string{"10.0.0.0/8", "192.0.2.1/32", "::1/128"}) {
		t.Fatalf("TrustedProxyPrefixes = %v", got)
	}
}

// TestRootCAs: --trust-ca certificates join the system pool, so a
// certificate issued by the test CA verifies.
func TestRootCAs(t *testing.T) {
	ca, err := conformance.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := ca.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue("ap.test")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(leaf.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	c := &config.Config{}
	pool, err := c.RootCAs()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "ap.test"}); err == nil {
		t.Fatal("test CA trusted without --trust-ca")
	}
	c.TrustCA = []string{path}
	if err := (&config.Config{TrustCA: []string{path}}).Validate(); err != nil && strings.Contains(err.Error(), "--trust-ca") {
		t.Fatalf("Validate refuses a good CA file: %v", err)
	}
	pool, err = c.RootCAs()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "ap.test"}); err != nil {
		t.Fatalf("certificate from the trusted CA does not verify: %v", err)
	}
	for _, bad := range []string{writeFile(t, "not.pem", "not a certificate"), filepath.Join(t.TempDir(), "missing.pem")} {
		c := &config.Config{TrustCA: []string{bad}}
		if _, err := c.RootCAs(); err == nil {
			t.Errorf("RootCAs(%s) succeeded", bad)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--trust-ca") {
			t.Errorf("Validate(%s) = %v", bad, err)
		}
	}
}

// TestRegister lets a command add the flags to its own flag set.
func TestRegister(t *testing.T) {
	var c config.Config
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.Register(fs)
	if err := fs.Parse([]string{"--issuer", "https://ps.example", "--egress-allow", "127.0.0.1", "--egress-allow", "::1"}); err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "https://ps.example" || len(c.EgressAllow) != 2 {
		t.Fatalf("%+v", c)
	}
}

// TestMissionDefaultLifetime: the mission review's default end is bounded
// (7 days) unless the operator says otherwise, through the flag or
// AAUTH_PS_MISSION_DEFAULT_LIFETIME; 0 means no time limit, and values
// between 0 and 1h (1m with --dev) or beyond a year are refused (issue 9
// item 3).
func TestMissionDefaultLifetime(t *testing.T) {
	if c := parse(t, nil, nil); c.MissionDefaultLifetime != 7*24*time.Hour {
		t.Fatalf("default mission lifetime %s, want 168h", c.MissionDefaultLifetime)
	}
	if c := parse(t, nil, map[string]string{"AAUTH_PS_MISSION_DEFAULT_LIFETIME": "24h"}); c.MissionDefaultLifetime != 24*time.Hour {
		t.Fatalf("AAUTH_PS_MISSION_DEFAULT_LIFETIME=24h parsed as %s", c.MissionDefaultLifetime)
	}
	for _, ok := range []time.Duration{0, time.Hour, 72 * time.Hour, 365 * 24 * time.Hour} {
		c := valid(t)
		c.MissionDefaultLifetime = ok
		if err := c.Validate(); err != nil {
			t.Errorf("--mission-default-lifetime %s refused: %v", ok, err)
		}
	}
	for _, bad := range []time.Duration{time.Minute, -time.Hour, 366 * 24 * time.Hour} {
		c := valid(t)
		c.MissionDefaultLifetime = bad
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--mission-default-lifetime") {
			t.Errorf("--mission-default-lifetime %s: %v, want refused", bad, err)
		}
	}
	// In development mode from one minute, so a conformance run can see
	// a mission pass its expires_at (PS-211); never below.
	for d, ok := range map[time.Duration]bool{time.Minute: true, 70 * time.Second: true, 59 * time.Second: false} {
		c := valid(t)
		c.Dev, c.MissionDefaultLifetime = true, d
		if err := c.Validate(); (err == nil) != ok {
			t.Errorf("--dev --mission-default-lifetime %s: %v", d, err)
		}
	}
}

// TestAuditRetention: --audit-retention (issue 14) defaults to 90 days,
// reads AAUTH_PS_AUDIT_RETENTION, and outside 24h…87600h is refused.
func TestAuditRetention(t *testing.T) {
	if c := parse(t, nil, nil); c.AuditRetention != 90*24*time.Hour {
		t.Fatalf("default audit retention %s, want 2160h", c.AuditRetention)
	}
	if c := parse(t, nil, map[string]string{"AAUTH_PS_AUDIT_RETENTION": "720h"}); c.AuditRetention != 720*time.Hour {
		t.Fatalf("AAUTH_PS_AUDIT_RETENTION=720h parsed as %s", c.AuditRetention)
	}
	for _, bad := range []time.Duration{0, time.Hour, 87601 * time.Hour} {
		c := valid(t)
		c.AuditRetention = bad
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--audit-retention") {
			t.Errorf("--audit-retention %s: %v, want refused", bad, err)
		}
	}
}

// TestValidatePprof: the profiling listener is off by default and only
// ever on a loopback address (issue 12).
func TestValidatePprof(t *testing.T) {
	if c := valid(t); c.Pprof != "" {
		t.Fatalf("--pprof defaults to %q, want off", c.Pprof)
	}
	for _, c := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:6060", true}, {"[::1]:6060", true}, {"localhost:6060", true}, {"127.0.0.1:0", true},
		{":6060", false}, {"0.0.0.0:6060", false}, {"192.0.2.1:6060", false}, {"ps.example:6060", false}, {"6060", false},
	} {
		cfg := valid(t)
		cfg.Pprof = c.addr
		err := cfg.Validate()
		if c.ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), "--pprof")) {
			t.Errorf("--pprof %s: Validate = %v, want ok=%v", c.addr, err, c.ok)
		}
	}
}

// TestValidateEvidenceTSA: anchoring chain heads with a TSA (design §7,
// Level 4) is off by default; --evidence-tsa-url (or its variable) takes
// what the outbound client sends to — https, http only for loopback in
// dev mode — and names no credential back; --evidence-tsa-roots must be a
// PEM file, and only with a URL.
func TestValidateEvidenceTSA(t *testing.T) {
	if c := valid(t); c.EvidenceTSAURL != "" || c.EvidenceTSARoots != "" {
		t.Fatalf("TSA defaults: %q %q, want off", c.EvidenceTSAURL, c.EvidenceTSARoots)
	}
	if c := parse(t, nil, map[string]string{"AAUTH_PS_EVIDENCE_TSA_URL": "https://tsa.example/tsr"}); c.EvidenceTSAURL != "https://tsa.example/tsr" {
		t.Fatalf("from the environment: %q", c.EvidenceTSAURL)
	}
	for _, c := range []struct {
		url string
		dev bool
		ok  bool
	}{
		{"https://tsa.example/tsr", false, true}, {"https://tsa.example:8443/tsr?account=1", false, true},
		{"http://tsa.example/tsr", false, false}, {"http://localhost:3180/", false, false}, {"http://localhost:3180/", true, true},
		{"http://tsa.example/tsr", true, false}, {"https://user:secret-pw@tsa.example/", false, false},
		{"https://tsa.example/#x", false, false}, {"tsa.example/tsr", false, false}, {"ftp://tsa.example/", false, false},
	} {
		cfg := valid(t)
		cfg.EvidenceTSAURL, cfg.Dev = c.url, c.dev
		err := cfg.Validate()
		if c.ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), "--evidence-tsa-url")) {
			t.Errorf("--evidence-tsa-url %s (dev %v): Validate = %v, want ok=%v", c.url, c.dev, err, c.ok)
		}
		if err != nil && strings.Contains(err.Error(), "secret-pw") {
			t.Errorf("the error repeats the URL's password: %v", err)
		}
	}
	dir := t.TempDir()
	ca, err := conformance.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	roots, notPEM := filepath.Join(dir, "roots.pem"), filepath.Join(dir, "x.pem")
	if err := ca.WriteFile(roots); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(notPEM, []byte("nothing"), 0o600)
	cfg := valid(t)
	cfg.EvidenceTSAURL, cfg.EvidenceTSARoots = "https://tsa.example/tsr", roots
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if pool, err := cfg.EvidenceTSARootPool(); err != nil || pool == nil {
		t.Fatalf("the roots: %v", err)
	}
	for _, c := range []struct{ url, roots, want string }{
		{"https://tsa.example/tsr", notPEM, "--evidence-tsa-roots"},
		{"https://tsa.example/tsr", filepath.Join(dir, "missing.pem"), "--evidence-tsa-roots"},
		{"", roots, "--evidence-tsa-roots needs --evidence-tsa-url"},
	} {
		cfg := valid(t)
		cfg.EvidenceTSAURL, cfg.EvidenceTSARoots = c.url, c.roots
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: Validate = %v, want %q", c, err, c.want)
		}
	}
}
