package httpsig

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"
)

// Verified agent tokens are cached (issue 12): an agent sends the same
// agent token with every request until it expires, and parsing it,
// checking its claims, verifying its signature and admitting its cnf.jwk
// gave the same answer each time (one Ed25519 verification and a JSON
// decode per request). What can change is never cached: the provider
// policy (ProviderGate.Admit) and the revocation lookup run on every
// request, hit or miss, so a revoked token or a blocked provider is
// refused at once, on every replica.
//
// An entry lives until the token's exp and at most agentTokenCacheTTL
// (a provider that retires the signing key stops its tokens within that
// bound, as a JWKS refresh would); the cache holds at most
// agentTokenCacheSize tokens, least recently used dropped first.
const (
	agentTokenCacheSize = 4096
	agentTokenCacheTTL  = 5 * time.Minute
)

// tokenEntry is one verified agent token.
type tokenEntry struct {
	key   [sha256.Size]byte
	agent Agent // as verified; callers get a copy
	until time.Time
	// remembered: the accepted-token record (PS-293) was written once.
	remembered atomic.Bool
}

// tokenCache is a bounded LRU of verified agent tokens by SHA-256.
type tokenCache struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	order *list.List // front: most recently used; values *tokenEntry
	byKey map[[sha256.Size]byte]*list.Element
}

func newTokenCache(max int, ttl time.Duration) *tokenCache {
	return &tokenCache{max: max, ttl: ttl, order: list.New(), byKey: make(map[[sha256.Size]byte]*list.Element)}
}

// get returns a copy of the verified token's Agent, or nil when the token
// is not cached or its entry has run out at now (then it is dropped).
func (c *tokenCache) get(token string, now time.Time) *Agent {
	k := sha256.Sum256([]byte(token))
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[k]
	if !ok {
		return nil
	}
	e := el.Value.(*tokenEntry)
	if !now.Before(e.until) || e.agent.Token != token {
		c.order.Remove(el)
		delete(c.byKey, k)
		return nil
	}
	c.order.MoveToFront(el)
	a := e.agent
	a.entry = e
	return &a
}

// put caches a verified agent (its token, exp and key set) and links
// the agent to its entry.
func (c *tokenCache) put(a *Agent, now time.Time) {
	until := now.Add(c.ttl)
	if a.TokenExp.Before(until) {
		until = a.TokenExp
	}
	if !now.Before(until) {
		return
	}
	e := &tokenEntry{key: sha256.Sum256([]byte(a.Token)), agent: *a, until: until}
	e.agent.entry = nil
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[e.key]; ok {
		c.order.Remove(el)
	}
	c.byKey[e.key] = c.order.PushFront(e)
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(*tokenEntry).key)
	}
	a.entry = e
}

// RememberOnce runs record (writing the accepted agent token, PS-293)
// unless it already succeeded for this agent token in this process: the
// record is the same for every request carrying the token, and writing it
// again was one database write per request.
func (a *Agent) RememberOnce(record func() error) error {
	if a.entry != nil && a.entry.remembered.Load() {
		return nil
	}
	if err := record(); err != nil {
		return err
	}
	if a.entry != nil {
		a.entry.remembered.Store(true)
	}
	return nil
}
