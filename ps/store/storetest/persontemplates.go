package storetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// runPersonTemplates checks the person's standing approvals (issue 10,
// migration 00023): create, list (all, or one agent's), the per-person
// bound even under concurrent creates, and removal scoped to the owner.
func runPersonTemplates(t *testing.T, open func(t *testing.T) *store.Store) {
	ctx := context.Background()
	st := open(t)
	SeedPersons(t, st, "p1", "p2")
	at := time.Unix(1_800_000_000, 0).UTC()
	tmpl := func(person, sub string, i int) *store.PersonTemplate {
		return &store.PersonTemplate{PersonID: person, AgentIss: "https://ap.test", AgentSub: sub,
			Resources: []string{"https://rs.test"}, Tools: nil, AuthoritySet: []byte(`{"object":"x"}`),
			AuthorityHash: "h", CreatedAt: at.Add(time.Duration(i) * time.Second)}
	}
	a := tmpl("p1", "a1", 0)
	if err := st.CreatePersonTemplate(ctx, a); err != nil || a.ID == "" {
		t.Fatalf("create: %v %q", err, a.ID)
	}
	b := tmpl("p1", "a2", 1)
	if err := st.CreatePersonTemplate(ctx, b); err != nil {
		t.Fatal(err)
	}
	all, err := st.PersonTemplates(ctx, "p1", "", "")
	if err != nil || len(all) != 2 || all[0].ID != b.ID || all[1].ID != a.ID {
		t.Fatalf("list: %+v %v", all, err)
	}
	got := all[1]
	if got.AgentIss != "https://ap.test" || got.AgentSub != "a1" || !slices.Equal(got.Resources, []string{"https://rs.test"}) ||
		got.Tools == nil || len(got.Tools) != 0 || string(got.AuthoritySet) != `{"object":"x"}` || got.AuthorityHash != "h" || !got.CreatedAt.Equal(at) {
		t.Fatalf("stored: %+v", got)
	}
	one, err := st.PersonTemplates(ctx, "p1", "https://ap.test", "a1")
	if err != nil || len(one) != 1 || one[0].ID != a.ID {
		t.Fatalf("one agent's: %+v %v", one, err)
	}
	if other, err := st.PersonTemplates(ctx, "p2", "", ""); err != nil || len(other) != 0 {
		t.Fatalf("another person's: %+v %v", other, err)
	}
	// Removal is scoped to the owner: p2 cannot remove p1's.
	if err := st.DeletePersonTemplate(ctx, "p2", a.ID); !errors.Is(err, dberr.ErrNotFound) {
		t.Fatalf("removing another person's: %v", err)
	}
	if err := st.DeletePersonTemplate(ctx, "p1", a.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.DeletePersonTemplate(ctx, "p1", a.ID); !errors.Is(err, dberr.ErrNotFound) {
		t.Fatalf("removing twice: %v", err)
	}

	// The bound holds under concurrent creates in transactions.
	var wg sync.WaitGroup
	errs := make(chan error, store.MaxPersonTemplates+5)
	for i := range store.MaxPersonTemplates + 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- st.InTx(ctx, func(tx *store.Store) error { return tx.CreatePersonTemplate(ctx, tmpl("p2", "a1", i)) })
		}()
	}
	wg.Wait()
	close(errs)
	refused := 0
	for err := range errs {
		switch {
		case errors.Is(err, store.ErrTooManyTemplates):
			refused++
		case err != nil:
			t.Fatalf("concurrent create: %v", err)
		}
	}
	if n := CountWhere(t, st, "person_mission_templates", "person_id = 'p2'"); n != store.MaxPersonTemplates || refused != 5 {
		t.Fatalf("bound: %d stored, %d refused", n, refused)
	}
}
