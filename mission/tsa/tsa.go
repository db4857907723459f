// Package tsa is the RFC 3161 time-stamping of signed evidence chain
// heads (Mission composition, design §7, Level 4: "anchors it externally
// (RFC 3161 …)"): the request a PS sends to a time-stamping authority, the
// check of its response before the token is kept, and the check of a kept
// token by an offline verifier. Nothing here does I/O.
//
// What is imprinted: the SHA-256 of a chain_head record's compact JWS, its
// ASCII bytes exactly as the record's body.jws holds them (HeadImprint).
// The JWS carries the signed head (chain, seq, record_hash, at) and the
// PS's signature over it, so a token over it shows that the PS had signed
// that head, and so that the chain up to it existed, by the TSA's genTime:
// an operator who later rewrites the chain and re-signs its heads cannot
// obtain tokens dated back.
package tsa

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"time"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"
)

// parsing serializes the parsing of tokens: github.com/digitorus/pkcs7
// (v0.0.0-20230713084857) converts BER to DER through a package-level
// counter it writes unguarded (ber.go's encodeIndent, left from
// debugging), a data race between two parses; nothing here is slow
// enough for the lock to matter.
var parsing sync.Mutex

// serialized runs parse, which parses with the digitorus packages, behind
// parsing, and returns its error; a panic of theirs becomes an error too:
// pkcs7 panics on some malformed input (FuzzVerify found one), which must
// neither bring down the PS over a TSA's answer nor leave parsing locked.
func serialized(parse func() error) (err error) {
	parsing.Lock()
	defer parsing.Unlock()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("its parser panicked: %v", r)
		}
	}()
	return parse()
}

// HeadImprint is what a chain head's timestamp token imprints: SHA-256 of
// the head's compact JWS.
func HeadImprint(jws string) []byte {
	h := sha256.Sum256([]byte(jws))
	return h[:]
}

// ErrToken is a time-stamp response or token that does not stamp what
// was asked, or does not verify.
var ErrToken = errors.New("tsa: bad time-stamp token")

// Request is a time-stamp request: its DER, and the imprint and nonce its
// response must carry.
type Request struct {
	DER     []byte
	Imprint []byte
	Nonce   *big.Int
}

// NewRequest asks for a token over imprint (a SHA-256 hash) with a random
// 128-bit nonce, and for the TSA's certificate in the token (certReq), so
// that the token verifies on its own.
func NewRequest(imprint []byte) (*Request, error) {
	if len(imprint) != sha256.Size {
		return nil, fmt.Errorf("tsa: imprint of %d bytes, want a SHA-256 hash", len(imprint))
	}
	nonce, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	r := &timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: imprint, Certificates: true, Nonce: nonce}
	der, err := r.Marshal()
	if err != nil {
		return nil, err
	}
	return &Request{DER: der, Imprint: slices.Clone(imprint), Nonce: nonce}, nil
}

// Stamp is what a verified token says.
type Stamp struct {
	// GenTime is when the TSA says it stamped the imprint.
	GenTime time.Time
	// TSA is the subject of the certificate that signed the token.
	TSA string
	// Serial is the token's serial number (decimal).
	Serial string
	// ChainVerified: the TSA's certificate chains to one of the roots
	// given (false when no roots were given).
	ChainVerified bool
}

// Check reads a time-stamp response to r (RFC 3161 §2.4.2): granted, a
// token over r's imprint with r's nonce, signed by a TSA certificate
// (embedded in the token, and named by its signingCertificate(V2)
// attribute) for time-stamping, chaining to roots when roots is not nil;
// the token itself is checked by Verify, as an offline verifier checks
// it. It returns the token (DER) to keep; any failure, ErrToken.
func (r *Request) Check(resp []byte, roots *x509.CertPool) ([]byte, Stamp, error) {
	var ts *timestamp.Timestamp
	err := serialized(func() (err error) {
		ts, err = timestamp.ParseResponse(resp)
		return err
	})
	if err != nil {
		return nil, Stamp{}, fmt.Errorf("%w: %v", ErrToken, err)
	}
	if ts.Nonce == nil || ts.Nonce.Cmp(r.Nonce) != 0 {
		return nil, Stamp{}, fmt.Errorf("%w: the nonce is not the request's", ErrToken)
	}
	st, err := Verify(ts.RawToken, r.Imprint, roots)
	if err != nil {
		return nil, Stamp{}, err
	}
	return ts.RawToken, st, nil
}

// Verify checks a time-stamp token (the DER of its CMS SignedData) over
// imprint: it parses; it is signed by exactly one signer whose
// certificate it carries and the signature verifies; its signed
// signingCertificate(V2) attribute names that certificate (RFC 3161
// §2.4.1; checkSigningCertificate); that certificate is for
// time-stamping (RFC 3161 §2.3); it imprints SHA-256 of what was
// stamped, equal to imprint; and, with roots, the certificate chains to
// one of them at the token's genTime. Any failure is ErrToken.
func Verify(token, imprint []byte, roots *x509.CertPool) (Stamp, error) {
	bad := func(format string, a ...any) (Stamp, error) {
		return Stamp{}, fmt.Errorf("%w: "+format, append([]any{ErrToken}, a...)...)
	}
	var p7 *pkcs7.PKCS7
	var ts *timestamp.Timestamp
	var err error
	var signer *x509.Certificate
	var ess string
	perr := serialized(func() (perr error) {
		if p7, perr = pkcs7.Parse(token); perr != nil {
			return perr
		}
		// timestamp.Parse checks the signature with the embedded
		// certificate.
		ts, err = timestamp.Parse(token)
		if signer = p7.GetOnlySigner(); signer != nil {
			ess = checkSigningCertificate(p7, signer)
		}
		return nil
	})
	if perr != nil {
		return bad("it does not parse: %v", perr)
	}
	if signer == nil {
		return bad("it carries no certificate of its one signer")
	}
	if err != nil {
		return bad("%v", err)
	}
	if ess != "" {
		return bad("%s", ess)
	}
	if ts.HashAlgorithm != crypto.SHA256 {
		return bad("it imprints %v, not SHA-256", ts.HashAlgorithm)
	}
	if !bytes.Equal(ts.HashedMessage, imprint) {
		return bad("it stamps other bytes than the head")
	}
	if !slices.Contains(signer.ExtKeyUsage, x509.ExtKeyUsageTimeStamping) {
		return bad("its signer's certificate (%s) is not for time-stamping", signer.Subject)
	}
	st := Stamp{GenTime: ts.Time.UTC(), TSA: signer.Subject.String()}
	if ts.SerialNumber != nil {
		st.Serial = ts.SerialNumber.String()
	}
	if roots != nil {
		intermediates := x509.NewCertPool()
		for _, c := range p7.Certificates {
			intermediates.AddCert(c)
		}
		if _, err := signer.Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates, CurrentTime: st.GenTime,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}); err != nil {
			return bad("the TSA's certificate does not chain to the roots given: %v", err)
		}
		st.ChainVerified = true
	}
	return st, nil
}
