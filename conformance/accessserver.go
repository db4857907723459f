package conformance

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/jose"
)

// AccessServer is a test access server (AS) at https://<host> for
// four-party federation (P§access-server-federation): it serves
// /.well-known/aauth-access.json and its JWKS, and a token endpoint that
// verifies the calling person server's signature with yaronf/httpsign (an
// independent verifier: jwks_uri scheme, the PS's metadata and JWKS,
// content-type and content-digest covered, a fresh created, no alg) and
// the tokens it forwards (the resource token against the resource's keys,
// the presented token against the PS's, the agent token against its
// provider's). What it answers is scripted (Script): a grant, a token that
// fails one of the PS's delivery checks, requirement=claims, interaction,
// clarification or approval, 402, 429, any terminal error, a malformed
// body, slowness or a dropped connection, each at the next request or poll
// of a flow. Its revocation endpoint records verified PS revocations.
type AccessServer struct {
	host, issuer, addr string
	key                *AgentKey
	srv                *http.Server
	resolver           *Resolver
	client             *http.Client

	mu           sync.Mutex
	metadata     map[string]any
	script       []ASStep
	flows        map[string]*asFlow
	requests     []ASRequest
	hits         []ASHit
	revocations  []Revocation
	metadataGets int
	minted       []string
	now          func() time.Time
}

// SetClock makes the AS read the time from now (the PS's test clock, so
// that the tokens it mints agree with a PS whose time was advanced).
func (as *AccessServer) SetClock(now func() time.Time) {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.now = now
}

func (as *AccessServer) clock() time.Time {
	as.mu.Lock()
	now := as.now
	as.mu.Unlock()
	if now == nil {
		return time.Now()
	}
	return now()
}

// AS step kinds: what the AS answers at one request or poll of a flow.
const (
	ASGrant         = "grant"         // 200 with an auth token (Defect: a bad one)
	ASClaims        = "claims"        // 202 requirement=claims until the PS posts claims
	ASInteraction   = "interaction"   // 202 requirement=interaction until the person visits
	ASClarification = "clarification" // 202 requirement=clarification until answered
	ASApproval      = "approval"      // 202 requirement=approval, then on
	ASPayment       = "payment"       // 402 with Location, then on
	ASSlowDown      = "slow_down"     // 429 with Retry-After, then on
	ASError         = "error"         // a terminal problem+json error
	ASMalformed     = "malformed"     // 200 with a body that is not JSON
	ASDrop          = "drop"          // the connection closes without an answer
)

// Token defects: an auth token failing exactly one delivery check
// (P§auth-token-delivery, PS-123).
const (
	DefectIss       = "iss"
	DefectAud       = "aud"
	DefectCnf       = "cnf"
	DefectSub       = "sub"
	DefectScope     = "scope"
	DefectSignature = "signature"
	DefectTyp       = "typ"
	DefectExp       = "exp"
	DefectLifetime  = "lifetime"
	DefectDWK       = "dwk"
	// DefectKid: signed by a key the AS does not publish, named by its
	// own kid (unknown in the AS's JWKS).
	DefectKid = "kid"
	// DefectR3: r3_uri and r3_s256 other than the resource token's: a
	// document the resource token did not name, or another hash of the
	// one it named (PS-246). Not in TokenDefects: PS-246 is IMPL.
	DefectR3 = "r3"
)

// TokenDefects lists every defect.
var TokenDefects = []string{DefectIss, DefectAud, DefectCnf, DefectSub, DefectScope, DefectSignature, DefectTyp,
	DefectExp, DefectLifetime, DefectDWK, DefectKid}

