package conformance

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/dunglas/httpsfv"
	"github.com/yaronf/httpsign"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// The test resource's revocation endpoint (P§revocation-request): it
// verifies a person server's signed revocation — jwks_uri scheme, dwk
// aauth-person.json, the PS's metadata and JWKS, coverage of the base
// components plus content-type and content-digest, the digest itself and a
// `{jti, exp}` body — and records (iss, jti), answering an empty 200.

// Revocations lists the verified revocations received so far.
func (rs *Resource) Revocations() []Revocation {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return slices.Clone(rs.revocations)
}

// Revoked reports whether a verified revocation of (iss, jti) arrived.
func (rs *Resource) Revoked(iss, jti string) bool {
	return slices.ContainsFunc(rs.Revocations(), func(r Revocation) bool { return r.Iss == iss && r.JTI == jti })
}

// SetRevocationStatus makes the endpoint answer status (e.g. 503) without
// recording; 0 restores normal service.
func (rs *Resource) SetRevocationStatus(status int) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.revocationStatus = status
}

// HoldRevocations makes the endpoint wait before answering until release
// is called (a slow recipient, PS-286).
func (rs *Resource) HoldRevocations() (release func()) {
	ch := make(chan struct{})
	rs.mu.Lock()
	rs.revocationHold = ch
	rs.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			rs.mu.Lock()
			if rs.revocationHold == ch {
				rs.revocationHold = nil
			}
			rs.mu.Unlock()
			close(ch)
		})
	}
}

func (rs *Resource) serveRevoke(w http.ResponseWriter, r *http.Request) {
	rs.mu.Lock()
	status, hold := rs.revocationStatus, rs.revocationHold
	rs.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	rev, err := rs.verifyRevocation(r)
	if err != nil {
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set(aauth.HeaderSignatureError, "error=invalid_signature")
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_signature", "detail": err.Error()})
		return
	}
	rs.mu.Lock()
	rs.revocations = append(rs.revocations, *rev)
	rs.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (rs *Resource) verifyRevocation(r *http.Request) (*Revocation, error) {
	if r.Method != http.MethodPost {
		return nil, errors.New("revocation must be a POST")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	keyDict, err := httpsfv.UnmarshalDictionary(r.Header.Values(aauth.HeaderSignatureKey))
	if err != nil {
		return nil, fmt.Errorf("Signature-Key: %w", err)
	}
	names := keyDict.Names()
	if len(names) != 1 {
		return nil, errors.New("want one Signature-Key member")
	}
	label := names[0]
	m, _ := keyDict.Get(label)
	item, ok := m.(httpsfv.Item)
	if !ok || item.Value != httpsfv.Token(aauth.SchemeJWKSURI) {
		return nil, errors.New("the PS must sign with the jwks_uri scheme")
	}
	param := func(n string) string { v, _ := item.Params.Get(n); s, _ := v.(string); return s }
	id, dwk, kid := param("id"), param("dwk"), param("kid")
	if dwk != aauth.DWKPerson || id == "" || kid == "" {
		return nil, fmt.Errorf("jwks_uri member id=%q dwk=%q kid=%q", id, dwk, kid)
	}
	key, err := rs.psKey(r.Context(), id, kid)
	if err != nil {
		return nil, err
	}
	components, err := coveredComponents(r, label)
	if err != nil {
		return nil, err
	}
	for _, c := range append(slices.Clone(aauth.BaseComponents), aauth.BodyComponents...) {
		if !slices.Contains(components, c) {
			return nil, fmt.Errorf("the signature does not cover %s", c)
		}
	}
	fields := httpsign.Headers(append(slices.Clone(aauth.BaseComponents), aauth.BodyComponents...)...)
	cfg := httpsign.NewVerifyConfig().SetVerifyCreated(false)
	var v *httpsign.Verifier
	switch k := key.Key.(type) {
	case ed25519.PublicKey:
		v, err = httpsign.NewEd25519Verifier(k, cfg, fields)
	case *ecdsa.PublicKey:
		v, err = httpsign.NewP256Verifier(*k, cfg, fields)
	default:
		err = fmt.Errorf("unsupported PS key %T", key.Key)
	}
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	msg, err := httpsign.NewMessage(httpsign.NewMessageConfig().WithRequest(r).WithScheme("https"))
	if err != nil {
		return nil, err
	}
	if _, err := msg.Verify(label, *v); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	rc := io.NopCloser(bytes.NewReader(body))
	if err := httpsign.ValidateContentDigestHeader(r.Header.Values(aauth.HeaderContentDigest), &rc,
		[]string{httpsign.DigestSha256, httpsign.DigestSha512}); err != nil {
		return nil, fmt.Errorf("Content-Digest: %w", err)
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		return nil, errors.New("Content-Type must be application/json")
	}
	var req struct {
		JTI *string `json:"jti"`
		Exp *int64  `json:"exp"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.JTI == nil || req.Exp == nil {
		return nil, errors.New("the body must be {jti, exp}")
	}
	return &Revocation{Iss: id, JTI: *req.JTI, Exp: *req.Exp, Components: components}, nil
}

// coveredComponents reads the component names of Signature-Input's label.
func coveredComponents(r *http.Request, label string) ([]string, error) {
	d, err := httpsfv.UnmarshalDictionary(r.Header.Values(aauth.HeaderSignatureInput))
	if err != nil {
		return nil, fmt.Errorf("Signature-Input: %w", err)
	}
	m, ok := d.Get(label)
	list, isList := m.(httpsfv.InnerList)
	if !ok || !isList {
		return nil, errors.New("Signature-Input has no inner list for the label")
	}
	var out []string
	for _, it := range list.Items {
		if s, ok := it.Value.(string); ok {
			out = append(out, s)
		}
	}
	return out, nil
}
