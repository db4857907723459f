// Package pssign signs the PS's own outgoing requests as a server: RFC 9421
// under the `jwks_uri` Signature-Key scheme (`id` = the PS issuer, `dwk`
// aauth-person.json, `kid` = the active key), covering the base components
// and, on a request with a body, content-type and content-digest
// (P§revocation-request, P§keying-material, PS-292). Revocations use it;
// so will the PS-to-AS requests of federation.
package pssign

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/yaronf/httpsign"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/keys"
)

// Keys is the PS's key manager (*keys.Manager).
type Keys interface {
	Active(ctx context.Context) (*keys.SigningKey, error)
}

// Signer signs requests as the PS.
type Signer struct {
	Issuer string
	Keys   Keys
}

// Label is the signature label the PS uses.
const Label = "sig"

// Sign signs req in place. body is the exact body to send (nil for none):
// it is set on req with a Content-Digest (sha-256), and Content-Type must
// already be set when there is one.
func (s *Signer) Sign(ctx context.Context, req *http.Request, body []byte) error {
	k, err := s.Keys.Active(ctx)
	if err != nil {
		return fmt.Errorf("pssign: active key: %w", err)
	}
	member := aauth.SchemeJWKSURI + `;id="` + s.Issuer + `";dwk="` + aauth.DWKPerson + `";kid="` + k.KID + `"`
	req.Header.Set(aauth.HeaderSignatureKey, Label+"="+member)
	components := slices.Clone(aauth.BaseComponents)
	if body != nil {
		if req.Header.Get("Content-Type") == "" {
			return errors.New("pssign: a request with a body needs a Content-Type")
		}
		rc := io.NopCloser(bytes.NewReader(body))
		digest, err := httpsign.GenerateContentDigestHeader(&rc, []string{httpsign.DigestSha256})
		if err != nil {
			return fmt.Errorf("pssign: content digest: %w", err)
		}
		req.Header.Set(aauth.HeaderContentDigest, digest)
		components = append(components, aauth.BodyComponents...)
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	cfg := httpsign.NewSignConfig().SignAlg(false)
	fields := httpsign.Headers(components...)
	var signer *httpsign.Signer
	switch priv := k.Signer.(type) {
	case ed25519.PrivateKey:
		signer, err = httpsign.NewEd25519Signer(priv, cfg, fields)
	case *ecdsa.PrivateKey:
		signer, err = httpsign.NewP256Signer(*priv, cfg, fields)
	default:
		err = fmt.Errorf("unsupported key type %T", k.Signer)
	}
	if err != nil {
		return fmt.Errorf("pssign: %w", err)
	}
	input, sig, err := httpsign.SignRequest(Label, *signer, req)
	if err != nil {
		return fmt.Errorf("pssign: sign: %w", err)
	}
	req.Header.Set(aauth.HeaderSignatureInput, input)
	req.Header.Set(aauth.HeaderSignature, sig)
	if body != nil {
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	return nil
}
