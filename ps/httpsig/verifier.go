package httpsig

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/dunglas/httpsfv"
	"github.com/yaronf/httpsign"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/fetch"
	"github.com/aauth-ps/aauth-ps/ps/jose"
	"github.com/aauth-ps/aauth-ps/ps/strictjson"
)

// KeyDiscovery resolves an issuer's signing key by kid through its metadata
// document and JWKS, with the caching rules of P§jwks-discovery.
type KeyDiscovery interface {
	Key(ctx context.Context, issuer, dwk, kid string) (fetch.KeyResult, error)
	RefreshKey(ctx context.Context, issuer, dwk, kid string) (fetch.KeyResult, error)
}

// ReplayCache remembers signatures for the validity window, shared by every
// replica (the database).
type ReplayCache interface {
	RememberSignature(ctx context.Context, key string, expiresAt time.Time) (fresh bool, err error)
	// RememberAgentSignature remembers the key of a request signed under
	// the agent token (iss, jti) only if no revocation is recorded for
	// that token (revoked, then): the revocation check of step 9 and the
	// replay write in one statement (finding 60).
	RememberAgentSignature(ctx context.Context, key string, expiresAt time.Time, iss, jti string) (fresh, revoked bool, err error)
}

// Revocations answers whether the PS holds a revocation for a token.
type Revocations interface {
	IsRevoked(ctx context.Context, iss, jti string) (bool, error)
}

// ProviderGate applies the operator's agent-provider policy before the
// PS contacts a provider (an allow-list must not become a fetch list).
type ProviderGate interface {
	Admit(ctx context.Context, issuer string) error
}

// Config configures a Verifier. Every field without a stated default is required.
type Config struct {
	// Issuer is this PS's issuer; `ps` claims are compared with it.
	Issuer string
	// Authorities are the @authority values this PS serves: the issuer's
	// host and any configured aliases, lowercase.
	Authorities []string
	// Window is the `created` validity window (default 60 s).
	Window time.Duration
	// AcceptAlgs is the exact set of accepted algorithms (default aauth.SupportedAlgs).
	AcceptAlgs  []string
	Now         func() time.Time
	Discovery   KeyDiscovery
	Replay      ReplayCache
	Revocations Revocations
	// Providers, when set, refuses agent providers the operator does not trust.
	Providers   ProviderGate
	Identifiers aauth.IdentifierPolicy
	// StrictPSClaim rejects an agent token whose `ps` names another PS, except
	// on requests carrying `upstream_token` (A-28; off by default).
	StrictPSClaim bool
	Logger        *slog.Logger
}

// Policy is what one endpoint accepts.
type Policy struct {
	// Schemes accepted at this endpoint; default {jwt}.
	Schemes []string
	// AllowSubAgent admits agent tokens with `parent_agent` (no PS endpoint does, PS-041).
	AllowSubAgent bool
	// ForeignPS admits, even under StrictPSClaim, an agent token whose `ps`
	// names another PS: at pending URLs, whose requests only an agent the
	// token endpoints admitted can own (a chained request's intermediary
	// polling, A-28).
	ForeignPS bool
}

// Verifier verifies signed agent requests.
type Verifier struct {
	cfg    Config
	tokens *tokenCache
}

// New builds a Verifier.
func New(cfg Config) (*Verifier, error) {
	if cfg.Window == 0 {
		cfg.Window = aauth.DefaultSignatureWindowSeconds * time.Second
	}
	if len(cfg.AcceptAlgs) == 0 {
		cfg.AcceptAlgs = aauth.SupportedAlgs
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.Now == nil:
		return nil, errors.New("httpsig: Now is required")
	case cfg.Discovery == nil:
		return nil, errors.New("httpsig: Discovery is required")
	case cfg.Replay == nil:
		return nil, errors.New("httpsig: Replay is required")
	case cfg.Revocations == nil:
		return nil, errors.New("httpsig: Revocations is required")
	case len(cfg.Authorities) == 0:
		return nil, errors.New("httpsig: at least one authority is required")
	}
	return &Verifier{cfg: cfg, tokens: newTokenCache(agentTokenCacheSize, agentTokenCacheTTL)}, nil
}

// AcceptAlgs is the exact set of algorithms this verifier accepts.
func (v *Verifier) AcceptAlgs() []string { return slices.Clone(v.cfg.AcceptAlgs) }

