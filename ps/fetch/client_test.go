package fetch

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func okHandler(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, body)
	}
}

func TestGetThroughResolveMap(t *testing.T) {
	pki := newTestPKI(t)
	srv := startTLS(t, pki, nil)
	var ua atomic.Value
	srv.handle("/hello", func(w http.ResponseWriter, r *http.Request) {
		ua.Store(r.UserAgent())
		io.WriteString(w, "hi")
	})
	c := testClient(t, pki, srv, nil)

	// The URL port (default 443) is ignored: Resolve decides address and port.
	resp, err := c.Get(context.Background(), "https://ap.test/hello")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || string(resp.Body) != "hi" || resp.URL != "https://ap.test/hello" {
		t.Fatalf("got %d %q %s", resp.StatusCode, resp.Body, resp.URL)
	}
	if got := ua.Load(); got != "aauth-ps" {
		t.Fatalf("User-Agent = %v", got)
	}
	if _, err := c.Get(context.Background(), "https://AP.TEST:8443/hello"); err != nil {
		t.Fatalf("explicit port and upper-case host: %v", err)
	}
	if srv.count("ap.test/hello") != 1 || srv.count("AP.TEST:8443/hello") != 1 {
		t.Fatalf("hits: %v", srv.hits)
	}
}

func TestServerErrorIsAResponse(t *testing.T) {
	pki := newTestPKI(t)
	srv := startTLS(t, pki, nil)
	srv.handle("/down", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	c := testClient(t, pki, srv, nil)
	resp, err := c.Get(context.Background(), "https://ap.test/down")
	if err != nil {
		t.Fatalf("5xx must be a Response, got %v", err)
	}
	if resp.StatusCode != 503 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestDoPost(t *testing.T) {
	pki := newTestPKI(t)
	srv := startTLS(t, pki, nil)
	srv.handle("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Method", r.Method)
		w.Write(b)
	})
	c := testClient(t, pki, srv, nil)
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "https://ap.test/echo", strings.NewReader(`{"a":1}`))
	req.Header.Set("User-Agent", "custom")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != `{"a":1}` || resp.Header.Get("X-Method") != "POST" {
		t.Fatalf("got %q %v", resp.Body, resp.Header)
	}

	// Same policy for Do: a loopback URL without allow-list is refused.
	strict := testClient(t, pki, srv, func(c *Config) { c.EgressAllow = nil })
	req, _ = http.NewRequest(http.MethodPost, "https://ap.test/echo", strings.NewReader("x"))
	if _, err := strict.Do(req); !errors.Is(err, ErrEgressDenied) {
		t.Fatalf("Do to loopback: %v", err)
	}
}

// PS-047: a host that resolves to loopback is never contacted.
func TestEgressLoopbackDeniedWithoutAllow(t *testing.T) {
	pki := newTestPKI(t)
	srv := startTLS(t, pki, nil)
	srv.handle("/x", okHandler("x"))
	c := testClient(t, pki, srv, func(c *Config) { c.EgressAllow = nil })
	for _, u := range []string{
		"https://ap.test/x",              // Resolve map to 127.0.0.1:port
		"https://" + srv.addr + "/x",     // IP literal
		"https://localhost:1/x",          // dev mode off: DNS says loopback
		"https://[::1]/x",                // IPv6 loopback literal
		"https://[::ffff:127.0.0.1]/x",   // IPv4-mapped loopback
		"https://169.254.169.254/latest", // cloud metadata
		"https://10.0.0.1/x",
		"https://[fe80::1%25eth0]/x", // zoned
	} {
		_, err := c.Get(context.Background(), u)
		if !errors.Is(err, ErrEgressDenied) {
			t.Errorf("%s: want ErrEgressDenied, got %v", u, err)
		}
		var te *TransientError
		if errors.As(err, &te) {
			t.Errorf("%s: policy refusal must not be transient", u)
		}
	}
	if n := srv.conns.Load(); n != 0 {
		t.Fatalf("server saw %d connections, want 0", n)
	}
}

