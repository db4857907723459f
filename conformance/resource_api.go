package conformance

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/jose"
	"github.com/dunglas/httpsfv"
	"github.com/yaronf/httpsign"
)

// ResourceAPIPath is the test resource's protected endpoint, so an agent
// written by anyone (the Node interop agent, another implementation) can
// go the whole three-party way against it: a signed GET with a person
// token is challenged with requirement=auth-token and a resource token
// (P§requirement-auth-token); a signed GET with an auth token carrying
// the required scope is answered 200.
const ResourceAPIPath = "/api/calendar"

// ResourceAPIScope is the scope the protected endpoint requires unless
// the request names others in ?scope= (space-separated).
const ResourceAPIScope = "calendar.read"

// ResourceInteractionPath is the test resource's interaction endpoint
// (P§resource-initiated-interaction): GET ?code=…&callback=… records the
// visit and redirects the browser to callback, with ?error= when
// SetInteractionError set one.
const ResourceInteractionPath = "/interact"

// ResourceCallbackPath answers any GET with 200 and records its query:
// a page a person's browser can be sent to, so a check can tell whether
// it was (a callback the PS must not follow, PS-170).
const ResourceCallbackPath = "/callback"

// CallbackVisits lists the query strings of the visits to
// ResourceCallbackPath, in order.
func (rs *Resource) CallbackVisits() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return slices.Clone(rs.callbackVisits)
}

// InteractionVisit is one visit to the resource's interaction endpoint.
type InteractionVisit struct{ Code, Callback string }

// InteractionVisits lists the visits to ResourceInteractionPath, in order.
func (rs *Resource) InteractionVisits() []InteractionVisit {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return slices.Clone(rs.visits)
}

// SetInteractionError makes the interaction endpoint return the person to
// the callback with ?error=code ("" for success).
func (rs *Resource) SetInteractionError(code string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.interactionError = code
}

func (rs *Resource) serveInteraction(w http.ResponseWriter, r *http.Request) {
	code, callback := r.URL.Query().Get("code"), r.URL.Query().Get("callback")
	u, err := url.Parse(callback)
	if code == "" || err != nil || u.Scheme != "https" {
		http.Error(w, "code and an https callback are required", http.StatusBadRequest)
		return
	}
	rs.mu.Lock()
	rs.visits = append(rs.visits, InteractionVisit{Code: code, Callback: callback})
	errCode := rs.interactionError
	rs.mu.Unlock()
	if errCode != "" {
		q := u.Query()
		q.Set("error", errCode)
		u.RawQuery = q.Encode()
	}
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// AcceptedAuthTokens lists the auth tokens the protected endpoint accepted,
// in order, so a test can look at what an outside agent obtained.
func (rs *Resource) AcceptedAuthTokens() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return slices.Clone(rs.accepted)
}

// serveAPI answers ResourceAPIPath (see its doc).
func (rs *Resource) serveAPI(w http.ResponseWriter, r *http.Request) {
	scope := ResourceAPIScope
	if s := r.URL.Query().Get("scope"); s != "" {
		scope = s
	}
	token, typ, thumbprint, err := verifySignedRequest(r)
	if err != nil {
		writeAPIError(w, http.StatusUnauthorized, "", err)
		return
	}
	switch {
	case jose.TypMatches(typ, aauth.TypPersonToken):
		if _, err := rs.verifyPSToken(r.Context(), token, aauth.TypPersonToken, thumbprint); err != nil {
			writeAPIError(w, http.StatusUnauthorized, "", fmt.Errorf("person token: %w", err))
			return
		}
		rs.challenge(w, token, thumbprint, scope)
	case jose.TypMatches(typ, aauth.TypAuthToken):
		c, err := rs.verifyAnyAuthToken(r, token, thumbprint)
		if err != nil {
			writeAPIError(w, http.StatusUnauthorized, "", fmt.Errorf("auth token: %w", err))
			return
		}
		granted, _ := c["scope"].(string)
		for _, want := range strings.Fields(scope) {
			if !slices.Contains(strings.Fields(granted), want) {
				// Step-up (P§requirement-auth-token): a new resource token
				// for the request's scope, naming the auth token shown.
				rs.challenge(w, token, thumbprint, scope)
				return
			}
		}
		rs.mu.Lock()
		rs.accepted = append(rs.accepted, token)
		rs.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"events": []any{}, "sub": c["sub"], "scope": granted})
	default:
		writeAPIError(w, http.StatusUnauthorized, "", fmt.Errorf("typ %q is neither a person nor an auth token", typ))
	}
}

func (rs *Resource) verifyAuthToken(r *http.Request, token, thumbprint string) (map[string]any, error) {
	c, err := rs.verifyPSToken(r.Context(), token, aauth.TypAuthToken, thumbprint)
	if err != nil {
		return nil, err
	}
	if c["ps"] != c["iss"] {
		return nil, errors.New("ps is not its issuer")
	}
	return c, nil
}

// challenge answers 401 requirement=auth-token with a resource token for
// scope, naming the presented token.
func (rs *Resource) challenge(w http.ResponseWriter, presented, thumbprint, scope string) {
	spec, err := tokenSpecFor(presented, thumbprint, scope)
	spec.Aud = rs.AccessServer()
	if err == nil {
		var rt string
		if rt, err = rs.MintResourceToken(spec); err == nil {
			w.Header().Set(aauth.HeaderAAuthRequirement, "requirement=auth-token; resource-token="+sfString(rt))
			writeAPIError(w, http.StatusUnauthorized, "", errors.New("an auth token is required"))
			return
		}
	}
	writeAPIError(w, http.StatusInternalServerError, "", err)
}

