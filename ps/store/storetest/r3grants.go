package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

// runR3Grants checks remembered R3 grants (R3 -02, PS-245): stored per
// person, agent, resource and r3_s256, replaced on a second choice, listed
// with the other grants, touched, removed only by their person, and
// bounded per agent and resource.
func runR3Grants(t *testing.T, open func(t *testing.T) *store.Store) {
	ctx := context.Background()
	st := open(t)
	SeedPersons(t, st, "p1", "p2")
	at := time.Unix(1_800_000_000, 0).UTC()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	key := tokens.GrantKey{Kind: tokens.GrantR3, AgentIss: "https://ap.example", AgentSub: "aauth:a@ap.example",
		Resource: "https://rs.example", R3S256: "hash-1"}
	if _, err := st.R3Grant(ctx, "p1", key); !errors.Is(err, dberr.ErrNotFound) {
		t.Fatalf("no grant yet: %v", err)
	}
	g := tokens.R3Remembered{URI: "https://rs.example/r3/1", S256: "hash-1", Vocabulary: "urn:aauth:vocabulary:mcp",
		Summary: "Calendar", Granted: []byte(`[{"tool":"a"}]`), PerCall: []byte(`[{"tool":"b"}]`)}
	must(st.GrantR3(ctx, "p1", key, g, at))
	got, err := st.R3Grant(ctx, "p1", key)
	if err != nil || string(got.Granted) != `[{"tool":"a"}]` || string(got.PerCall) != `[{"tool":"b"}]` || got.URI != g.URI || got.Summary != "Calendar" {
		t.Fatalf("R3Grant = %+v, %v", got, err)
	}
	if _, err := st.R3Grant(ctx, "p2", key); !errors.Is(err, dberr.ErrNotFound) {
		t.Fatalf("another person's grant was read: %v", err)
	}
	g.Granted, g.PerCall = []byte(`[]`), nil
	must(st.GrantR3(ctx, "p1", key, g, at.Add(time.Minute)))
	if got, _ = st.R3Grant(ctx, "p1", key); string(got.Granted) != `[]` || string(got.PerCall) != `[]` {
		t.Fatalf("the second choice did not replace the first: %+v", got)
	}
	must(st.TouchGrant(ctx, "p1", key, at.Add(5*time.Minute)))
	list, err := st.Grants(ctx, "p1")
	if err != nil || len(list) != 1 || list[0].GrantKey != key || list[0].R3 == nil || !list[0].LastUsed.Equal(at.Add(5*time.Minute)) {
		t.Fatalf("Grants = %+v, %v", list, err)
	}
	if err := st.RemoveGrant(ctx, "p2", key); !errors.Is(err, dberr.ErrNotFound) {
		t.Fatalf("removing another person's R3 grant: %v", err)
	}
	must(st.RemoveGrant(ctx, "p1", key))
	if _, err := st.R3Grant(ctx, "p1", key); !errors.Is(err, dberr.ErrNotFound) {
		t.Fatalf("removed grant still read: %v", err)
	}
	// Bounded: the oldest go first.
	for i := range tokens.MaxR3GrantsPerResource + 3 {
		k := key
		k.R3S256 = fmt.Sprintf("doc-%03d", i)
		must(st.GrantR3(ctx, "p1", k, g, at.Add(time.Duration(i)*time.Second)))
	}
	list, _ = st.Grants(ctx, "p1")
	if len(list) != tokens.MaxR3GrantsPerResource {
		t.Fatalf("%d R3 grants kept, bound %d", len(list), tokens.MaxR3GrantsPerResource)
	}
	oldest := key
	oldest.R3S256 = "doc-000"
	if _, err := st.R3Grant(ctx, "p1", oldest); !errors.Is(err, dberr.ErrNotFound) {
		t.Fatal("the oldest R3 grant was kept beyond the bound")
	}
}
