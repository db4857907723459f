package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

const (
	defaultTimeout  = 5 * time.Second
	defaultMaxBytes = 256 << 10
	maxRedirects    = 3
	defaultUA       = "aauth-ps"
)

// Resolver looks host names up; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Config configures a Client. The zero value is a production client: https
// only, public destinations only, system trust roots.
type Config struct {
	// AllowLoopbackHTTP (dev mode only): admit http:// URLs whose host is
	// literally localhost or 127.0.0.1 (any port), and loopback destinations
	// for URLs with those hosts (http or https).
	AllowLoopbackHTTP bool
	// EgressAllow: destination prefixes admitted even though they are
	// loopback/private/link-local/etc. (e.g. 127.0.0.1/32 in tests).
	EgressAllow []netip.Prefix
	// RootCAs: trust roots (system pool plus --trust-ca files); nil means
	// the system roots.
	RootCAs *x509.CertPool
	// Resolve maps a host name to "addr:port" (like curl --resolve): the
	// connection for that host goes to that address and port, whatever the
	// URL port. The TLS server name stays the URL host. The address is still
	// subject to the egress policy. addr must be an IP literal ("[::1]:443"
	// for IPv6). Host names match case-insensitively.
	Resolve map[string]string
	// Timeout bounds the whole request: connect, TLS, headers and body.
	// Default 5s.
	Timeout time.Duration
	// MaxBytes caps the response body. Default 256 KiB.
	MaxBytes int64
	// UserAgent is sent when the request carries none. Default "aauth-ps".
	UserAgent string
	// Resolver looks up host names not in Resolve. nil means
	// net.DefaultResolver.
	Resolver Resolver
	// Logger, if set, receives one debug record per request (method, URL,
	// status or error, duration). Response bodies are never logged.
	Logger *slog.Logger
}

// Client is the egress-guarded HTTP client. It is safe for concurrent use.
type Client struct {
	cfg      Config
	allow    []netip.Prefix
	resolve  map[string]netip.AddrPort
	resolver Resolver
	dialer   *net.Dialer
	tr       *http.Transport
	hc       *http.Client
}

// Response is a fully read response. Any status code is a Response.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
	// URL is the final URL, after any same-origin redirects.
	URL string
}

// New builds a Client. It fails on a malformed Resolve entry or prefix.
func New(cfg Config) (*Client, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = defaultMaxBytes
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = defaultUA
	}
	c := &Client{cfg: cfg, resolver: cfg.Resolver, resolve: map[string]netip.AddrPort{}}
	if c.resolver == nil {
		c.resolver = net.DefaultResolver
	}
	for _, p := range cfg.EgressAllow {
		if !p.IsValid() {
			return nil, fmt.Errorf("fetch: invalid EgressAllow prefix %v", p)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		c.allow = append(c.allow, p.Masked())
	}
	for host, target := range cfg.Resolve {
		ap, err := netip.ParseAddrPort(target)
		if err != nil {
			return nil, fmt.Errorf("fetch: Resolve[%q] = %q: want ip:port: %w", host, target, err)
		}
		c.resolve[normHost(host)] = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	c.dialer = &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}
	c.tr = &http.Transport{
		Proxy:       nil, // never an environment proxy: it would bypass the address checks
		DialContext: c.dialContext,
		TLSClientConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			RootCAs:    cfg.RootCAs,
		},
		TLSHandshakeTimeout:    cfg.Timeout,
		ResponseHeaderTimeout:  cfg.Timeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        30 * time.Second,
	}
	c.hc = &http.Client{Transport: c.tr, CheckRedirect: c.checkRedirect}
	return c, nil
}

// CloseIdleConnections closes pooled keep-alive connections.
func (c *Client) CloseIdleConnections() { c.tr.CloseIdleConnections() }

// Get fetches rawURL under the egress policy.
func (c *Client) Get(ctx context.Context, rawURL string) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed URL: %w", ErrEgressDenied, err)
	}
	return c.Do(req)
}

// Do sends req under the egress policy (for signed POSTs and GETs that need
// headers). It reads the whole body, up to MaxBytes, and closes it.
func (c *Client) Do(req *http.Request) (*Response, error) {
	if err := c.checkURL(req.URL); err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(req.Context(), c.cfg.Timeout)
	defer cancel()
	req = req.WithContext(ctx)
	if req.Header.Get("User-Agent") == "" {
		h := req.Header.Clone()
		if h == nil {
			h = http.Header{}
		}
		h.Set("User-Agent", c.cfg.UserAgent)
		req.Header = h
	}
	resp, err := c.do(req)
	c.logResult(req, resp, err, start)
	return resp, err
}