func writeAPIError(w http.ResponseWriter, status int, code string, err error) {
	if code == "" {
		code = "invalid_request"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "detail": err.Error()})
}

// verifySignedRequest checks an RFC 9421 signature whose Signature-Key
// member uses the jwt scheme: the key is the token's cnf.jwk (proof of
// possession). It returns the token, its typ and the key's thumbprint;
// the caller verifies the token itself.
func verifySignedRequest(r *http.Request) (token, typ, thumbprint string, err error) {
	in, err := httpsfv.UnmarshalDictionary(r.Header.Values("Signature-Input"))
	if err != nil || len(in.Names()) != 1 {
		return "", "", "", errors.New("Signature-Input: want exactly one signature")
	}
	label := in.Names()[0]
	sk, err := httpsfv.UnmarshalDictionary(r.Header.Values("Signature-Key"))
	if err != nil {
		return "", "", "", errors.New("Signature-Key is not a dictionary")
	}
	m, ok := sk.Get(label)
	item, isItem := m.(httpsfv.Item)
	if !ok || !isItem || item.Value != httpsfv.Token(aauth.SchemeJWT) {
		return "", "", "", errors.New("Signature-Key: want the jwt scheme under the signature's label")
	}
	tv, _ := item.Params.Get("jwt")
	token, _ = tv.(string)
	h, claims, err := DecodeJWT(token)
	if err != nil {
		return "", "", "", err
	}
	typ, _ = h["typ"].(string)
	cnf, _ := claims["cnf"].(map[string]any)
	cj, _ := cnf["jwk"].(map[string]any)
	pk, err := jose.ParsePublicJWK(cj, aauth.SupportedAlgs)
	if err != nil {
		return "", "", "", fmt.Errorf("cnf.jwk: %w", err)
	}
	if err := verifyMessage(r, in, label, pk); err != nil {
		return "", "", "", err
	}
	return token, typ, pk.Thumbprint, nil
}

// verifyMessage checks the signature labelled label with key pk: the four
// base components covered, created fresh (yaronf/httpsign).
func verifyMessage(r *http.Request, in *httpsfv.Dictionary, label string, pk *jose.PublicKey) error {
	list, _ := in.Get(label)
	inner, ok := list.(httpsfv.InnerList)
	if !ok {
		return errors.New("Signature-Input member is not an inner list")
	}
	var components []string
	for _, c := range inner.Items {
		if s, ok := c.Value.(string); ok {
			components = append(components, s)
		}
	}
	for _, must := range []string{"@method", "@authority", "@path", "signature-key"} {
		if !slices.Contains(components, must) {
			return fmt.Errorf("%s is not covered", must)
		}
	}
	cfg := httpsign.NewVerifyConfig().SetVerifyCreated(true)
	fields := httpsign.Headers(components...)
	var v *httpsign.Verifier
	var err error
	switch pub := pk.Key.(type) {
	case ed25519.PublicKey:
		v, err = httpsign.NewEd25519Verifier(pub, cfg, fields)
	case *ecdsa.PublicKey:
		v, err = httpsign.NewP256Verifier(*pub, cfg, fields)
	default:
		err = fmt.Errorf("no verifier for %T", pk.Key)
	}
	if err != nil {
		return err
	}
	if err := httpsign.VerifyRequest(label, *v, r); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	return nil
}

// verifyPSSignature checks that a PS signed r as itself (jwks_uri scheme,
// dwk aauth-person.json, its key from its metadata's JWKS) and returns
// that PS's issuer (R3§r3-document-access-restriction).
func (rs *Resource) verifyPSSignature(r *http.Request) (string, error) {
	in, err := httpsfv.UnmarshalDictionary(r.Header.Values("Signature-Input"))
	if err != nil || len(in.Names()) != 1 {
		return "", errors.New("Signature-Input: want exactly one signature")
	}
	label := in.Names()[0]
	sk, err := httpsfv.UnmarshalDictionary(r.Header.Values("Signature-Key"))
	if err != nil {
		return "", errors.New("Signature-Key is not a dictionary")
	}
	m, ok := sk.Get(label)
	item, isItem := m.(httpsfv.Item)
	if !ok || !isItem || item.Value != httpsfv.Token(aauth.SchemeJWKSURI) {
		return "", errors.New("Signature-Key: want the jwks_uri scheme under the signature's label")
	}
	param := func(name string) string { v, _ := item.Params.Get(name); s, _ := v.(string); return s }
	id, dwk, kid := param("id"), param("dwk"), param("kid")
	if dwk != aauth.DWKPerson || id == "" || kid == "" {
		return "", errors.New("Signature-Key: want a person server's id, dwk and kid")
	}
	pk, err := rs.psKey(r.Context(), id, kid)
	if err != nil {
		return "", err
	}
	if err := verifyMessage(r, in, label, pk); err != nil {
		return "", err
	}
	return id, nil
}

// R3Fetchers lists, per R3 fetch, the PS that signed it.
func (rs *Resource) R3Fetchers() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return slices.Clone(rs.r3Signers)
}
