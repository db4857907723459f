package keys_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/jose"
	"github.com/aauth-ps/aauth-ps/ps/keys"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_800_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newManager(t *testing.T, st keys.Store, c *clock, opts keys.Options) *keys.Manager {
	t.Helper()
	return keys.NewManager(st, newSealer(t, 1), c.Now, opts)
}

// twoReplicas is two Managers on one database (replicas sharing their
// keys) on clock c, the first with an active key.
func twoReplicas(t *testing.T, url string, c *clock) (m1, m2 *keys.Manager) {
	t.Helper()
	m1 = newManager(t, storetest.OpenURL(t, url, false), c, keys.Options{})
	m2 = newManager(t, storetest.OpenURL(t, url, false), c, keys.Options{})
	_, err := m1.EnsureActive(t.Context())
	require.NoError(t, err)
	return m1, m2
}

type jwks struct {
	Keys []map[string]any `json:"keys"`
}

func getJWKS(t *testing.T, m *keys.Manager) jwks {
	t.Helper()
	raw, err := m.JWKS(t.Context())
	require.NoError(t, err)
	var set jwks
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&set), "JWKS is exactly {\"keys\":[...]}: %s", raw)
	require.NotNil(t, set.Keys, "keys is an array, never null")
	return set
}

func kids(set jwks) []string {
	var out []string
	for _, k := range set.Keys {
		kid, _ := k["kid"].(string)
		out = append(out, kid)
	}
	return out
}

// checkJWKS applies PS-008 to every member.
func checkJWKS(t *testing.T, set jwks) {
	t.Helper()
	seen := map[string]bool{}
	for _, k := range set.Keys {
		for _, priv := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth", "priv"} {
			assert.NotContains(t, k, priv, "private member")
		}
		kid, _ := k["kid"].(string)
		require.NotEmpty(t, kid)
		assert.False(t, seen[kid], "kid %s unique", kid)
		seen[kid] = true
		assert.Equal(t, "sig", k["use"])
		alg, _ := k["alg"].(string)
		assert.Contains(t, aauth.SupportedAlgs, alg, "fully-specified alg")
		pk, err := jose.ParsePublicJWK(k, aauth.SupportedAlgs) // alg agrees with kty/crv
		require.NoError(t, err)
		assert.Equal(t, kid, pk.Thumbprint, "kid is the RFC 7638 thumbprint")
		allowed := map[string]bool{"kty": true, "crv": true, "x": true, "y": true, "alg": true, "kid": true, "use": true}
		for name := range k {
			assert.True(t, allowed[name], "unexpected member %q", name)
		}
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// signJWT makes a compact JWS with the active key the way the issuer will.
func signJWT(t *testing.T, k *keys.SigningKey) string {
	t.Helper()
	h, _ := json.Marshal(map[string]any{"alg": k.Alg, "kid": k.KID, "typ": aauth.TypPersonToken})
	p, _ := json.Marshal(map[string]any{"iss": "https://ps.test", "iat": 1, "exp": 2})
	input := b64(h) + "." + b64(p)
	var sig []byte
	switch k.Alg {
	case aauth.AlgEd25519:
		s, err := k.Signer.Sign(rand.Reader, []byte(input), crypto.Hash(0))
		require.NoError(t, err)
		sig = s
	case aauth.AlgES256:
		d := sha256.Sum256([]byte(input))
		der, err := k.Signer.Sign(rand.Reader, d[:], crypto.SHA256)
		require.NoError(t, err)
		var rs struct{ R, S *big.Int }
		_, err = asn1.Unmarshal(der, &rs)
		require.NoError(t, err)
		sig = make([]byte, 64)
		rs.R.FillBytes(sig[:32])
		rs.S.FillBytes(sig[32:])
	default:
		t.Fatalf("alg %q", k.Alg)
	}
	return input + "." + b64(sig)
}

// verifyWithJWKS is PS-009: header kid in the JWKS, header alg equal to
// that key's alg, signature verifies.
func verifyWithJWKS(t *testing.T, set jwks, token string) {
	t.Helper()
	tok, err := jose.ParseCompact(token)
	require.NoError(t, err)
	kid := tok.HeaderString("kid")
	for _, k := range set.Keys {
		if k["kid"] != kid {
			continue
		}
		pk, err := jose.ParsePublicJWK(k, aauth.SupportedAlgs)
		require.NoError(t, err)
		assert.Equal(t, pk.Alg, tok.HeaderString("alg"))
		require.NoError(t, tok.VerifySignature(pk))
		return
	}
	t.Fatalf("kid %s not in the JWKS %v", kid, kids(set))
}

func TestEnsureActive(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		c := newClock()
		m := newManager(t, s, c, keys.Options{})

		_, err := m.Active(t.Context())
		assert.ErrorIs(t, err, keys.ErrNoActiveKey)
		assert.Empty(t, getJWKS(t, m).Keys)

		created, err := m.EnsureActive(t.Context())
		require.NoError(t, err)
		assert.True(t, created)
		created, err = m.EnsureActive(t.Context())
		require.NoError(t, err)
		assert.False(t, created, "already active")

		k, err := m.Active(t.Context())
		require.NoError(t, err)
		assert.Equal(t, aauth.AlgEd25519, k.Alg, "Ed25519 by default")
		tp, err := jose.Thumbprint(k.Public)
		require.NoError(t, err)
		assert.Equal(t, tp, k.KID)

		// A fresh Manager (a restart) decrypts the same key.
		k2, err := newManager(t, s, c, keys.Options{}).Active(t.Context())
		require.NoError(t, err)
		assert.Equal(t, k.KID, k2.KID)
		assert.Equal(t, k.Signer, k2.Signer)

		list, err := m.List(t.Context())
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, keys.KeyInfo{KID: k.KID, Alg: "Ed25519", State: "active", Created: c.Now().UTC(), Activated: c.Now().UTC(), Published: true}, list[0])

		set := getJWKS(t, m)
		checkJWKS(t, set)
		assert.Equal(t, []string{k.KID}, kids(set))
	})
}

