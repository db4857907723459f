package composition_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aauth-ps/aauth-ps/mission/authority"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestCachedSetStillChecksIntegrity: the decision point caches a
// mission's verified Authority Set (issue 12), and a stored set changed
// behind it is still refused with integrity_failure (design §3 step 4,
// §4), while a set stored with its new hash is the one decided on — on
// PostgreSQL and on SQLite.
func TestCachedSetStillChecksIntegrity(t *testing.T) {
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, pt, q := boardTreasury(t, b)
			decide := func() authority.Decision {
				t.Helper()
				res, err := pt.DecideIn(ctx, st, q, false, func(*store.Store, *composition.Result) error { return nil })
				if err != nil {
					t.Fatal(err)
				}
				return res.Decision
			}
			// Twice: the second is decided on the cached set, the same way.
			for range 2 {
				if d := decide(); d.Outcome != authority.Defer || d.Entry != "treasury-cash" {
					t.Fatalf("treasury read: %s %s %s, want a defer under treasury-cash", d.Outcome, d.Reason, d.Entry)
				}
			}
			var stored []struct{ Body, Anchor string }
			if err := st.QuerySQL(ctx, &stored, `SELECT effective_authority_set AS body, effective_authority_hash AS anchor FROM missions WHERE s256 = ?`, q.S256); err != nil || len(stored) != 1 {
				t.Fatalf("stored set: %v %v", stored, err)
			}
			tampered := strings.Replace(stored[0].Body, `"approve_each"`, `"auto"`, 1)
			if tampered == stored[0].Body {
				t.Fatal("the stored set has no approve_each to tamper with")
			}
			setStored := func(set, hash string) {
				t.Helper()
				if err := st.ExecSQL(ctx, `UPDATE missions SET effective_authority_set = ?, effective_authority_hash = ? WHERE s256 = ?`, set, hash, q.S256); err != nil {
					t.Fatal(err)
				}
			}

			// The set changed behind the cached key (the stored hash kept):
			// refused, not decided on the cached original nor the tampered set.
			setStored(tampered, stored[0].Anchor)
			for range 2 {
				if d := decide(); d.Outcome != authority.Deny || d.Reason != "integrity_failure" || d.Status != 500 {
					t.Fatalf("tampered set: %s %d %s, want a 500 integrity_failure", d.Outcome, d.Status, d.Reason)
				}
			}
			// The original bytes back: decided again (the cache never held
			// the tampered set).
			setStored(stored[0].Body, stored[0].Anchor)
			if d := decide(); d.Outcome != authority.Defer {
				t.Fatalf("restored set: %s %s", d.Outcome, d.Reason)
			}
			// A set stored with its own hash (as an overlay stores it) is a
			// new key: decided on the new set, not the cached one.
			parsed, err := authority.Parse([]byte(tampered), authority.ParseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			setStored(string(parsed.Canonical), parsed.Hash)
			if d := decide(); d.Outcome != authority.Issue {
				t.Fatalf("re-stored set: %s %s, want an issue (treasury-cash is auto there)", d.Outcome, d.Reason)
			}
		})
	}
}
