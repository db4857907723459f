package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// runStandingAnswers checks the missions' standing answers to access
// servers (issue 11, migration 00034): found only by the exact (mission,
// AS, question hash); a second answer to the same question replaces the
// first; at most store.MaxStandingAnswers per mission, refused beyond
// with nothing written; forgetting is scoped to the mission; deleted with
// the mission.
func runStandingAnswers(t *testing.T, open func(t *testing.T) *store.Store) {
	ctx := context.Background()
	st := open(t)
	SeedPersons(t, st, "p1")
	at := time.UnixMilli(1_800_000_000_123).UTC()
	newMission := func(sub string, approvedAt time.Time) string {
		a := mission.Approval{AgentIss: "https://ap.example", AgentSub: sub, PersonID: "p1", Description: "# Trip",
			Resources: []string{"https://rs.example"}, Capabilities: []string{"interaction"}}
		m, err := a.Mint("https://ps.example", approvedAt, func(r *mission.Record) error { return st.CreateMission(ctx, r) })
		if err != nil {
			t.Fatal(err)
		}
		return m.S256
	}
	m1, m2 := newMission("aauth:A@ap.example", at), newMission("aauth:B@ap.example", at.Add(time.Millisecond))
	put := func(s256, as, q, answer string) (*store.StandingAnswer, error) {
		a := &store.StandingAnswer{MissionS256: s256, AccessServer: as, QuestionS256: "h-" + q, Question: q, Answer: answer,
			CreatedBy: "p1", CreatedAt: at.Truncate(time.Second)}
		return a, st.PutStandingAnswer(ctx, a)
	}
	a, err := put(m1, "https://as.example", "Which calendar?", "Work.")
	if err != nil || a.ID == "" {
		t.Fatalf("put: %v %q", err, a.ID)
	}
	got, err := st.FindStandingAnswer(ctx, m1, "https://as.example", "h-Which calendar?")
	if err != nil || got.ID != a.ID || got.Answer != "Work." || got.Question != "Which calendar?" || got.CreatedBy != "p1" ||
		!got.CreatedAt.Equal(at.Truncate(time.Second)) {
		t.Fatalf("find: %+v %v", got, err)
	}
	for _, miss := range [][3]string{{m2, "https://as.example", "h-Which calendar?"}, {m1, "https://as2.example", "h-Which calendar?"},
		{m1, "https://as.example", "h-Which calendar? "}} {
		if _, err := st.FindStandingAnswer(ctx, miss[0], miss[1], miss[2]); !errors.Is(err, dberr.ErrNotFound) {
			t.Fatalf("find %v: %v, want not found", miss, err)
		}
	}
	// The same question again: replaced, still one.
	b, err := put(m1, "https://as.example", "Which calendar?", "Home.")
	if err != nil {
		t.Fatal(err)
	}
	if all, err := st.StandingAnswers(ctx, m1); err != nil || len(all) != 1 || all[0].ID != b.ID || all[0].Answer != "Home." {
		t.Fatalf("after replacing: %+v %v", all, err)
	}
	// The bound: MaxStandingAnswers per mission, the replacement of one
	// already kept still allowed.
	for i := 1; i < store.MaxStandingAnswers; i++ {
		if _, err := put(m1, "https://as.example", fmt.Sprintf("q%d", i), "a"); err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
	}
	if _, err := put(m1, "https://as.example", "one too many", "a"); !errors.Is(err, store.ErrTooManyStandingAnswers) {
		t.Fatalf("past the bound: %v", err)
	}
	if _, err := put(m1, "https://as.example", "q1", "again"); err != nil {
		t.Fatalf("replacing at the bound: %v", err)
	}
	if _, err := put(m2, "https://as.example", "one too many", "a"); err != nil {
		t.Fatalf("another mission's first answer: %v", err)
	}
	if all, err := st.StandingAnswers(ctx, m1); err != nil || len(all) != store.MaxStandingAnswers {
		t.Fatalf("at the bound: %d %v", len(all), err)
	}
	// Forget: scoped to the mission.
	if _, err := st.DeleteStandingAnswer(ctx, m2, b.ID); !errors.Is(err, dberr.ErrNotFound) {
		t.Fatalf("forgetting through another mission: %v", err)
	}
	gone, err := st.DeleteStandingAnswer(ctx, m1, b.ID)
	if err != nil || gone.Answer != "Home." {
		t.Fatalf("forget: %+v %v", gone, err)
	}
	if _, err := st.FindStandingAnswer(ctx, m1, "https://as.example", "h-Which calendar?"); !errors.Is(err, dberr.ErrNotFound) {
		t.Fatalf("found after forgetting: %v", err)
	}
	if _, err := st.DeleteStandingAnswer(ctx, m1, b.ID); !errors.Is(err, dberr.ErrNotFound) {
		t.Fatalf("forgetting twice: %v", err)
	}
}
