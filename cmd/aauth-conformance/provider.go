package main

import (
	"cmp"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/conformance/suite"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// The provider's state directory holds everything that must not change
// between runs against one PS: the CA the PS trusts (--trust-ca), the
// address and host the PS resolves (--resolve), and the providers' signing
// keys (the PS caches their JWKS).
const (
	caFile       = "ca.pem"
	caKeyFile    = "ca-key.pem"
	settingsFile = "provider.json"
	keysDir      = "keys"
	agentKeyFile = "agent-key.pem"
)

// settings is provider.json.
type settings struct {
	Listen string `json:"listen"` // the bound address, never port 0
	Host   string `json:"host"`
}

// provider is the conformance agent provider: a healthy provider at
// https://HOST and one provider per suite.Fault at https://FAULT.HOST, all
// behind one TLS listener whose certificate chains to the state's CA. Each
// is a conformance.AgentProvider on a private loopback port; the front
// proxies to it by Host.
type provider struct {
	dir    string
	set    settings
	ca     *conformance.CA
	main   *conformance.AgentProvider
	faulty map[suite.Fault]*conformance.AgentProvider
	// resource is the test resource at https://rs.HOST (three-party
	// flows: resource tokens, person and auth token verification).
	resource *conformance.Resource
	// as is the test access server at https://as.HOST (four-party), and
	// asBroken the ones whose metadata is wrong for good (PS-118), by
	// what is wrong; mid the intermediary at https://mid.HOST (call
	// chaining: a resource that is also an agent).
	as       *conformance.AccessServer
	asBroken map[string]*conformance.AccessServer
	mid      *conformance.Intermediary
	// resource2 is a second test resource at https://rs2.HOST.
	resource2 *conformance.Resource
	// innerCA and inner are the backends' PKI and names.
	innerCA *conformance.CA
	inner   *conformance.Resolver
	srv     *http.Server
	done    chan struct{}
}

// startProvider starts the provider from dir. listen and host override
// the saved settings when not empty. create allows a new state (with the
// defaults for what is neither given nor saved); without it dir must hold
// a provider already.
func startProvider(dir, listen, host string, create bool) (*provider, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	p := &provider{dir: abs, faulty: map[suite.Fault]*conformance.AgentProvider{}, done: make(chan struct{})}
	if b, err := os.ReadFile(filepath.Join(dir, settingsFile)); err == nil {
		if err := json.Unmarshal(b, &p.set); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, settingsFile), err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if listen != "" {
		p.set.Listen = listen
	}
	if host != "" {
		p.set.Host = strings.ToLower(host)
	}
	if p.set.Listen == "" || p.set.Host == "" {
		if !create {
			return nil, fmt.Errorf("%s holds no provider: start it once with `aauth-conformance provider --state %s` and start the PS with the flags it prints", dir, dir)
		}
		p.set.Listen = cmp.Or(p.set.Listen, defaultListen)
		p.set.Host = cmp.Or(p.set.Host, defaultHost)
	}
	if err := aauth.Strict.CheckServer("https://" + p.set.Host); err != nil {
		return nil, fmt.Errorf("--host %q: %v", p.set.Host, err)
	}
	ip, _, err := net.SplitHostPort(p.set.Listen)
	if err != nil {
		return nil, fmt.Errorf("--listen %q: %v", p.set.Listen, err)
	}
	if _, err := netip.ParseAddr(ip); err != nil {
		return nil, fmt.Errorf("--listen %q: want an IP address and port (the PS's --resolve needs one)", p.set.Listen)
	}
	if err := os.MkdirAll(filepath.Join(dir, keysDir), 0o700); err != nil {
		return nil, err
	}
	if p.ca, err = loadOrCreateCA(dir, create); err != nil {
		return nil, err
	}

	// The backends, with a throw-away PKI of their own.
	innerCA, err := conformance.NewCA()
	if err != nil {
		return nil, err
	}
	inner := conformance.NewResolver()
	p.innerCA, p.inner = innerCA, inner
	hosts := []string{p.set.Host}
	start := func(host, name string) (*conformance.AgentProvider, error) {
		k, err := loadOrCreateKey(filepath.Join(dir, keysDir, host+".pem"))
		if err != nil {
			return nil, err
		}
		return conformance.StartAgentProvider(innerCA, inner, host, conformance.WithAPSigningKey(k),
			conformance.WithAPName(name), conformance.WithAPDescription("Agent provider of the **aauth-conformance** suite."))
	}
	if p.main, err = start(p.set.Host, "aauth-conformance"); err != nil {
		return nil, err
	}
	for _, f := range suite.Faults() {
		h := suite.FaultHost(p.set.Host, f)
		ap, err := start(h, "aauth-conformance ("+string(f)+")")
		if err != nil {
			p.closeBackends()
			return nil, err
		}
		if err := suite.Break(ap, f); err != nil {
			p.closeBackends()
			return nil, err
		}
		p.faulty[f] = ap
		hosts = append(hosts, h)
	}

	rsHost := conformance.ResourceHost(p.set.Host)
	rsKey, err := loadOrCreateKey(filepath.Join(dir, keysDir, rsHost+".pem"))
	if err == nil {
		p.resource, err = conformance.StartResource(innerCA, inner, rsHost, conformance.WithResourceKey(rsKey))
	}
	if err != nil {
		p.closeBackends()
		return nil, err
	}
	hosts = append(hosts, rsHost)
	if err := p.startFederation(innerCA, inner); err != nil {
		p.closeBackends()
		return nil, err
	}
	hosts = append(hosts, p.federationHosts()...)

	// The front.
	cert, err := p.ca.Issue(hosts...)
	if err != nil {
		p.closeBackends()
		return nil, err
	}
	ln, err := net.Listen("tcp", p.set.Listen)
	if err != nil {
		p.closeBackends()
		return nil, fmt.Errorf("listen on %s: %w (is `aauth-conformance provider` still running on it? `run` starts the provider itself)", p.set.Listen, err)
	}
	p.set.Listen = ln.Addr().String()
	b, _ := json.MarshalIndent(p.set, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, settingsFile), append(b, '\n'), 0o600); err != nil {
		ln.Close()
		p.closeBackends()
		return nil, err
	}
	backends := map[string]bool{}
	for _, h := range hosts {
		backends[h] = true
	}
	tr := conformance.NewTransport(innerCA, inner)
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			host := hostOnly(pr.In.Host)
			pr.Out.URL.Scheme, pr.Out.URL.Host, pr.Out.Host = "https", host, host
		},
		Transport: tr,
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	p.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !backends[hostOnly(r.Host)] {
				http.Error(w, "no agent provider named "+r.Host, http.StatusMisdirectedRequest)
				return
			}
			proxy.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	tl := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	go func() {
		defer close(p.done)
		_ = p.srv.Serve(tl)
	}()
	return p, nil
}

