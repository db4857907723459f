package conformance

import (
	"crypto"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

var errMalformed = errors.New("conformance: malformed compact JWT")

// JWKSPath is where the AP fixture serves its JWKS.
const JWKSPath = "/jwks.json"

// CallbackPath is the AP fixture's callback_endpoint path; it answers 200.
const CallbackPath = "/callback"

// DefaultCacheControl is sent with the AP's metadata and JWKS.
const DefaultCacheControl = "max-age=300"

// APOption configures StartAgentProvider.
type APOption func(*apConfig)

type apConfig struct {
	signingKey *AgentKey
	keyAlg     string
	name       string
	desc       string
	localhost  bool
	listenAddr string
}

// WithAPKeyAlg makes the AP's signing keys (initial and rotated) use alg
// (aauth.AlgES256); the default is Ed25519.
func WithAPKeyAlg(alg string) APOption { return func(c *apConfig) { c.keyAlg = alg } }

// WithAPName sets the metadata `name`.
func WithAPName(name string) APOption { return func(c *apConfig) { c.name = name } }

// WithAPDescription sets the metadata `description`.
func WithAPDescription(d string) APOption { return func(c *apConfig) { c.desc = d } }

// WithAPLocalhostCallbackAllowed sets metadata `localhost_callback_allowed`.
func WithAPLocalhostCallbackAllowed(b bool) APOption { return func(c *apConfig) { c.localhost = b } }

// WithAPListenAddr makes the AP listen on addr instead of 127.0.0.1:0 (for
// example 127.0.0.2:443 when the PS under test cannot be given --resolve).
func WithAPListenAddr(addr string) APOption { return func(c *apConfig) { c.listenAddr = addr } }

// apKey is one AP key: published unless removed, patched on publication.
type apKey struct {
	kid   string
	key   *AgentKey
	patch map[string]any // applied to the published JWK; nil value deletes
}

// AgentProvider is a fixture agent provider: an HTTPS server on loopback
// serving /.well-known/aauth-agent.json and a JWKS, holding its signing keys
// so tests can mint agent tokens with any claims, and exposing knobs to
// misbehave. Every method is safe for concurrent use.
type AgentProvider struct {
	host, issuer, addr string
	cfg                apConfig
	srv                *http.Server
	resolver           *Resolver
	mux                *http.ServeMux

	mu              sync.Mutex
	keys            []*apKey // publication order
	removed         []*apKey // unpublished, still usable for minting
	signingKID      string
	extraMembers    []map[string]any
	metaMutator     func(map[string]any)
	metaStatus      int
	jwksStatus      int
	metaDelay       time.Duration
	jwksDelay       time.Duration
	cacheControl    string
	metadataFetches int
	jwksFetches     int
	requests        int
	paths           []string
}

// StartAgentProvider starts an AP for https://<host> on 127.0.0.1:0 with a
// certificate from ca, and maps host to its address in r (r may be nil).
func StartAgentProvider(ca *CA, r *Resolver, host string, opts ...APOption) (*AgentProvider, error) {
	cert, err := ca.Issue(host)
	if err != nil {
		return nil, err
	}
	return startAP(host, "https://"+host, &cert, r, opts)
}

// StartDevAgentProvider starts an agent provider over plain HTTP at
// http://localhost:PORT, for a PS in development mode (--dev admits
// loopback http identifiers). listenAddr is 127.0.0.1:PORT (port 0 picks
// one). Its agents are aauth:…@localhost:PORT.
func StartDevAgentProvider(listenAddr string, opts ...APOption) (*AgentProvider, error) {
	return startAP("", "", nil, nil, append([]APOption{WithAPListenAddr(listenAddr)}, opts...))
}

// WithAPSigningKey makes k the AP's initial signing key (a stable kid
// across runs, for a persistent demo provider).
func WithAPSigningKey(k *AgentKey) APOption { return func(c *apConfig) { c.signingKey = k } }

func startAP(host, issuer string, cert *tls.Certificate, r *Resolver, opts []APOption) (*AgentProvider, error) {
	cfg := apConfig{keyAlg: aauth.AlgEd25519, listenAddr: "127.0.0.1:0"}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.keyAlg != aauth.AlgEd25519 && cfg.keyAlg != aauth.AlgES256 {
		return nil, fmt.Errorf("conformance: unsupported AP key algorithm %q", cfg.keyAlg)
	}
	ln, err := net.Listen("tcp", cfg.listenAddr)
	if err != nil {
		return nil, err
	}
	if cert == nil { // plain HTTP development provider
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		host, issuer = "localhost:"+port, "http://localhost:"+port
	}
	if cfg.name == "" {
		cfg.name = "Conformance AP " + host
	}
	if cfg.desc == "" {
		cfg.desc = "Fixture agent provider for **" + host + "** (AAuth conformance kit)."
	}
	ap := &AgentProvider{
		host:         host,
		issuer:       issuer,
		addr:         ln.Addr().String(),
		cfg:          cfg,
		resolver:     r,
		mux:          http.NewServeMux(),
		cacheControl: DefaultCacheControl,
	}
	initial := cfg.signingKey
	if initial == nil {
		initial = mustAgentKey(cfg.keyAlg)
	}
	ap.signingKID = ap.addKeyLocked(initial)
	ap.srv = &http.Server{
		Handler:           http.HandlerFunc(ap.serveHTTP),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	var l net.Listener = ln
	if cert != nil {
		l = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12})
	}
	go func() { _ = ap.srv.Serve(l) }()
	if r != nil {
		r.Set(host, ap.addr)
	}
	return ap, nil
}

