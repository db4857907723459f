package httpsig

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/dunglas/httpsfv"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/fetch"
	"github.com/aauth-ps/aauth-ps/ps/jose"
)

// Server is a verified server caller (an agent provider, a resource): the
// identity of a `jwks_uri` Signature-Key member whose key signed the
// request (P§keying-material, SK§jwks_uri).
type Server struct {
	// ID is the verified server identifier (`id`), compared exactly.
	ID string
	// DWK is the metadata document the key was found through: it says
	// which role signed (aauth-agent.json, aauth-resource.json, …).
	DWK string
	// Key is the JWKS member that signed the request.
	Key     *jose.PublicKey
	Label   string
	Created time.Time
}

// ServerPolicy is what a server-signed endpoint accepts.
type ServerPolicy struct {
	// DWKs are the metadata documents accepted in `dwk`; another one is an
	// invalid_key (the role cannot be a caller here).
	DWKs []string
	// Admit, when set, runs on the claimed (id, dwk) before any fetch: an
	// operator's policy must not become a fetch list. Its error is
	// returned as it is.
	Admit func(ctx context.Context, id, dwk string) error
}

// VerifyServer checks a received server-signed request (body already read
// in full) under the `jwks_uri` scheme only: any other scheme, an agent's
// `jwt` included, gets unsupported_scheme with Accept-Signature-Scheme:
// jwks_uri (PS-234). The key is resolved through {id}/.well-known/{dwk}
// (issuer = id), its JWKS and the kid, by the same egress-guarded,
// cached discovery as agent providers' keys. Errors are as for Verify.
func (v *Verifier) VerifyServer(ctx context.Context, r *http.Request, body []byte, pol ServerPolicy) (*Server, error) {
	in, _, authority, err := v.precheck(r, body, v.cfg.Now(), Policy{Schemes: []string{aauth.SchemeJWKSURI}})
	if err != nil {
		return nil, err
	}
	id, dwk, kid, err := v.jwksURIMember(in.keyMember, pol)
	if err != nil {
		return nil, err
	}
	if pol.Admit != nil {
		if err := pol.Admit(ctx, id, dwk); err != nil {
			return nil, err
		}
	}
	key, err := v.serverKey(ctx, id, dwk, kid, func(k *jose.PublicKey) error {
		return v.verifyMessage(r, body, in, authority, k)
	})
	if err != nil {
		return nil, err
	}
	if err := checkContentDigest(r, body, in.components); err != nil {
		return nil, err
	}
	if err := v.checkReplay(ctx, r, in, key.Thumbprint); err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return &Server{ID: id, DWK: dwk, Key: key, Label: in.label, Created: in.created}, nil
}

// jwksURIMember reads id, dwk and kid from a jwks_uri member and checks
// them before anything is fetched.
func (v *Verifier) jwksURIMember(member httpsfv.Item, pol ServerPolicy) (id, dwk, kid string, err error) {
	str := func(name string) (string, error) {
		raw, ok := member.Params.Get(name)
		s, isStr := raw.(string)
		if !ok || !isStr || s == "" {
			return "", aauth.SigErrf(aauth.SigInvalidKey, "the jwks_uri scheme requires a string %s parameter", name)
		}
		return s, nil
	}
	if id, err = str("id"); err != nil {
		return "", "", "", err
	}
	if dwk, err = str("dwk"); err != nil {
		return "", "", "", err
	}
	if kid, err = str("kid"); err != nil {
		return "", "", "", err
	}
	if v.cfg.Identifiers.CheckServer(id) != nil {
		return "", "", "", aauth.SigErr(aauth.SigInvalidKey, "the jwks_uri id is not a valid server identifier")
	}
	if !slices.Contains(pol.DWKs, dwk) {
		return "", "", "", aauth.SigErrf(aauth.SigInvalidKey, "dwk %q names a role that cannot sign here", dwk)
	}
	return id, dwk, kid, nil
}

// serverKey resolves and admits the caller's key and runs check (the
// message signature) with it, refreshing the JWKS once when a cached key
// fails (P§jwks-discovery).
func (v *Verifier) serverKey(ctx context.Context, id, dwk, kid string, check func(*jose.PublicKey) error) (*jose.PublicKey, error) {
	res, err := v.cfg.Discovery.Key(ctx, id, dwk, kid)
	if err != nil {
		return nil, serverDiscoveryError(err)
	}
	key, err := v.admitServerKey(res.JWK)
	if err == nil {
		err = check(key)
	}
	if err == nil || !res.FromCache {
		return key, err
	}
	res, rerr := v.cfg.Discovery.RefreshKey(ctx, id, dwk, kid)
	if rerr != nil {
		if errors.Is(rerr, fetch.ErrUnknownKey) {
			return nil, serverDiscoveryError(rerr)
		}
		return nil, err
	}
	if key, err = v.admitServerKey(res.JWK); err != nil {
		return nil, err
	}
	return key, check(key)
}

// admitServerKey parses a JWKS member: it must carry an accepted,
// fully-specified alg (the signature's algorithm comes from the key).
func (v *Verifier) admitServerKey(member map[string]any) (*jose.PublicKey, error) {
	key, err := jose.ParsePublicJWK(member, v.cfg.AcceptAlgs)
	switch {
	case errors.Is(err, jose.ErrUnsupportedAlgorithm):
		return nil, &aauth.SignatureError{Code: aauth.SigUnsupportedAlgorithm, AcceptAlgs: slices.Clone(v.cfg.AcceptAlgs),
			Detail: "the server key's alg is absent, polymorphic or not accepted", Cause: err}
	case err != nil:
		return nil, &aauth.SignatureError{Code: aauth.SigInvalidKey, Detail: "the server key is not usable", Cause: err}
	}
	return key, nil
}

// serverDiscoveryError is discoveryError for a server caller's own keys.
func serverDiscoveryError(err error) error {
	if errors.Is(err, fetch.ErrEgressDenied) || errors.Is(err, fetch.ErrBadMetadata) {
		return &aauth.SignatureError{Code: aauth.SigInvalidKey, Detail: "the server's keys cannot be obtained", Cause: err}
	}
	return discoveryError(err)
}