// ASStep is one scripted answer.
type ASStep struct {
	Kind string
	// Claims are the required_claims of ASClaims.
	Claims []string
	// Question is the clarification of ASClarification, with its
	// optional options and timeout (seconds; 0 omits it).
	Question string
	Options  []string
	Timeout  int
	// Status, Code and Detail are the terminal error of ASError.
	Status       int
	Code, Detail string
	// RetryAfter (seconds) of ASApproval and ASSlowDown; 0 omits it.
	RetryAfter int
	// Delay holds the answer this long (a slow AS).
	Delay time.Duration
	// Defect makes ASGrant's token fail one delivery check.
	Defect string
	// Location replaces the pending URL of a 202/402 (a foreign one).
	Location string
	// Sub replaces the granted token's sub (another resource's directed
	// identifier, say).
	Sub string
}

// ASRequest is a verified token request: who signed it, what it covered,
// and the body's members.
type ASRequest struct {
	Signer ServerSignature
	Body   map[string]any
	// Flow is the pending id the AS gave the request.
	Flow string
	// Claims the PS released on requirement=claims; Clarification the
	// PS's clarification_response.
	Claims        map[string]any
	Clarification map[string]any
	// Wire is the request as received: what an independent verifier
	// checks the PS's signature on (the Node interop check).
	Wire ASWire
	// Granted is the auth token the AS answered the flow with (200).
	Granted string
}

// ASWire is an HTTP request as the AS received it.
type ASWire struct {
	Method    string              `json:"method"`
	Authority string              `json:"authority"`
	Path      string              `json:"path"`
	Query     string              `json:"query,omitempty"`
	Headers   map[string][]string `json:"headers"`
	Body      string              `json:"body"`
}

// ASHit is one request to the token endpoint or a pending URL.
type ASHit struct {
	Method, Path string
	At           time.Time
}

type asFlow struct {
	id          string
	steps       []ASStep
	i           int
	req         int // index in requests
	ps          string
	cnf         map[string]any
	rt          map[string]any
	presentExp  int64
	interaction string // the code the person must bring
	interacted  bool
	done        bool
}

// ASOption configures StartAccessServer.
type ASOption func(*AccessServer)

// WithASKey signs the AS's tokens with k (default a new Ed25519 key): a
// key kept across runs keeps a long-running PS's JWKS cache valid.
func WithASKey(k *AgentKey) ASOption { return func(as *AccessServer) { as.key = k } }

// StartAccessServer starts a test AS at https://host with a certificate from
// ca, mapped in r. With no script it grants.
func StartAccessServer(ca *CA, r *Resolver, host string, opts ...ASOption) (*AccessServer, error) {
	as := &AccessServer{host: host, issuer: "https://" + host, resolver: r, client: NewHTTPClient(ca, r), flows: map[string]*asFlow{}}
	for _, o := range opts {
		o(as)
	}
	var err error
	if as.key == nil {
		if as.key, err = NewAgentKey(aauth.AlgEd25519); err != nil {
			return nil, err
		}
	}
	as.metadata = map[string]any{
		"issuer":              as.issuer,
		"name":                "Test Access Server",
		"jwks_uri":            as.issuer + "/.well-known/jwks.json",
		"auth_token_endpoint": as.issuer + "/token",
		"revocation_endpoint": as.issuer + "/revoke",
	}
	if as.srv, as.addr, err = serveTLS(ca, r, host, http.HandlerFunc(as.serveHTTP)); err != nil {
		return nil, err
	}
	return as, nil
}

// Issuer is https://<host>.
func (as *AccessServer) Issuer() string { return as.issuer }

// Close stops the server.
func (as *AccessServer) Close() error {
	as.resolver.deleteIf(as.host, as.addr)
	return as.srv.Close()
}

// SetMetadata changes the published metadata (nil members are removed).
func (as *AccessServer) SetMetadata(patch map[string]any) {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.metadata = Patch(as.metadata, patch)
}

// Script sets the answers of the next flow (a new token request), in
// order; after the last, the flow is granted.
func (as *AccessServer) Script(steps ...ASStep) {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.script = slices.Clone(steps)
}

