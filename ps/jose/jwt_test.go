package jose_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/jose"
)

// compact assembles header.payload.signature from raw JSON and a signing
// function, by hand, so the tests do not depend on the code under test.
func compact(header, payload string, sign func([]byte) []byte) string {
	in := b64([]byte(header)) + "." + b64([]byte(payload))
	return in + "." + b64(sign([]byte(in)))
}

func edSigner(priv ed25519.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte { return ed25519.Sign(priv, in) }
}

// es256Signer produces the JWS form of an ECDSA signature: raw r‖s, 32
// bytes each (RFC 7518 §3.4).
func es256Signer(t testing.TB, priv *ecdsa.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte {
		sum := sha256.Sum256(in)
		der, err := ecdsa.SignASN1(rand.Reader, priv, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		var rs struct{ R, S *big.Int }
		if _, err := asn1.Unmarshal(der, &rs); err != nil {
			t.Fatal(err)
		}
		out := make([]byte, 64)
		rs.R.FillBytes(out[:32])
		rs.S.FillBytes(out[32:])
		return out
	}
}

func es256DERSigner(t testing.TB, priv *ecdsa.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte {
		sum := sha256.Sum256(in)
		der, err := ecdsa.SignASN1(rand.Reader, priv, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
}

const (
	edHeader  = `{"alg":"Ed25519","kid":"k1","typ":"aa-agent+jwt"}`
	esHeader  = `{"alg":"ES256","kid":"k1","typ":"aa-agent+jwt"}`
	claimsDoc = `{"iss":"https://ap.test","dwk":"aauth-agent.json","sub":"aauth:a1@ap.test","jti":"j1","iat":1730217600,"exp":1730221200}`
)

func noSig([]byte) []byte { return []byte{0} }

// TestParseCompact: exactly three strict base64url parts, JSON object header
// and payload with no duplicate members, a length cap (PS-032).
func TestParseCompact(t *testing.T) {
	good := compact(edHeader, claimsDoc, noSig)
	tok, err := jose.ParseCompact(good)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Raw != good || tok.HeaderString("alg") != "Ed25519" || tok.HeaderString("missing") != "" {
		t.Fatalf("parsed %+v", tok)
	}
	if s, ok := tok.ClaimString("sub"); !ok || s != "aauth:a1@ap.test" {
		t.Fatalf("sub = %q %v", s, ok)
	}
	if _, ok := tok.ClaimString("iat"); ok {
		t.Fatal("a number claim reads as a string")
	}
	if _, ok := tok.Claims["iat"].(json.Number); !ok {
		t.Fatalf("iat = %#v, want json.Number", tok.Claims["iat"])
	}

	h, p := b64([]byte(edHeader)), b64([]byte(claimsDoc))
	bad := map[string]string{
		"empty":                    "",
		"one part":                 h,
		"two parts":                h + "." + p,
		"two parts, trailing dot":  h + "." + p + ".",
		"four parts":               h + "." + p + ".AAAA.AAAA",
		"empty header":             "." + p + ".AAAA",
		"empty payload":            h + "..AAAA",
		"header padded":            b64([]byte(`{"alg":"Ed25519"}`)) + "=." + p + ".AAAA",
		"payload padded":           h + "." + b64([]byte(`{"a":1}`)) + "=.AAAA",
		"signature padded":         h + "." + p + ".AAA=",
		"standard alphabet +":      h + "." + p + ".AA+A",
		"standard alphabet /":      h + "." + p + ".AA/A",
		"illegal character":        h + "." + p + ".AA*A",
		"space":                    h + " ." + p + ".AAAA",
		"newline in header":        h[:4] + "\n" + h[4:] + "." + p + ".AAAA",
		"CR in payload":            h + "." + p[:4] + "\r" + p[4:] + ".AAAA",
		"newline in signature":     h + "." + p + ".AA\nAA",
		"non-zero trailing bits":   "e31." + p + ".AAAA", // "e30" is {}
		"impossible length":        h + "." + p + ".AAAAA",
		"header not JSON":          b64([]byte("not json")) + "." + p + ".AAAA",
		"payload not JSON":         h + "." + b64([]byte("not json")) + ".AAAA",
		"header an array":          b64([]byte(`[]`)) + "." + p + ".AAAA",
		"payload an array":         h + "." + b64([]byte(`[1]`)) + ".AAAA",
		"payload a string":         h + "." + b64([]byte(`"x"`)) + ".AAAA",
		"payload null":             h + "." + b64([]byte(`null`)) + ".AAAA",
		"duplicate header member":  b64([]byte(`{"alg":"Ed25519","alg":"none"}`)) + "." + p + ".AAAA",
		"duplicate claim":          h + "." + b64([]byte(`{"sub":"a","sub":"b"}`)) + ".AAAA",
		"duplicate nested claim":   h + "." + b64([]byte(`{"cnf":{"jwk":{"x":"a","x":"b"}}}`)) + ".AAAA",
		"header invalid UTF-8":     b64([]byte("{\"alg\":\"\xff\"}")) + "." + p + ".AAAA",
		"payload trailing data":    h + "." + b64([]byte(`{} {}`)) + ".AAAA",
		"longer than MaxJWTLength": h + "." + p + "." + strings.Repeat("A", jose.MaxJWTLength),
	}
	for name, s := range bad {
		tok, err := jose.ParseCompact(s)
		if !errors.Is(err, jose.ErrMalformedJWT) || tok != nil {
			t.Errorf("%s: ParseCompact = %v, %v; want ErrMalformedJWT", name, tok, err)
		}
	}
}

// TestParseCompactLengthCap: a token of exactly MaxJWTLength bytes parses; one
// byte more does not, whatever it holds.
func TestParseCompactLengthCap(t *testing.T) {
	h := b64([]byte(edHeader))
	for n := 0; n < 8; n++ {
		pad := strings.Repeat("x", jose.MaxJWTLength*3/4-400+n)
		tok := h + "." + b64([]byte(`{"pad":"`+pad+`"}`)) + ".AAAA"
		switch {
		case len(tok) == jose.MaxJWTLength:
			if _, err := jose.ParseCompact(tok); err != nil {
				t.Fatalf("token of exactly %d bytes: %v", len(tok), err)
			}
			return
		case len(tok) > jose.MaxJWTLength:
			if _, err := jose.ParseCompact(tok); err == nil || !strings.Contains(err.Error(), "longer than") {
				t.Fatalf("token of %d bytes: %v", len(tok), err)
			}
		}
	}
	// Fall back on signature padding to land exactly on the limit.
	base := h + "." + b64([]byte(`{}`)) + "."
	sig := strings.Repeat("A", (jose.MaxJWTLength-len(base))/4*4)
	tok := base + sig
	if len(tok) <= jose.MaxJWTLength {
		if _, err := jose.ParseCompact(tok); err != nil {
			t.Fatalf("token of %d bytes: %v", len(tok), err)
		}
	}
	if _, err := jose.ParseCompact(base + strings.Repeat("A", jose.MaxJWTLength)); err == nil {
		t.Fatal("oversized token accepted")
	}
}

// TestNumericDate covers RFC 7519 §2 NumericDate as PS-038 reads exp and iat.
func TestNumericDate(t *testing.T) {
	tok, err := jose.ParseCompact(compact(edHeader, `{"int":1730217600,"float":1730217600.9,"neg":-1.5,"exp10":1.7302176E9,`+
		`"str":"1730217600","null":null,"bool":true,"obj":{},"huge":1e400,"max":9223372036854775807,`+
		`"over":9223372036854775808,"overf":9.3e18,"under":-9223372036854775809,"zero":0,"negzero":-0}`, noSig))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name        string
		v           int64
		ok, wantErr bool
	}{
		{"int", 1730217600, true, false},
		{"float", 1730217600, true, false},
		{"neg", -2, true, false},
		{"exp10", 1730217600, true, false},
		{"max", math.MaxInt64, true, false},
		{"zero", 0, true, false},
		{"negzero", 0, true, false},
		{"missing", 0, false, false},
		{"str", 0, true, true},
		{"null", 0, true, true},
		{"bool", 0, true, true},
		{"obj", 0, true, true},
		{"huge", 0, true, true},
		// Beyond int64: an error, never a wrapped-around value (an iat of
		// 2^63 must not turn into a date far in the past).
		{"over", 0, true, true},
		{"overf", 0, true, true},
		// Rounds to -2^63, which int64 holds.
		{"under", math.MinInt64, true, false},
	} {
		v, ok, err := tok.NumericDate(c.name)
		if ok != c.ok || (err != nil) != c.wantErr || (!c.wantErr && v != c.v) {
			t.Errorf("NumericDate(%s) = %d, %v, %v; want %d, %v, err=%v", c.name, v, ok, err, c.v, c.ok, c.wantErr)
		}
	}
}

// TestVerifySignature: Ed25519 and ES256 JWTs assembled by hand verify with
// the admitted key; anything else does not (PS-026, PS-037).
func TestVerifySignature(t *testing.T) {
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, otherEd, _ := ed25519.GenerateKey(rand.Reader)
	ecJWK, ecPriv := p256JWK(t)
	_, otherEC := p256JWK(t)
	edJWK, _ := jose.PublicJWK(edPub, "k1")
	edKey, err := jose.ParsePublicJWK(edJWK, aauth.SupportedAlgs)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := jose.ParsePublicJWK(ecJWK, aauth.SupportedAlgs)
	if err != nil {
		t.Fatal(err)
	}

	good := map[string]struct {
		tok string
		key *jose.PublicKey
	}{
		"Ed25519": {compact(edHeader, claimsDoc, edSigner(edPriv)), edKey},
		"ES256":   {compact(esHeader, claimsDoc, es256Signer(t, ecPriv)), ecKey},
	}
	for name, g := range good {
		tok, err := jose.ParseCompact(g.tok)
		if err != nil {
			t.Fatal(err)
		}
		if err := tok.VerifySignature(g.key); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	tampered := func(s string) string {
		parts := strings.Split(s, ".")
		parts[1] = b64([]byte(strings.Replace(claimsDoc, `"j1"`, `"j2"`, 1)))
		return strings.Join(parts, ".")
	}
	bad := map[string]struct {
		tok string
		key *jose.PublicKey
	}{
		"Ed25519 other key":              {compact(edHeader, claimsDoc, edSigner(otherEd)), edKey},
		"Ed25519 tampered payload":       {tampered(compact(edHeader, claimsDoc, edSigner(edPriv))), edKey},
		"Ed25519 truncated signature":    {compact(edHeader, claimsDoc, func(in []byte) []byte { return ed25519.Sign(edPriv, in)[:63] }), edKey},
		"ES256 other key":                {compact(esHeader, claimsDoc, es256Signer(t, otherEC)), ecKey},
		"ES256 tampered payload":         {tampered(compact(esHeader, claimsDoc, es256Signer(t, ecPriv))), ecKey},
		"ES256 DER signature":            {compact(esHeader, claimsDoc, es256DERSigner(t, ecPriv)), ecKey},
		"ES256 zero signature":           {compact(esHeader, claimsDoc, func([]byte) []byte { return make([]byte, 64) }), ecKey},
		"header alg differs from key":    {compact(esHeader, claimsDoc, edSigner(edPriv)), edKey},
		"header alg EdDSA":               {compact(`{"alg":"EdDSA","kid":"k1"}`, claimsDoc, edSigner(edPriv)), edKey},
		"header alg none":                {compact(`{"alg":"none","kid":"k1"}`, claimsDoc, edSigner(edPriv)), edKey},
		"header without alg":             {compact(`{"kid":"k1"}`, claimsDoc, edSigner(edPriv)), edKey},
		"Ed25519 token, ES256 key":       {compact(edHeader, claimsDoc, edSigner(edPriv)), ecKey},
		"crit header (PS-032)":           {compact(`{"alg":"Ed25519","kid":"k1","crit":["exp"],"exp":1}`, claimsDoc, edSigner(edPriv)), edKey},
		"crit header, empty (PS-032)":    {compact(`{"alg":"Ed25519","kid":"k1","crit":[]}`, claimsDoc, edSigner(edPriv)), edKey},
		"b64 false header":               {compact(`{"alg":"Ed25519","kid":"k1","b64":false}`, claimsDoc, edSigner(edPriv)), edKey},
		"ES256 token under an ES256 key": {compact(esHeader, claimsDoc, es256Signer(t, ecPriv)), &jose.PublicKey{Alg: "ES256", Key: edKey.Key}},
		"unimplemented alg":              {compact(edHeader, claimsDoc, edSigner(edPriv)), &jose.PublicKey{Alg: "XYZ", Key: edKey.Key}},
	}
	for name, b := range bad {
		tok, err := jose.ParseCompact(b.tok)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := tok.VerifySignature(b.key); !errors.Is(err, jose.ErrBadJWTSignature) {
			t.Errorf("%s: VerifySignature = %v, want ErrBadJWTSignature", name, err)
		}
	}
}

// TestTypMatches covers A-30: case-insensitive, optional application/ prefix.
func TestTypMatches(t *testing.T) {
	for _, c := range []struct {
		typ, want string
		match     bool
	}{
		{"aa-agent+jwt", aauth.TypAgentToken, true},
		{"AA-AGENT+JWT", aauth.TypAgentToken, true},
		{"Aa-Agent+Jwt", aauth.TypAgentToken, true},
		{"application/aa-agent+jwt", aauth.TypAgentToken, true},
		{"application/AA-AGENT+JWT", aauth.TypAgentToken, true},
		{"APPLICATION/aa-agent+jwt", aauth.TypAgentToken, true},
		{"aa-person+jwt", aauth.TypAgentToken, false},
		{"aa-person+jwt", aauth.TypPersonToken, true},
		{"application/", aauth.TypAgentToken, false},
		{"application/", "", false},
		{"application", aauth.TypAgentToken, false},
		{"", aauth.TypAgentToken, false},
		{"JWT", aauth.TypAgentToken, false},
		{"jwt", aauth.TypAgentToken, false},
		{"aa-agent", aauth.TypAgentToken, false},
		{"aa-agent+jwt ", aauth.TypAgentToken, false},
		{" aa-agent+jwt", aauth.TypAgentToken, false},
		{"application/application/aa-agent+jwt", aauth.TypAgentToken, false},
		{"text/aa-agent+jwt", aauth.TypAgentToken, false},
		{"application/aa-agent+jwt; charset=utf-8", aauth.TypAgentToken, false},
		{"aa-agent+jwt\x00", aauth.TypAgentToken, false},
	} {
		if got := jose.TypMatches(c.typ, c.want); got != c.match {
			t.Errorf("TypMatches(%q, %q) = %v, want %v", c.typ, c.want, got, c.match)
		}
	}
}