// Agent is a verified signer: the agent token's claims and the key that
// signed the request.
type Agent struct {
	// ID is the agent identifier (`sub`), compared exactly (PS-255).
	ID     string
	Parsed aauth.AgentID
	// Provider is the agent provider (`iss` of the agent token).
	Provider    string
	TokenJTI    string
	TokenExp    time.Time
	TokenIAT    time.Time
	PS          string
	ParentAgent string
	// Key is the admitted cnf.jwk that signed the request.
	Key *jose.PublicKey
	// Claims holds every agent-token claim, for later policy (platform, device…).
	Claims map[string]any
	// Token is the agent token exactly as presented (four-party passes it
	// to the access server unchanged, PS-121).
	Token string
	// Label and Created describe the verified signature.
	Label   string
	Created time.Time
	// ClientAddr is the address the request came from, set by the HTTP
	// layer (behind a trusted proxy, the client the proxy names). The
	// signature does not cover it; it only feeds abuse bounds.
	ClientAddr netip.Addr
	// SubAgent is the sub-agent whose subagent_token the request carried,
	// once verified (chain.Resolver.Apply): its token is recorded with the
	// signer's when the request succeeds (PS-293).
	SubAgent *Agent
	// entry is the agent token's cache entry (nil: not cached).
	entry *tokenEntry
}

// signatureInput is the verified-label member of Signature-Input.
type signatureInput struct {
	label      string
	components []string
	created    time.Time
	// baseDigest is SHA-256 of the signature base, once it verified.
	baseDigest [sha256.Size]byte
	keyMember  httpsfv.Item
	hasExpires bool
	expires    time.Time
	// paramErr is a missing or malformed created/expires, reported at step 3.
	paramErr error
}

// precheck runs the checks every signed request gets before any key is
// resolved, whoever signed it: the signature headers, the covered
// components, freshness, the scheme pol admits, and the @authority this PS
// serves.
func (v *Verifier) precheck(r *http.Request, body []byte, now time.Time, pol Policy) (in *signatureInput, scheme, authority string, err error) {
	if in, err = v.parseHeaders(r); err != nil {
		return nil, "", "", err
	}
	if err = v.checkComponents(r, body, in); err != nil {
		return nil, "", "", err
	}
	if err = v.checkFreshness(now, in); err != nil {
		return nil, "", "", err
	}
	if scheme, err = v.checkScheme(in, pol); err != nil {
		return nil, "", "", err
	}
	authority = requestAuthority(r, v.cfg.Issuer)
	if !slices.Contains(v.cfg.Authorities, authority) {
		return nil, "", "", aauth.SigErrf(aauth.SigInvalidSignature, "@authority %q is not served here", authority)
	}
	return in, scheme, authority, nil
}

// Verify checks a received request whose body has already been read in
// full (the caller enforces the size cap before calling, PS-050). On
// success the request body is reset to body. Errors are
// *aauth.SignatureError (401), *aauth.Problem (503 when an agent
// provider cannot be reached, 500 on internal failure).
func (v *Verifier) Verify(ctx context.Context, r *http.Request, body []byte, pol Policy) (*Agent, error) {
	now := v.cfg.Now()
	in, scheme, authority, err := v.precheck(r, body, now, pol)
	if err != nil {
		return nil, err
	}
	if scheme != aauth.SchemeJWT {
		// Agents sign with jwt; server callers (jwks_uri) go through
		// VerifyServer at the endpoints that accept them.
		return nil, v.unsupportedScheme(pol)
	}
	// The agent token's revocation (its step 9) is checked with the replay
	// write, in one statement; a refusal before that write checks it
	// first, so the answer is the one the steps' order gives.
	agent, err := v.verifyAgentToken(ctx, now, in.keyMember, revocationWithReplay)
	if err != nil {
		return nil, err
	}
	if err := v.checkSignedByAgent(r, body, in, authority, agent, pol); err != nil {
		return nil, v.revokedFirst(ctx, agent, err)
	}
	// Last: a refused request must leave nothing behind, not even a replay entry.
	if err := v.rememberAgentRequest(ctx, r, in, agent); err != nil {
		return nil, err
	}
	if agent.PS != "" && agent.PS != v.cfg.Issuer {
		v.cfg.Logger.InfoContext(ctx, "agent token names another person server",
			"agent", agent.ID, "ps_claim", agent.PS)
	}
	agent.Label = in.label
	agent.Created = in.created
	r.Body = io.NopCloser(bytes.NewReader(body))
	return agent, nil
}

