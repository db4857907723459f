package resourcetoken

import (
	"context"
	"errors"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/fetch"
	"github.com/aauth-ps/aauth-ps/ps/jose"
)

// Signers is the issuer and key resolution step shared by every person or
// auth token the PS verifies as a body member — `presented_token`
// (P§resource-token-verification (3)) and `upstream_token`
// (P§upstream-token-verification (2)): a token is this PS's (its published
// keys, dwk aauth-person.json), or an auth token issued by an access server
// to which this PS presented a person token for that token's `aud` and
// `sub` (that AS's aauth-access.json keys through the egress-guarded,
// cached discovery). An AS the PS never presented to for that aud and sub
// is refused before anything is fetched from it: no egress oracle
// (PS-133, PS-268).
type Signers struct {
	// Issuer is this PS.
	Issuer string
	Own    OwnKeys
	// Access resolves an access server's keys (*fetch.Discovery); nil:
	// this PS accepts no AS-issued token.
	Access Keys
	// Federated reports whether this PS presented a person token to as
	// for (aud, sub) (its presentation records, PS-259).
	Federated func(ctx context.Context, as, aud, sub string) (bool, error)
}

// SignerError is why a token's issuer or signature is refused; the caller
// names it with its own error code (invalid_presented_token,
// invalid_upstream_token).
type SignerError struct {
	Detail string
	Cause  error
}

func (e *SignerError) Error() string { return e.Detail }
func (e *SignerError) Unwrap() error { return e.Cause }

func refused(detail string, cause error) error { return &SignerError{Detail: detail, Cause: cause} }

// Verify checks t's issuer, signature and dwk; what names the token in
// the details ("the presented token"). typ is its verified typ. It
// returns the access server that issued t, "" when this PS did. Errors
// are a *SignerError, a 503 problem when the AS's keys are unavailable
// for now, or the store's error.
func (s Signers) Verify(ctx context.Context, t *jose.CompactJWT, typ, what string, accept []string) (string, error) {
	alg, kid := t.HeaderString("alg"), t.HeaderString("kid")
	iss, _ := t.ClaimString("iss")
	if iss == s.Issuer {
		key, err := s.Own.PublicKey(ctx, kid)
		if err != nil || key.Alg != alg {
			return "", refused(what+"'s kid is not a key of this person server", err)
		}
		// A token this process signed is verified by its bytes (issue 12);
		// its kid must still be published (above), as for any other.
		if !s.Own.SignedHere(t.Raw) {
			if err := t.VerifySignature(key); err != nil {
				return "", refused(what+"'s signature does not verify", err)
			}
		}
		if dwk, _ := t.ClaimString("dwk"); dwk != aauth.DWKPerson {
			return "", refused(what+"'s dwk must be "+aauth.DWKPerson, nil)
		}
		return "", nil
	}
	if typ != aauth.TypAuthToken || iss == "" || s.Access == nil || s.Federated == nil {
		return "", refused(what+" was not issued by this person server", nil)
	}
	aud, _ := t.ClaimString("aud")
	sub, _ := t.ClaimString("sub")
	if aud == "" || sub == "" {
		return "", refused(what+" has no aud or sub", nil)
	}
	ok, err := s.Federated(ctx, iss, aud, sub)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", refused(what+" was issued by an access server this person server never presented a person token to for its aud and sub", nil)
	}
	if dwk, _ := t.ClaimString("dwk"); dwk != aauth.DWKAccess {
		return "", refused(what+"'s dwk must be "+aauth.DWKAccess, nil)
	}
	check := func(res fetch.KeyResult) error {
		key, err := jose.ParsePublicJWK(res.JWK, accept)
		if err != nil || key.Alg != alg {
			return refused("the access server's key for "+what+" is not usable for its alg", err)
		}
		if err := t.VerifySignature(key); err != nil {
			return refused(what+"'s signature does not verify under its access server's keys", err)
		}
		return nil
	}
	err = fetch.CheckKey(ctx, s.Access, iss, aauth.DWKAccess, kid, check, func(err error) error {
		if errors.Is(err, fetch.ErrUnavailable) {
			p := aauth.Unavailable("the access server's keys could not be fetched; retry later", 5)
			p.Cause = err
			return p
		}
		return refused("the keys of "+what+"'s access server cannot be obtained", err)
	})
	if err != nil {
		return "", err
	}
	return iss, nil
}