func (c *Client) do(req *http.Request) (*Response, error) {
	u := redact(req.URL)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, classify(u, err)
	}
	defer resp.Body.Close()
	// Once the deadline has passed, a response the transport still delivers
	// (the server may answer after seeing the connection half-closed) is not
	// the server's real answer: report the timeout.
	if err := req.Context().Err(); err != nil {
		return nil, &TransientError{URL: u, Err: err}
	}
	if resp.ContentLength > c.cfg.MaxBytes {
		return nil, fmt.Errorf("%w: %s: Content-Length %d exceeds %d bytes", ErrTooLarge, u, resp.ContentLength, c.cfg.MaxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxBytes+1))
	if err == nil {
		err = req.Context().Err()
	}
	if err != nil {
		return nil, classify(u, err)
	}
	if int64(len(body)) > c.cfg.MaxBytes {
		return nil, fmt.Errorf("%w: %s: body exceeds %d bytes", ErrTooLarge, u, c.cfg.MaxBytes)
	}
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: body, URL: resp.Request.URL.String()}, nil
}

func (c *Client) logResult(req *http.Request, resp *Response, err error, start time.Time) {
	if c.cfg.Logger == nil {
		return
	}
	attrs := []any{"method", req.Method, "url", redact(req.URL), "duration_ms", float64(time.Since(start).Microseconds()) / 1000}
	if err != nil {
		c.cfg.Logger.Debug("outbound request failed", append(attrs, "err", err)...)
		return
	}
	c.cfg.Logger.Debug("outbound request", append(attrs, "status", resp.StatusCode, "bytes", len(resp.Body))...)
}

// Admit applies egress admission to rawURL (scheme, userinfo, and the
// addresses its host resolves to) without connecting. Use it before handing
// a URL to someone else to follow, such as a browser redirect.
func (c *Client) Admit(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("%w: malformed URL: %w", ErrEgressDenied, err)
	}
	if err := c.checkURL(u); err != nil {
		return err
	}
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	_, err = c.admitHost(ctx, u.Hostname(), port)
	if err != nil && !errors.Is(err, ErrEgressDenied) {
		var te *TransientError
		if !errors.As(err, &te) {
			err = &TransientError{URL: redact(u), Err: err}
		}
	}
	return err
}

// checkURL applies the URL-level rules: scheme, userinfo, host.
func (c *Client) checkURL(u *url.URL) error {
	if u == nil {
		return fmt.Errorf("%w: no URL", ErrEgressDenied)
	}
	if u.User != nil {
		return fmt.Errorf("%w: URL carries userinfo", ErrEgressDenied)
	}
	if u.Opaque != "" || u.Host == "" {
		return fmt.Errorf("%w: URL has no host", ErrEgressDenied)
	}
	host := u.Hostname()
	if host == "" || strings.Contains(host, "%") {
		return fmt.Errorf("%w: invalid host %q", ErrEgressDenied, host)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !c.cfg.AllowLoopbackHTTP || !isDevLoopbackHost(host) {
			return fmt.Errorf("%w: http is not allowed for %s (https only)", ErrEgressDenied, redact(u))
		}
	default:
		return fmt.Errorf("%w: scheme %q is not allowed (https only)", ErrEgressDenied, u.Scheme)
	}
	return nil
}

// isDevLoopbackHost reports whether host is literally localhost or 127.0.0.1.
func isDevLoopbackHost(host string) bool {
	return strings.EqualFold(host, "localhost") || host == "127.0.0.1"
}

func normHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// dialContext resolves addr's host once, applies the address policy to
// every result, and dials only vetted addresses (never re-resolving).
func (c *Client) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEgressDenied, err)
	}
	targets, err := c.admitHost(ctx, host, port)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for _, t := range targets {
		conn, err := c.dialer.DialContext(ctx, "tcp", t.String())
		if err == nil {
			return conn, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// admitHost returns the vetted addresses to dial for host:port, or an
// ErrEgressDenied error if any address the host maps to is refused.
func (c *Client) admitHost(ctx context.Context, host, port string) ([]netip.AddrPort, error) {
	nh := normHost(host)
	if ap, ok := c.resolve[nh]; ok {
		if err := c.checkAddr(ap.Addr(), host); err != nil {
			return nil, err
		}
		return []netip.AddrPort{ap}, nil
	}
	p, err := parsePort(port)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEgressDenied, err)
	}
	var addrs []netip.Addr
	switch ip, perr := netip.ParseAddr(host); {
	case perr == nil:
		if ip.Zone() != "" {
			return nil, fmt.Errorf("%w: zoned address %s", ErrEgressDenied, host)
		}
		addrs = []netip.Addr{ip}
	case c.cfg.AllowLoopbackHTTP && nh == "localhost":
		// RFC 6761: localhost is loopback; do not ask DNS.
		addrs = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}
	default:
		addrs, err = c.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, &TransientError{URL: host, Err: err}
		}
		if len(addrs) == 0 {
			return nil, &TransientError{URL: host, Err: fmt.Errorf("no addresses for %s", host)}
		}
	}
	out := make([]netip.AddrPort, 0, len(addrs))
	for _, a := range addrs {
		a = a.Unmap()
		if err := c.checkAddr(a, host); err != nil {
			return nil, err
		}
		out = append(out, netip.AddrPortFrom(a.WithZone(""), p))
	}
	return out, nil
}

func parsePort(s string) (uint16, error) {
	var p uint64
	if s == "" || len(s) > 5 {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("invalid port %q", s)
		}
		p = p*10 + uint64(r-'0')
	}
	if p == 0 || p > 65535 {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	return uint16(p), nil
}

// checkAddr applies the address policy to one destination of host.
func (c *Client) checkAddr(a netip.Addr, host string) error {
	a = a.Unmap().WithZone("")
	reason, denied := DeniedAddr(a)
	if !denied {
		return nil
	}
	for _, p := range c.allow {
		if p.Contains(a) {
			return nil
		}
	}
	if a.IsLoopback() && c.cfg.AllowLoopbackHTTP && isDevLoopbackHost(normHost(host)) {
		return nil
	}
	return fmt.Errorf("%w: %s resolves to %s (%s)", ErrEgressDenied, host, a, reason)
}

func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > maxRedirects {
		return fmt.Errorf("%w: more than %d redirects", ErrRedirect, maxRedirects)
	}
	if !sameOrigin(req.URL, via[0].URL) {
		return fmt.Errorf("%w: cross-origin redirect from %s to %s", ErrRedirect, redact(via[0].URL), redact(req.URL))
	}
	return c.checkURL(req.URL)
}

// sameOrigin compares scheme, host (case-insensitively) and effective port.
func sameOrigin(a, b *url.URL) bool {
	return a.Scheme == b.Scheme && normHost(a.Hostname()) == normHost(b.Hostname()) && effectivePort(a) == effectivePort(b)
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch u.Scheme {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

// redact renders u without query and fragment, for errors and logs.
func redact(u *url.URL) string {
	if u == nil {
		return ""
	}
	v := *u
	v.User = nil
	v.RawQuery, v.ForceQuery = "", false
	v.Fragment, v.RawFragment = "", ""
	return v.String()
}

// classify turns a transport error into ErrTLS, a *TransientError, or
// passes through the policy errors.
func classify(u string, err error) error {
	var te *TransientError
	switch {
	case errors.Is(err, ErrEgressDenied), errors.Is(err, ErrRedirect), errors.Is(err, ErrTooLarge), errors.Is(err, ErrTLS):
		return err
	case errors.As(err, &te):
		return err
	case isTLSFailure(err):
		return fmt.Errorf("%w: %s: %w", ErrTLS, u, err)
	}
	return &TransientError{URL: u, Err: err}
}

func isTLSFailure(err error) bool {
	var (
		cve   *tls.CertificateVerificationError
		uae   x509.UnknownAuthorityError
		he    x509.HostnameError
		cie   x509.CertificateInvalidError
		alert tls.AlertError
		rhe   tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &cve), errors.As(err, &uae), errors.As(err, &he), errors.As(err, &cie),
		errors.As(err, &alert), errors.As(err, &rhe):
		return true
	}
	// crypto/tls reports version and cipher negotiation failures as plain
	// errors; they are configuration mismatches, not transient faults.
	msg := err.Error()
	return strings.Contains(msg, "tls: server selected unsupported protocol version") ||
		strings.Contains(msg, "tls: protocol version not supported") ||
		strings.Contains(msg, "tls: no cipher suite supported") ||
		strings.Contains(msg, "tls: handshake failure") ||
		strings.Contains(msg, "server gave HTTP response to HTTPS client")
}
