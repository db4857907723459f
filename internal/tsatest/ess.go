package tsatest

import (
	"crypto/rand"
	"crypto/sha1" // RFC 2634's ESSCertID hashes with SHA-1
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"

	"github.com/digitorus/pkcs7"
)

// respondESS makes a granted response as digitorus/timestamp does, but
// with the attribute ess says in place of the library's
// signingCertificateV2, which it cannot leave out or change: the TSTInfo
// (RFC 3161 §2.4.2) is marshalled here and signed with
// github.com/digitorus/pkcs7, as the library signs it.
func (t *TSA) respondESS(imprint []byte, nonce *big.Int, ess ESS) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, err
	}
	info, err := asn1.Marshal(tstInfo{Version: 1, Policy: policy,
		MessageImprint: messageImprint{HashAlgorithm: pkix.AlgorithmIdentifier{Algorithm: pkcs7.OIDDigestAlgorithmSHA256, Parameters: asn1.NullRawValue},
			HashedMessage: imprint},
		SerialNumber: serial, GenTime: t.now().UTC().Truncate(time.Second), Nonce: nonce})
	if err != nil {
		return nil, err
	}
	var attrs []pkcs7.Attribute
	if ess != ESSNone {
		v, err := t.essAttribute(ess)
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, v)
	}
	sd, err := pkcs7.NewSignedData(info)
	if err != nil {
		return nil, err
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	sd.SetContentType(oidTSTInfo)
	sd.GetSignedData().Version = 3
	if err := sd.AddSigner(t.cert, t.key, pkcs7.SignerInfoConfig{ExtraSignedAttributes: attrs}); err != nil {
		return nil, err
	}
	token, err := sd.Finish()
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(response{Status: pkiStatusInfo{Status: 0}, Token: asn1.RawValue{FullBytes: token}})
}

// essAttribute is the signingCertificate(V2) attribute ess says.
func (t *TSA) essAttribute(ess ESS) (pkcs7.Attribute, error) {
	named, serial := t.cert, t.cert.SerialNumber
	switch ess {
	case ESSOtherCert, ESSv1OtherCert:
		named, serial = t.root, t.root.SerialNumber
	case ESSOtherSerial:
		serial = new(big.Int).Add(serial, big.NewInt(1))
	}
	is := issuerSerial{Issuer: []asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: named.RawIssuer}},
		Serial: serial}
	var oid asn1.ObjectIdentifier
	var v any
	switch ess {
	case ESSv1, ESSv1OtherCert:
		h := sha1.Sum(named.Raw)
		oid, v = oidSigningCertificate, signingCertificate{Certs: []essCertID{{CertHash: h[:], IssuerSerial: is}}}
	case ESSv2SHA384:
		h := sha512.Sum384(named.Raw)
		oid, v = oidSigningCertificateV2, signingCertificateV2{Certs: []essCertIDv2{{
			HashAlgorithm: pkix.AlgorithmIdentifier{Algorithm: pkcs7.OIDDigestAlgorithmSHA384}, CertHash: h[:], IssuerSerial: is}}}
	case ESSOtherCert, ESSOtherSerial:
		h := sha256.Sum256(named.Raw)
		oid, v = oidSigningCertificateV2, signingCertificateV2{Certs: []essCertIDv2{{CertHash: h[:], IssuerSerial: is}}}
	default:
		return pkcs7.Attribute{}, fmt.Errorf("tsatest: no attribute for ESS %d", ess)
	}
	der, err := asn1.Marshal(v)
	if err != nil {
		return pkcs7.Attribute{}, err
	}
	return pkcs7.Attribute{Type: oid, Value: asn1.RawValue{FullBytes: der}}, nil
}

var (
	oidTSTInfo              = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}
	oidSigningCertificate   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 12}
	oidSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
)

// The ASN.1 this TSA writes (RFC 3161 §2.4.2, RFC 2634 §5.4, RFC 5035 §3).
type (
	response struct {
		Status pkiStatusInfo
		Token  asn1.RawValue
	}
	pkiStatusInfo struct{ Status int }
	tstInfo       struct {
		Version        int
		Policy         asn1.ObjectIdentifier
		MessageImprint messageImprint
		SerialNumber   *big.Int
		GenTime        time.Time `asn1:"generalized"`
		Nonce          *big.Int  `asn1:"optional"`
	}
	messageImprint struct {
		HashAlgorithm pkix.AlgorithmIdentifier
		HashedMessage []byte
	}
	issuerSerial struct {
		Issuer []asn1.RawValue
		Serial *big.Int
	}
	essCertID struct {
		CertHash     []byte
		IssuerSerial issuerSerial
	}
	signingCertificate struct{ Certs []essCertID }
	essCertIDv2        struct {
		HashAlgorithm pkix.AlgorithmIdentifier `asn1:"optional"`
		CertHash      []byte
		IssuerSerial  issuerSerial
	}
	signingCertificateV2 struct{ Certs []essCertIDv2 }
)
