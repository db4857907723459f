package conformance

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/jose"
)

// Resource is a test resource at https://<host> (three-party, no access
// server): it serves /.well-known/aauth-resource.json (with
// scope_descriptions) and its JWKS, verifies person and auth tokens issued
// by a PS (fetching the PS's metadata and JWKS), and mints resource tokens
// (aa-resource+jwt) with every defect switchable through ResourceTokenSpec.
// For agents and PSs written by anyone it also serves a protected endpoint
// (ResourceAPIPath: challenges a person token with a resource token,
// accepts an auth token), an interaction endpoint (ResourceInteractionPath)
// and R3 documents (PublishR3) to PS-signed requests.
type Resource struct {
	host, issuer, addr string
	key                *AgentKey
	extraScopes        map[string]any
	srv                *http.Server
	resolver           *Resolver
	client             *http.Client
	routes             *hostRoutes

	mu       sync.Mutex
	metadata map[string]any
	// revocations are the verified revocations received; revocationStatus,
	// when set, is answered instead of recording (a failing recipient).
	revocations      []Revocation
	revocationStatus int
	// revocationRequests counts the requests at the revocation endpoint,
	// answered or failed (a sender's retries).
	revocationRequests int
	// revocationHold, when set, blocks the endpoint until it is closed.
	revocationHold chan struct{}
	accepted       []string
	r3             map[string][]byte
	// The interaction endpoint's visits and scripted error.
	visits           []InteractionVisit
	callbackVisits   []string
	interactionError string
	r3Signers        []string
	// accessServer, when set, is the resource's access server: its
	// challenges name it as aud (four-party) and its auth tokens are
	// accepted.
	accessServer string
}

// Revocation is a verified revocation the resource received: the signer's
// id (the issuer of the token), the body's jti and exp, and what the
// signature covered.
type Revocation struct {
	Iss, JTI   string
	Exp        int64
	Components []string
}

// ResourceScopes are the scope_descriptions a Resource publishes by default.
var ResourceScopes = map[string]any{
	"calendar.read":  "Read the events of your calendar",
	"calendar.write": "Create and change events in your calendar",
	// Charged by the second resource of the call-chaining tests.
	"payments.charge": "Charge a payment to your account",
}

// ResourceOption configures StartResource.
type ResourceOption func(*Resource)

// WithResourceKey signs resource tokens with k (a stable key keeps a PS's
// cached JWKS valid across restarts; default a fresh Ed25519 key).
func WithResourceKey(k *AgentKey) ResourceOption { return func(rs *Resource) { rs.key = k } }

// WithResourceScopes publishes scopes (name → description) beside the
// default ResourceScopes, as a resource of another kind would.
func WithResourceScopes(scopes map[string]any) ResourceOption {
	return func(rs *Resource) { rs.extraScopes = scopes }
}

// ResourceHost is the host of the test resource beside an agent provider
// at host (the conformance command serves it there).
func ResourceHost(host string) string { return "rs." + host }

// StartResource starts a test resource at https://host, with a certificate
// from ca, mapped in r (start it before the PS, which reads --resolve at
// start). Its client trusts ca and dials through r.
func StartResource(ca *CA, r *Resolver, host string, opts ...ResourceOption) (*Resource, error) {
	rs := &Resource{host: host, issuer: "https://" + host, resolver: r, client: NewHTTPClient(ca, r)}
	rs.routes = &hostRoutes{base: rs.client.Transport}
	rs.client.Transport = rs.routes
	for _, o := range opts {
		o(rs)
	}
	if rs.key == nil {
		var err error
		if rs.key, err = NewAgentKey(aauth.AlgEd25519); err != nil {
			return nil, err
		}
	}
	rs.metadata = map[string]any{
		"issuer":              rs.issuer,
		"jwks_uri":            rs.issuer + "/.well-known/jwks.json",
		"name":                "Test Calendar",
		"description":         "The conformance kit's test resource at " + host + ".",
		"scope_descriptions":  cloneMap(ResourceScopes),
		"revocation_endpoint": rs.issuer + "/revoke",
	}
	for k, v := range rs.extraScopes {
		rs.metadata["scope_descriptions"].(map[string]any)[k] = v
	}
	var err error
	rs.srv, rs.addr, err = serveTLS(ca, r, host, http.HandlerFunc(rs.serveHTTP))
	if err != nil {
		return nil, err
	}
	return rs, nil
}

