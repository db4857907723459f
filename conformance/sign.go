package conformance

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// DefaultLabel is the signature label the kit uses unless told otherwise.
const DefaultLabel = "sig"

// Signer signs HTTP requests per the AAuth profile of RFC 9421
// (P§http-message-signatures-profile). It builds the signature base itself,
// so it can also produce every wrong signature a verifier must refuse.
type Signer struct {
	// Key signs the request (the key in the token's cnf, for a good request).
	Key *AgentKey
	// Token is the JWT presented under the jwt scheme; WithScheme also uses it.
	Token string
	// Member is the Signature-Key member value without its label, e.g.
	// `jwks_uri;id="https://ap.test";dwk="aauth-agent.json";kid="k1"`.
	// Empty means JWTMember(Token).
	Member string
}

// Signed describes what was signed. Header values after raw replacements,
// omissions and tampering are on the request itself.
type Signed struct {
	Label    string // label in Signature-Input and Signature
	KeyLabel string // label of the Signature-Key member
	// Components are the covered components, in order.
	Components []string
	// Params is the Signature-Input member value, which is also the
	// @signature-params line: ("@method" ...);created=...
	Params string
	// Base is the RFC 9421 signature base that was signed.
	Base string
	// Signature is the raw signature (64 bytes for Ed25519 and ES256).
	Signature []byte
	// SignatureKey is the Signature-Key header value that was signed.
	SignatureKey string
	// ContentDigest is the Content-Digest header value set, or "".
	ContentDigest string
}

// SignOption changes how a request is signed; most produce a bad request on
// purpose. Options apply in order; later ones win.
type SignOption func(*signConfig)

type sfParam struct {
	name  string
	value any
}

type signConfig struct {
	label, keyLabel string
	components      []string
	hasComponents   bool
	omitComponents  []string
	extraComponents []string
	created         *time.Time
	createdOffset   time.Duration
	noCreated       bool
	createdRaw      string
	expires         *time.Time
	expiresOffset   *time.Duration
	params          []sfParam
	scheme          string
	member          string
	rawSigKey       *string
	rawSigInput     *string
	rawSig          *string
	signingKey      *AgentKey
	digestBody      []byte
	hasDigestBody   bool
	digestAlgs      []string
	rawDigest       *string
	omitHeaders     []string
	corruptSig      bool
	tampers         []func(*http.Request)
	now             func() time.Time
}

// WithLabel uses label in all three headers (default "sig").
func WithLabel(label string) SignOption { return func(c *signConfig) { c.label = label } }

// WithKeyLabel names the Signature-Key member label differently from the
// signature label, so Signature-Key has no member for the verified label.
func WithKeyLabel(label string) SignOption { return func(c *signConfig) { c.keyLabel = label } }

// WithComponents replaces the covered component list entirely.
func WithComponents(components ...string) SignOption {
	return func(c *signConfig) {
		c.components = append([]string(nil), components...)
		c.hasComponents = true
	}
}

// WithoutComponent drops components from the covered list (they are neither
// in Signature-Input nor in the base).
func WithoutComponent(components ...string) SignOption {
	return func(c *signConfig) { c.omitComponents = append(c.omitComponents, components...) }
}

// WithExtraComponents appends components (header names or derived
// components such as "@query" and "@target-uri") to the covered list.
func WithExtraComponents(components ...string) SignOption {
	return func(c *signConfig) { c.extraComponents = append(c.extraComponents, components...) }
}

// WithCreated sets `created` to t.
func WithCreated(t time.Time) SignOption { return func(c *signConfig) { c.created = &t } }

// WithCreatedOffset sets `created` to now+d (e.g. -120 s: stale; +120 s: clock skew).
func WithCreatedOffset(d time.Duration) SignOption {
	return func(c *signConfig) { c.createdOffset, c.created = d, nil }
}

// WithoutCreated omits the `created` parameter.
func WithoutCreated() SignOption { return func(c *signConfig) { c.noCreated = true } }

// WithCreatedRaw sends `created=<raw>` verbatim, e.g. WithCreatedRaw(`"x"`)
// for a String where an Integer is required, or "1.5" for a Decimal.
func WithCreatedRaw(raw string) SignOption { return func(c *signConfig) { c.createdRaw = raw } }

// WithExpires adds `expires` = t.
func WithExpires(t time.Time) SignOption {
	return func(c *signConfig) { c.expires, c.expiresOffset = &t, nil }
}

