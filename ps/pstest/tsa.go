package pstest

import (
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/internal/tsatest"
)

// TSA is a running RFC 3161 time-stamping authority at https://<host>/
// (a certificate from the Env's CA, mapped by its resolver), for
// --evidence-tsa-url; RootsFile holds its TSA root for
// --evidence-tsa-roots and `evidence verify --tsa-roots`.
type TSA struct {
	*tsatest.TSA
	URL       string
	Addr      string
	RootsFile string
}

// StartTSA starts a TSA at https://host/ (before Start, so the PS's
// --resolve maps it).
func (e *Env) StartTSA(t testing.TB, host string) *TSA {
	t.Helper()
	a, err := tsatest.New()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := e.CA.Issue(host)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: a, ReadHeaderTimeout: 5 * time.Second,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	e.Resolver.Set(host, ln.Addr().String())
	roots := filepath.Join(t.TempDir(), "tsa-roots.pem")
	if err := os.WriteFile(roots, a.RootPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return &TSA{TSA: a, URL: "https://" + host + "/tsr", Addr: ln.Addr().String(), RootsFile: roots}
}