// parseHeaders is steps 1 and 1b: the three headers are present, parse as
// structured fields, and agree on one label.
func (v *Verifier) parseHeaders(r *http.Request) (*signatureInput, error) {
	rawInput := r.Header.Values(aauth.HeaderSignatureInput)
	rawSig := r.Header.Values(aauth.HeaderSignature)
	rawKey := r.Header.Values(aauth.HeaderSignatureKey)
	if len(rawInput) == 0 || len(rawSig) == 0 || len(rawKey) == 0 {
		var missing []string
		for name, vals := range map[string][]string{
			aauth.HeaderSignatureInput: rawInput, aauth.HeaderSignature: rawSig, aauth.HeaderSignatureKey: rawKey,
		} {
			if len(vals) == 0 {
				missing = append(missing, name)
			}
		}
		slices.Sort(missing)
		return nil, aauth.SigErrf(aauth.SigInvalidSignature, "missing %s", strings.Join(missing, ", "))
	}
	inputDict, err := httpsfv.UnmarshalDictionary(rawInput)
	if err != nil {
		return nil, aauth.SigErr(aauth.SigInvalidSignature, "Signature-Input is not a structured-field dictionary")
	}
	sigDict, err := httpsfv.UnmarshalDictionary(rawSig)
	if err != nil {
		return nil, aauth.SigErr(aauth.SigInvalidSignature, "Signature is not a structured-field dictionary")
	}
	keyDict, err := httpsfv.UnmarshalDictionary(rawKey)
	if err != nil {
		return nil, aauth.SigErr(aauth.SigInvalidKey, "Signature-Key is not a structured-field dictionary")
	}
	labels := inputDict.Names()
	if len(labels) != 1 {
		return nil, aauth.SigErrf(aauth.SigInvalidSignature, "Signature-Input must carry exactly one signature, found %d", len(labels))
	}
	label := labels[0]
	in := &signatureInput{label: label}

	member, _ := inputDict.Get(label)
	list, ok := member.(httpsfv.InnerList)
	if !ok {
		return nil, aauth.SigErr(aauth.SigInvalidSignature, "Signature-Input member is not an inner list")
	}
	for _, item := range list.Items {
		name, ok := item.Value.(string)
		if !ok {
			return nil, aauth.SigErr(aauth.SigInvalidSignature, "Signature-Input component is not a string")
		}
		if len(item.Params.Names()) == 0 {
			in.components = append(in.components, name)
		} else {
			// A component with parameters (;sf, ;key, ;req…) is a different
			// component; keep a marker so it never satisfies a requirement.
			in.components = append(in.components, name+";")
		}
	}
	// created/expires problems are reported at step 3, after the covered
	// components (step 2), so the more actionable invalid_input wins.
	if c, ok := list.Params.Get("created"); !ok {
		in.paramErr = aauth.SigErr(aauth.SigInvalidSignature, "created is missing")
	} else if n, isInt := c.(int64); !isInt {
		in.paramErr = aauth.SigErr(aauth.SigInvalidSignature, "created is not an integer")
	} else {
		in.created = time.Unix(n, 0)
	}
	if e, ok := list.Params.Get("expires"); ok {
		if n, isInt := e.(int64); !isInt {
			if in.paramErr == nil {
				in.paramErr = aauth.SigErr(aauth.SigInvalidSignature, "expires is not an integer")
			}
		} else {
			in.hasExpires, in.expires = true, time.Unix(n, 0)
		}
	}

	sigMember, ok := sigDict.Get(label)
	if !ok {
		return nil, aauth.SigErrf(aauth.SigInvalidSignature, "Signature has no member %q", label)
	}
	sigItem, ok := sigMember.(httpsfv.Item)
	if !ok {
		return nil, aauth.SigErr(aauth.SigInvalidSignature, "Signature member is not a byte sequence")
	}
	if _, ok = sigItem.Value.([]byte); !ok {
		return nil, aauth.SigErr(aauth.SigInvalidSignature, "Signature member is not a byte sequence")
	}

	keyMember, ok := keyDict.Get(label)
	if !ok {
		return nil, aauth.SigErrf(aauth.SigInvalidSignature, "Signature-Key has no member for label %q", label)
	}
	if in.keyMember, ok = keyMember.(httpsfv.Item); !ok {
		return nil, aauth.SigErr(aauth.SigInvalidKey, "Signature-Key member is not an item")
	}
	return in, nil
}

// hasBody reports whether the request carries a body for the purposes of
// P§covered-components. Methods that always carry one count even when empty.
func hasBody(r *http.Request, body []byte) bool {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		return true
	}
	return len(body) > 0
}

// checkComponents is step 2.
func (v *Verifier) checkComponents(r *http.Request, body []byte, in *signatureInput) error {
	required := slices.Clone(aauth.BaseComponents)
	if hasBody(r, body) {
		required = append(required, aauth.BodyComponents...)
	}
	for _, c := range required {
		if !slices.Contains(in.components, c) {
			return &aauth.SignatureError{
				Code:          aauth.SigInvalidInput,
				RequiredInput: required,
				Detail:        fmt.Sprintf("the signature must cover %q", c),
			}
		}
	}
	return nil
}