// WithExpiresOffset adds `expires` = now+d (e.g. -1 s: expired; +30 s: fine).
func WithExpiresOffset(d time.Duration) SignOption {
	return func(c *signConfig) { c.expiresOffset, c.expires = &d, nil }
}

// SFToken is a Structured Field Token value for WithParam (bare, unquoted).
type SFToken string

// WithParam appends a signature parameter after created/expires, e.g.
// WithParam("alg", "hmac-sha256"), WithParam("keyid", "x"). Values: string
// (an SF String), int/int64 (Integer), bool (Boolean), SFToken, []byte
// (Byte Sequence).
func WithParam(name string, value any) SignOption {
	return func(c *signConfig) { c.params = append(c.params, sfParam{name, value}) }
}

// WithScheme presents the credential under another Signature-Key scheme,
// with plausible parameters: "hwk" (the signing key's JWK), "jkt-jwt",
// "self-jwt" (the token), "jwks_uri" and "jwks" (issuer and kid taken from
// the token), "x509", "cached", "jwt"; any other name (an unknown scheme)
// becomes `<name>;jwt="<token>"`. The signature covers it and is valid.
func WithScheme(scheme string) SignOption {
	return func(c *signConfig) { c.scheme, c.member = scheme, "" }
}

// WithKeyMember sets the Signature-Key member value (without label)
// verbatim; the signature covers it.
func WithKeyMember(member string) SignOption {
	return func(c *signConfig) { c.member, c.scheme = member, "" }
}

// WithSignatureKey sets the whole Signature-Key header value verbatim
// (label included) before signing, so the signature covers it.
func WithSignatureKey(raw string) SignOption { return func(c *signConfig) { c.rawSigKey = &raw } }

// WithSignatureInput replaces the Signature-Input header after signing.
func WithSignatureInput(raw string) SignOption { return func(c *signConfig) { c.rawSigInput = &raw } }

// WithSignature replaces the Signature header after signing.
func WithSignature(raw string) SignOption { return func(c *signConfig) { c.rawSig = &raw } }

// WithCorruptSignature flips a bit of the signature bytes.
func WithCorruptSignature() SignOption { return func(c *signConfig) { c.corruptSig = true } }

// WithSigningKey signs with k instead of the Signer's key (for example a
// key other than the token's cnf.jwk).
func WithSigningKey(k *AgentKey) SignOption { return func(c *signConfig) { c.signingKey = k } }

// WithDigestBody computes Content-Digest over b instead of the real body.
func WithDigestBody(b []byte) SignOption {
	return func(c *signConfig) { c.digestBody, c.hasDigestBody = append([]byte(nil), b...), true }
}

// WithDigestAlg chooses the Content-Digest algorithms, in order: "sha-256"
// (default), "sha-512", or any other name, which carries the SHA-256 bytes
// under that unknown algorithm name.
func WithDigestAlg(algs ...string) SignOption {
	return func(c *signConfig) { c.digestAlgs = append([]string(nil), algs...) }
}

// WithContentDigest sets the Content-Digest header value verbatim (signed).
func WithContentDigest(raw string) SignOption { return func(c *signConfig) { c.rawDigest = &raw } }

// WithoutHeader deletes header fields after signing: "Signature",
// "Signature-Input", "Signature-Key", or a covered one like "Content-Digest".
func WithoutHeader(names ...string) SignOption {
	return func(c *signConfig) { c.omitHeaders = append(c.omitHeaders, names...) }
}

// WithTamper runs f on the request after it is signed.
func WithTamper(f func(*http.Request)) SignOption {
	return func(c *signConfig) { c.tampers = append(c.tampers, f) }
}

// TamperMethod changes the method after signing.
func TamperMethod(method string) SignOption {
	return WithTamper(func(r *http.Request) { r.Method = method })
}

// TamperPath changes the path after signing (query kept).
func TamperPath(path string) SignOption {
	return WithTamper(func(r *http.Request) { r.URL.Path, r.URL.RawPath = path, "" })
}

// TamperAuthority changes the Host header after signing; the connection
// still goes to the URL's host.
func TamperAuthority(host string) SignOption {
	return WithTamper(func(r *http.Request) { r.Host = host })
}

// TamperContentType changes Content-Type after signing.
func TamperContentType(ct string) SignOption {
	return WithTamper(func(r *http.Request) { r.Header.Set("Content-Type", ct) })
}

