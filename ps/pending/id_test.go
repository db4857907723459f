package pending

import (
	"crypto/rand"
	"encoding/base64"
	"testing"
	"testing/cryptotest"
)

// TestPendingIDIs128BitsFromCryptoRand: PS-147 (issue 15 item 11). "At
// least 128 bits of randomness" is about where the bits come from, not the
// id's length: the id must be 16 bytes drawn from crypto/rand, all of them
// random, so a 64-bit value padded to 16 bytes, or a non-cryptographic
// generator, fails here.
func TestPendingIDIs128BitsFromCryptoRand(t *testing.T) {
	t.Run("the 16 bytes are crypto/rand's", func(t *testing.T) {
		// With crypto/rand made deterministic, newID must return exactly the
		// first 16 bytes of the stream.
		const seed = 147
		cryptotest.SetGlobalRandom(t, seed)
		want := make([]byte, 16)
		_, _ = rand.Read(want)
		cryptotest.SetGlobalRandom(t, seed) // the same stream again
		got, err := base64.RawURLEncoding.DecodeString(newID())
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("id bytes %x, want crypto/rand's first 16 bytes %x", got, want)
		}
	})

	t.Run("every bit varies and no id repeats", func(t *testing.T) {
		// Over 2000 ids each of the 128 bit positions takes both values
		// (a constant bit has probability 2^-1999 here); a padded 64-bit id
		// has 64 constant bits.
		const draws = 2000
		var ones, zeros [128]int
		seen := make(map[string]bool, draws)
		for range draws {
			id := newID()
			if seen[id] {
				t.Fatalf("id %s drawn twice", id)
			}
			seen[id] = true
			raw, err := base64.RawURLEncoding.DecodeString(id)
			if err != nil || len(raw) != 16 {
				t.Fatalf("id %q is not 16 bytes of base64url: %v", id, err)
			}
			for bit := range 128 {
				if raw[bit/8]>>(bit%8)&1 == 1 {
					ones[bit]++
				} else {
					zeros[bit]++
				}
			}
		}
		for bit := range 128 {
			if ones[bit] == 0 || zeros[bit] == 0 {
				t.Fatalf("bit %d of the id never varies (%d ones in %d ids)", bit, ones[bit], draws)
			}
		}
	})
}