// Issuer is https://<host>, the `iss` of tokens and the metadata `issuer`.
func (ap *AgentProvider) Issuer() string { return ap.issuer }

// Host is the AP's host name.
func (ap *AgentProvider) Host() string { return ap.host }

// Addr is the loopback address the AP listens on.
func (ap *AgentProvider) Addr() string { return ap.addr }

// MetadataURL is https://<host>/.well-known/aauth-agent.json.
func (ap *AgentProvider) MetadataURL() string {
	return ap.issuer + aauth.WellKnownPath(aauth.DWKAgent)
}

// JWKSURL is https://<host>/jwks.json.
func (ap *AgentProvider) JWKSURL() string { return ap.issuer + JWKSPath }

// Close stops the server, interrupting requests held by a delay, and removes
// the AP's Resolver mapping.
func (ap *AgentProvider) Close() error {
	if ap.resolver != nil {
		ap.resolver.deleteIf(ap.host, ap.addr)
	}
	return ap.srv.Close()
}

// Handle registers an extra route (ServeMux pattern) on the AP, for example
// a scripted callback page. Requests to it are counted in Requests.
func (ap *AgentProvider) Handle(pattern string, h http.Handler) { ap.mux.Handle(pattern, h) }

func (ap *AgentProvider) serveHTTP(w http.ResponseWriter, r *http.Request) {
	ap.mu.Lock()
	ap.requests++
	ap.paths = append(ap.paths, r.Method+" "+r.URL.RequestURI())
	ap.mu.Unlock()
	switch r.URL.Path {
	case aauth.WellKnownPath(aauth.DWKAgent):
		ap.mu.Lock()
		ap.metadataFetches++
		status, delay, cc := ap.metaStatus, ap.metaDelay, ap.cacheControl
		body := ap.metadataLocked()
		ap.mu.Unlock()
		ap.respond(w, r, status, delay, cc, body)
	case JWKSPath:
		ap.mu.Lock()
		ap.jwksFetches++
		status, delay, cc := ap.jwksStatus, ap.jwksDelay, ap.cacheControl
		body := ap.jwksLocked()
		ap.mu.Unlock()
		ap.respond(w, r, status, delay, cc, body)
	case CallbackPath:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "callback received\n")
	default:
		ap.mux.ServeHTTP(w, r)
	}
}