func TestPrivateKeyIsStoredSealed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		m := newManager(t, s, newClock(), keys.Options{})
		_, err := m.EnsureActive(t.Context())
		require.NoError(t, err)
		k, err := m.Active(t.Context())
		require.NoError(t, err)
		pkcs8, err := x509.MarshalPKCS8PrivateKey(k.Signer)
		require.NoError(t, err)

		rows, err := s.ListSigningKeys(t.Context())
		require.NoError(t, err)
		require.Len(t, rows, 1)
		assert.False(t, bytes.Contains(rows[0].PrivateSealed, pkcs8), "PKCS#8 plaintext in the row")
		assert.False(t, bytes.Contains(rows[0].PrivateSealed, pkcs8[len(pkcs8)-32:]), "raw seed in the row")
		assert.NotContains(t, string(rows[0].PublicJWK), `"d"`)
	})
}

func TestRotationKeepsOldKeyPublishedUntilPublishUntil(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		c := newClock()
		m := newManager(t, s, c, keys.Options{}) // 1h + 5m
		_, err := m.EnsureActive(t.Context())
		require.NoError(t, err)
		old, err := m.Active(t.Context())
		require.NoError(t, err)
		tokenOld := signJWT(t, old) // issued just before the rotation

		c.Add(10 * time.Minute)
		rotatedAt := c.Now()
		newKID, err := m.Rotate(t.Context(), "")
		require.NoError(t, err)
		require.NotEqual(t, old.KID, newKID)
		cur, err := m.Active(t.Context())
		require.NoError(t, err)
		assert.Equal(t, newKID, cur.KID, "the rotating Manager switches at once")

		set := getJWKS(t, m)
		checkJWKS(t, set)
		assert.Equal(t, []string{newKID, old.KID}, kids(set), "active first, then the retired key")
		verifyWithJWKS(t, set, tokenOld)
		verifyWithJWKS(t, set, signJWT(t, cur))

		list, err := m.List(t.Context())
		require.NoError(t, err)
		require.Len(t, list, 2)
		assert.Equal(t, "retired", list[1].State)
		require.NotNil(t, list[1].Retired)
		require.NotNil(t, list[1].PublishUntil)
		assert.True(t, list[1].Retired.Equal(rotatedAt))
		publishUntil := rotatedAt.Add(time.Hour + 5*time.Minute)
		assert.True(t, list[1].PublishUntil.Equal(publishUntil), "publish_until %v", list[1].PublishUntil)

		c.Add(time.Hour + 5*time.Minute - time.Second) // one second before publish_until
		set = getJWKS(t, m)
		assert.Equal(t, []string{newKID, old.KID}, kids(set))
		verifyWithJWKS(t, set, tokenOld)
		n, err := m.PruneExpired(t.Context())
		require.NoError(t, err)
		assert.Zero(t, n, "still published: not pruned")

		c.Add(time.Second) // publish_until reached
		assert.Equal(t, []string{newKID}, kids(getJWKS(t, m)))
		list, err = m.List(t.Context())
		require.NoError(t, err)
		assert.False(t, list[1].Published)

		n, err = m.PruneExpired(t.Context())
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		list, err = m.List(t.Context())
		require.NoError(t, err)
		require.Len(t, list, 1)
		assert.Equal(t, newKID, list[0].KID)
		n, err = m.PruneExpired(t.Context())
		require.NoError(t, err)
		assert.Zero(t, n)
	})
}

