package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/federation"
	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// runAccessServers checks the access servers aggregate (issue 11,
// migration 00019): the operator's decision and release rule (upsert,
// list by issuer), billing kept across decisions, claim releases and the
// person's stop, presentations and their purge.
func runAccessServers(t *testing.T, open func(t *testing.T) *store.Store) {
	ctx := context.Background()
	st := open(t)
	SeedPersons(t, st, "p1", "p2")
	at := time.Unix(1_800_000_000, 0).UTC()
	if _, err := st.AccessServer(ctx, "https://as.test"); !errors.Is(err, dberr.ErrNotFound) {
		t.Fatalf("unknown AS: %v", err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.SetAccessServer(ctx, federation.AccessServer{Issuer: "https://b.test", Status: federation.StatusTrusted,
		Claims: []string{"email", "name"}, UpdatedAt: at, UpdatedBy: "op"}))
	must(st.SetAccessServerBilling(ctx, "https://b.test", "alice", at.Add(time.Minute)))
	must(st.SetAccessServer(ctx, federation.AccessServer{Issuer: "https://b.test", Status: federation.StatusDistrusted,
		Claims: []string{"name"}, UpdatedAt: at.Add(2 * time.Minute), UpdatedBy: "op2"}))
	must(st.SetAccessServerBilling(ctx, "https://a.test", "bob", at)) // not known yet: seen
	got, err := st.AccessServer(ctx, "https://b.test")
	if err != nil || got.Status != federation.StatusDistrusted || !slices.Equal(got.Claims, []string{"name"}) ||
		got.BillingAt == nil || !got.BillingAt.Equal(at.Add(time.Minute)) || got.BillingBy != "alice" || got.UpdatedBy != "op2" ||
		!got.UpdatedAt.Equal(at.Add(2*time.Minute)) {
		t.Fatalf("b.test: %+v %v", got, err)
	}
	list, err := st.AccessServers(ctx)
	if err != nil || len(list) != 2 || list[0].Issuer != "https://a.test" || list[0].Status != federation.StatusSeen || list[0].BillingAt == nil {
		t.Fatalf("list: %+v %v", list, err)
	}

	must(st.RecordClaimRelease(ctx, "p1", "https://b.test", "name", at))
	must(st.RecordClaimRelease(ctx, "p1", "https://b.test", "name", at.Add(time.Hour))) // refreshed
	must(st.RecordClaimRelease(ctx, "p1", "https://a.test", "email", at))
	must(st.StopClaimRelease(ctx, "p1", "https://c.test", at)) // a stop without releases
	rel, err := st.ClaimReleases(ctx, "p1")
	if err != nil || len(rel) != 3 || rel[0].AccessServer != "https://a.test" || rel[0].StoppedAt != nil ||
		rel[1].AccessServer != "https://b.test" || !rel[1].ReleasedAt.Equal(at.Add(time.Hour)) ||
		rel[2].AccessServer != "https://c.test" || rel[2].Claim != "" || rel[2].StoppedAt == nil {
		t.Fatalf("releases: %+v %v", rel, err)
	}
	must(st.StopClaimRelease(ctx, "p1", "https://b.test", at.Add(2*time.Hour)))
	must(st.StopClaimRelease(ctx, "p1", "https://b.test", at.Add(3*time.Hour))) // the first stop stands
	rel, _ = st.ClaimReleases(ctx, "p1")
	if rel[1].StoppedAt == nil || !rel[1].StoppedAt.Equal(at.Add(2*time.Hour)) {
		t.Fatalf("stop: %+v", rel[1])
	}
	if ok, err := st.ResumeClaimRelease(ctx, "p2", "https://b.test"); err != nil || ok {
		t.Fatalf("another person's stop resumed: %v %v", ok, err)
	}
	if ok, err := st.ResumeClaimRelease(ctx, "p1", "https://b.test"); err != nil || !ok {
		t.Fatalf("resume: %v %v", ok, err)
	}
	if rel, _ = st.ClaimReleases(ctx, "p1"); rel[1].StoppedAt != nil || rel[2].StoppedAt == nil {
		t.Fatalf("after resume: %+v", rel)
	}
	if ok, err := st.ResumeClaimRelease(ctx, "p1", "https://b.test"); err != nil || ok {
		t.Fatalf("resume twice: %v %v", ok, err)
	}
	must(st.StopClaimRelease(ctx, "p1", "https://b.test", at.Add(2*time.Hour)))
	if rel, err := st.ClaimReleases(ctx, "p2"); err != nil || len(rel) != 0 {
		t.Fatalf("another person's releases: %+v %v", rel, err)
	}

	must(st.RecordPresentation(ctx, "jti-1", "p1", "https://b.test", at))
	must(st.RecordPresentation(ctx, "jti-1", "p1", "https://a.test", at))
	must(st.RecordPresentation(ctx, "jti-1", "p1", "https://a.test", at)) // idempotent
	must(st.RecordPresentation(ctx, "jti-2", "p2", "https://a.test", at.Add(time.Hour)))
	if to, err := st.Presentations(ctx, "jti-1"); err != nil || !slices.Equal(to, []string{"https://a.test", "https://b.test"}) {
		t.Fatalf("presentations: %v %v", to, err)
	}
	if n, err := st.PurgePresentations(ctx, at.Add(time.Minute)); err != nil || n != 2 {
		t.Fatalf("purge: %d %v", n, err)
	}
	if to, _ := st.Presentations(ctx, "jti-2"); !slices.Equal(to, []string{"https://a.test"}) {
		t.Fatalf("a live presentation was purged: %v", to)
	}
}
