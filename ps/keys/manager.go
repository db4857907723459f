package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/jose"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// Store is what the Manager needs from the database; *store.Store
// satisfies it. InTx makes Rotate atomic.
type Store interface {
	InsertSigningKey(ctx context.Context, k store.SigningKeyRow) error
	ListSigningKeys(ctx context.Context) ([]store.SigningKeyRow, error)
	RetireActiveKeys(ctx context.Context, retiredAt, publishUntil time.Time) error
	DeleteSigningKey(ctx context.Context, kid string) error
	InTx(ctx context.Context, fn func(tx *store.Store) error) error
}

var _ Store = (*store.Store)(nil)

// Errors.
var (
	// ErrNoActiveKey: the table has no active key (run EnsureActive).
	ErrNoActiveKey = errors.New("keys: no active signing key")
	// ErrUnsupportedAlg: the PS signs only with Ed25519 and ES256.
	ErrUnsupportedAlg = errors.New("keys: unsupported signing algorithm (want Ed25519 or ES256)")
)

// Defaults for Options.
const (
	DefaultAlg              = aauth.AlgEd25519
	DefaultMaxTokenLifetime = time.Hour
	DefaultClockSkew        = 5 * time.Minute
	DefaultRefreshInterval  = 5 * time.Second
)

// Options configure a Manager. Zero values take the defaults.
type Options struct {
	// Alg of new keys: "Ed25519" (default) or "ES256".
	Alg string
	// MaxTokenLifetime is the longest lifetime of a token the PS signs (1h).
	MaxTokenLifetime time.Duration
	// ClockSkew is added to MaxTokenLifetime when a key retires (5m).
	ClockSkew time.Duration
	// RefreshInterval bounds how long Active trusts its cached key before
	// re-reading the table to notice another replica's rotation (5s).
	RefreshInterval time.Duration
}

// SigningKey is the decrypted active key.
type SigningKey struct {
	KID string // RFC 7638 thumbprint of Public
	Alg string // "Ed25519" | "ES256"
	// Signer is an ed25519.PrivateKey or an *ecdsa.PrivateKey. For ES256,
	// crypto.Signer.Sign takes a SHA-256 digest and returns ASN.1 DER: a JWS
	// needs it converted to R||S.
	Signer crypto.Signer
	Public crypto.PublicKey
}

// KeyInfo describes a key for `aauth-ps keys list`.
type KeyInfo struct {
	KID          string
	Alg          string
	State        string // "active" | "retired"
	Created      time.Time
	Activated    time.Time
	Retired      *time.Time
	PublishUntil *time.Time
	Published    bool // in the JWKS now
}

// Manager owns the PS's signing keys: creation, rotation, the JWKS and the
// decrypted active key. It is safe for concurrent use, and several
// Managers (replicas) may share one database.
type Manager struct {
	st     Store
	sealer *Sealer
	now    func() time.Time
	opts   Options

	mu       sync.Mutex
	active   *SigningKey
	loadedAt time.Time

	// pub caches the table's public keys for PublicKey (published.go).
	pubMu       sync.Mutex
	pub         map[string]*publishedKey
	pubLoadedAt time.Time

	// signed remembers the tokens SignJWT signed (signedhere.go).
	signed signedHere
}

// NewManager returns a Manager over st, sealing private keys with sealer
// (both required). now defaults to time.Now.
func NewManager(st Store, sealer *Sealer, now func() time.Time, opts Options) *Manager {
	if now == nil {
		now = time.Now
	}
	if opts.Alg == "" {
		opts.Alg = DefaultAlg
	}
	if opts.MaxTokenLifetime <= 0 {
		opts.MaxTokenLifetime = DefaultMaxTokenLifetime
	}
	if opts.ClockSkew <= 0 {
		opts.ClockSkew = DefaultClockSkew
	}
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = DefaultRefreshInterval
	}
	return &Manager{st: st, sealer: sealer, now: now, opts: opts, signed: newSignedHere(signedHereSize)}
}

