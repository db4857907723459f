package authority

import "fmt"

// Verified is an Authority Set whose integrity was checked once: its
// canonical form hashes to the stored hash it names and it passes the
// semantic checks. Only Verify makes one, so a Snapshot carrying it lets
// Evaluate skip re-hashing the same set on every request (issue 12: the
// re-hash was most of a decision's CPU). The set must not be changed
// after Verify; Evaluate and the matcher only read it.
type Verified struct {
	set  *Set
	hash string
}

// Verify checks that s recomputes to hash and is a valid set, and returns
// the proof of it; an error is the integrity failure Evaluate would deny.
func Verify(s *Set, hash string) (*Verified, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: no set", ErrInvalid)
	}
	h, err := s.Hash()
	if err != nil {
		return nil, err
	}
	if h != hash {
		return nil, fmt.Errorf("%w: the set does not match its stored hash", ErrInvalid)
	}
	if err := s.Check(); err != nil {
		return nil, err
	}
	return &Verified{set: s, hash: hash}, nil
}

// Set is the verified set.
func (v *Verified) Set() *Set { return v.set }

// covers reports whether v is the proof for exactly set under hash.
func (v *Verified) covers(set *Set, hash string) bool {
	return v != nil && v.set == set && v.hash == hash
}
