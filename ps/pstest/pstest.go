// Package pstest starts a complete PS in-process for black-box tests: the
// real configuration path (flags' Config, files on disk), the real wiring
// (package app), TLS on loopback under a test DNS name with a generated CA,
// and a real database. Tests talk to it only over HTTPS.
package pstest

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/app"
	"github.com/aauth-ps/aauth-ps/ps/config"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// DefaultHost is the PS's test DNS name; its issuer is https://ps.test.
const DefaultHost = "ps.test"

// Env is the shared test world: a CA every party trusts and a resolver
// mapping test names to loopback addresses.
type Env struct {
	CA       *conformance.CA
	Resolver *conformance.Resolver
	Client   *http.Client
}

// NewEnv creates a CA, a resolver and a client that trusts the CA.
func NewEnv(t testing.TB) *Env {
	t.Helper()
	ca, err := conformance.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	r := conformance.NewResolver()
	return &Env{CA: ca, Resolver: r, Client: conformance.NewHTTPClient(ca, r)}
}

// StartAP starts a fixture agent provider at https://<host>.
func (e *Env) StartAP(t testing.TB, host string, opts ...conformance.APOption) *conformance.AgentProvider {
	t.Helper()
	ap, err := conformance.StartAgentProvider(e.CA, e.Resolver, host, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ap.Close() })
	return ap
}

// Options shape a PS instance.
type Options struct {
	// Host is the PS's DNS name (default ps.test).
	Host string
	// DatabaseURL defaults to a fresh embedded database in t.TempDir(),
	// already migrated (storetest's template: migrating costs seconds under
	// the race detector); the PS's start finds no migration left to apply.
	DatabaseURL string
	// Configure edits the configuration before validation.
	Configure func(c *config.Config)
	// Now replaces the PS clock.
	Now func() time.Time
	// Logs receives the PS's JSON log lines (default: discarded).
	Logs io.Writer
	// NoEgressAllow leaves --egress-allow empty, so loopback agent
	// providers are refused (PS-047).
	NoEgressAllow bool
	// BehindProxy serves plain HTTP (no TLS files) behind the given
	// --trusted-proxy CIDRs, as behind a TLS-terminating proxy.
	BehindProxy []string
	// TracerProvider traces requests (an in-memory exporter's, in tests).
	TracerProvider trace.TracerProvider
}

// PS is a running PS.
type PS struct {
	App      *app.App
	Env      *Env
	Issuer   string
	Addr     string
	cancel   context.CancelFunc
	done     chan error
	stopOnce sync.Once
}

// SecretForTests is the key-encryption secret test instances share, so
// two instances on one database can open each other's keys.
const SecretForTests = "test-key-encryption-secret-0123456789abcdef"

// Start configures and starts a PS. The resolver maps its host to its
// listener; every agent provider already started is passed as --resolve.
func (e *Env) Start(t testing.TB, opt Options) *PS {
	t.Helper()
	if opt.Host == "" {
		opt.Host = DefaultHost
	}
	dir := t.TempDir()
	cert, err := e.CA.Issue(opt.Host)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writePEM(t, certFile, "CERTIFICATE", cert.Certificate[0])
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, keyFile, "PRIVATE KEY", keyDER)
	caFile := filepath.Join(dir, "ca.pem")
	if err := e.CA.WriteFile(caFile); err != nil {
		t.Fatal(err)
	}
	if opt.DatabaseURL == "" {
		opt.DatabaseURL = storetest.NewMigratedSQLiteURL(t)
	}

	cfg, _, err := config.Parse("aauth-ps serve", nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Issuer = "https://" + opt.Host
	cfg.Listen = "127.0.0.1:0"
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	if len(opt.BehindProxy) > 0 {
		cfg.TLSCert, cfg.TLSKey = "", ""
		cfg.TrustedProxies = opt.BehindProxy
	}
	cfg.DatabaseURL = opt.DatabaseURL
	cfg.TrustCA = []string{caFile}
	cfg.Resolve = e.Resolver.Flags()
	if !opt.NoEgressAllow {
		cfg.EgressAllow = []string{"127.0.0.1/32"}
	}
	cfg.KeyEncryptionKey = SecretForTests
	cfg.LogLevel = "debug"
	cfg.ShutdownTimeout = 5 * time.Second
	if opt.Configure != nil {
		opt.Configure(cfg)
	}
	logs := opt.Logs
	if logs == nil {
		logs = io.Discard
	}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	ctx, cancel := context.WithCancel(context.Background())
	// Cheap password hashing: the production cost (64 MiB per hash) would
	// dominate test time; the hashing itself is tested in ps/account.
	a, err := app.New(ctx, cfg, log, app.Options{Now: opt.Now, Argon2: account.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1},
		TracerProvider: opt.TracerProvider})
	if err != nil {
		cancel()
		t.Fatalf("start PS: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		a.Close()
		t.Fatal(err)
	}
	p := &PS{App: a, Env: e, Issuer: cfg.Issuer, Addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	e.Resolver.Set(opt.Host, p.Addr)
	go func() { p.done <- a.Serve(ctx, ln) }()
	t.Cleanup(p.Stop)
	return p
}

// Stop shuts the PS down (idempotent) and closes its database.
func (p *PS) Stop() {
	p.stopOnce.Do(func() {
		p.cancel()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
		}
		p.App.Close()
	})
}

// URL is the absolute URL of path on this PS.
func (p *PS) URL(path string) string { return p.Issuer + path }

// TableCounts counts the rows of every application table, so a test can
// assert that a refused request wrote nothing. It first waits for the
// background work in flight: the downstream revocations (their outcomes
// and a mission's revocation_result evidence) and the time-stamp
// requests of signed chain heads are written after the request that
// started them has answered.
func (p *PS) TableCounts(t testing.TB) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if p.App.Revocation != nil && !p.App.Revocation.WaitIdle(ctx) {
		t.Fatal("pstest: revocation deliveries still in flight after 30 s")
	}
	if p.App.Stamps != nil && !p.App.Stamps.WaitIdle(ctx) {
		t.Fatal("pstest: time-stamp requests still in flight after 30 s")
	}
	return storetest.TableCounts(t, p.App.Store)
}

// RandomHex returns n random bytes, hex-encoded.
func RandomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
