package conformance

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Resolver maps test host names (ap.test, ps.test, ...) to loopback
// "addr:port" listeners. Server identifiers cannot carry a port, so a fixture
// is named https://ap.test and served on 127.0.0.1:<random>; the kit's client
// dials through the Resolver, and the PS under test is given the same map
// through its --resolve flag (Flags). It is safe for concurrent use.
//
// A key may be a bare host ("ap.test", matching any port) or "host:port"
// (matching only that port); the latter wins when both are present.
type Resolver struct {
	mu sync.RWMutex
	m  map[string]string
}

// NewResolver returns an empty Resolver. The zero Resolver is also usable.
func NewResolver() *Resolver { return &Resolver{} }

// Set maps host to addr ("127.0.0.1:40123").
func (r *Resolver) Set(host, addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]string{}
	}
	r.m[strings.ToLower(host)] = addr
}

// Delete removes host's mapping.
func (r *Resolver) Delete(host string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, strings.ToLower(host))
}

// deleteIf removes host's mapping only while it still points to addr.
func (r *Resolver) deleteIf(host, addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m[strings.ToLower(host)] == addr {
		delete(r.m, strings.ToLower(host))
	}
}

// Lookup returns the address host is mapped to.
func (r *Resolver) Lookup(host string) (string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	a, ok := r.m[strings.ToLower(host)]
	return a, ok
}

// Map returns a copy of the mapping.
func (r *Resolver) Map() map[string]string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string]string, len(r.m))
	for k, v := range r.m {
		out[k] = v
	}
	return out
}

// Flags renders the mapping as "host=addr:port" strings sorted by host, one
// per --resolve flag of the PS.
func (r *Resolver) Flags() []string {
	m := r.Map()
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// resolve returns the address to dial for addr ("host:port").
func (r *Resolver) resolve(addr string) string {
	if r == nil {
		return addr
	}
	if a, ok := r.Lookup(addr); ok {
		return a
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if a, ok := r.Lookup(host); ok {
		return a
	}
	return addr
}

// Client timeouts: short enough that a hung fixture fails a test quickly,
// long enough for a loaded CI machine.
const (
	dialTimeout           = 5 * time.Second
	tlsHandshakeTimeout   = 5 * time.Second
	responseHeaderTimeout = 15 * time.Second
	clientTimeout         = 30 * time.Second
)

// NewTransport returns the transport NewHTTPClient uses: connections to hosts
// the Resolver maps go to the mapped address (the TLS ServerName and the
// Host header stay the original host), the CA is the only trust anchor
// (system roots when ca is nil), TLS 1.2 or later, and no proxy.
func NewTransport(ca *CA, r *Resolver) *http.Transport {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != nil {
		tlsConf.RootCAs = ca.Pool()
	}
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, r.resolve(addr))
		},
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		ResponseHeaderTimeout: responseHeaderTimeout,
		IdleConnTimeout:       30 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}
}

// NewHTTPClient returns a client over NewTransport(ca, r) that never follows
// redirects (the 3xx response is returned as is) and gives up on a request
// after 30 s.
func NewHTTPClient(ca *CA, r *Resolver) *http.Client {
	return &http.Client{
		Transport: NewTransport(ca, r),
		Timeout:   clientTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