// RetentionAfterRetirement is how long a retired key stays in the JWKS:
// MaxTokenLifetime + ClockSkew (§2.6 "Own keys", PS-011).
func (m *Manager) RetentionAfterRetirement() time.Duration {
	return m.opts.MaxTokenLifetime + m.opts.ClockSkew
}

func checkAlg(alg string) error {
	if alg != aauth.AlgEd25519 && alg != aauth.AlgES256 {
		return fmt.Errorf("%w: %q", ErrUnsupportedAlg, alg)
	}
	return nil
}

// newKey generates a key of alg and its sealed row (state active, times now).
func (m *Manager) newKey(alg string, now time.Time) (*SigningKey, store.SigningKeyRow, error) {
	var signer crypto.Signer
	switch alg {
	case aauth.AlgEd25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, store.SigningKeyRow{}, err
		}
		signer = priv
	case aauth.AlgES256:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, store.SigningKeyRow{}, err
		}
		signer = priv
	default:
		return nil, store.SigningKeyRow{}, fmt.Errorf("%w: %q", ErrUnsupportedAlg, alg)
	}
	pub := signer.Public()
	kid, err := jose.Thumbprint(pub)
	if err != nil {
		return nil, store.SigningKeyRow{}, fmt.Errorf("keys: thumbprint: %w", err)
	}
	jwk, err := publicJWK(pub, kid)
	if err != nil {
		return nil, store.SigningKeyRow{}, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		return nil, store.SigningKeyRow{}, fmt.Errorf("keys: encode private key: %w", err)
	}
	sealed, err := m.sealer.Seal(kid, pkcs8)
	clear(pkcs8)
	if err != nil {
		return nil, store.SigningKeyRow{}, fmt.Errorf("keys: seal private key: %w", err)
	}
	row := store.SigningKeyRow{
		KID: kid, Alg: alg, PublicJWK: jwk, PrivateSealed: sealed,
		State: store.KeyStateActive, CreatedAt: now, ActivatedAt: now,
	}
	return &SigningKey{KID: kid, Alg: alg, Signer: signer, Public: pub}, row, nil
}

// publicJWK renders the published form: kty, crv, x[, y], alg, kid, use.
func publicJWK(pub crypto.PublicKey, kid string) ([]byte, error) {
	m, err := jose.PublicJWK(pub, kid)
	if err != nil {
		return nil, fmt.Errorf("keys: public JWK: %w", err)
	}
	m["use"] = "sig"
	return json.Marshal(m)
}

