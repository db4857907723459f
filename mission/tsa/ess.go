package tsa

import (
	"bytes"
	"crypto"
	_ "crypto/sha1" // the hashes an ESSCertID(v2) may name
	_ "crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"

	"github.com/digitorus/pkcs7"
)

// The ESS signed attributes that name the certificate a token was signed
// with: RFC 3161 §2.4.1 requires signingCertificate (RFC 2634 §5.4, a
// SHA-1 ESSCertID); RFC 5816 lets a TSA use signingCertificateV2 (RFC
// 5035 §3, ESSCertIDv2 with its own hash algorithm, SHA-256 by default)
// instead.
var (
	oidSigningCertificate   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 12}
	oidSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
)

// essCertID is an ESSCertID or an ESSCertIDv2: the v2 one may name its
// hash algorithm first (absent: SHA-256); the v1 one never does (SHA-1).
// IssuerSerial is absent when Serial is nil.
type essCertID struct {
	HashAlgorithm pkix.AlgorithmIdentifier `asn1:"optional"`
	CertHash      []byte
	IssuerSerial  issuerSerial `asn1:"optional"`
}

// issuerSerial is RFC 5035's IssuerSerial: the issuer as GeneralNames
// and the certificate's serial number.
type issuerSerial struct {
	Issuer []asn1.RawValue
	Serial *big.Int
}

// signingCertificate is SigningCertificate and SigningCertificateV2 alike:
// the certs (the first one is the signer's) and policies we do not read.
type signingCertificate struct {
	Certs    []essCertID
	Policies asn1.RawValue `asn1:"optional"`
}

// essHashes are the hash algorithms an ESSCertIDv2 may name that we can
// compute.
var essHashes = map[string]crypto.Hash{
	pkcs7.OIDDigestAlgorithmSHA1.String():   crypto.SHA1,
	pkcs7.OIDDigestAlgorithmSHA256.String(): crypto.SHA256,
	pkcs7.OIDDigestAlgorithmSHA384.String(): crypto.SHA384,
	pkcs7.OIDDigestAlgorithmSHA512.String(): crypto.SHA512,
}

// checkSigningCertificate checks that the one signer of p7 signed the
// signingCertificate or signingCertificateV2 attribute (each at most
// once, with one value), and that every one present names cert as the
// signer's certificate: the hash of its whole DER and, when the
// ESSCertID carries one, its issuer and serial (RFC 3161 §2.4.1, RFC 5035
// §3, RFC 5816 §2.2.1). It says why not, or "". pkcs7 finds the signer's
// attributes; their ESS contents are parsed here with encoding/asn1, as
// neither digitorus package exposes them (docs/decisions.md).
func checkSigningCertificate(p7 *pkcs7.PKCS7, cert *x509.Certificate) string {
	found := 0
	for _, v := range []struct {
		oid  asn1.ObjectIdentifier
		name string
		hash crypto.Hash
	}{{oidSigningCertificate, "signingCertificate", crypto.SHA1}, {oidSigningCertificateV2, "signingCertificateV2", crypto.SHA256}} {
		var values []asn1.RawValue
		for _, a := range p7.Signers[0].AuthenticatedAttributes {
			if a.Type.Equal(v.oid) {
				values = append(values, a.Value)
			}
		}
		switch len(values) {
		case 0:
			continue
		case 1:
		default:
			return fmt.Sprintf("it carries the %s attribute %d times", v.name, len(values))
		}
		found++
		var sc signingCertificate
		if rest, err := asn1.Unmarshal(values[0].Bytes, &sc); err != nil || len(rest) != 0 || len(sc.Certs) == 0 {
			return fmt.Sprintf("its %s attribute is not one SEQUENCE of ESSCertIDs", v.name)
		}
		id := sc.Certs[0]
		hash := v.hash
		if alg := id.HashAlgorithm.Algorithm; alg != nil {
			h, ok := essHashes[alg.String()]
			switch {
			case v.hash == crypto.SHA1: // an ESSCertID names no algorithm
				return fmt.Sprintf("its %s attribute is not one SEQUENCE of ESSCertIDs", v.name)
			case !ok:
				return fmt.Sprintf("its %s attribute hashes with %v, which we do not support", v.name, alg)
			}
			hash = h
		}
		d := hash.New()
		d.Write(cert.Raw)
		if !bytes.Equal(id.CertHash, d.Sum(nil)) {
			return fmt.Sprintf("its %s attribute names another certificate than its signer's (%s)", v.name, cert.Subject)
		}
		if id.IssuerSerial.Serial != nil && !namesIssuerSerial(id.IssuerSerial, cert) {
			return fmt.Sprintf("its %s attribute names another issuer and serial number than its signer's certificate's", v.name)
		}
	}
	if found == 0 {
		return "it carries no signingCertificate(V2) attribute naming its signer's certificate (RFC 3161 §2.4.1)"
	}
	return ""
}

// namesIssuerSerial: is is cert's serial and the one directoryName
// (GeneralName [4], explicit) that RFC 5035 §3 allows, cert's issuer.
func namesIssuerSerial(is issuerSerial, cert *x509.Certificate) bool {
	if is.Serial.Cmp(cert.SerialNumber) != 0 || len(is.Issuer) != 1 {
		return false
	}
	n := is.Issuer[0]
	return n.Class == asn1.ClassContextSpecific && n.Tag == 4 && n.IsCompound && bytes.Equal(n.Bytes, cert.RawIssuer)
}