// TamperSignatureKey replaces the Signature-Key header after signing.
func TamperSignatureKey(v string) SignOption {
	return WithTamper(func(r *http.Request) { r.Header.Set(aauth.HeaderSignatureKey, v) })
}

// TamperContentDigest replaces the Content-Digest header after signing.
func TamperContentDigest(v string) SignOption {
	return WithTamper(func(r *http.Request) { r.Header.Set(aauth.HeaderContentDigest, v) })
}

// TamperBody replaces the body after signing (Content-Digest unchanged).
func TamperBody(b []byte) SignOption {
	b = append([]byte(nil), b...)
	return WithTamper(func(r *http.Request) { setBody(r, b) })
}

// withNow fixes the clock (tests).
func withNow(f func() time.Time) SignOption { return func(c *signConfig) { c.now = f } }

// DefaultComponents is the covered list the kit signs: the base components,
// and with a body content-type and content-digest before signature-key
// (the order of the PS-REQUIREMENTS §2.5 vector).
func DefaultComponents(hasBody bool) []string {
	out := []string{"@method", "@authority", "@path"}
	if hasBody {
		out = append(out, aauth.BodyComponents...)
	}
	return append(out, "signature-key")
}

// Sign signs req. A non-nil body becomes the request body (replacing any),
// gets a Content-Digest, and makes content-type and content-digest covered;
// the Content-Type header must already be set (NewRequest sets it).
// @authority comes from req.Host when set, so setting req.Host to
// "other.test" before signing yields a valid signature for a foreign
// authority sent to the URL's server (PS-022). Options that act after
// signing (WithoutHeader, WithSignatureInput, WithSignature, Tamper*) leave
// Signed describing what was signed, not what is sent.
func (s *Signer) Sign(req *http.Request, body []byte, opts ...SignOption) (*Signed, error) {
	c := signConfig{label: DefaultLabel, now: time.Now}
	for _, o := range opts {
		o(&c)
	}
	if c.keyLabel == "" {
		c.keyLabel = c.label
	}
	key := s.Key
	if c.signingKey != nil {
		key = c.signingKey
	}
	if key == nil {
		return nil, errors.New("conformance: Signer has no key")
	}
	now := c.now()
	out := &Signed{Label: c.label, KeyLabel: c.keyLabel}

	hasBody := body != nil
	if hasBody {
		setBody(req, body)
		db := body
		if c.hasDigestBody {
			db = c.digestBody
		}
		out.ContentDigest = ContentDigest(db, c.digestAlgs...)
		if c.rawDigest != nil {
			out.ContentDigest = *c.rawDigest
		}
		req.Header.Set(aauth.HeaderContentDigest, out.ContentDigest)
	} else if c.rawDigest != nil {
		out.ContentDigest = *c.rawDigest
		req.Header.Set(aauth.HeaderContentDigest, out.ContentDigest)
	}

	if c.rawSigKey != nil {
		out.SignatureKey = *c.rawSigKey
	} else {
		member := s.Member
		switch {
		case c.member != "":
			member = c.member
		case c.scheme != "":
			member = s.schemeMember(c.scheme, key)
		case member == "":
			member = JWTMember(s.Token)
		}
		out.SignatureKey = c.keyLabel + "=" + member
	}
	req.Header.Set(aauth.HeaderSignatureKey, out.SignatureKey)

	comps := DefaultComponents(hasBody)
	if c.hasComponents {
		comps = c.components
	}
	for _, drop := range c.omitComponents {
		kept := comps[:0:0]
		for _, x := range comps {
			if x != drop {
				kept = append(kept, x)
			}
		}
		comps = kept
	}
	comps = append(append([]string(nil), comps...), c.extraComponents...)
	out.Components = comps

	var p strings.Builder
	p.WriteString("(")
	for i, comp := range comps {
		if i > 0 {
			p.WriteString(" ")
		}
		p.WriteString(sfString(comp))
	}
	p.WriteString(")")
	switch {
	case c.createdRaw != "":
		p.WriteString(";created=" + c.createdRaw)
	case c.noCreated:
	default:
		t := now.Add(c.createdOffset)
		if c.created != nil {
			t = *c.created
		}
		p.WriteString(";created=" + strconv.FormatInt(t.Unix(), 10))
	}
	if c.expires != nil {
		p.WriteString(";expires=" + strconv.FormatInt(c.expires.Unix(), 10))
	} else if c.expiresOffset != nil {
		p.WriteString(";expires=" + strconv.FormatInt(now.Add(*c.expiresOffset).Unix(), 10))
	}
	for _, prm := range c.params {
		v, err := sfBareItem(prm.value)
		if err != nil {
			return nil, fmt.Errorf("conformance: param %s: %w", prm.name, err)
		}
		if v == "" {
			p.WriteString(";" + prm.name)
		} else {
			p.WriteString(";" + prm.name + "=" + v)
		}
	}
	out.Params = p.String()

	base, err := SignatureBase(req, comps, out.Params)
	if err != nil {
		return nil, err
	}
	out.Base = base
	sig, err := key.Sign([]byte(base))
	if err != nil {
		return nil, err
	}
	if c.corruptSig {
		sig = append([]byte(nil), sig...)
		sig[len(sig)/2] ^= 0x01
	}
	out.Signature = sig

	req.Header.Set(aauth.HeaderSignatureInput, c.label+"="+out.Params)
	req.Header.Set(aauth.HeaderSignature, c.label+"=:"+base64.StdEncoding.EncodeToString(sig)+":")
	if c.rawSigInput != nil {
		req.Header.Set(aauth.HeaderSignatureInput, *c.rawSigInput)
	}
	if c.rawSig != nil {
		req.Header.Set(aauth.HeaderSignature, *c.rawSig)
	}
	for _, h := range c.omitHeaders {
		req.Header.Del(h)
	}
	for _, f := range c.tampers {
		f(req)
	}
	return out, nil
}