// open decrypts a row and checks that the key is the one its kid and alg
// name.
func (m *Manager) open(row store.SigningKeyRow) (*SigningKey, error) {
	pkcs8, err := m.sealer.Open(row.KID, row.PrivateSealed)
	if err != nil {
		return nil, fmt.Errorf("keys: signing key %s: %w", row.KID, err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(pkcs8)
	clear(pkcs8)
	if err != nil {
		return nil, fmt.Errorf("keys: signing key %s: %w: not a PKCS#8 key", row.KID, ErrSealedKeyCorrupt)
	}
	var (
		signer crypto.Signer
		alg    string
	)
	switch k := priv.(type) {
	case ed25519.PrivateKey:
		signer, alg = k, aauth.AlgEd25519
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("keys: signing key %s: unsupported curve", row.KID)
		}
		signer, alg = k, aauth.AlgES256
	default:
		return nil, fmt.Errorf("keys: signing key %s: unsupported key type %T", row.KID, priv)
	}
	tp, err := jose.Thumbprint(signer.Public())
	if err != nil {
		return nil, fmt.Errorf("keys: signing key %s: thumbprint: %w", row.KID, err)
	}
	if tp != row.KID || alg != row.Alg {
		return nil, fmt.Errorf("keys: signing key %s: %w: key does not match its kid or alg", row.KID, ErrSealedKeyCorrupt)
	}
	return &SigningKey{KID: row.KID, Alg: alg, Signer: signer, Public: signer.Public()}, nil
}

func activeRow(rows []store.SigningKeyRow) *store.SigningKeyRow {
	for i := range rows {
		if rows[i].State == store.KeyStateActive {
			return &rows[i]
		}
	}
	return nil
}

// reload re-reads the table and caches the active key, decrypting it only
// when its kid changed. Callers hold m.mu.
func (m *Manager) reload(ctx context.Context) (*SigningKey, error) {
	rows, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	row := activeRow(rows)
	if row == nil {
		return nil, ErrNoActiveKey
	}
	if m.active == nil || m.active.KID != row.KID {
		k, err := m.open(*row)
		if err != nil {
			return nil, err
		}
		m.active = k
	}
	m.loadedAt = m.now()
	return m.active, nil
}

func (m *Manager) setActive(k *SigningKey) {
	m.mu.Lock()
	m.active, m.loadedAt = k, m.now()
	m.mu.Unlock()
}

// Active returns the decrypted active key. It is cached and the table is
// re-read at most every RefreshInterval (or on Refresh), so a rotation by
// another replica is noticed within that interval; the retired key stays
// published for far longer, so tokens it signs meanwhile still verify.
func (m *Manager) Active(ctx context.Context) (*SigningKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.active != nil {
		age := m.now().Sub(m.loadedAt)
		if age >= 0 && age < m.opts.RefreshInterval {
			return m.active, nil
		}
	}
	return m.reload(ctx)
}

// Refresh re-reads the table now (e.g. after an operator rotated the key
// through another replica).
func (m *Manager) Refresh(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err := m.reload(ctx)
	return err
}

// EnsureActive creates the first key (Options.Alg) when none is active. If
// a key is active it is decrypted, so a wrong key-encryption secret is
// reported here, at start-up (ErrSecretMismatch). Replicas racing to create
// the first key end up with the same one.
func (m *Manager) EnsureActive(ctx context.Context) (created bool, err error) {
	if err := checkAlg(m.opts.Alg); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err = m.reload(ctx)
	if !errors.Is(err, ErrNoActiveKey) {
		return false, err
	}
	k, row, err := m.newKey(m.opts.Alg, m.now())
	if err != nil {
		return false, err
	}
	switch err := m.st.InsertSigningKey(ctx, row); {
	case errors.Is(err, store.ErrConflict): // another replica created one first
		_, err = m.reload(ctx)
		return false, err
	case err != nil:
		return false, err
	}
	m.active, m.loadedAt = k, m.now()
	m.forgetPublished()
	return true, nil
}

// Rotate makes a new key of alg ("" for Options.Alg) the active one. In the
// same transaction every previously active key is retired, to stay in the
// JWKS until now + MaxTokenLifetime + ClockSkew. It returns the new kid.
// It refuses (ErrSecretMismatch) when the current active key does not open
// with this Manager's key-encryption secret, so keys are never sealed under
// two secrets.
func (m *Manager) Rotate(ctx context.Context, alg string) (newKID string, err error) {
	if alg == "" {
		alg = m.opts.Alg
	}
	if err := checkAlg(alg); err != nil {
		return "", err
	}
	// Refuse to mix secrets: the current active key must open with ours
	// (a wrong secret here would otherwise seal the new key under it).
	m.mu.Lock()
	_, err = m.reload(ctx)
	m.mu.Unlock()
	if err != nil && !errors.Is(err, ErrNoActiveKey) {
		return "", err
	}
	const attempts = 3 // a concurrent rotation on another replica makes ours conflict
	for range attempts {
		now := m.now()
		k, row, err := m.newKey(alg, now)
		if err != nil {
			return "", err
		}
		err = m.st.InTx(ctx, func(tx *store.Store) error {
			if err := tx.RetireActiveKeys(ctx, now, now.Add(m.RetentionAfterRetirement())); err != nil {
				return err
			}
			return tx.InsertSigningKey(ctx, row)
		})
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return "", err
		}
		m.setActive(k)
		m.forgetPublished()
		return k.KID, nil
	}
	return "", fmt.Errorf("keys: rotate: %w: concurrent rotations kept winning; retry", store.ErrConflict)
}

