package conformance

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// TokenSpec describes an agent token for AgentProvider.MintAgentToken. The
// zero value (plus Agent) yields a valid token; every other field bends it.
type TokenSpec struct {
	// Agent is the key bound in cnf.jwk (its public JWK, with alg). Required
	// unless CnfJWK is set or ClaimOverrides replaces or deletes cnf.
	Agent *AgentKey
	// CnfJWK, when non-nil, is placed in cnf.jwk instead of Agent's JWK, for
	// example Patch(agent.PublicJWK(), map[string]any{"alg": nil}).
	CnfJWK map[string]any
	// Sub is the agent identifier; default aauth:agent-<random>@<AP host>.
	Sub string
	// PS, when non-empty, is the `ps` claim.
	PS string
	// ParentAgent, when non-empty, is the `parent_agent` claim (a sub-agent).
	ParentAgent string
	// IssuedAt is `iat`; default now.
	IssuedAt time.Time
	// Lifetime is exp − iat; default 1h. A negative value gives an expired token.
	Lifetime time.Duration
	// JTI is `jti`; default 128 random bits, base64url.
	JTI string
	// KID is the header `kid`; default the AP's signing kid. When it names an
	// AP key that key signs; otherwise (an unknown kid) the signing key signs.
	KID string
	// SignWith, when set, signs the token instead of the AP key: for example
	// an unpublished key under a published kid. SignAlg is its algorithm
	// (Ed25519 or ES256), derived from the key when empty.
	SignWith crypto.Signer
	SignAlg  string
	// HeaderOverrides and ClaimOverrides are applied last; a nil value
	// deletes the member. Examples: {"typ": nil}, {"alg": "EdDSA"},
	// {"exp": nil}, {"dwk": "aauth-person.json"}, {"iss": "http://ap.test"}.
	HeaderOverrides map[string]any
	ClaimOverrides  map[string]any
	// Raw, when set, receives the finished parts and returns the compact
	// string to use: the escape hatch for malformed JWTs. See RawTwoParts,
	// RawBadBase64URL, RawHeaderNotJSON, RawPayloadNotJSON, RawTamperedPayload.
	Raw func(p TokenParts) string
}

// TokenParts is a signed JWT taken apart, handed to TokenSpec.Raw.
type TokenParts struct {
	Header, Claims          map[string]any
	HeaderJSON, PayloadJSON []byte
	// HeaderB64, PayloadB64 and SignatureB64 are the three compact parts.
	HeaderB64, PayloadB64, SignatureB64 string
	// Sign signs arbitrary bytes with the token's signing key and algorithm,
	// returning the raw signature (not encoded).
	Sign func(signingInput []byte) ([]byte, error)
}

// Compact returns the well-formed compact serialization.
func (p TokenParts) Compact() string {
	return p.HeaderB64 + "." + p.PayloadB64 + "." + p.SignatureB64
}

// B64 is base64url without padding, the JOSE encoding.
func B64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// RawTwoParts drops the signature part: "header.payload".
func RawTwoParts(p TokenParts) string { return p.HeaderB64 + "." + p.PayloadB64 }

// RawBadBase64URL puts a character outside every base64 alphabet ('*') in
// the header part, leaving three parts.
func RawBadBase64URL(p TokenParts) string {
	h := p.HeaderB64
	return h[:len(h)/2] + "*" + h[len(h)/2:] + "." + p.PayloadB64 + "." + p.SignatureB64
}

// RawHeaderNotJSON replaces the header with valid base64url of non-JSON
// bytes and signs the result, so only the header is wrong.
func RawHeaderNotJSON(p TokenParts) string {
	return resign(p, B64([]byte("not json")), p.PayloadB64)
}

// RawPayloadNotJSON replaces the payload with valid base64url of non-JSON
// bytes and signs the result.
func RawPayloadNotJSON(p TokenParts) string {
	return resign(p, p.HeaderB64, B64([]byte("not json")))
}

// RawTamperedPayload keeps the original signature but changes the payload
// (a different jti), so the JWT signature no longer verifies.
func RawTamperedPayload(p TokenParts) string {
	c := cloneMap(p.Claims)
	c["jti"] = "tampered-" + randomHex(4)
	b, err := marshalJSON(c)
	if err != nil {
		panic(err)
	}
	return p.HeaderB64 + "." + B64(b) + "." + p.SignatureB64
}

// RawEmptySignature keeps three parts with an empty signature, the shape of
// an `alg: none` token.
func RawEmptySignature(p TokenParts) string { return p.HeaderB64 + "." + p.PayloadB64 + "." }

func resign(p TokenParts, h, pl string) string {
	sig, err := p.Sign([]byte(h + "." + pl))
	if err != nil {
		panic(err)
	}
	return h + "." + pl + "." + B64(sig)
}

// buildJWT serializes header and claims (overrides applied), signs them with
// signer under alg, and returns the parts.
func buildJWT(header, claims map[string]any, signer crypto.Signer, alg string) (TokenParts, error) {
	hb, err := marshalJSON(header)
	if err != nil {
		return TokenParts{}, err
	}
	pb, err := marshalJSON(claims)
	if err != nil {
		return TokenParts{}, err
	}
	p := TokenParts{
		Header: header, Claims: claims,
		HeaderJSON: hb, PayloadJSON: pb,
		HeaderB64: B64(hb), PayloadB64: B64(pb),
		Sign: func(in []byte) ([]byte, error) { return signRaw(signer, alg, in) },
	}
	sig, err := p.Sign([]byte(p.HeaderB64 + "." + p.PayloadB64))
	if err != nil {
		return TokenParts{}, err
	}
	p.SignatureB64 = B64(sig)
	return p, nil
}

// marshalJSON is json.Marshal without HTML escaping. Map members come out
// sorted by name.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomB64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return B64(b)
}

// DecodeJWT splits a compact JWT and decodes its header and claims without
// verifying anything (test convenience; errors on malformed input).
func DecodeJWT(token string) (header, claims map[string]any, err error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, nil, errMalformed
	}
	dec := func(s string) (map[string]any, error) {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			return nil, err
		}
		return DecodeObject(b)
	}
	if header, err = dec(parts[0]); err != nil {
		return nil, nil, err
	}
	if claims, err = dec(parts[1]); err != nil {
		return nil, nil, err
	}
	return header, claims, nil
}

// DecodeObject decodes a JSON object, numbers as json.Number.
func DecodeObject(b []byte) (map[string]any, error) {
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("conformance: JSON value is not an object")
	}
	return m, nil
}