// schemeMember renders a member under scheme from what the signer holds.
func (s *Signer) schemeMember(scheme string, key *AgentKey) string {
	iss, kid, dwk := "https://ap.test", "", aauth.DWKAgent
	if h, cl, err := DecodeJWT(s.Token); err == nil {
		if v, ok := cl["iss"].(string); ok {
			iss = v
		}
		if v, ok := cl["dwk"].(string); ok {
			dwk = v
		}
		if v, ok := h["kid"].(string); ok {
			kid = v
		}
	}
	tokenMember := func(name string) string { return name + ";jwt=" + sfString(s.Token) }
	switch scheme {
	case aauth.SchemeJWT, aauth.SchemeJKTJWT, aauth.SchemeSelfJWT:
		return tokenMember(scheme)
	case aauth.SchemeHWK:
		return HWKMember(key.PublicJWK())
	case aauth.SchemeJWKSURI:
		return JWKSURIMember(iss, dwk, kid)
	case aauth.SchemeJWKS:
		return aauth.SchemeJWKS + ";url=" + sfString(iss+JWKSPath) + ";kid=" + sfString(kid)
	case aauth.SchemeX509:
		sum := sha256.Sum256([]byte(s.Token))
		return X509Member(iss+"/.well-known/cert.pem", sum[:])
	case aauth.SchemeCached:
		return CachedMember("2f9c8a1e-a7b3")
	}
	return tokenMember(scheme)
}

// JWTMember is the Signature-Key member value `jwt;jwt="<token>"`.
func JWTMember(token string) string { return aauth.SchemeJWT + ";jwt=" + sfString(token) }

// JWKSURIMember is `jwks_uri;id="<id>";dwk="<dwk>";kid="<kid>"`.
func JWKSURIMember(id, dwk, kid string) string {
	return aauth.SchemeJWKSURI + ";id=" + sfString(id) + ";dwk=" + sfString(dwk) + ";kid=" + sfString(kid)
}

// HWKMember is `hwk;kty=...;crv=...;x=...[;y=...];alg=...` from a JWK
// (members it lacks are skipped).
func HWKMember(jwk map[string]any) string {
	var b strings.Builder
	b.WriteString(aauth.SchemeHWK)
	for _, n := range []string{"kty", "crv", "x", "y", "n", "e", "alg"} {
		if v, ok := jwk[n].(string); ok {
			b.WriteString(";" + n + "=" + sfString(v))
		}
	}
	return b.String()
}

// X509Member is `x509;x5u="<url>";x5t=:<sha-256 of the leaf DER>:`.
func X509Member(x5u string, x5t []byte) string {
	return aauth.SchemeX509 + ";x5u=" + sfString(x5u) + ";x5t=:" + base64.StdEncoding.EncodeToString(x5t) + ":"
}

