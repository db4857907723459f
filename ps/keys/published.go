package keys

import (
	"context"
	"errors"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/jose"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// ErrUnknownKID: no key of this PS's published JWKS has that kid.
var ErrUnknownKID = errors.New("keys: no published key with that kid")

// missReload bounds how often a kid the cache does not hold makes the
// table be read again (another replica's new key; a forged kid).
const missReload = time.Second

// publishedKey is one row of the table with its public key parsed.
type publishedKey struct {
	row store.SigningKeyRow
	key *jose.PublicKey
}

// PublicKey is the key kid of this PS's published JWKS (what JWKS
// renders now), for verifying a token this PS issued when it comes back
// (a presented token, resourcetoken.OwnKeys). The table's rows are read
// and parsed at most every RefreshInterval, like Active (issue 12: the
// auth token request read and parsed the whole JWKS on every request);
// whether a row is published is decided at each call with the current
// time, so a retired key stops verifying the instant its publish_until
// passes. A kid the cache does not hold re-reads the table, at most once
// a second (a rotation on another replica is seen at its first token).
func (m *Manager) PublicKey(ctx context.Context, kid string) (*jose.PublicKey, error) {
	m.pubMu.Lock()
	defer m.pubMu.Unlock()
	now := m.now()
	age := now.Sub(m.pubLoadedAt)
	fresh := m.pub != nil && age >= 0 && age < m.opts.RefreshInterval
	if !fresh || (m.pub[kid] == nil && (age < 0 || age >= missReload)) {
		if err := m.loadPublished(ctx, now); err != nil {
			return nil, err
		}
	}
	k := m.pub[kid]
	if k == nil || !published(k.row, now) {
		return nil, ErrUnknownKID
	}
	return k.key, nil
}

// loadPublished reads every row and parses its public key, checking that
// kid and alg are the key's (storedPublicKey, as for the JWKS). Callers
// hold m.pubMu.
func (m *Manager) loadPublished(ctx context.Context, now time.Time) error {
	rows, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return err
	}
	pub := make(map[string]*publishedKey, len(rows))
	for _, r := range rows {
		pk, err := storedPublicKey(r)
		if err != nil {
			return err
		}
		pub[r.KID] = &publishedKey{row: r, key: pk}
	}
	m.pub, m.pubLoadedAt = pub, now
	return nil
}

// forgetPublished makes the next PublicKey read the table (after this
// Manager changed it).
func (m *Manager) forgetPublished() {
	m.pubMu.Lock()
	m.pub = nil
	m.pubMu.Unlock()
}