func TestRotateToES256AndBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		c := newClock()
		m := newManager(t, s, c, keys.Options{Alg: aauth.AlgES256})
		created, err := m.EnsureActive(t.Context())
		require.NoError(t, err)
		require.True(t, created)
		es, err := m.Active(t.Context())
		require.NoError(t, err)
		assert.Equal(t, aauth.AlgES256, es.Alg)
		tokES := signJWT(t, es)

		// Another Manager decrypts the ES256 key.
		es2, err := newManager(t, s, c, keys.Options{}).Active(t.Context())
		require.NoError(t, err)
		assert.Equal(t, es.KID, es2.KID)

		c.Add(time.Second)
		edKID, err := m.Rotate(t.Context(), aauth.AlgEd25519)
		require.NoError(t, err)
		ed, err := m.Active(t.Context())
		require.NoError(t, err)
		assert.Equal(t, edKID, ed.KID)
		assert.Equal(t, aauth.AlgEd25519, ed.Alg)

		set := getJWKS(t, m)
		checkJWKS(t, set)
		require.Len(t, set.Keys, 2)
		assert.Equal(t, "OKP", set.Keys[0]["kty"])
		assert.Equal(t, "EC", set.Keys[1]["kty"])
		assert.Equal(t, "P-256", set.Keys[1]["crv"])
		verifyWithJWKS(t, set, tokES)
		verifyWithJWKS(t, set, signJWT(t, ed))

		for _, bad := range []string{"EdDSA", "RS256", "none", "HS256", "es256"} {
			_, err := m.Rotate(t.Context(), bad)
			assert.ErrorIs(t, err, keys.ErrUnsupportedAlg, bad)
		}
		_, err = newManager(t, s, c, keys.Options{Alg: "EdDSA"}).EnsureActive(t.Context())
		assert.ErrorIs(t, err, keys.ErrUnsupportedAlg)
	})
}

func TestSignatureVerifiesWithJWKS(t *testing.T) {
	for _, alg := range []string{aauth.AlgEd25519, aauth.AlgES256} {
		t.Run(alg, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, s *store.Store) {
				m := newManager(t, s, newClock(), keys.Options{Alg: alg})
				_, err := m.EnsureActive(t.Context())
				require.NoError(t, err)
				k, err := m.Active(t.Context())
				require.NoError(t, err)
				assert.Equal(t, alg, k.Alg)
				set := getJWKS(t, m)
				checkJWKS(t, set)
				tok := signJWT(t, k)
				verifyWithJWKS(t, set, tok)

				// A token signed by another key under the same kid fails.
				other := newManager(t, storetest.OpenSQLite(t), newClock(), keys.Options{Alg: alg})
				_, err = other.EnsureActive(t.Context())
				require.NoError(t, err)
				ok, err := other.Active(t.Context())
				require.NoError(t, err)
				forged := *ok
				forged.KID = k.KID
				parsed, err := jose.ParseCompact(signJWT(t, &forged))
				require.NoError(t, err)
				pk, err := jose.ParsePublicJWK(set.Keys[0], aauth.SupportedAlgs)
				require.NoError(t, err)
				assert.ErrorIs(t, parsed.VerifySignature(pk), jose.ErrBadJWTSignature)
			})
		})
	}
}

func TestWrongSecretIsAClearError(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		c := newClock()
		m := newManager(t, s, c, keys.Options{})
		_, err := m.EnsureActive(t.Context())
		require.NoError(t, err)

		wrong := keys.NewManager(s, newSealer(t, 2), c.Now, keys.Options{})
		created, err := wrong.EnsureActive(t.Context())
		assert.False(t, created)
		assert.ErrorIs(t, err, keys.ErrSecretMismatch)
		assert.Contains(t, err.Error(), "key-encryption secret does not match the stored keys")
		_, err = wrong.Active(t.Context())
		assert.ErrorIs(t, err, keys.ErrSecretMismatch)
		_, err = wrong.Rotate(t.Context(), "")
		assert.ErrorIs(t, err, keys.ErrSecretMismatch, "no key is sealed under a second secret")
		// Public material stays usable.
		assert.Len(t, getJWKS(t, wrong).Keys, 1)
		list, err := wrong.List(t.Context())
		require.NoError(t, err)
		assert.Len(t, list, 1)

		// The right secret still works.
		_, err = m.Rotate(t.Context(), "")
		require.NoError(t, err)
	})
}

func TestTamperedRowsAreRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		c := newClock()
		m := newManager(t, s, c, keys.Options{})
		_, err := m.EnsureActive(t.Context())
		require.NoError(t, err)
		c.Add(time.Second)
		_, err = m.Rotate(t.Context(), "")
		require.NoError(t, err)
		rows, err := s.ListSigningKeys(t.Context())
		require.NoError(t, err)
		require.Len(t, rows, 2)
		active, retired := rows[0], rows[1]
		require.Equal(t, store.KeyStateActive, active.State)

		setSealed := func(kid string, b []byte) {
			require.NoError(t, s.ExecSQL(context.Background(), `UPDATE signing_keys SET private_sealed = ? WHERE kid = ?`, b, kid))
		}

		// Swap: the retired key's sealed blob in the active row.
		setSealed(active.KID, retired.PrivateSealed)
		_, err = newManager(t, s, c, keys.Options{}).Active(t.Context())
		assert.ErrorIs(t, err, keys.ErrSealedKeyCorrupt)

		// A flipped byte in the ciphertext.
		flipped := bytes.Clone(active.PrivateSealed)
		flipped[len(flipped)-20] ^= 0x80
		setSealed(active.KID, flipped)
		_, err = newManager(t, s, c, keys.Options{}).EnsureActive(t.Context())
		assert.ErrorIs(t, err, keys.ErrSealedKeyCorrupt)

		// Restored: fine again.
		setSealed(active.KID, active.PrivateSealed)
		k, err := newManager(t, s, c, keys.Options{}).Active(t.Context())
		require.NoError(t, err)
		assert.Equal(t, active.KID, k.KID)

		// A public JWK that does not match its kid is not published.
		require.NoError(t, s.ExecSQL(context.Background(), `UPDATE signing_keys SET public_jwk = ? WHERE kid = ?`, string(retired.PublicJWK), active.KID))
		_, err = m.JWKS(t.Context())
		assert.Error(t, err)
	})
}

// Two Managers on one database stand for two replicas.
func TestTwoManagersSeeEachOthersRotation(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, url string) {
		c := newClock()
		m1 := newManager(t, storetest.OpenURL(t, url, false), c, keys.Options{})
		m2 := newManager(t, storetest.OpenURL(t, url, false), c, keys.Options{})

		// Both start at once: one creates, both end up on the same key.
		var (
			wg      sync.WaitGroup
			created [2]bool
			errs    [2]error
		)
		for i, m := range []*keys.Manager{m1, m2} {
			wg.Go(func() { created[i], errs[i] = m.EnsureActive(context.Background()) })
		}
		wg.Wait()
		require.NoError(t, errs[0])
		require.NoError(t, errs[1])
		assert.True(t, created[0] != created[1], "exactly one replica created the first key: %v", created)
		k1, err := m1.Active(t.Context())
		require.NoError(t, err)
		k2, err := m2.Active(t.Context())
		require.NoError(t, err)
		require.Equal(t, k1.KID, k2.KID)

		c.Add(time.Second)
		newKID, err := m1.Rotate(t.Context(), "")
		require.NoError(t, err)

		// m2 keeps its cached key until the refresh interval has passed...
		k2, err = m2.Active(t.Context())
		require.NoError(t, err)
		assert.Equal(t, k1.KID, k2.KID, "cached within RefreshInterval")
		// ...and the key it still signs with stays published.
		verifyWithJWKS(t, getJWKS(t, m1), signJWT(t, k2))

		c.Add(keys.DefaultRefreshInterval)
		k2, err = m2.Active(t.Context())
		require.NoError(t, err)
		assert.Equal(t, newKID, k2.KID, "m2 sees m1's rotation")

		// m2 rotates; m1 notices on demand.
		c.Add(time.Second)
		kid3, err := m2.Rotate(t.Context(), aauth.AlgES256)
		require.NoError(t, err)
		require.NoError(t, m1.Refresh(t.Context()))
		k1, err = m1.Active(t.Context())
		require.NoError(t, err)
		assert.Equal(t, kid3, k1.KID)
		assert.Equal(t, aauth.AlgES256, k1.Alg)

		assert.Equal(t, getJWKS(t, m1), getJWKS(t, m2))
		assert.Len(t, getJWKS(t, m1).Keys, 3)

		// Concurrent rotations both succeed and leave one active key.
		var kidsOut [2]string
		for i, m := range []*keys.Manager{m1, m2} {
			wg.Go(func() { kidsOut[i], errs[i] = m.Rotate(context.Background(), "") })
		}
		wg.Wait()
		require.NoError(t, errs[0])
		require.NoError(t, errs[1])
		list, err := m1.List(t.Context())
		require.NoError(t, err)
		active := 0
		for _, k := range list {
			if k.State == store.KeyStateActive {
				active++
				assert.Contains(t, kidsOut, k.KID)
			}
		}
		assert.Equal(t, 1, active)
	})
}
