package agents

import (
	"sync"
	"time"
)

// Admit ran one database read per signed request (issue 12): the
// providers' statuses are now cached. An operator's change made through
// this process (SetProviderStatus: the web console, or the CLI running
// in-process) empties the cache at once; a change made by another
// process on the same database (another replica, the CLI against a
// running PS) takes effect within policyTTL. The cache holds at most
// policyCacheSize providers (emptied when full; a refill costs one read
// per provider).
const (
	policyTTL       = 10 * time.Second
	policyCacheSize = 10_000
)

type policyEntry struct {
	status ProviderStatus // "": not known to the PS
	until  time.Time
}

type policyCache struct {
	mu      sync.Mutex
	gen     uint64
	entries map[string]policyEntry
}

func newPolicyCache() *policyCache { return &policyCache{entries: map[string]policyEntry{}} }

func (c *policyCache) get(issuer string, now time.Time) (ProviderStatus, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[issuer]
	if !ok || !now.Before(e.until) {
		return "", false
	}
	return e.status, true
}

// generation is taken before a read; put keeps the read only if no
// change was recorded since (a read racing an operator's change must not
// bring the old status back for policyTTL).
func (c *policyCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *policyCache) put(issuer string, status ProviderStatus, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.entries) >= policyCacheSize {
		clear(c.entries)
	}
	c.entries[issuer] = policyEntry{status: status, until: now.Add(policyTTL)}
}

// forget empties the cache after a status change.
func (c *policyCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
}