// CachedMember is `cached;cid="<cid>"`.
func CachedMember(cid string) string { return aauth.SchemeCached + ";cid=" + sfString(cid) }

// ContentDigest renders an RFC 9530 Content-Digest value for body:
// `sha-256=:<standard base64, padded>:` by default; see WithDigestAlg for algs.
func ContentDigest(body []byte, algs ...string) string {
	if len(algs) == 0 {
		algs = []string{"sha-256"}
	}
	parts := make([]string, 0, len(algs))
	for _, a := range algs {
		var sum []byte
		switch a {
		case "sha-512":
			s := sha512.Sum512(body)
			sum = s[:]
		default:
			s := sha256.Sum256(body)
			sum = s[:]
		}
		parts = append(parts, a+"=:"+base64.StdEncoding.EncodeToString(sum)+":")
	}
	return strings.Join(parts, ", ")
}

// SignatureBase builds the RFC 9421 §2.5 signature base of req for the
// covered components and the serialized signature parameters (the
// Signature-Input member value). Supported derived components: @method,
// @authority, @path, @target-uri, @scheme, @request-target, @query. Header
// values are trimmed and multiple field lines joined with ", ".
func SignatureBase(req *http.Request, components []string, sigParams string) (string, error) {
	var b strings.Builder
	for _, comp := range components {
		v, err := componentValue(req, comp)
		if err != nil {
			return "", err
		}
		b.WriteString(sfString(comp) + ": " + v + "\n")
	}
	b.WriteString(`"@signature-params": ` + sigParams)
	return b.String(), nil
}

func componentValue(req *http.Request, comp string) (string, error) {
	switch comp {
	case "@method":
		if req.Method == "" {
			return http.MethodGet, nil
		}
		return req.Method, nil
	case "@authority":
		return Authority(req), nil
	case "@path":
		return requestPath(req), nil
	case "@scheme":
		return requestScheme(req), nil
	case "@query":
		return "?" + req.URL.RawQuery, nil
	case "@request-target":
		if req.URL.RawQuery != "" {
			return requestPath(req) + "?" + req.URL.RawQuery, nil
		}
		return requestPath(req), nil
	case "@target-uri":
		u := requestScheme(req) + "://" + Authority(req) + requestPath(req)
		if req.URL.RawQuery != "" {
			u += "?" + req.URL.RawQuery
		}
		return u, nil
	}
	if strings.HasPrefix(comp, "@") {
		return "", fmt.Errorf("conformance: unsupported derived component %q", comp)
	}
	vals := req.Header.Values(comp)
	if len(vals) == 0 {
		return "", fmt.Errorf("conformance: covered header %q is missing", comp)
	}
	trimmed := make([]string, len(vals))
	for i, v := range vals {
		trimmed[i] = strings.Trim(v, " \t")
	}
	return strings.Join(trimmed, ", "), nil
}

// Authority is the @authority of req (RFC 9421 §2.2.3): the Host (req.Host,
// else the URL host), lowercased, with the port only when it is not the
// scheme's default.
func Authority(req *http.Request) string {
	h := req.Host
	if h == "" {
		h = req.URL.Host
	}
	h = strings.ToLower(h)
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		return h
	}
	if (port == "443" && requestScheme(req) == "https") || (port == "80" && requestScheme(req) == "http") {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return h
}

func requestScheme(req *http.Request) string {
	if req.URL.Scheme != "" {
		return strings.ToLower(req.URL.Scheme)
	}
	if req.TLS == nil {
		return "http"
	}
	return "https"
}

// requestPath is the raw percent-encoded path without the query, "/" when empty.
func requestPath(req *http.Request) string {
	p := req.URL.EscapedPath()
	if p == "" {
		return "/"
	}
	return p
}

func setBody(req *http.Request, body []byte) {
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
}

// sfString serializes s as a Structured Field String (RFC 8941 §3.3.3).
func sfString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// sfBareItem serializes a parameter value; "" means Boolean true (no value).
func sfBareItem(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return sfString(x), nil
	case SFToken:
		return string(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case bool:
		if x {
			return "", nil
		}
		return "?0", nil
	case []byte:
		return ":" + base64.StdEncoding.EncodeToString(x) + ":", nil
	}
	return "", fmt.Errorf("unsupported parameter value type %T", v)
}
