package httpsig

import (
	"bufio"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"

	"github.com/yaronf/httpsign"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/jose"
)

// RFC 9421 Appendix B.1.4 (test-key-ed25519) and B.1.3 (test-key-ecc-p256)
// public keys.
const (
	rfc9421Ed25519Pub = `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----`
	rfc9421P256Pub = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqIVYZVLCrPZHGHjP17CTW0/+D9Lf
w0EkjqF7xB4FivAxzic30tMM4GF+hR6Dxh71Z50VGGdldkkDXZCnTNnoXQ==
-----END PUBLIC KEY-----`
)

// RFC 9421 Appendix B.2.6: signing a request using ed25519.
const rfc9421B26 = `POST /foo?param=Value&Pet=dog HTTP/1.1
Host: example.com
Date: Tue, 20 Apr 2021 02:07:55 GMT
Content-Type: application/json
Content-Digest: sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:
Content-Length: 18
Signature-Input: sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"
Signature: sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:

{"hello": "world"}`

// rfc9421B26Base is the signature base RFC 9421 B.2.6 gives for rfc9421B26.
const rfc9421B26Base = `"date": Tue, 20 Apr 2021 02:07:55 GMT
"@method": POST
"@path": /foo
"@authority": example.com
"content-type": application/json
"content-length": 18
"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`

// RFC 9421 Appendix B.2.4: signing a response using ecdsa-p256-sha256.
const rfc9421B24 = `HTTP/1.1 200 OK
Date: Tue, 20 Apr 2021 02:07:56 GMT
Content-Type: application/json
Content-Digest: sha-512=:mEWXIS7MaLRuGgxOBdODa3xqM1XdEvxoYhvlCFJ41QJgJc4GTsPp29l5oGX69wWdXymyU0rjJuahq4l5aGgfLQ==:
Content-Length: 23
Signature-Input: sig-b24=("@status" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-ecc-p256"
Signature: sig-b24=:wNmSUAhwb5LxtOtOpNa6W5xj067m5hFrj0XQ4fvpaCLx0NKocgPquLgyahnzDnDAUy5eCdlYUEkLIj+32oiasw==:

{"message": "good dog"}`

// admitPEM turns an RFC test key into a JWK and admits it through the same
// path agent keys take (jose.ParsePublicJWK).
func admitPEM(t *testing.T, p string) *jose.PublicKey {
	t.Helper()
	block, _ := pem.Decode([]byte(p))
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	m, err := jose.PublicJWK(pub, "")
	if err != nil {
		t.Fatal(err)
	}
	k, err := jose.ParsePublicJWK(m, aauth.SupportedAlgs)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func crlf(s string) string {
	head, body, _ := strings.Cut(s, "\n\n")
	return strings.ReplaceAll(head, "\n", "\r\n") + "\r\n\r\n" + body
}

func TestRFC9421VectorB26Ed25519Request(t *testing.T) {
	key := admitPEM(t, rfc9421Ed25519Pub)
	if key.Alg != aauth.AlgEd25519 {
		t.Fatalf("alg = %s", key.Alg)
	}
	covered := []string{"date", "@method", "@path", "@authority", "content-type", "content-length"}
	var digest [sha256.Size]byte
	verify := func(raw string) error {
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(crlf(raw))))
		if err != nil {
			t.Fatal(err)
		}
		msg, err := httpsign.NewMessage(httpsign.NewMessageConfig().WithRequest(req))
		if err != nil {
			t.Fatal(err)
		}
		digest, err = verifySignature(msg, "sig-b26", key, covered)
		return err
	}
	if err := verify(rfc9421B26); err != nil {
		t.Fatalf("RFC 9421 B.2.6 vector does not verify: %v", err)
	}
	// The replay key digests exactly the base the RFC shows.
	if digest != sha256.Sum256([]byte(rfc9421B26Base)) {
		t.Fatal("the digest returned is not SHA-256 of the RFC 9421 B.2.6 signature base")
	}
	// The same vector with one covered component changed must fail.
	tampered := strings.Replace(rfc9421B26, "POST /foo", "PUT /foo", 1)
	if se, ok := aauth.AsSignatureError(verify(tampered)); !ok || se.Code != aauth.SigInvalidSignature {
		t.Fatalf("tampered vector: got %v, want invalid_signature", se)
	}
}

func TestRFC9421VectorB24ECDSAP256Response(t *testing.T) {
	key := admitPEM(t, rfc9421P256Pub)
	if key.Alg != aauth.AlgES256 {
		t.Fatalf("alg = %s", key.Alg)
	}
	covered := []string{"@status", "content-type", "content-digest", "content-length"}
	verify := func(raw string) error {
		res, err := http.ReadResponse(bufio.NewReader(strings.NewReader(crlf(raw))), nil)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := httpsign.NewMessage(httpsign.NewMessageConfig().WithResponse(res, nil))
		if err != nil {
			t.Fatal(err)
		}
		_, err = verifySignature(msg, "sig-b24", key, covered)
		return err
	}
	if err := verify(rfc9421B24); err != nil {
		t.Fatalf("RFC 9421 B.2.4 vector does not verify: %v", err)
	}
	tampered := strings.Replace(rfc9421B24, "200 OK", "201 Created", 1)
	if se, ok := aauth.AsSignatureError(verify(tampered)); !ok || se.Code != aauth.SigInvalidSignature {
		t.Fatalf("tampered vector: got %v, want invalid_signature", se)
	}
}