func (ap *AgentProvider) respond(w http.ResponseWriter, r *http.Request, status int, delay time.Duration, cc string, body map[string]any) {
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			// Abort the connection: a handler that simply returned would
			// send an empty 200, which a client could read as the answer.
			panic(http.ErrAbortHandler)
		}
	}
	if status != 0 && status != http.StatusOK {
		w.Header().Set("Content-Type", aauth.ProblemContentType)
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, `{"error":"server_error","detail":"fixture answering %d"}`, status)
		return
	}
	b, err := marshalJSON(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if cc != "" {
		w.Header().Set("Cache-Control", cc)
	}
	_, _ = w.Write(b)
}

// Metadata returns the metadata document as currently served (mutator applied).
func (ap *AgentProvider) Metadata() map[string]any {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	return ap.metadataLocked()
}

func (ap *AgentProvider) metadataLocked() map[string]any {
	m := map[string]any{
		"issuer":                     ap.issuer,
		"jwks_uri":                   ap.issuer + JWKSPath,
		"name":                       ap.cfg.name,
		"description":                ap.cfg.desc,
		"callback_endpoint":          ap.issuer + CallbackPath,
		"localhost_callback_allowed": ap.cfg.localhost,
	}
	if ap.metaMutator != nil {
		ap.metaMutator(m)
	}
	return m
}

// JWKS returns the JWKS as currently served.
func (ap *AgentProvider) JWKS() map[string]any {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	return ap.jwksLocked()
}

func (ap *AgentProvider) jwksLocked() map[string]any {
	keys := make([]any, 0, len(ap.keys)+len(ap.extraMembers))
	for _, k := range ap.keys {
		j := k.key.PublicJWK()
		j["kid"] = k.kid
		keys = append(keys, Patch(j, k.patch))
	}
	for _, m := range ap.extraMembers {
		keys = append(keys, cloneMap(m))
	}
	return map[string]any{"keys": keys}
}

// Counters.

// MetadataFetches counts requests for the metadata document.
func (ap *AgentProvider) MetadataFetches() int {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	return ap.metadataFetches
}

// JWKSFetches counts requests for the JWKS.
func (ap *AgentProvider) JWKSFetches() int {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	return ap.jwksFetches
}

// Requests counts every request the AP received, on any path.
func (ap *AgentProvider) Requests() int {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	return ap.requests
}

// RequestLog returns "METHOD /path?query" for every request since the last reset.
func (ap *AgentProvider) RequestLog() []string {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	return append([]string(nil), ap.paths...)
}

// ResetCounters zeroes the counters and the request log.
func (ap *AgentProvider) ResetCounters() {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	ap.metadataFetches, ap.jwksFetches, ap.requests, ap.paths = 0, 0, 0, nil
}

// Knobs.

// SetMetadataMutator installs f, called on a fresh copy of the metadata on
// every fetch (delete "issuer", change it, point "jwks_uri" elsewhere...).
// nil restores the correct document.
func (ap *AgentProvider) SetMetadataMutator(f func(m map[string]any)) {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	ap.metaMutator = f
}

// SetMetadataStatus makes metadata fetches answer code (0 or 200 restores).
func (ap *AgentProvider) SetMetadataStatus(code int) {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	ap.metaStatus = code
}

// SetJWKSStatus makes JWKS fetches answer code (0 or 200 restores).
func (ap *AgentProvider) SetJWKSStatus(code int) {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	ap.jwksStatus = code
}

// SetMetadataDelay delays metadata responses by d (0 restores).
func (ap *AgentProvider) SetMetadataDelay(d time.Duration) {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	ap.metaDelay = d
}

// SetJWKSDelay delays JWKS responses by d (0 restores), to exercise the
// verifier's fetch timeout. A delayed request ends early if the client
// goes away or the AP is closed.
func (ap *AgentProvider) SetJWKSDelay(d time.Duration) {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	ap.jwksDelay = d
}

// SetCacheControl sets the Cache-Control sent with metadata and JWKS
// ("" sends none); the default is DefaultCacheControl.
func (ap *AgentProvider) SetCacheControl(v string) {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	ap.cacheControl = v
}