// serveTLS serves h at https://host on a loopback port with a certificate
// from ca, and maps host to it in r.
func serveTLS(ca *CA, r *Resolver, host string, h http.Handler) (*http.Server, string, error) {
	cert, err := ca.Issue(host)
	if err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() {
		_ = srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	}()
	addr := ln.Addr().String()
	r.Set(host, addr)
	return srv, addr, nil
}

// Issuer is https://<host>: the resource token's iss and every token's aud.
func (rs *Resource) Issuer() string { return rs.issuer }

// Key is the resource's signing key (its kid is the key's thumbprint).
func (rs *Resource) Key() *AgentKey { return rs.key }

// Metadata is a copy of the published metadata.
func (rs *Resource) Metadata() map[string]any {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return cloneMap(rs.metadata)
}

// SetMetadata changes the published metadata (nil members are removed).
func (rs *Resource) SetMetadata(patch map[string]any) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.metadata = Patch(rs.metadata, patch)
}

// PublishR3 serves doc verbatim at path (an R3 document), to requests a
// person server signed as itself (listed by R3Fetchers), and returns its
// r3_uri and r3_s256 for a resource token. Publishing other bytes at the
// same path later makes a token minted before refer to a mismatching
// document.
func (rs *Resource) PublishR3(path string, doc []byte) (uri, s256 string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.r3 == nil {
		rs.r3 = map[string][]byte{}
	}
	rs.r3[path] = slices.Clone(doc)
	sum := sha256.Sum256(doc)
	return rs.issuer + path, base64.RawURLEncoding.EncodeToString(sum[:])
}

// Close stops the server.
func (rs *Resource) Close() error {
	rs.resolver.deleteIf(rs.host, rs.addr)
	return rs.srv.Close()
}

func (rs *Resource) serveHTTP(w http.ResponseWriter, r *http.Request) {
	var body any
	switch r.URL.Path {
	case "/.well-known/aauth-resource.json":
		rs.mu.Lock()
		body = cloneMap(rs.metadata)
		rs.mu.Unlock()
	case "/revoke":
		rs.serveRevoke(w, r)
		return
	case "/.well-known/jwks.json":
		jwk := rs.key.PublicJWK()
		jwk["kid"] = rs.key.Thumbprint()
		body = map[string]any{"keys": []any{jwk}}
	case ResourceAPIPath:
		rs.serveAPI(w, r)
		return
	case ResourceInteractionPath:
		rs.serveInteraction(w, r)
		return
	case ResourceCallbackPath:
		rs.mu.Lock()
		rs.callbackVisits = append(rs.callbackVisits, r.URL.RawQuery)
		rs.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("callback received\n"))
		return
	default:
		rs.mu.Lock()
		doc, ok := rs.r3[r.URL.Path]
		rs.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		// Only a signing PS may read it (R3§r3-document-access-restriction).
		signer, err := rs.verifyPSSignature(r)
		if err != nil {
			writeAPIError(w, http.StatusUnauthorized, "", err)
			return
		}
		rs.mu.Lock()
		rs.r3Signers = append(rs.r3Signers, signer)
		rs.mu.Unlock()
		// The exact bytes, every time (R3§content-addressing).
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "max-age=300")
	_ = json.NewEncoder(w).Encode(body)
}

