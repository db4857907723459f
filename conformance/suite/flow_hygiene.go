package suite

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/url"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
)

// hygieneChecks (PS §3.23): TLS versions and the JWKS refetch floor.
func hygieneChecks() []Check {
	return []Check{
		{ID: "PS-247", Name: "a TLS 1.0 or 1.1 handshake fails, TLS 1.2 succeeds", Level: MUST, Group: GroupFlow, Run: tlsFloor},
		{ID: "PS-248", Name: "ten unknown kids in a row fetch the JWKS at most once", Level: MUST, Group: GroupFlow, Run: jwksFlood},
	}
}

// tlsFloor dials the PS metadata with the suite's own transport (its trust
// anchors and name mapping) pinned to one TLS version at a time.
func tlsFloor(ctx context.Context, t *Target) error {
	u, err := url.Parse(t.Issuer)
	if err != nil || u.Scheme != "https" {
		return NotApplicable("the issuer %q is not https", t.Issuer)
	}
	base, ok := t.Client.Transport.(*http.Transport)
	if !ok {
		return Skip("the suite's client transport is no *http.Transport")
	}
	get := func(version uint16) error {
		tr := base.Clone()
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{}
		}
		tr.TLSClientConfig.MinVersion, tr.TLSClientConfig.MaxVersion = version, version
		tr.DisableKeepAlives = true
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: 15 * time.Second}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.MetadataURL(), nil)
		if err != nil {
			return err
		}
		res, err := c.Do(req)
		if err != nil {
			return err
		}
		return res.Body.Close()
	}
	// The same transport must reach the PS over TLS 1.2, or a refusal
	// below would prove nothing.
	if err := get(tls.VersionTLS12); err != nil {
		return Skip("TLS 1.2 with the suite's transport fails: %v", err)
	}
	var v verdict
	for _, ver := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		if err := get(ver); err == nil {
			v.add(MUST, "a %s handshake succeeded", tls.VersionName(ver))
		}
	}
	return v.err()
}

// jwksFlood signs ten requests with agent tokens naming unknown kids at
// the suite's provider; the PS may refetch its JWKS once, not per kid.
func jwksFlood(ctx context.Context, t *Target) error {
	before := t.AP.JWKSFetches()
	for range 10 {
		req, err := postAs(conformance.TokenSpec{KID: "unknown-" + randomHex(6)})(ctx, t)
		if err != nil {
			return err
		}
		if _, err := t.Do(ctx, req); err != nil {
			return err
		}
	}
	if n := t.AP.JWKSFetches() - before; n > 1 {
		return Failf(MUST, "the agent provider's JWKS was fetched %d times for ten unknown kids", n)
	}
	return nil
}