// fakeResolver answers from a table and counts lookups.
type fakeResolver struct {
	table map[string][]netip.Addr
	err   error
	calls atomic.Int64
}

func (f *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	f.calls.Add(1)
	if f.err != nil {
		return nil, f.err
	}
	a, ok := f.table[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return a, nil
}

func TestEgressAnyResolvedAddressDenied(t *testing.T) {
	pki := newTestPKI(t)
	srv := startTLS(t, pki, nil)
	srv.handle("/x", okHandler("x"))
	_, port, _ := net.SplitHostPort(srv.addr)
	res := &fakeResolver{table: map[string][]netip.Addr{
		"mixed.test":   {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.0.0.7")},
		"ap.test":      {netip.MustParseAddr("127.0.0.1")},
		"mapped.test":  {netip.MustParseAddr("::ffff:192.168.1.1")},
		"public.test":  {netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("169.254.169.254")},
		"cgnat.test":   {netip.MustParseAddr("100.64.1.1")},
		"nothing.test": {},
	}}
	c := testClient(t, pki, srv, func(c *Config) {
		c.Resolve = nil
		c.Resolver = res
	})
	for _, h := range []string{"mixed.test", "mapped.test", "public.test", "cgnat.test"} {
		if _, err := c.Get(context.Background(), "https://"+h+":"+port+"/x"); !errors.Is(err, ErrEgressDenied) {
			t.Errorf("%s: want ErrEgressDenied, got %v", h, err)
		}
	}
	if srv.conns.Load() != 0 {
		t.Fatal("a refused host was contacted")
	}

	// Allowed: the connection is dialled to the vetted address; one lookup,
	// and the transport never resolves on its own.
	before := res.calls.Load()
	resp, err := c.Get(context.Background(), "https://ap.test:"+port+"/x")
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != "x" || res.calls.Load()-before != 1 {
		t.Fatalf("body %q, lookups %d", resp.Body, res.calls.Load()-before)
	}

	// DNS failures are transient.
	for _, h := range []string{"unknown.test", "nothing.test"} {
		_, err := c.Get(context.Background(), "https://"+h+"/x")
		var te *TransientError
		if !errors.As(err, &te) || errors.Is(err, ErrEgressDenied) {
			t.Errorf("%s: want TransientError, got %v", h, err)
		}
	}
}

func TestAdmit(t *testing.T) {
	pki := newTestPKI(t)
	srv := startTLS(t, pki, nil)
	c := testClient(t, pki, srv, nil)
	if err := c.Admit(context.Background(), "https://ap.test/interaction?code=1"); err != nil {
		t.Fatal(err)
	}
	strict := testClient(t, pki, srv, func(c *Config) { c.EgressAllow = nil })
	for _, u := range []string{"https://ap.test/", "http://ap.test/", "https://u@ap.test/", "javascript:alert(1)", "https://10.1.1.1/"} {
		if err := strict.Admit(context.Background(), u); !errors.Is(err, ErrEgressDenied) {
			t.Errorf("Admit(%s) = %v", u, err)
		}
	}
	if srv.conns.Load() != 0 {
		t.Fatal("Admit connected")
	}
}

func TestSchemeAndUserinfo(t *testing.T) {
	pki := newTestPKI(t)
	srv := startTLS(t, pki, nil)
	plain := startPlain(t)
	plain.handle("/x", okHandler("x"))
	_, pport, _ := net.SplitHostPort(plain.addr)

	c := testClient(t, pki, srv, func(c *Config) {
		c.Resolve["plain.test"] = plain.addr
	})
	for _, u := range []string{
		"http://127.0.0.1:" + pport + "/x", // http outside dev mode, even allow-listed
		"http://localhost:" + pport + "/x",
		"http://plain.test/x",
		"ftp://ap.test/x",
		"https://user:pw@ap.test/x",
		"https://user@ap.test/x",
		"https:///x",
		"https:opaque",
		"://bad",
	} {
		if _, err := c.Get(context.Background(), u); !errors.Is(err, ErrEgressDenied) {
			t.Errorf("%s: want ErrEgressDenied, got %v", u, err)
		}
	}
	// Dev mode admits http only for the literal loopback hosts.
	dev := testClient(t, pki, srv, func(c *Config) {
		c.AllowLoopbackHTTP = true
		c.EgressAllow = nil
		c.Resolve["plain.test"] = plain.addr
	})
	for _, u := range []string{"http://plain.test/x", "https://user@localhost/x"} {
		if _, err := dev.Get(context.Background(), u); !errors.Is(err, ErrEgressDenied) {
			t.Errorf("dev %s: want ErrEgressDenied, got %v", u, err)
		}
	}
	if srv.conns.Load() != 0 || plain.conns.Load() != 0 {
		t.Fatal("a refused URL was contacted")
	}
}

func TestDevModeLoopbackHTTP(t *testing.T) {
	plain := startPlain(t)
	plain.handle("/x", okHandler("dev"))
	_, port, _ := net.SplitHostPort(plain.addr)
	c, err := New(Config{AllowLoopbackHTTP: true, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	for _, u := range []string{"http://localhost:" + port + "/x", "http://127.0.0.1:" + port + "/x", "http://LOCALHOST:" + port + "/x"} {
		resp, err := c.Get(context.Background(), u)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if string(resp.Body) != "dev" {
			t.Fatalf("%s: %q", u, resp.Body)
		}
	}
	// Loopback other than the literal hosts stays refused in dev mode.
	if _, err := c.Get(context.Background(), "http://127.0.0.2:"+port+"/x"); !errors.Is(err, ErrEgressDenied) {
		t.Fatalf("127.0.0.2: %v", err)
	}
}

func TestRedirects(t *testing.T) {
	pki := newTestPKI(t)
	srv := startTLS(t, pki, nil)
	srv.handle("/ok", okHandler("ok"))
	srv.handle("/same", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	srv.handle("/abs-same", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://AP.test:443/ok", http.StatusMovedPermanently)
	})
	srv.handle("/chain", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if n == 0 {
			io.WriteString(w, "end")
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/chain?n=%d", n-1), http.StatusFound)
	})
	srv.handle("/cross", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://other.test/ok", http.StatusFound)
	})
	srv.handle("/port", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://ap.test:8443/ok", http.StatusFound)
	})
	srv.handle("/downgrade", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://ap.test/ok", http.StatusFound)
	})
	srv.handle("/meta", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://169.254.169.254/latest/meta-data", http.StatusFound)
	})
	srv.handle("/post", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/echo", http.StatusTemporaryRedirect)
	})
	srv.handle("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	c := testClient(t, pki, srv, nil)
	ctx := context.Background()

	for _, p := range []string{"/same", "/abs-same"} {
		resp, err := c.Get(ctx, "https://ap.test"+p)
		if err != nil || string(resp.Body) != "ok" || !strings.HasSuffix(resp.URL, "/ok") {
			t.Fatalf("%s: %v %v", p, resp, err)
		}
	}
	if resp, err := c.Get(ctx, "https://ap.test/chain?n=3"); err != nil || string(resp.Body) != "end" {
		t.Fatalf("3 redirects: %v %v", resp, err)
	}
	if _, err := c.Get(ctx, "https://ap.test/chain?n=4"); !errors.Is(err, ErrRedirect) {
		t.Fatalf("4 redirects: %v", err)
	}
	before := srv.count("ap.test/ok")
	for _, p := range []string{"/cross", "/port", "/downgrade", "/meta"} {
		if _, err := c.Get(ctx, "https://ap.test"+p); !errors.Is(err, ErrRedirect) {
			t.Errorf("%s: want ErrRedirect, got %v", p, err)
		}
	}
	if srv.count("other.test/ok") != 0 || srv.count("ap.test:8443/ok") != 0 || srv.count("ap.test/ok") != before {
		t.Fatalf("a cross-origin target was requested: %v", srv.hits)
	}
	req, _ := http.NewRequest(http.MethodPost, "https://ap.test/post", bytes.NewReader([]byte("body")))
	if resp, err := c.Do(req); err != nil || string(resp.Body) != "body" {
		t.Fatalf("307 same-origin POST: %v %v", resp, err)
	}
}