// ResourceTokenSpec describes a resource token. Zero values give a good
// token for the presented token's claims; every field below the line is a
// defect switch.
type ResourceTokenSpec struct {
	// PS is the person server (aud and ps); Sub, PresentedJTI, MissionS256
	// and Tenant are copied from the presented token (see TokenFor).
	PS, Sub, PresentedJTI, MissionS256, Tenant string
	// AgentJKT is the thumbprint of the agent's signing key.
	AgentJKT string
	Scope    string
	// JTI is the token's jti (default random): set it to replay one.
	JTI string
	// IssuedAt defaults to now; Lifetime to 5 minutes.
	IssuedAt time.Time
	Lifetime time.Duration

	// Typ replaces aa-resource+jwt; Aud replaces PS as aud.
	Typ, Aud string
	// LegacyPresentedJTI names the presented token as person_token_jti
	// (August 2026 resources) instead of presented_jti.
	LegacyPresentedJTI bool
	// Omit removes claims; Overrides sets (or, with nil, removes) claims.
	Omit      []string
	Overrides map[string]any
	// SignWith signs with another key than the published one (bad signature).
	SignWith *AgentKey
	// HeaderOverrides sets (or, with nil, removes) protected header members
	// of a token that is still signed with the resource's key.
	HeaderOverrides map[string]any
}

// MintResourceToken mints a resource token signed with the resource's key.
func (rs *Resource) MintResourceToken(s ResourceTokenSpec) (string, error) {
	now := s.IssuedAt
	if now.IsZero() {
		now = time.Now()
	}
	if s.Lifetime == 0 {
		s.Lifetime = 5 * time.Minute
	}
	if s.JTI == "" {
		s.JTI = randomB64(16)
	}
	aud := s.PS
	if s.Aud != "" {
		aud = s.Aud
	}
	claims := map[string]any{"iss": rs.issuer, "dwk": aauth.DWKResource, "aud": aud, "ps": s.PS, "sub": s.Sub,
		"agent_jkt": s.AgentJKT, "jti": s.JTI, "iat": now.Unix(), "exp": now.Add(s.Lifetime).Unix()}
	if s.LegacyPresentedJTI {
		claims["person_token_jti"] = s.PresentedJTI
	} else {
		claims["presented_jti"] = s.PresentedJTI
	}
	for name, v := range map[string]string{"scope": s.Scope, "mission_s256": s.MissionS256, "tenant": s.Tenant} {
		if v != "" {
			claims[name] = v
		}
	}
	for _, name := range s.Omit {
		delete(claims, name)
	}
	claims = Patch(claims, s.Overrides)
	typ := aauth.TypResourceToken
	if s.Typ != "" {
		typ = s.Typ
	}
	signer := rs.key
	if s.SignWith != nil {
		signer = s.SignWith
	}
	header := Patch(map[string]any{"typ": typ, "alg": signer.Alg(), "kid": rs.key.Thumbprint()}, s.HeaderOverrides)
	p, err := buildJWT(header, claims, signer.Signer(), signer.Alg())
	if err != nil {
		return "", err
	}
	return p.Compact(), nil
}

// TokenFor is the spec of a good resource token for a presented token (a
// person or auth token the agent showed this resource) and the agent's
// key: ps, sub, presented_jti, mission_s256 and tenant copied from it.
func TokenFor(presented string, agent *AgentKey, scope string) (ResourceTokenSpec, error) {
	return tokenSpecFor(presented, agent.Thumbprint(), scope)
}

// MintFor mints a good resource token for presented and the agent's key
// (TokenFor's spec), issued at iat (the zero time: now), after edit, when
// not nil, has changed its spec.
func (rs *Resource) MintFor(presented string, agent *AgentKey, scope string, iat time.Time, edit func(*ResourceTokenSpec)) (string, error) {
	spec, err := TokenFor(presented, agent, scope)
	if err != nil {
		return "", err
	}
	spec.IssuedAt = iat
	if edit != nil {
		edit(&spec)
	}
	return rs.MintResourceToken(spec)
}

// tokenSpecFor is TokenFor for the agent key's thumbprint agentJKT.
func tokenSpecFor(presented, agentJKT, scope string) (ResourceTokenSpec, error) {
	_, c, err := DecodeJWT(presented)
	if err != nil {
		return ResourceTokenSpec{}, err
	}
	str := func(n string) string { s, _ := c[n].(string); return s }
	ps := str("iss")
	if p := str("ps"); p != "" {
		ps = p
	}
	return ResourceTokenSpec{PS: ps, Sub: str("sub"), PresentedJTI: str("jti"), MissionS256: str("mission_s256"),
		Tenant: str("tenant"), AgentJKT: agentJKT, Scope: scope}, nil
}

