package fetch

import "context"

// KeySource resolves issuers' keys through discovery (*Discovery).
type KeySource interface {
	Key(ctx context.Context, issuer, dwk, kid string) (KeyResult, error)
	RefreshKey(ctx context.Context, issuer, dwk, kid string) (KeyResult, error)
}

// CheckKey runs check on issuer's key kid. A key that cannot be had is
// keyErr's answer; when a cached key fails check, the JWKS is fetched
// again once (a rotation) and check runs on what it holds now.
func CheckKey(ctx context.Context, keys KeySource, issuer, dwk, kid string, check func(KeyResult) error, keyErr func(error) error) error {
	res, err := keys.Key(ctx, issuer, dwk, kid)
	if err != nil {
		return keyErr(err)
	}
	err = check(res)
	if err == nil || !res.FromCache {
		return err
	}
	if res, rerr := keys.RefreshKey(ctx, issuer, dwk, kid); rerr == nil {
		return check(res)
	}
	return err
}
