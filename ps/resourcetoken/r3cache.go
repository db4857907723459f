package resourcetoken

import (
	"container/list"
	"sync"
)

// R3Cache keeps verified R3 documents under a key naming their r3_s256
// (R3§content-addressing: the hash is the document's identity, so a
// document that verified against it need not be fetched again). Bounded in
// entry size and count; the least recently used entry goes first. Safe for
// concurrent use.
type R3Cache struct {
	maxEntries, maxBytes int

	mu      sync.Mutex
	order   *list.List // of *r3Entry, most recent at the front
	entries map[string]*list.Element
}

type r3Entry struct {
	key  string
	body []byte
}

// Default bounds of the R3 cache: 256 documents of at most 64 KiB each.
const (
	DefaultR3CacheEntries = 256
	DefaultR3CacheBytes   = 64 << 10
)

// NewR3Cache makes a cache of at most maxEntries documents of at most
// maxBytes each (defaults when ≤ 0).
func NewR3Cache(maxEntries, maxBytes int) *R3Cache {
	if maxEntries <= 0 {
		maxEntries = DefaultR3CacheEntries
	}
	if maxBytes <= 0 {
		maxBytes = DefaultR3CacheBytes
	}
	return &R3Cache{maxEntries: maxEntries, maxBytes: maxBytes, order: list.New(), entries: map[string]*list.Element{}}
}

// Get returns the bytes cached under key (r3_uri and r3_s256).
func (c *R3Cache) Get(key string) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*r3Entry).body, true
}

// Put keeps body under key. The caller has verified that body hashes to
// the r3_s256 the key names (VerifyR3); a body larger than the entry bound
// is not kept.
func (c *R3Cache) Put(key string, body []byte) {
	if c == nil || len(body) > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.entries[key] = c.order.PushFront(&r3Entry{key: key, body: append([]byte(nil), body...)})
	for c.order.Len() > c.maxEntries {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.entries, oldest.Value.(*r3Entry).key)
	}
}

// Len is the number of cached documents.
func (c *R3Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