// AddJWKSMember publishes an extra JWKS member verbatim, for example
// {"kty":"XYZ","kid":"weird"}.
func (ap *AgentProvider) AddJWKSMember(m map[string]any) {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	ap.extraMembers = append(ap.extraMembers, cloneMap(m))
}

// ClearJWKSMembers removes every member added by AddJWKSMember.
func (ap *AgentProvider) ClearJWKSMembers() {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	ap.extraMembers = nil
}

func (ap *AgentProvider) addKeyLocked(k *AgentKey) string {
	ap.keys = append(ap.keys, &apKey{kid: k.Thumbprint(), key: k})
	return k.Thumbprint()
}

func (ap *AgentProvider) findLocked(kid string) *apKey {
	for _, k := range ap.keys {
		if k.kid == kid {
			return k
		}
	}
	return nil
}

func (ap *AgentProvider) findRemovedLocked(kid string) *apKey {
	for _, k := range ap.removed {
		if k.kid == kid {
			return k
		}
	}
	return nil
}

// SigningKID is the kid of the key that signs tokens by default.
func (ap *AgentProvider) SigningKID() string {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	return ap.signingKID
}

// KIDs lists the kids of the AP's own keys, in publication order.
func (ap *AgentProvider) KIDs() []string {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	out := make([]string, len(ap.keys))
	for i, k := range ap.keys {
		out[i] = k.kid
	}
	return out
}

// Key returns the AP key published under kid, or nil.
func (ap *AgentProvider) Key(kid string) *AgentKey {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	if k := ap.findLocked(kid); k != nil {
		return k.key
	}
	return nil
}

// RotateKey adds a new key (kid = its thumbprint), makes it the signing
// key, and returns its kid. The old key stays published until RemoveKey.
func (ap *AgentProvider) RotateKey() string {
	k := mustAgentKey(ap.cfg.keyAlg)
	ap.mu.Lock()
	defer ap.mu.Unlock()
	ap.signingKID = ap.addKeyLocked(k)
	return ap.signingKID
}

// RemoveKey stops publishing kid and reports whether it existed. Removing
// the signing key leaves SigningKID naming a key the JWKS no longer holds,
// which mints tokens the verifier cannot find (unknown_key).
func (ap *AgentProvider) RemoveKey(kid string) bool {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	for i, k := range ap.keys {
		if k.kid == kid {
			ap.keys = append(ap.keys[:i], ap.keys[i+1:]...)
			ap.removed = append(ap.removed, k)
			return true
		}
	}
	return false
}

// ReplaceKeyMaterial gives kid new key material of the same algorithm while
// keeping the kid: silent re-keying. Tokens signed before no longer verify.
func (ap *AgentProvider) ReplaceKeyMaterial(kid string) error {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	k := ap.findLocked(kid)
	if k == nil {
		return fmt.Errorf("conformance: AP %s has no key %q", ap.host, kid)
	}
	k.key = mustAgentKey(k.key.Alg())
	return nil
}

// PatchPublishedKey changes how kid is published: each member of patch
// replaces the JWK member, and a nil value deletes it (for example
// {"alg": nil}, {"crv": "P-384"}, {"d": "AAAA"}). The key itself is unchanged.
// Patches accumulate; a nil patch clears them.
func (ap *AgentProvider) PatchPublishedKey(kid string, patch map[string]any) error {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	k := ap.findLocked(kid)
	if k == nil {
		return fmt.Errorf("conformance: AP %s has no key %q", ap.host, kid)
	}
	if patch == nil {
		k.patch = nil
		return nil
	}
	if k.patch == nil {
		k.patch = map[string]any{}
	}
	for n, v := range patch {
		k.patch[n] = v
	}
	return nil
}

// SetPublishAlg publishes kid with `alg` set to alg, or with no `alg`
// member when alg is "".
func (ap *AgentProvider) SetPublishAlg(kid, alg string) error {
	var v any
	if alg != "" {
		v = alg
	}
	return ap.PatchPublishedKey(kid, map[string]any{"alg": v})
}