func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return strings.ToLower(host)
	}
	return strings.ToLower(h)
}

// Close stops the front and every backend.
func (p *provider) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
	<-p.done
	p.closeBackends()
}

func (p *provider) closeBackends() {
	if p.main != nil {
		_ = p.main.Close()
	}
	for _, ap := range p.faulty {
		_ = ap.Close()
	}
	if p.resource != nil {
		_ = p.resource.Close()
	}
	if p.as != nil {
		_ = p.as.Close()
	}
	for _, as := range p.asBroken {
		_ = as.Close()
	}
	if p.mid != nil {
		_ = p.mid.Close()
	}
	if p.resource2 != nil {
		_ = p.resource2.Close()
	}
}

// Hosts of the federation and chaining fixtures, below the provider's.
func asHost(host string) string  { return "as." + host }
func midHost(host string) string { return "mid." + host }
func rs2Host(host string) string { return "rs2." + host }

// brokenAS are the access servers whose metadata is wrong (PS-118): host
// prefix → the metadata patch.
var brokenAS = map[string]map[string]any{
	"as-badissuer":  {"issuer": "https://someone-else.test"},
	"as-noendpoint": {"auth_token_endpoint": nil},
}

// startFederation starts the test access server and the intermediary
// (their signing keys kept in the state, so a PS's cached JWKS stays valid
// across runs) and the broken access servers.
func (p *provider) startFederation(ca *conformance.CA, r *conformance.Resolver) error {
	h := asHost(p.set.Host)
	k, err := loadOrCreateKey(filepath.Join(p.dir, keysDir, h+".pem"))
	if err != nil {
		return err
	}
	if p.as, err = conformance.StartAccessServer(ca, r, h, conformance.WithASKey(k)); err != nil {
		return err
	}
	p.asBroken = map[string]*conformance.AccessServer{}
	for prefix, patch := range brokenAS {
		as, err := conformance.StartAccessServer(ca, r, prefix+"."+p.set.Host)
		if err != nil {
			return err
		}
		as.SetMetadata(patch)
		p.asBroken[prefix] = as
	}
	mh := midHost(p.set.Host)
	apKey, err := loadOrCreateKey(filepath.Join(p.dir, keysDir, mh+".pem"))
	if err != nil {
		return err
	}
	rsKey, err := loadOrCreateKey(filepath.Join(p.dir, keysDir, "rs-"+mh+".pem"))
	if err != nil {
		return err
	}
	if p.mid, err = conformance.StartIntermediary(ca, r, mh, apKey, rsKey); err != nil {
		return err
	}
	// A second resource no flow but one chain uses (PS-278: a request
	// that must wait for the person).
	k2, err := loadOrCreateKey(filepath.Join(p.dir, keysDir, rs2Host(p.set.Host)+".pem"))
	if err != nil {
		return err
	}
	p.resource2, err = conformance.StartResource(ca, r, rs2Host(p.set.Host), conformance.WithResourceKey(k2))
	return err
}

