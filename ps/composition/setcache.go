package composition

import (
	"bytes"
	"sync"

	"github.com/aauth-ps/aauth-ps/mission/authority"
)

// maxCachedSets bounds the verified-set cache: past it an arbitrary entry
// makes room (a miss only costs the parse and hash it saves).
const maxCachedSets = 4096

// setCache keeps each mission's verified effective Authority Set (issue
// 12): the stored set is immutable content under its hash, so parsing,
// schema-checking and re-hashing it on every decision (most of a
// decision's CPU) is done once per process. An entry is keyed by the
// mission and the stored effective hash, and answers only for the exact
// stored bytes it was verified from: a stored set changed behind an
// unchanged hash misses, is parsed again and fails the integrity check
// as before. Safe for concurrent use; the zero value is ready.
type setCache struct {
	mu sync.Mutex
	m  map[setKey]setEntry
}

type setKey struct{ s256, hash string }

type setEntry struct {
	raw []byte
	v   *authority.Verified
}

// get is the verified set of mission s256 stored as raw under hash, or
// nil.
func (c *setCache) get(s256, hash string, raw []byte) *authority.Verified {
	c.mu.Lock()
	e, ok := c.m[setKey{s256, hash}]
	c.mu.Unlock()
	if !ok || !bytes.Equal(e.raw, raw) {
		return nil
	}
	return e.v
}

// put remembers v, verified from raw stored under hash for mission s256.
func (c *setCache) put(s256, hash string, raw []byte, v *authority.Verified) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[setKey]setEntry{}
	}
	if len(c.m) >= maxCachedSets {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[setKey{s256, hash}] = setEntry{raw: bytes.Clone(raw), v: v}
}
