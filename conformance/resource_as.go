package conformance

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// Four-party (P§ps-as-federation): a resource with its own access server
// names it as its resource tokens' aud and accepts the auth tokens that
// access server issues (dwk aauth-access.json, its JWKS).

// SetAccessServer makes issuer the resource's access server ("" for
// none: three-party).
func (rs *Resource) SetAccessServer(issuer string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.accessServer = issuer
}

// AccessServer is the resource's access server, or "".
func (rs *Resource) AccessServer() string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.accessServer
}

// VerifyAccessToken verifies an auth token the resource's access server
// issued, presented by the holder of signingKey (P§auth-token-verification):
// typ, dwk aauth-access.json, the AS's signature, aud, exp, sub and cnf.
func (rs *Resource) VerifyAccessToken(ctx context.Context, token string, signingKey *AgentKey) (map[string]any, error) {
	return rs.verifyASToken(ctx, token, signingKey.Thumbprint())
}

// verifyAnyAuthToken accepts an auth token from the resource's access
// server, or, without one, from a PS (three-party).
func (rs *Resource) verifyAnyAuthToken(r *http.Request, token, thumbprint string) (map[string]any, error) {
	if rs.AccessServer() != "" {
		return rs.verifyASToken(r.Context(), token, thumbprint)
	}
	return rs.verifyAuthToken(r, token, thumbprint)
}

func (rs *Resource) verifyASToken(ctx context.Context, token, holder string) (map[string]any, error) {
	as := rs.AccessServer()
	if as == "" {
		return nil, errors.New("this resource has no access server")
	}
	_, c, err := DecodeJWT(token)
	if err != nil {
		return nil, err
	}
	if c["iss"] != as {
		return nil, fmt.Errorf("iss %v is not this resource's access server", c["iss"])
	}
	t, err := verifyJWTWith(ctx, rs.httpClient(), token, aauth.TypAuthToken, aauth.DWKAccess)
	if err != nil {
		return nil, err
	}
	return rs.checkBound(t, aauth.DWKAccess, holder)
}

// SetClient replaces the client the resource fetches with (the PS's
// metadata and keys): a PS outside the kit's resolver and CA needs one
// that reaches and trusts it.
func (rs *Resource) SetClient(c *http.Client) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.client = c
}

func (rs *Resource) httpClient() *http.Client {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.client
}