// reachPS lets the fixtures that verify the PS's signatures and tokens
// (the test resource, the access server, the intermediary) reach the PS
// at host (through addr when given) and trust it (caFile, when given, and
// the system roots) besides each other.
func (p *provider) reachPS(host, addr, caFile string) error {
	if addr != "" {
		p.inner.Set(host, addr)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	pool.AddCert(p.innerCA.Cert())
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return err
		}
		if !pool.AppendCertsFromPEM(b) {
			return fmt.Errorf("%s: no PEM certificate", caFile)
		}
	}
	tr := conformance.NewTransport(nil, p.inner)
	tr.TLSClientConfig.RootCAs = pool
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	p.resource.SetClient(c)
	p.as.SetClient(c)
	p.mid.SetClient(c)
	return nil
}

func (p *provider) federationHosts() []string {
	hs := []string{asHost(p.set.Host), midHost(p.set.Host), rs2Host(p.set.Host)}
	for prefix := range brokenAS {
		hs = append(hs, prefix+"."+p.set.Host)
	}
	slices.Sort(hs[3:])
	return hs
}

// Hosts are the provider's host names, the healthy one first, then the
// faulty ones, then the test resource's.
func (p *provider) Hosts() []string {
	hs := []string{p.set.Host}
	for _, f := range suite.Faults() {
		hs = append(hs, suite.FaultHost(p.set.Host, f))
	}
	return append(append(hs, conformance.ResourceHost(p.set.Host)), p.federationHosts()...)
}

// Flags are the flags the PS under test needs to reach and trust the
// provider: --resolve for each host, --trust-ca and --egress-allow.
func (p *provider) Flags() []string {
	var out []string
	for _, h := range p.Hosts() {
		out = append(out, "--resolve", h+"="+p.set.Listen)
	}
	ip, _, _ := net.SplitHostPort(p.set.Listen)
	a, _ := netip.ParseAddr(ip)
	out = append(out, "--trust-ca", filepath.Join(p.dir, caFile), "--egress-allow", netip.PrefixFrom(a, a.BitLen()).String())
	return out
}

// agent is the suite's agent: aauth:conformance@HOST with a stable key.
func (p *provider) agent() (*conformance.Agent, error) {
	k, err := loadOrCreateKey(filepath.Join(p.dir, agentKeyFile))
	if err != nil {
		return nil, err
	}
	return p.main.NewAgent(conformance.TokenSpec{Agent: k, Sub: "aauth:conformance@" + p.set.Host})
}

// loadOrCreateCA reads the provider's CA from the state directory, or
// creates one valid for ten years: the PS under test trusts it by file
// (--trust-ca), so it must stay the same across runs.
func loadOrCreateCA(dir string, create bool) (*conformance.CA, error) {
	certPath, keyPath := filepath.Join(dir, caFile), filepath.Join(dir, caKeyFile)
	cb, cerr := os.ReadFile(certPath)
	kb, kerr := os.ReadFile(keyPath)
	if cerr == nil && kerr == nil {
		ca, err := conformance.LoadCA(cb, kb)
		if err != nil {
			return nil, fmt.Errorf("%s, %s: %w", certPath, keyPath, err)
		}
		return ca, nil
	}
	if !errors.Is(cerr, os.ErrNotExist) || !errors.Is(kerr, os.ErrNotExist) {
		return nil, fmt.Errorf("%s and %s must both exist or both be absent (%v, %v)", certPath, keyPath, cerr, kerr)
	}
	if !create {
		return nil, fmt.Errorf("%s holds no CA: the PS under test could not trust this provider", dir)
	}
	ca, err := conformance.NewCAValidFor(10 * 365 * 24 * time.Hour)
	if err != nil {
		return nil, err
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(certPath, ca.PEM(), 0o644); err != nil {
		return nil, err
	}
	return ca, nil
}

// loadOrCreateKey reads an Ed25519 or P-256 PKCS #8 key from path,
// creating an Ed25519 key on first use.
func loadOrCreateKey(path string) (*conformance.AgentKey, error) {
	if b, err := os.ReadFile(path); err == nil {
		s, err := parseKey(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return conformance.NewAgentKeyFromSigner(s)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k, err := conformance.NewAgentKey(aauth.AlgEd25519)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Signer())
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return k, nil
}

func parseKey(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM key")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("not a signing key")
	}
	return s, nil
}
