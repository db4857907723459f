package jose

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/aauth-ps/aauth-ps/ps/strictjson"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// ErrMalformedJWT means the value is not a well-formed compact JWS with JSON
// object header and payload.
var ErrMalformedJWT = errors.New("malformed JWT")

// ErrBadJWTSignature means the JWS signature does not verify under the key.
var ErrBadJWTSignature = errors.New("JWT signature does not verify")

// MaxJWTLength bounds the compact serialization we are willing to parse.
const MaxJWTLength = 16 * 1024

// CompactJWT is a parsed, not yet verified, compact JWS whose payload is a
// JSON object of claims.
type CompactJWT struct {
	Raw    string
	Header map[string]any
	Claims map[string]any
}

// ParseCompact splits and decodes a compact JWT without verifying it:
// exactly three base64url (unpadded) parts, header and payload each a JSON
// object with no duplicate members.
func ParseCompact(token string) (*CompactJWT, error) {
	if len(token) > MaxJWTLength {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformedJWT, MaxJWTLength)
	}
	// encoding/base64 skips CR and LF even in strict mode; a compact JWS
	// has no line breaks (RFC 7515 §2).
	if strings.ContainsAny(token, "\r\n") {
		return nil, fmt.Errorf("%w: contains a line break", ErrMalformedJWT)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: %d parts, want 3", ErrMalformedJWT, len(parts))
	}
	dec := base64.RawURLEncoding.Strict()
	hb, err := dec.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: header is not base64url", ErrMalformedJWT)
	}
	pb, err := dec.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not base64url", ErrMalformedJWT)
	}
	if _, err := dec.DecodeString(parts[2]); err != nil || parts[2] == "" {
		return nil, fmt.Errorf("%w: signature is not base64url", ErrMalformedJWT)
	}
	h, err := strictjson.DecodeObject(hb)
	if err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformedJWT, err)
	}
	c, err := strictjson.DecodeObject(pb)
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrMalformedJWT, err)
	}
	return &CompactJWT{Raw: token, Header: h, Claims: c}, nil
}

// HeaderString returns a string header parameter, or "".
func (t *CompactJWT) HeaderString(name string) string {
	s, _ := t.Header[name].(string)
	return s
}

// ClaimString returns a string claim and whether it is present as a string.
func (t *CompactJWT) ClaimString(name string) (string, bool) {
	s, ok := t.Claims[name].(string)
	return s, ok
}

// NumericDate returns an integral NumericDate claim (RFC 7519 §2). ok is
// false when the claim is absent; err is set when it is present but not a
// finite number.
func (t *CompactJWT) NumericDate(name string) (v int64, ok bool, err error) {
	raw, present := t.Claims[name]
	if !present {
		return 0, false, nil
	}
	n, isNum := raw.(json.Number)
	if !isNum {
		return 0, true, fmt.Errorf("claim %q is not a number", name)
	}
	if i, err := n.Int64(); err == nil {
		return i, true, nil
	}
	f, err := n.Float64()
	// 2^63 itself is out of range: float64(math.MaxInt64) rounds up to it,
	// and converting it to int64 would wrap to math.MinInt64.
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f >= 0x1p63 || f < -0x1p63 {
		return 0, true, fmt.Errorf("claim %q is not a valid NumericDate", name)
	}
	return int64(math.Floor(f)), true, nil
}

// VerifySignature checks the JWS signature with the admitted key. The
// algorithm is the key's (A-31: the header alg must equal it; callers check
// that first). A `crit` header is refused, as no extension is understood.
func (t *CompactJWT) VerifySignature(pk *PublicKey) error {
	alg, ok := jwa.LookupSignatureAlgorithm(pk.Alg)
	if !ok {
		return fmt.Errorf("%w: no implementation of %q", ErrBadJWTSignature, pk.Alg)
	}
	if _, err := jws.VerifyCompactFast(pk.Key, []byte(t.Raw), alg); err != nil {
		return fmt.Errorf("%w: %v", ErrBadJWTSignature, err)
	}
	return nil
}

// TypMatches compares a JWT `typ` with the expected short form: case-insensitive,
// with an optional "application/" prefix (RFC 7515 §4.1.9; A-30).
func TypMatches(typ, want string) bool {
	t := typ
	if len(t) > len("application/") && strings.EqualFold(t[:len("application/")], "application/") {
		t = t[len("application/"):]
	}
	return strings.EqualFold(t, want)
}