// Requests lists the verified token requests.
func (as *AccessServer) Requests() []ASRequest {
	as.mu.Lock()
	defer as.mu.Unlock()
	out := slices.Clone(as.requests)
	return out
}

// Hits lists the requests to the token endpoint and pending URLs.
func (as *AccessServer) Hits() []ASHit {
	as.mu.Lock()
	defer as.mu.Unlock()
	return slices.Clone(as.hits)
}

// Minted lists the auth tokens the AS answered with (defective ones
// included), in order.
func (as *AccessServer) Minted() []string {
	as.mu.Lock()
	defer as.mu.Unlock()
	return slices.Clone(as.minted)
}

// MetadataGets counts the fetches of the AS's metadata.
func (as *AccessServer) MetadataGets() int {
	as.mu.Lock()
	defer as.mu.Unlock()
	return as.metadataGets
}

// Revocations lists the verified revocations received.
func (as *AccessServer) Revocations() []Revocation {
	as.mu.Lock()
	defer as.mu.Unlock()
	return slices.Clone(as.revocations)
}

// InteractionPath is the AS's interaction page: a visit with ?code= counts
// as the person's completed interaction (binding their PS at the AS).
const InteractionPath = "/interact"

func (as *AccessServer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/.well-known/aauth-access.json":
		as.mu.Lock()
		as.metadataGets++
		body := cloneMap(as.metadata)
		as.mu.Unlock()
		writeJSON(w, http.StatusOK, body)
	case r.URL.Path == "/.well-known/jwks.json":
		jwk := as.key.PublicJWK()
		jwk["kid"] = as.key.Thumbprint()
		writeJSON(w, http.StatusOK, map[string]any{"keys": []any{jwk}})
	case r.URL.Path == "/token" && r.Method == http.MethodPost:
		as.serveToken(w, r)
	case strings.HasPrefix(r.URL.Path, "/token/pending/"):
		as.servePending(w, r, strings.TrimPrefix(r.URL.Path, "/token/pending/"))
	case r.URL.Path == InteractionPath:
		as.serveInteraction(w, r)
	case r.URL.Path == "/revoke":
		as.serveRevoke(w, r)
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func asProblem(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", aauth.ProblemContentType)
	if status == http.StatusUnauthorized {
		w.Header().Set(aauth.HeaderSignatureError, "error="+code)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": code, "status": status, "detail": detail})
}

func (as *AccessServer) hit(r *http.Request) {
	as.mu.Lock()
	as.hits = append(as.hits, ASHit{Method: r.Method, Path: r.URL.Path, At: time.Now()})
	as.mu.Unlock()
}

// serveToken verifies a PS's token request and starts a flow.
func (as *AccessServer) serveToken(w http.ResponseWriter, r *http.Request) {
	as.hit(r)
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return
	}
	sig, err := verifyPSRequest(r.Context(), as.httpClient(), r, body, true)
	if err != nil {
		asProblem(w, http.StatusUnauthorized, "invalid_signature", err.Error())
		return
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		asProblem(w, http.StatusBadRequest, aauth.ErrInvalidRequest, "the body is not a JSON object")
		return
	}
	f, status, code, err := as.checkTokens(r, sig.ID, m)
	if err != nil {
		asProblem(w, status, code, err.Error())
		return
	}
	as.mu.Lock()
	f.id = randomB64(16)
	f.steps = slices.Clone(as.script)
	f.req = len(as.requests)
	wire := ASWire{Method: r.Method, Authority: r.Host, Path: r.URL.Path, Query: r.URL.RawQuery, Headers: map[string][]string{}, Body: string(body)}
	for k, v := range r.Header {
		wire.Headers[strings.ToLower(k)] = slices.Clone(v)
	}
	as.requests = append(as.requests, ASRequest{Signer: *sig, Body: m, Flow: f.id, Wire: wire})
	as.flows[f.id] = f
	as.mu.Unlock()
	as.answer(w, r, f)
}

// checkTokens verifies the forwarded tokens (P§ps-to-as-token-request).
func (as *AccessServer) checkTokens(r *http.Request, ps string, m map[string]any) (*asFlow, int, string, error) {
	ctx := r.Context()
	str := func(n string) string { s, _ := m[n].(string); return s }
	for _, n := range []string{"resource_token", "agent_token", "presented_token"} {
		if str(n) == "" {
			return nil, http.StatusBadRequest, aauth.ErrInvalidRequest, errors.New(n + " is required")
		}
	}
	rt, err := verifyJWTWith(ctx, as.httpClient(), str("resource_token"), aauth.TypResourceToken, aauth.DWKResource)
	if err != nil {
		return nil, http.StatusBadRequest, aauth.ErrInvalidResourceToken, fmt.Errorf("resource token: %w", err)
	}
	if aud, _ := rt.ClaimString("aud"); aud != as.issuer {
		return nil, http.StatusBadRequest, aauth.ErrInvalidResourceToken, errors.New("the resource token's aud is not this AS")
	}
	at, err := verifyJWTWith(ctx, as.httpClient(), str("agent_token"), aauth.TypAgentToken, aauth.DWKAgent)
	if err != nil {
		return nil, http.StatusBadRequest, aauth.ErrInvalidRequest, fmt.Errorf("agent token: %w", err)
	}
	holder := at
	if sub := str("subagent_token"); sub != "" {
		if holder, err = verifyJWTWith(ctx, as.httpClient(), sub, aauth.TypAgentToken, aauth.DWKAgent); err != nil {
			return nil, http.StatusBadRequest, aauth.ErrInvalidSubagentToken, fmt.Errorf("subagent token: %w", err)
		}
	}
	cnf, _ := holder.Claims["cnf"].(map[string]any)
	jwk, _ := cnf["jwk"].(map[string]any)
	ck, err := jose.ParsePublicJWK(jwk, aauth.SupportedAlgs)
	if err != nil {
		return nil, http.StatusBadRequest, aauth.ErrInvalidRequest, fmt.Errorf("agent cnf.jwk: %w", err)
	}
	if jkt, _ := rt.ClaimString("agent_jkt"); jkt != ck.Thumbprint {
		return nil, http.StatusBadRequest, aauth.ErrInvalidResourceToken, errors.New("agent_jkt is not the agent's key")
	}
	// The presented token, against the resource token (step 3): its
	// issuer (a person token's iss) is the PS that signed this request; on
	// a step-up it is an auth token this AS issued, whose ps is that PS.
	typ, dwk, psClaim := aauth.TypPersonToken, aauth.DWKPerson, "iss"
	if h, _, err := DecodeJWT(str("presented_token")); err == nil && h["typ"] == aauth.TypAuthToken {
		typ, dwk, psClaim = aauth.TypAuthToken, aauth.DWKAccess, "ps"
	}
	pt, err := verifyJWTWith(ctx, as.httpClient(), str("presented_token"), typ, dwk)
	if err != nil {
		return nil, http.StatusBadRequest, aauth.ErrInvalidPresentedToken, fmt.Errorf("presented token: %w", err)
	}
	pc := pt.Claims
	if typ == aauth.TypAuthToken && pc["iss"] != as.issuer {
		return nil, http.StatusBadRequest, aauth.ErrInvalidPresentedToken, errors.New("the presented auth token is not this AS's")
	}
	if pc[psClaim] != ps || pc["jti"] != rt.Claims["presented_jti"] || pc["sub"] != rt.Claims["sub"] || pc["aud"] != rt.Claims["iss"] {
		return nil, http.StatusBadRequest, aauth.ErrInvalidResourceToken, errors.New("the presented token does not match the resource token")
	}
	exp, _, _ := pt.NumericDate("exp")
	if !time.Unix(exp, 0).After(as.clock()) {
		return nil, http.StatusBadRequest, aauth.ErrExpiredPresentedToken, errors.New("the presented token has expired")
	}
	return &asFlow{ps: ps, cnf: jwk, rt: rt.Claims, presentExp: exp}, 0, "", nil
}

// servePending answers a signed poll (GET) or input (POST) on a flow.
func (as *AccessServer) servePending(w http.ResponseWriter, r *http.Request, id string) {
	as.hit(r)
	var body []byte
	if r.Method == http.MethodPost {
		var err error
		if body, err = io.ReadAll(io.LimitReader(r.Body, 64<<10)); err != nil {
			return
		}
	}
	sig, err := verifyPSRequest(r.Context(), as.httpClient(), r, body, true)
	if err != nil {
		asProblem(w, http.StatusUnauthorized, "invalid_signature", err.Error())
		return
	}
	as.mu.Lock()
	f, ok := as.flows[id]
	as.mu.Unlock()
	if !ok || f.ps != sig.ID {
		asProblem(w, http.StatusNotFound, aauth.ErrNotFound, "no such pending request")
		return
	}
	if f.done {
		asProblem(w, http.StatusGone, "gone", "this request has ended")
		return
	}
	if r.Method == http.MethodPost {
		if status, code, err := as.input(r, sig.ID, f, body); err != nil {
			asProblem(w, status, code, err.Error())
			return
		}
	}
	as.answer(w, r, f)
}

// input takes the PS's claims or clarification answer for the waiting step
// (the PS ps signed r): a clarification_response, or an updated_request
// whose tokens verify as at the token endpoint with the flow's agent
// token (P§updated-request); they replace the flow's.
func (as *AccessServer) input(r *http.Request, ps string, f *asFlow, body []byte) (int, string, error) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return http.StatusBadRequest, aauth.ErrInvalidRequest, errors.New("the body is not a JSON object")
	}
	var updated *asFlow
	if m["action"] == aauth.ActionUpdatedRequest {
		as.mu.Lock()
		req := cloneMap(as.requests[f.req].Body)
		as.mu.Unlock()
		req["resource_token"], req["presented_token"] = m["resource_token"], m["presented_token"]
		var status int
		var code string
		var err error
		if updated, status, code, err = as.checkTokens(r, ps, req); err != nil {
			return status, code, err
		}
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	if f.i >= len(f.steps) {
		return http.StatusBadRequest, aauth.ErrInvalidRequest, errors.New("nothing is asked")
	}
	switch f.steps[f.i].Kind {
	case ASClaims:
		as.requests[f.req].Claims = m
	case ASClarification:
		switch {
		case updated != nil:
			f.cnf, f.rt, f.presentExp = updated.cnf, updated.rt, updated.presentExp
		case m["action"] != aauth.ActionClarificationResponse:
			return http.StatusBadRequest, aauth.ErrInvalidRequest, errors.New("want action clarification_response or updated_request")
		}
		as.requests[f.req].Clarification = m
	default:
		return http.StatusBadRequest, aauth.ErrInvalidRequest, errors.New("nothing is asked")
	}
	f.i++
	return 0, "", nil
}

