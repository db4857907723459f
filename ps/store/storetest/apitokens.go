package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/apitoken"
	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/store"
)

// runAPITokens checks the API tokens aggregate (issue 14, migration
// 00016): insert, lookup by hash, list newest first, revoke once, touch,
// count live ones; a duplicate hash is a conflict.
func runAPITokens(t *testing.T, open func(t *testing.T) *store.Store) {
	ctx := context.Background()
	st := open(t)
	SeedPersons(t, st, "p1")
	at := time.Unix(1_800_000_000, 0).UTC()
	mk := func(id, hash string, created time.Time) apitoken.Record {
		return apitoken.Record{Hash: hash, Token: apitoken.Token{ID: id, Name: "ci " + id, PersonID: "p1", Scope: apitoken.ScopeRead,
			CreatedAt: created, ExpiresAt: created.Add(time.Hour)}}
	}
	for _, r := range []apitoken.Record{mk("t1", "h1", at), mk("t2", "h2", at.Add(time.Second))} {
		if err := st.InsertAPIToken(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.InsertAPIToken(ctx, mk("t3", "h1", at)); !errors.Is(err, dberr.ErrConflict) {
		t.Fatalf("duplicate hash: %v, want a conflict", err)
	}
	got, err := st.APITokenByHash(ctx, "h1")
	if err != nil || got.ID != "t1" || got.Name != "ci t1" || got.Scope != apitoken.ScopeRead || !got.ExpiresAt.Equal(at.Add(time.Hour)) ||
		got.RevokedAt != nil || got.LastUsedAt != nil {
		t.Fatalf("by hash: %+v %v", got, err)
	}
	if _, err := st.APITokenByHash(ctx, "nope"); !errors.Is(err, dberr.ErrNotFound) {
		t.Fatalf("unknown hash: %v", err)
	}
	if err := st.TouchAPIToken(ctx, "t1", at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.APITokenByHash(ctx, "h1"); got.LastUsedAt == nil || !got.LastUsedAt.Equal(at.Add(time.Minute)) {
		t.Fatalf("last used: %+v", got.LastUsedAt)
	}
	if n, err := st.CountLiveAPITokens(ctx, at); err != nil || n != 2 {
		t.Fatalf("live: %d %v", n, err)
	}
	if ok, err := st.RevokeAPIToken(ctx, "t1", at.Add(2*time.Minute)); err != nil || !ok {
		t.Fatalf("revoke: %v %v", ok, err)
	}
	if ok, err := st.RevokeAPIToken(ctx, "t1", at.Add(3*time.Minute)); err != nil || ok {
		t.Fatalf("revoke twice: %v %v", ok, err)
	}
	if n, _ := st.CountLiveAPITokens(ctx, at); n != 1 {
		t.Fatalf("live after revoke: %d", n)
	}
	if n, _ := st.CountLiveAPITokens(ctx, at.Add(2*time.Hour)); n != 0 {
		t.Fatalf("live after expiry: %d", n)
	}
	list, err := st.APITokens(ctx, 10)
	if err != nil || len(list) != 2 || list[0].ID != "t2" || list[1].RevokedAt == nil || !list[1].RevokedAt.Equal(at.Add(2*time.Minute)) {
		t.Fatalf("list: %+v %v", list, err)
	}
}
