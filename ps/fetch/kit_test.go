package fetch

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testPKI is a throw-away CA for TLS test servers with test host names.
type testPKI struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "fetch test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testPKI{cert: cert, key: key, pool: pool}
}

// leaf issues a server certificate for the given DNS names and IPs.
func (p *testPKI) leaf(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// testServer is a loopback server that counts connections and requests
// (by host and path) and routes by path to swappable handlers.
type testServer struct {
	*httptest.Server
	addr string // 127.0.0.1:port

	conns atomic.Int64
	mu    sync.Mutex
	hits  map[string]int // "host/path"
	route map[string]http.HandlerFunc
}

// startTLS starts a TLS server whose certificate covers ap.test,
// other.test, localhost and 127.0.0.1, signed by pki. tweak, if set, may
// adjust the TLS config before start.
func startTLS(t testing.TB, pki *testPKI, tweak func(*tls.Config)) *testServer {
	t.Helper()
	s := newTestServer()
	cfg := &tls.Config{Certificates: []tls.Certificate{pki.leaf(t, "ap.test", "other.test", "localhost", "127.0.0.1")}}
	if tweak != nil {
		tweak(cfg)
	}
	s.TLS = cfg
	s.StartTLS()
	s.addr = s.Listener.Addr().String()
	t.Cleanup(s.Close)
	return s
}

// startPlain starts a plain-HTTP loopback server.
func startPlain(t testing.TB) *testServer {
	t.Helper()
	s := newTestServer()
	s.Start()
	s.addr = s.Listener.Addr().String()
	t.Cleanup(s.Close)
	return s
}

func newTestServer() *testServer {
	s := &testServer{hits: map[string]int{}, route: map[string]http.HandlerFunc{}}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	return s
}

func (s *testServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits[r.Host+r.URL.Path]++
	h := s.route[r.URL.Path]
	s.mu.Unlock()
	if h == nil {
		http.NotFound(w, r)
		return
	}
	h(w, r)
}

// handle routes path to h (replacing any previous handler).
func (s *testServer) handle(path string, h http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.route[path] = h
}

// count returns how many requests reached Host+path (e.g. "ap.test/x";
// the Host header keeps a non-default port).
func (s *testServer) count(hostPath string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[hostPath]
}

// total returns the number of requests received.
func (s *testServer) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.hits {
		n += v
	}
	return n
}

// testClient builds a Client that trusts pki and maps ap.test and
// other.test to srv, with loopback admitted by EgressAllow.
func testClient(t testing.TB, pki *testPKI, srv *testServer, tweak func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		RootCAs:     pki.pool,
		Resolve:     map[string]string{"ap.test": srv.addr, "other.test": srv.addr},
		EgressAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Timeout:     2 * time.Second,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// fakeClock is a manually advanced clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