func (as *AccessServer) serveInteraction(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("code")
	as.mu.Lock()
	found := false
	for _, f := range as.flows {
		if code != "" && f.interaction == code {
			f.interacted, found = true, true
		}
	}
	as.mu.Unlock()
	if !found {
		http.Error(w, "unknown code", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = io.WriteString(w, `<!doctype html><html lang="en"><title>Test AS</title><main><h1>Your person server is bound at the test access server</h1></main></html>`)
}

func (as *AccessServer) serveRevoke(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return
	}
	sig, err := verifyPSRequest(r.Context(), as.httpClient(), r, body, false)
	if err != nil {
		asProblem(w, http.StatusUnauthorized, "invalid_signature", err.Error())
		return
	}
	rev, err := parseRevocation(sig, body)
	if err != nil {
		asProblem(w, http.StatusBadRequest, aauth.ErrInvalidRequest, err.Error())
		return
	}
	as.mu.Lock()
	as.revocations = append(as.revocations, *rev)
	as.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// answer plays the flow's current step.
func (as *AccessServer) answer(w http.ResponseWriter, r *http.Request, f *asFlow) {
	as.mu.Lock()
	var step ASStep
	if f.i < len(f.steps) {
		step = f.steps[f.i]
	} else {
		step = ASStep{Kind: ASGrant}
	}
	as.mu.Unlock()
	if step.Delay > 0 {
		select {
		case <-time.After(step.Delay):
		case <-r.Context().Done():
			return
		}
	}
	loc := as.issuer + "/token/pending/" + f.id
	if step.Location != "" {
		loc = step.Location
	}
	pending := func(requirement string, retry int, body map[string]any) {
		w.Header().Set("Location", loc)
		w.Header().Set("Retry-After", strconv.Itoa(retry))
		if requirement != "" {
			w.Header().Set(aauth.HeaderAAuthRequirement, "requirement="+requirement)
		}
		body["status"] = "pending"
		writeJSON(w, http.StatusAccepted, body)
	}
	advance := func() {
		as.mu.Lock()
		f.i++
		as.mu.Unlock()
	}
	switch step.Kind {
	case ASGrant:
		tok, err := as.mint(f, step.Defect, step.Sub)
		if err != nil {
			asProblem(w, http.StatusInternalServerError, aauth.ErrServerError, err.Error())
			return
		}
		as.mu.Lock()
		f.done = true
		as.minted = append(as.minted, tok)
		as.requests[f.req].Granted = tok
		as.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"auth_token": tok, "expires_in": 3600})
	case ASError:
		as.mu.Lock()
		f.done = true
		as.mu.Unlock()
		asProblem(w, step.Status, step.Code, step.Detail)
	case ASMalformed:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"auth_token": `)
	case ASDrop:
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
			}
		}
	case ASClaims:
		pending("claims", 0, map[string]any{"required_claims": step.Claims})
	case ASClarification:
		body := map[string]any{"clarification": step.Question}
		if step.Options != nil {
			body["options"] = step.Options
		}
		if step.Timeout != 0 {
			body["timeout"] = step.Timeout
		}
		pending("clarification", 0, body)
	case ASInteraction:
		as.mu.Lock()
		if f.interacted {
			f.i++
			as.mu.Unlock()
			as.answer(w, r, f)
			return
		}
		if f.interaction == "" {
			f.interaction = randomB64(8)
		}
		code := f.interaction
		as.mu.Unlock()
		w.Header().Set(aauth.HeaderAAuthRequirement, fmt.Sprintf("requirement=interaction; url=%s; code=%s",
			sfString(as.issuer+InteractionPath), sfString(code)))
		w.Header().Set("Location", loc)
		w.Header().Set("Retry-After", "0")
		writeJSON(w, http.StatusAccepted, map[string]any{"status": "pending"})
	case ASApproval:
		advance()
		pending("approval", step.RetryAfter, map[string]any{})
	case ASPayment:
		advance()
		w.Header().Set("Location", loc)
		w.Header().Set("WWW-Authenticate", `Payment id="x7Tg2pLq", method="test", request="eyJhbW91bnQiOiIxMDAwIn0"`)
		writeJSON(w, http.StatusPaymentRequired, map[string]any{"status": "payment_required"})
	case ASSlowDown:
		advance()
		w.Header().Set("Retry-After", strconv.Itoa(step.RetryAfter))
		asProblem(w, http.StatusTooManyRequests, aauth.ErrSlowDown, "poll more slowly")
	default:
		asProblem(w, http.StatusInternalServerError, aauth.ErrServerError, "unknown step "+step.Kind)
	}
}

// MintAuthToken signs an auth token with the AS's key: typ aa-auth+jwt,
// iss the AS, dwk aauth-access.json, a fresh jti, iat now and exp in ten
// minutes, then claims on top (an upstream token the PS never saw the AS
// issue, say).
func (as *AccessServer) MintAuthToken(claims map[string]any) (string, error) {
	now := as.clock()
	c := Patch(map[string]any{"iss": as.issuer, "dwk": aauth.DWKAccess, "jti": randomB64(16), "iat": now.Unix(),
		"exp": now.Add(10 * time.Minute).Unix()}, claims)
	p, err := buildJWT(map[string]any{"typ": aauth.TypAuthToken, "alg": as.key.Alg(), "kid": as.key.Thumbprint()}, c, as.key.Signer(), as.key.Alg())
	if err != nil {
		return "", err
	}
	return p.Compact(), nil
}

// mint issues the flow's auth token (P§auth-token-structure), with defect.
func (as *AccessServer) mint(f *asFlow, defect, sub string) (string, error) {
	now := as.clock()
	exp := min(now.Add(time.Hour).Unix(), f.presentExp)
	iat := now.Unix()
	claims := map[string]any{"iss": as.issuer, "dwk": aauth.DWKAccess, "aud": f.rt["iss"], "ps": f.ps, "sub": f.rt["sub"],
		"cnf": map[string]any{"jwk": f.cnf}, "jti": randomB64(16), "iat": iat, "exp": exp}
	for _, n := range []string{"scope", "mission_s256", "tenant"} {
		if v, ok := f.rt[n]; ok {
			claims[n] = v
		}
	}
	if sub != "" {
		claims["sub"] = sub
	}
	typ, signer, kid := aauth.TypAuthToken, as.key, as.key.Thumbprint()
	switch defect {
	case DefectIss:
		claims["iss"] = "https://other-as.test"
	case DefectAud:
		claims["aud"] = "https://other-rs.test"
	case DefectCnf:
		k, err := NewAgentKey(aauth.AlgEd25519)
		if err != nil {
			return "", err
		}
		claims["cnf"] = map[string]any{"jwk": k.PublicJWK()}
	case DefectSub:
		claims["sub"] = "someone-else"
	case DefectScope:
		s, _ := claims["scope"].(string)
		claims["scope"] = strings.TrimSpace(s + " calendar.admin")
	case DefectSignature:
		k, err := NewAgentKey(aauth.AlgEd25519)
		if err != nil {
			return "", err
		}
		signer = k
	case DefectTyp:
		typ = aauth.TypPersonToken
	case DefectExp:
		// Later than the presented token, but within an hour of iat.
		late := f.presentExp + 30
		claims["exp"], claims["iat"] = late, min(iat, late-3600)
	case DefectLifetime:
		claims["iat"] = exp - 7200
	case DefectDWK:
		claims["dwk"] = aauth.DWKPerson
	case DefectKid:
		k, err := NewAgentKey(aauth.AlgEd25519)
		if err != nil {
			return "", err
		}
		signer, kid = k, k.Thumbprint()
	case DefectR3:
		uri, _ := f.rt["r3_uri"].(string)
		if uri == "" {
			uri = fmt.Sprint(f.rt["iss"]) + "/r3/other.json"
		}
		claims["r3_uri"], claims["r3_s256"] = uri, randomB64(32)
	}
	header := map[string]any{"typ": typ, "alg": signer.Alg(), "kid": kid}
	p, err := buildJWT(header, claims, signer.Signer(), signer.Alg())
	if err != nil {
		return "", err
	}
	return p.Compact(), nil
}

// SetClient replaces the client the AS fetches with (metadata and keys of
// the PS, resources and agent providers): a PS outside the kit's resolver
// and CA needs one that reaches and trusts it.
func (as *AccessServer) SetClient(c *http.Client) {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.client = c
}

func (as *AccessServer) httpClient() *http.Client {
	as.mu.Lock()
	defer as.mu.Unlock()
	return as.client
}