// VerifyPersonToken verifies a person token presented to this resource by
// the holder of signingKey (P§person-token-verification).
func (rs *Resource) VerifyPersonToken(ctx context.Context, token string, signingKey *AgentKey) (map[string]any, error) {
	return rs.verifyPSToken(ctx, token, aauth.TypPersonToken, signingKey.Thumbprint())
}

// VerifyAuthToken verifies an auth token presented to this resource by the
// holder of signingKey (P§auth-token-verification): typ, the PS's
// signature, aud, cnf, sub and ps.
func (rs *Resource) VerifyAuthToken(ctx context.Context, token string, signingKey *AgentKey) (map[string]any, error) {
	c, err := rs.verifyPSToken(ctx, token, aauth.TypAuthToken, signingKey.Thumbprint())
	if err != nil {
		return nil, err
	}
	if c["ps"] != c["iss"] {
		return nil, errors.New("auth token: ps is not its issuer (a PS-issued token)")
	}
	return c, nil
}

// verifyPSToken verifies a PS-issued token presented by the holder of the
// key whose JWK thumbprint is holder.
func (rs *Resource) verifyPSToken(ctx context.Context, token, typ, holder string) (map[string]any, error) {
	t, err := verifyJWTWith(ctx, rs.httpClient(), token, typ, aauth.DWKPerson)
	if err != nil {
		return nil, err
	}
	return rs.checkBound(t, aauth.DWKPerson, holder)
}

// checkBound applies the checks of a token presented to this resource
// after its signature: dwk, aud = this resource, exp, sub, and cnf.jwk =
// the key (thumbprint holder) that signed the request.
func (rs *Resource) checkBound(t *jose.CompactJWT, dwk, holder string) (map[string]any, error) {
	if got, _ := t.ClaimString("dwk"); got != dwk {
		return nil, fmt.Errorf("dwk %q", got)
	}
	if aud, _ := t.ClaimString("aud"); aud != rs.issuer {
		return nil, fmt.Errorf("aud %q is not this resource", aud)
	}
	exp, ok, err := t.NumericDate("exp")
	if err != nil || !ok || !time.Unix(exp, 0).After(time.Now()) {
		return nil, errors.New("expired or without exp")
	}
	if sub, _ := t.ClaimString("sub"); sub == "" {
		return nil, errors.New("no sub")
	}
	cnf, _ := t.Claims["cnf"].(map[string]any)
	jwk, _ := cnf["jwk"].(map[string]any)
	ck, err := jose.ParsePublicJWK(jwk, aauth.SupportedAlgs)
	if err != nil {
		return nil, fmt.Errorf("cnf.jwk: %w", err)
	}
	if ck.Thumbprint != holder {
		return nil, errors.New("cnf.jwk is not the key that signed the request")
	}
	return t.Claims, nil
}

// psKey fetches the PS's metadata and JWKS and selects kid.
func (rs *Resource) psKey(ctx context.Context, iss, kid string) (*jose.PublicKey, error) {
	return fetchServerKey(ctx, rs.httpClient(), iss, aauth.DWKPerson, kid)
}

// RouteHost sends the resource's own requests to host (a PS outside the
// kit's CA and resolver, whose keys verify the revocations it signs)
// through rt.
func (rs *Resource) RouteHost(host string, rt http.RoundTripper) {
	rs.routes.mu.Lock()
	defer rs.routes.mu.Unlock()
	if rs.routes.hosts == nil {
		rs.routes.hosts = map[string]http.RoundTripper{}
	}
	rs.routes.hosts[host] = rt
}

// hostRoutes is a RoundTripper choosing by the request's host.
type hostRoutes struct {
	base  http.RoundTripper
	mu    sync.Mutex
	hosts map[string]http.RoundTripper
}

func (h *hostRoutes) RoundTrip(req *http.Request) (*http.Response, error) {
	h.mu.Lock()
	rt, ok := h.hosts[req.URL.Host]
	h.mu.Unlock()
	if !ok {
		rt = h.base
	}
	return rt.RoundTrip(req)
}