// MintAgentToken signs an agent token per t; see TokenSpec.
func (ap *AgentProvider) MintAgentToken(t TokenSpec) (string, error) {
	ap.mu.Lock()
	kid := t.KID
	if kid == "" {
		kid = ap.signingKID
	}
	var signer *AgentKey
	if k := ap.findLocked(kid); k != nil {
		signer = k.key
	} else if k := ap.findLocked(ap.signingKID); k != nil {
		signer = k.key
	} else if k := ap.findRemovedLocked(kid); k != nil {
		signer = k.key
	} else if k := ap.findRemovedLocked(ap.signingKID); k != nil {
		signer = k.key
	}
	ap.mu.Unlock()

	signWith, alg := crypto.Signer(nil), ""
	if signer != nil {
		signWith, alg = signer.Signer(), signer.Alg()
	}
	if t.SignWith != nil {
		signWith, alg = t.SignWith, t.SignAlg
		if alg == "" {
			a, err := algForPublic(t.SignWith.Public())
			if err != nil {
				return "", err
			}
			alg = a
		}
	}
	if signWith == nil {
		return "", errors.New("conformance: AP has no key to sign with (set TokenSpec.SignWith)")
	}

	iat := t.IssuedAt
	if iat.IsZero() {
		iat = time.Now()
	}
	life := t.Lifetime
	if life == 0 {
		life = time.Hour
	}
	sub := t.Sub
	if sub == "" {
		sub = "aauth:agent-" + randomHex(4) + "@" + ap.host
	}
	jti := t.JTI
	if jti == "" {
		jti = randomB64(16)
	}
	header := map[string]any{"typ": aauth.TypAgentToken, "alg": alg, "kid": kid}
	claims := map[string]any{
		"iss": ap.issuer,
		"dwk": aauth.DWKAgent,
		"sub": sub,
		"jti": jti,
		"iat": iat.Unix(),
		"exp": iat.Add(life).Unix(),
	}
	switch {
	case t.CnfJWK != nil:
		claims["cnf"] = map[string]any{"jwk": cloneMap(t.CnfJWK)}
	case t.Agent != nil:
		claims["cnf"] = map[string]any{"jwk": t.Agent.PublicJWK()}
	default:
		if _, overridden := t.ClaimOverrides["cnf"]; !overridden {
			return "", errors.New("conformance: TokenSpec needs Agent, CnfJWK or a cnf override")
		}
	}
	if t.PS != "" {
		claims["ps"] = t.PS
	}
	if t.ParentAgent != "" {
		claims["parent_agent"] = t.ParentAgent
	}
	header = Patch(header, t.HeaderOverrides)
	claims = Patch(claims, t.ClaimOverrides)
	p, err := buildJWT(header, claims, signWith, alg)
	if err != nil {
		return "", err
	}
	if t.Raw != nil {
		return t.Raw(p), nil
	}
	return p.Compact(), nil
}

// NewAgent creates an agent of this AP: a key (spec.Agent, or a fresh
// Ed25519 key) and an agent token minted per spec.
func (ap *AgentProvider) NewAgent(spec TokenSpec) (*Agent, error) {
	if spec.Agent == nil {
		k, err := NewAgentKey(aauth.AlgEd25519)
		if err != nil {
			return nil, err
		}
		spec.Agent = k
	}
	if spec.Sub == "" {
		spec.Sub = "aauth:agent-" + randomHex(4) + "@" + ap.host
	}
	tok, err := ap.MintAgentToken(spec)
	if err != nil {
		return nil, err
	}
	return &Agent{Key: spec.Agent, Token: tok, ID: spec.Sub, Issuer: ap.issuer}, nil
}

// ServerSigner returns a Signer that signs as the AP itself (a server
// making a signed request in its own right, e.g. a revocation at the PS):
// Signature-Key `jwks_uri;id="<issuer>";dwk="aauth-agent.json";kid="<kid>"`
// with the current signing key.
func (ap *AgentProvider) ServerSigner() *Signer {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	var key *AgentKey
	if k := ap.findLocked(ap.signingKID); k != nil {
		key = k.key
	}
	return &Signer{Key: key, Member: JWKSURIMember(ap.issuer, aauth.DWKAgent, ap.signingKID)}
}
