package conformance

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/dunglas/httpsfv"
	"github.com/yaronf/httpsign"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/jose"
)

// ServerSignature is a verified request a person server signed as itself
// (jwks_uri scheme): the signer's id and the covered components.
type ServerSignature struct {
	ID         string
	KID        string
	Components []string
}

// verifyPSRequest checks, with yaronf/httpsign as an independent verifier,
// that a person server signed r (whose body is body) as itself: one
// Signature-Key member under the jwks_uri scheme with id, dwk
// aauth-person.json and kid; the key from {id}/.well-known/aauth-person.json
// → jwks_uri → kid; the base components plus content-type and
// content-digest covered, no alg parameter, the digest right, and (fresh)
// created within httpsign's window.
func verifyPSRequest(ctx context.Context, client *http.Client, r *http.Request, body []byte, fresh bool) (*ServerSignature, error) {
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
	key, err := fetchServerKey(ctx, client, id, aauth.DWKPerson, kid)
	if err != nil {
		return nil, err
	}
	components, err := coveredComponents(r, label)
	if err != nil {
		return nil, err
	}
	want := append(slices.Clone(aauth.BaseComponents), aauth.BodyComponents...)
	if body == nil {
		want = slices.Clone(aauth.BaseComponents)
	}
	for _, c := range want {
		if !slices.Contains(components, c) {
			return nil, fmt.Errorf("the signature does not cover %s", c)
		}
	}
	if hasAlgParam(r, label) {
		return nil, errors.New("Signature-Input carries an alg parameter")
	}
	fields := httpsign.Headers(want...)
	cfg := httpsign.NewVerifyConfig().SetVerifyCreated(fresh)
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
	if body != nil {
		rc := io.NopCloser(bytes.NewReader(body))
		if err := httpsign.ValidateContentDigestHeader(r.Header.Values(aauth.HeaderContentDigest), &rc,
			[]string{httpsign.DigestSha256, httpsign.DigestSha512}); err != nil {
			return nil, fmt.Errorf("Content-Digest: %w", err)
		}
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			return nil, errors.New("Content-Type must be application/json")
		}
	}
	return &ServerSignature{ID: id, KID: kid, Components: components}, nil
}

// hasAlgParam reports whether the label's Signature-Input carries alg.
func hasAlgParam(r *http.Request, label string) bool {
	d, err := httpsfv.UnmarshalDictionary(r.Header.Values(aauth.HeaderSignatureInput))
	if err != nil {
		return false
	}
	m, _ := d.Get(label)
	list, ok := m.(httpsfv.InnerList)
	if !ok {
		return false
	}
	_, has := list.Params.Get("alg")
	return has
}

// fetchServerKey reads {iss}/.well-known/{dwk}, requires its issuer to be
// iss, and selects kid from its jwks_uri.
func fetchServerKey(ctx context.Context, client *http.Client, iss, dwk, kid string) (*jose.PublicKey, error) {
	var md struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := fetchJSON(ctx, client, iss+"/.well-known/"+dwk, &md); err != nil {
		return nil, err
	}
	if md.Issuer != iss {
		return nil, fmt.Errorf("the %s metadata names another issuer", dwk)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := fetchJSON(ctx, client, md.JWKSURI, &set); err != nil {
		return nil, err
	}
	i := slices.IndexFunc(set.Keys, func(k map[string]any) bool { return k["kid"] == kid })
	if i < 0 {
		return nil, fmt.Errorf("kid %q not in the JWKS of %s", kid, iss)
	}
	return jose.ParsePublicJWK(set.Keys[i], aauth.SupportedAlgs)
}

func fetchJSON(ctx context.Context, client *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d", url, res.StatusCode)
	}
	return json.NewDecoder(io.LimitReader(res.Body, 256<<10)).Decode(v)
}

// verifyJWTWith verifies token's signature with iss's published key
// (metadata dwk → jwks_uri → the header's kid) and returns its claims
// after checking typ.
func verifyJWTWith(ctx context.Context, client *http.Client, token, typ, dwk string) (*jose.CompactJWT, error) {
	t, err := jose.ParseCompact(token)
	if err != nil {
		return nil, err
	}
	if !jose.TypMatches(t.HeaderString("typ"), typ) {
		return nil, fmt.Errorf("typ %q, want %s", t.HeaderString("typ"), typ)
	}
	iss, _ := t.ClaimString("iss")
	key, err := fetchServerKey(ctx, client, iss, dwk, t.HeaderString("kid"))
	if err != nil {
		return nil, err
	}
	if key.Alg != t.HeaderString("alg") {
		return nil, errors.New("alg is not the issuer key's")
	}
	if err := t.VerifySignature(key); err != nil {
		return nil, err
	}
	return t, nil
}
