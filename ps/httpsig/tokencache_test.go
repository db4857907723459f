package httpsig_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/conformance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/httpsig"
)

// gate is a ProviderGate whose refusals can be switched.
type gate struct {
	mu      sync.Mutex
	refused map[string]bool
}

func (g *gate) Admit(_ context.Context, iss string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.refused[iss] {
		return fmt.Errorf("blocked: %w", httpsig.ErrProviderRefused)
	}
	return nil
}

func (g *gate) set(iss string, refused bool) {
	g.mu.Lock()
	g.refused[iss] = refused
	g.mu.Unlock()
}

// TestAgentTokenCacheRevocationWins (PS-046, issue 12): a verified agent
// token is not verified again on its next request (no key lookup), but a
// revocation recorded since is answered 401 revoked_jwt at once, as is a
// provider the operator blocked since; an unblocked provider is admitted
// again.
func TestAgentTokenCacheRevocationWins(t *testing.T) {
	g := &gate{refused: map[string]bool{}}
	f := newFixture(t, "Ed25519", "Ed25519", func(c *httpsig.Config) { c.Providers = g })
	tok := f.token(t)
	verify := func(n int) (*httpsig.Agent, error) {
		r, body := f.request(t, tok, "POST", []byte(fmt.Sprintf(`{"resource":"https://rs.test","n":%d}`, n)))
		return f.verify(r, body)
	}
	if _, err := verify(1); err != nil {
		t.Fatal(err)
	}
	keys, _ := f.disc.counts()
	a, err := verify(2)
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := f.disc.counts(); k != keys {
		t.Fatalf("the cached token was verified again: %d key lookups, want %d", k, keys)
	}
	if a.ID != agentID || a.Provider != apIssuer || a.TokenJTI != "jti-1" || a.Key == nil || a.Label == "" {
		t.Fatalf("cached agent = %+v", a)
	}

	g.set(apIssuer, true)
	_, err = verify(3)
	sigErr(t, err, aauth.SigInvalidJWT)
	g.set(apIssuer, false)
	if _, err := verify(4); err != nil {
		t.Fatalf("provider unblocked: %v", err)
	}

	calls := f.revs.calls
	f.revs.mu.Lock()
	f.revs.revoked[apIssuer+" jti-1"] = true
	f.revs.mu.Unlock()
	_, err = verify(5)
	sigErr(t, err, aauth.SigRevokedJWT)
	if f.revs.calls != calls+1 {
		t.Fatalf("revocation lookups = %d, want %d", f.revs.calls, calls+1)
	}

	// A lookup failure is a 500, never a cached yes.
	f.revs.mu.Lock()
	f.revs.revoked = map[string]bool{}
	f.revs.err = errors.New("database down")
	f.revs.mu.Unlock()
	_, err = verify(6)
	var p *aauth.Problem
	if !errors.As(err, &p) || p.Status != 500 {
		t.Fatalf("lookup failure: %v", err)
	}
}

// TestAgentTokenCacheExpiry (PS-039, issue 12): a cached token still
// expires at its exp (expired_jwt), and a different token is verified
// on its own (a bad signature is not served from another token's entry).
func TestAgentTokenCacheExpiry(t *testing.T) {
	now := t0
	f := newFixture(t, "Ed25519", "Ed25519", func(c *httpsig.Config) { c.Now = func() time.Time { return now } })
	tok := f.token(t, setClaim("exp", t0.Add(2*time.Minute).Unix()))
	r, body := f.request(t, tok, "POST", validBody)
	if _, err := f.verify(r, body); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(2 * time.Minute)
	r, body = f.request(t, tok, "POST", validBody, conformance.WithCreated(now))
	_, err := f.verify(r, body)
	sigErr(t, err, aauth.SigExpiredJWT)

	// Same claims, signature of another key: verified, and refused.
	now = t0
	other := signJWT(t, mustKey(t, "Ed25519"), map[string]any{"typ": aauth.TypAgentToken, "alg": "Ed25519", "kid": apKID},
		map[string]any{"iss": apIssuer, "dwk": aauth.DWKAgent, "sub": agentID, "jti": "jti-1",
			"iat": t0.Unix(), "exp": t0.Add(2 * time.Minute).Unix(), "cnf": map[string]any{"jwk": f.agentKey.PublicJWK()}})
	r, body = f.request(t, other, "POST", []byte(`{"resource":"https://rs.test","n":2}`))
	_, err = f.verify(r, body)
	sigErr(t, err, aauth.SigInvalidJWT)
}

// TestRememberOnce: the accepted-token record is written once per cached
// token, and again after a failed write.
func TestRememberOnce(t *testing.T) {
	f := newFixture(t, "Ed25519", "Ed25519")
	tok := f.token(t)
	writes := 0
	for i, fail := range []bool{true, false, false, false} {
		r, body := f.request(t, tok, "POST", []byte(fmt.Sprintf(`{"resource":"https://rs.test","n":%d}`, i)))
		a, err := f.verify(r, body)
		if err != nil {
			t.Fatal(err)
		}
		err = a.RememberOnce(func() error {
			writes++
			if fail {
				return errors.New("write failed")
			}
			return nil
		})
		if (err != nil) != fail {
			t.Fatalf("request %d: err = %v", i, err)
		}
	}
	if writes != 2 {
		t.Fatalf("writes = %d, want 2 (the failed one and the first success)", writes)
	}
	// An agent that was never cached writes every time.
	var a httpsig.Agent
	for range 2 {
		_ = a.RememberOnce(func() error { writes++; return nil })
	}
	if writes != 4 {
		t.Fatalf("writes = %d, want 4", writes)
	}
}