// checkFreshness is step 3 and the `expires` rule of P§freshness-and-replay.
func (v *Verifier) checkFreshness(now time.Time, in *signatureInput) error {
	switch {
	case in.paramErr != nil:
		return in.paramErr
	case in.created.Before(now.Add(-v.cfg.Window)):
		return aauth.SigErr(aauth.SigInvalidSignature, "created is older than the signature window")
	case in.created.After(now.Add(v.cfg.Window)):
		return aauth.SigErr(aauth.SigClockSkew, "created is ahead of the server clock by more than the signature window")
	case in.hasExpires && in.expires.Before(now):
		return aauth.SigErr(aauth.SigInvalidSignature, "the signature has expired")
	}
	return nil
}

// checkScheme is step 4.
func (v *Verifier) checkScheme(in *signatureInput, pol Policy) (string, error) {
	tok, ok := in.keyMember.Value.(httpsfv.Token)
	if !ok {
		return "", aauth.SigErr(aauth.SigInvalidKey, "Signature-Key member is not a scheme token")
	}
	scheme := string(tok)
	if !slices.Contains(schemesOf(pol), scheme) {
		return "", v.unsupportedScheme(pol)
	}
	return scheme, nil
}

func schemesOf(pol Policy) []string {
	if len(pol.Schemes) == 0 {
		return []string{aauth.SchemeJWT}
	}
	return pol.Schemes
}

func (v *Verifier) unsupportedScheme(pol Policy) error {
	return &aauth.SignatureError{
		Code:          aauth.SigUnsupportedScheme,
		AcceptSchemes: schemesOf(pol),
		Detail:        "this endpoint accepts only the schemes in Accept-Signature-Scheme",
	}
}

// requestAuthority is @authority as received (RFC 9421 §2.2.3): the Host
// header, lowercased, without the default port of the scheme agents use to
// reach this PS. The scheme comes from the issuer, not the connection: behind
// a TLS-terminating proxy the connection is plain HTTP.
func requestAuthority(r *http.Request, issuer string) string {
	a := strings.ToLower(r.Host)
	if strings.HasPrefix(issuer, "http://") {
		return strings.TrimSuffix(a, ":80")
	}
	return strings.TrimSuffix(a, ":443")
}

// verifyMessage is step 7: the RFC 9421 signature over the request as
// received, with the algorithm from the admitted key.
func (v *Verifier) verifyMessage(r *http.Request, body []byte, in *signatureInput, authority string, key *jose.PublicKey) error {
	r.Body = io.NopCloser(bytes.NewReader(body))
	scheme := "https"
	if strings.HasPrefix(v.cfg.Issuer, "http://") {
		scheme = "http"
	}
	msg, err := httpsign.NewMessage(httpsign.NewMessageConfig().WithRequest(r).WithAuthority(authority).WithScheme(scheme))
	if err != nil {
		return &aauth.SignatureError{Code: aauth.SigInvalidSignature, Detail: "the request cannot be canonicalized", Cause: err}
	}
	in.baseDigest, err = verifySignature(msg, in.label, key, aauth.BaseComponents)
	return err
}

// verifySignature checks the RFC 9421 signature labelled label on msg with
// key (algorithm from the admitted key, never from the `alg` parameter),
// requiring the signature to cover required, and returns the SHA-256 of the
// signature base that verified (the replay key's content, A-37). The
// library's own time checks are off: freshness is checked earlier against
// the injected clock.
func verifySignature(msg *httpsign.Message, label string, key *jose.PublicKey, required []string) ([sha256.Size]byte, error) {
	vcfg := httpsign.NewVerifyConfig().SetVerifyCreated(false).SetRejectExpired(false)
	observed := &observedKey{alg: key.Alg, key: key.Key}
	verifier, err := httpsign.NewJWSVerifierV3(signatureBaseAlg, observed, vcfg, httpsign.Headers(required...))
	if err != nil {
		return [sha256.Size]byte{}, &aauth.SignatureError{Code: aauth.SigInvalidKey, Detail: "the signing key cannot be used", Cause: err}
	}
	if _, err := msg.Verify(label, *verifier); err != nil || !observed.verified {
		return [sha256.Size]byte{}, &aauth.SignatureError{Code: aauth.SigInvalidSignature, Detail: "the HTTP message signature does not verify", Cause: err}
	}
	return observed.baseDigest, nil
}

