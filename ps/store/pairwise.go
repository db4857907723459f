package store

import (
	lru "github.com/hashicorp/golang-lru/v2"
)

// pairwiseCacheSize bounds the directed subjects kept in memory, each way.
const pairwiseCacheSize = 16384

// pairwiseCache keeps directed subjects (PS-077) as they were committed.
// A pairwise subject is never updated or deleted once stored (persons
// are disabled, never deleted), so an entry read from the database is
// true for as long as the process runs, on every replica; no staleness
// bound is needed. Only committed rows enter it (AfterCommit): a sub
// inserted by a transaction that rolls back never does. Absence is not
// cached. Every mission-bound exchange read it three times (issue 12).
type pairwiseCache struct {
	sub    *lru.Cache[[2]string, string] // (person, resource) → sub
	person *lru.Cache[[2]string, string] // (resource, sub) → person
}

func newPairwiseCache() *pairwiseCache {
	sub, _ := lru.New[[2]string, string](pairwiseCacheSize)
	person, _ := lru.New[[2]string, string](pairwiseCacheSize)
	return &pairwiseCache{sub: sub, person: person}
}

// rememberPairwise caches person ↔ sub at resource once s's transaction
// (if any) has committed.
func (s *Store) rememberPairwise(personID, resource, sub string) {
	if s.pairwise == nil || personID == "" || sub == "" {
		return
	}
	c := s.pairwise
	s.AfterCommit(func() {
		c.sub.Add([2]string{personID, resource}, sub)
		c.person.Add([2]string{resource, sub}, personID)
	})
}