func TestSizeCap(t *testing.T) {
	pki := newTestPKI(t)
	srv := startTLS(t, pki, nil)
	const limit = 1024
	srv.handle("/exact", okHandler(strings.Repeat("a", limit)))
	srv.handle("/big", okHandler(strings.Repeat("a", limit+1)))
	srv.handle("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for range 10 {
			w.Write(bytes.Repeat([]byte("b"), 200))
			w.(http.Flusher).Flush()
		}
	})
	srv.handle("/huge-cl", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000000")
		w.WriteHeader(200)
	})
	c := testClient(t, pki, srv, func(c *Config) { c.MaxBytes = limit })
	ctx := context.Background()
	if resp, err := c.Get(ctx, "https://ap.test/exact"); err != nil || len(resp.Body) != limit {
		t.Fatalf("exact: %v", err)
	}
	for _, p := range []string{"/big", "/chunked", "/huge-cl"} {
		if _, err := c.Get(ctx, "https://ap.test"+p); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: want ErrTooLarge, got %v", p, err)
		}
	}
	// The default cap is 256 KiB.
	d := testClient(t, pki, srv, nil)
	srv.handle("/256k", okHandler(strings.Repeat("c", 256<<10+1)))
	if _, err := d.Get(ctx, "https://ap.test/256k"); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("default cap: %v", err)
	}
}