// published reports whether a row belongs in the JWKS at now.
func published(r store.SigningKeyRow, now time.Time) bool {
	switch r.State {
	case store.KeyStateActive:
		return true
	case store.KeyStateRetired:
		return r.PublishUntil != nil && r.PublishUntil.After(now)
	}
	return false
}

// JWKS renders {"keys":[…]}: the active key and every retired key whose
// publish_until is still ahead, newest first. Each member is re-derived from
// the stored public key (kty, crv, x[, y], alg, kid, use "sig"), after
// checking that kid is its RFC 7638 thumbprint, so no private or unexpected
// member can be published (PS-008).
func (m *Manager) JWKS(ctx context.Context) ([]byte, error) {
	rows, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	now := m.now()
	return jwksOf(rows, func(r store.SigningKeyRow) bool { return published(r, now) })
}

// jwksOf renders the rows keep selects as {"keys":[…]}, each re-derived
// from its stored public key after checking its kid and alg.
func jwksOf(rows []store.SigningKeyRow, keep func(store.SigningKeyRow) bool) ([]byte, error) {
	set := struct {
		Keys []json.RawMessage `json:"keys"`
	}{Keys: []json.RawMessage{}}
	for _, r := range rows {
		if !keep(r) {
			continue
		}
		pk, err := storedPublicKey(r)
		if err != nil {
			return nil, err
		}
		jwk, err := publicJWK(pk.Key, r.KID)
		if err != nil {
			return nil, err
		}
		set.Keys = append(set.Keys, jwk)
	}
	return json.Marshal(set)
}

// storedPublicKey parses a row's public key and checks that its kid is
// the key's thumbprint and its alg the key's.
func storedPublicKey(r store.SigningKeyRow) (*jose.PublicKey, error) {
	var members map[string]any
	if err := json.Unmarshal(r.PublicJWK, &members); err != nil {
		return nil, fmt.Errorf("keys: stored public key %s: %w", r.KID, err)
	}
	pk, err := jose.ParsePublicJWK(members, aauth.SupportedAlgs)
	if err != nil {
		return nil, fmt.Errorf("keys: stored public key %s: %w", r.KID, err)
	}
	if pk.Thumbprint != r.KID || pk.Alg != r.Alg {
		return nil, fmt.Errorf("keys: stored public key %s does not match its kid or alg", r.KID)
	}
	return pk, nil
}

// List describes every stored key, newest first.
func (m *Manager) List(ctx context.Context) ([]KeyInfo, error) {
	rows, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	now := m.now()
	out := make([]KeyInfo, 0, len(rows))
	for _, r := range rows {
		out = append(out, KeyInfo{
			KID: r.KID, Alg: r.Alg, State: r.State, Created: r.CreatedAt, Activated: r.ActivatedAt,
			Retired: r.RetiredAt, PublishUntil: r.PublishUntil, Published: published(r, now),
		})
	}
	return out, nil
}

// PruneExpired deletes retired keys whose publish_until has passed and
// returns how many it deleted. A key another replica pruned first is not
// an error.
func (m *Manager) PruneExpired(ctx context.Context) (int, error) {
	rows, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return 0, err
	}
	now := m.now()
	n := 0
	for _, r := range rows {
		if r.State != store.KeyStateRetired || published(r, now) {
			continue
		}
		switch err := m.st.DeleteSigningKey(ctx, r.KID); {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return n, err
		default:
			n++
		}
	}
	if n > 0 {
		m.forgetPublished()
	}
	return n, nil
}