// checkContentDigest is 7b: a covered Content-Digest must be present,
// name sha-256 or sha-512, and match the body received; every recognised
// member must match.
func checkContentDigest(r *http.Request, body []byte, components []string) error {
	if !slices.Contains(components, "content-digest") {
		return nil
	}
	values := r.Header.Values(aauth.HeaderContentDigest)
	if len(values) == 0 {
		return aauth.SigErr(aauth.SigInvalidSignature, "Content-Digest is covered but absent")
	}
	rc := io.NopCloser(bytes.NewReader(body))
	if err := httpsign.ValidateContentDigestHeader(values, &rc,
		[]string{httpsign.DigestSha256, httpsign.DigestSha512}); err != nil {
		return &aauth.SignatureError{Code: aauth.SigInvalidSignature, Detail: "Content-Digest does not match the body", Cause: err}
	}
	return nil
}

// checkSignedByAgent runs the checks after the agent token's: the
// message signature under its key, the Content-Digest, and what pol admits
// of the agent.
func (v *Verifier) checkSignedByAgent(r *http.Request, body []byte, in *signatureInput, authority string, agent *Agent, pol Policy) error {
	if err := v.verifyMessage(r, body, in, authority, agent.Key); err != nil {
		return err
	}
	if err := checkContentDigest(r, body, in.components); err != nil {
		return err
	}
	if agent.ParentAgent != "" && !pol.AllowSubAgent {
		return aauth.SigErr(aauth.SigInvalidJWT,
			"sub-agents cannot call the person server directly; their parent agent requests on their behalf")
	}
	if v.cfg.StrictPSClaim && agent.PS != "" && agent.PS != v.cfg.Issuer && !pol.ForeignPS && !carriesUpstreamToken(body) {
		return aauth.SigErr(aauth.SigInvalidJWT, "the agent token's ps claim names another person server")
	}
	return nil
}

// rememberAgentRequest is checkReplay for a request signed under an agent
// token whose revocation was left to it (revocationWithReplay): one
// statement checks the revocation and writes the replay entry. A GET or
// HEAD writes no entry, so its revocation is read alone.
func (v *Verifier) rememberAgentRequest(ctx context.Context, r *http.Request, in *signatureInput, agent *Agent) error {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return v.notRevoked(ctx, agent)
	}
	fresh, revoked, err := v.cfg.Replay.RememberAgentSignature(ctx, ReplayKey(agent.Key.Thumbprint, in.baseDigest),
		in.created.Add(v.cfg.Window), agent.Provider, agent.TokenJTI)
	switch {
	case err != nil:
		return internalError("replay cache", err)
	case revoked:
		return errAgentTokenRevoked()
	case !fresh:
		return errReplayed()
	}
	return nil
}

// checkReplay is 7d: non-GET requests are remembered by what was
// signed, ReplayKey(key thumbprint, signature base), until created + window.
func (v *Verifier) checkReplay(ctx context.Context, r *http.Request, in *signatureInput, thumbprint string) error {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	fresh, err := v.cfg.Replay.RememberSignature(ctx, ReplayKey(thumbprint, in.baseDigest), in.created.Add(v.cfg.Window))
	if err != nil {
		return internalError("replay cache", err)
	}
	if !fresh {
		return errReplayed()
	}
	return nil
}

func errReplayed() error {
	return aauth.SigErr(aauth.SigInvalidSignature, "this signature has already been used")
}

// ReplayKey is the replay-cache key of A-37: the hex SHA-256 of the signing
// key's thumbprint and the digest of the signature base. It names what was
// signed and by whom, never how the signature is encoded, so a re-encoded or
// re-signed copy of a request (an ECDSA (r, n−s) twin, a second randomized
// signature of the same base) has the same key. The label is left out on
// purpose: it is not part of the base, so a copy sent under another label
// (possible when Signature-Key carries the same key under two labels) is
// still the same signed request. The thumbprint is base64url and cannot
// contain the NUL separator.
func ReplayKey(thumbprint string, baseDigest [sha256.Size]byte) string {
	h := sha256.New()
	h.Write([]byte(thumbprint))
	h.Write([]byte{0})
	h.Write(baseDigest[:])
	return hex.EncodeToString(h.Sum(nil))
}

// carriesUpstreamToken reports whether a JSON body has an upstream_token
// member (the call-chaining exemption of A-28).
func carriesUpstreamToken(body []byte) bool {
	m, err := strictjson.DecodeObject(body)
	if err != nil {
		return false
	}
	_, ok := m["upstream_token"]
	return ok
}

func internalError(what string, err error) error {
	return &aauth.Problem{Status: http.StatusInternalServerError, Code: aauth.ErrServerError,
		Detail: "internal error", Cause: fmt.Errorf("%s: %w", what, err)}
}