func TestTimeoutIsTransient(t *testing.T) {
	pki := newTestPKI(t)
	srv := startTLS(t, pki, nil)
	srv.handle("/hang", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	srv.handle("/slowbody", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		w.WriteHeader(200)
		w.Write([]byte("a"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	c := testClient(t, pki, srv, func(c *Config) { c.Timeout = 200 * time.Millisecond })
	for _, p := range []string{"/hang", "/slowbody"} {
		start := time.Now()
		_, err := c.Get(context.Background(), "https://ap.test"+p)
		var te *TransientError
		if !errors.As(err, &te) {
			t.Fatalf("%s: want TransientError, got %v", p, err)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: cause should be the deadline: %v", p, err)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("%s: took %s", p, el)
		}
	}
}

func TestConnectionRefusedIsTransient(t *testing.T) {
	pki := newTestPKI(t)
	srv := startTLS(t, pki, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	c := testClient(t, pki, srv, func(c *Config) { c.Resolve["down.test"] = dead })
	_, err = c.Get(context.Background(), "https://down.test/x")
	var te *TransientError
	if !errors.As(err, &te) {
		t.Fatalf("want TransientError, got %v", err)
	}
}

func TestTLSFailuresArePermanent(t *testing.T) {
	pki := newTestPKI(t)
	srv := startTLS(t, pki, nil)
	srv.handle("/x", okHandler("x"))
	ctx := context.Background()
	check := func(name string, err error) {
		t.Helper()
		var te *TransientError
		if !errors.Is(err, ErrTLS) || errors.As(err, &te) {
			t.Errorf("%s: want ErrTLS (not transient), got %v", name, err)
		}
	}

	other := newTestPKI(t)
	untrusted := testClient(t, other, srv, nil)
	_, err := untrusted.Get(ctx, "https://ap.test/x")
	check("unknown CA", err)

	wrongName := testClient(t, pki, srv, func(c *Config) { c.Resolve["evil.test"] = srv.addr })
	_, err = wrongName.Get(ctx, "https://evil.test/x")
	check("wrong host name", err)

	old := startTLS(t, pki, func(c *tls.Config) { c.MaxVersion = tls.VersionTLS11 })
	oldc := testClient(t, pki, old, nil)
	_, err = oldc.Get(ctx, "https://ap.test/x")
	check("TLS 1.1 server", err)

	plain := startPlain(t)
	pc := testClient(t, pki, srv, func(c *Config) { c.Resolve["ap.test"] = plain.addr })
	_, err = pc.Get(ctx, "https://ap.test/x")
	check("plain HTTP server", err)

	if srv.total() != 0 || old.total() != 0 || plain.total() != 0 {
		t.Fatal("a request was sent over a rejected connection")
	}
}
