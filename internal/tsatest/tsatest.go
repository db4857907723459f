// Package tsatest is a real RFC 3161 time-stamping authority for tests:
// its own root CA and a TSA certificate with the (critical) timeStamping
// extended key usage, tokens made by github.com/digitorus/timestamp, and
// an HTTP handler speaking application/timestamp-query. A Mode makes it
// misbehave the ways a TSA can: down, answering with a token over other
// bytes, with another nonce, or with a rejection; an ESS makes its tokens
// name its certificate otherwise than the library does (signingCertificate
// v1, another hash), or name another one, or none.
package tsatest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"

	"github.com/digitorus/timestamp"
)

// Mode is how the TSA answers.
type Mode int

const (
	// Good answers every request with a token over its imprint and nonce.
	Good Mode = iota
	// Down answers 503.
	Down
	// OtherImprint answers with a token over other bytes.
	OtherImprint
	// OtherNonce answers with a token over the imprint and another nonce.
	OtherNonce
	// Rejecting answers with PKIStatus rejection.
	Rejecting
)

// TSA is a test time-stamping authority. It is safe for concurrent use.
type TSA struct {
	root *x509.Certificate
	cert *x509.Certificate
	key  crypto.Signer
	now  func() time.Time

	mu       sync.Mutex
	mode     Mode
	ess      ESS
	requests int
}

// ESS is the signed attribute by which the TSA's tokens name the
// certificate that signs them (RFC 3161 §2.4.1).
type ESS int

const (
	// ESSv2 is what github.com/digitorus/timestamp writes: a
	// signingCertificateV2 (RFC 5035) with the SHA-256 of the TSA's
	// certificate, its issuer and serial number.
	ESSv2 ESS = iota
	// ESSv2SHA384 is a signingCertificateV2 naming SHA-384 as its hash.
	ESSv2SHA384
	// ESSv1 is a signingCertificate (RFC 2634): SHA-1, issuer, serial.
	ESSv1
	// ESSNone leaves the attribute out.
	ESSNone
	// ESSOtherCert is a signingCertificateV2 naming the TSA's root.
	ESSOtherCert
	// ESSOtherSerial is a signingCertificateV2 with the hash of the TSA's
	// certificate but another serial number.
	ESSOtherSerial
	// ESSv1OtherCert is a signingCertificate naming the TSA's root.
	ESSv1OtherCert
)

// oidTimeStamping is id-kp-timeStamping; RFC 3161 §2.3 wants it as the
// one, critical, extended key usage of the TSA's certificate.
var oidTimeStamping = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}

// New makes a TSA with a fresh root and TSA certificate.
func New() (*TSA, error) {
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tsatest root"},
		NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		return nil, err
	}
	root, err := x509.ParseCertificate(rootDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{oidTimeStamping})
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "tsatest TSA"},
		NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(30 * 24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root, &key.PublicKey, rootKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &TSA{root: root, cert: cert, key: key, now: time.Now}, nil
}

// RootPEM is the TSA's root certificate, PEM (for --tsa-roots).
func (t *TSA) RootPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: t.root.Raw})
}

// Roots is a pool holding only the TSA's root.
func (t *TSA) Roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(t.root)
	return p
}

// SetMode changes how the TSA answers from now on.
func (t *TSA) SetMode(m Mode) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.mode = m
}

// SetESS changes the attribute of the tokens made from now on.
func (t *TSA) SetESS(e ESS) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ess = e
}

// Requests counts the time-stamp requests the handler received.
func (t *TSA) Requests() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.requests
}

// Token is a time-stamp token (the CMS SignedData, DER) over the SHA-256
// imprint, as a response to a request without a nonce carries it.
func (t *TSA) Token(imprint []byte) ([]byte, error) {
	resp, err := t.respond(imprint, nil)
	if err != nil {
		return nil, err
	}
	// The token is the response's second member, read without
	// digitorus/pkcs7 (whose parsing races: mission/tsa serializes it).
	var r struct {
		Status asn1.RawValue
		Token  asn1.RawValue
	}
	if _, err := asn1.Unmarshal(resp, &r); err != nil {
		return nil, err
	}
	return r.Token.FullBytes, nil
}

// policy is the TSA's policy OID (under a private enterprise arc).
var policy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}

func (t *TSA) respond(imprint []byte, nonce *big.Int) ([]byte, error) {
	t.mu.Lock()
	ess := t.ess
	t.mu.Unlock()
	if ess != ESSv2 {
		return t.respondESS(imprint, nonce, ess)
	}
	ts := &timestamp.Timestamp{HashAlgorithm: crypto.SHA256, HashedMessage: imprint, Time: t.now().UTC(),
		Policy: policy, Nonce: nonce, AddTSACertificate: true}
	return ts.CreateResponseWithOpts(t.cert, t.key, crypto.SHA256)
}

// Respond answers a DER time-stamp request as the mode says.
func (t *TSA) Respond(req []byte) ([]byte, error) {
	t.mu.Lock()
	mode := t.mode
	t.mu.Unlock()
	r, err := timestamp.ParseRequest(req)
	if err != nil {
		return nil, err
	}
	imprint, nonce := r.HashedMessage, r.Nonce
	switch mode {
	case Down:
		return nil, errors.New("tsatest: down")
	case Rejecting:
		return timestamp.CreateErrorResponse(timestamp.Rejection, timestamp.BadRequest)
	case OtherImprint:
		other := sha256.Sum256(append([]byte("other bytes"), imprint...))
		imprint = other[:]
	case OtherNonce:
		if nonce == nil {
			nonce = big.NewInt(0)
		}
		nonce = new(big.Int).Add(nonce, big.NewInt(1))
	}
	return t.respond(imprint, nonce)
}

// ServeHTTP is the TSA's HTTP interface (RFC 3161 §3.4): POST a
// timestamp-query, get a timestamp-reply.
func (t *TSA) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t.mu.Lock()
	t.requests++
	t.mu.Unlock()
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/timestamp-query" {
		http.Error(w, "want a POST of application/timestamp-query", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4096))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp, err := t.Respond(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/timestamp-reply")
	_, _ = w.Write(resp)
}
