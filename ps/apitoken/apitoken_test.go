package apitoken_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/apitoken"
	"github.com/aauth-ps/aauth-ps/ps/store/storetest"
)

// TestLifecycle (issue 14): a token authenticates until it expires or is
// revoked, then gets the one ErrInvalid answer; last use is recorded;
// creation refuses bad scopes, lifetimes and names and writes nothing;
// the number of live tokens is bounded. The clock is injected, so nothing
// here waits. Both databases.
func TestLifecycle(t *testing.T) {
	storetest.EachURL(t, func(t *testing.T, db string) {
		st := storetest.OpenURL(t, db, true)
		storetest.SeedPersons(t, st, "p1")
		now := time.Unix(1_900_000_000, 0).UTC()
		svc := apitoken.New(st, func() time.Time { return now })
		ctx := t.Context()

		secret, tok, err := svc.Create(ctx, "p1", "ci", apitoken.ScopeMissionControl, time.Hour)
		if err != nil || !strings.HasPrefix(secret, apitoken.Prefix) || !tok.ExpiresAt.Equal(now.Add(time.Hour)) {
			t.Fatalf("create: %q %+v %v", secret, tok, err)
		}
		got, err := svc.Authenticate(ctx, secret)
		if err != nil || got.ID != tok.ID || got.LastUsedAt == nil || !got.LastUsedAt.Equal(now) {
			t.Fatalf("authenticate: %+v %v", got, err)
		}
		for _, bad := range []string{"", secret + "x", strings.TrimPrefix(secret, apitoken.Prefix), apitoken.Prefix + strings.Repeat("a", 300)} {
			if _, err := svc.Authenticate(ctx, bad); !errors.Is(err, apitoken.ErrInvalid) {
				t.Errorf("%q: %v, want ErrInvalid", bad, err)
			}
		}
		now = now.Add(time.Hour)
		if _, err := svc.Authenticate(ctx, secret); !errors.Is(err, apitoken.ErrInvalid) {
			t.Fatalf("expired: %v, want ErrInvalid", err)
		}

		secret2, tok2, err := svc.Create(ctx, "p1", "ci 2", apitoken.ScopeRead, 0)
		if err != nil || !tok2.ExpiresAt.Equal(now.Add(apitoken.DefaultLifetime)) {
			t.Fatalf("default lifetime: %+v %v", tok2, err)
		}
		if err := svc.Revoke(ctx, tok2.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Authenticate(ctx, secret2); !errors.Is(err, apitoken.ErrInvalid) {
			t.Fatalf("revoked: %v, want ErrInvalid", err)
		}
		if err := svc.Revoke(ctx, tok2.ID); !errors.Is(err, apitoken.ErrNotFound) {
			t.Fatalf("revoke twice: %v", err)
		}

		for _, tc := range []struct {
			name     string
			scope    apitoken.Scope
			lifetime time.Duration
			want     error
		}{
			{"ci", "write", time.Hour, apitoken.ErrBadScope},
			{"ci", apitoken.ScopeRead, apitoken.MaxLifetime + time.Hour, apitoken.ErrBadLifetime},
			{"ci", apitoken.ScopeRead, time.Second, apitoken.ErrBadLifetime},
			{"", apitoken.ScopeRead, time.Hour, apitoken.ErrBadName},
			{"a\nb", apitoken.ScopeRead, time.Hour, apitoken.ErrBadName},
			{strings.Repeat("n", apitoken.MaxNameLength+1), apitoken.ScopeRead, time.Hour, apitoken.ErrBadName},
		} {
			if _, _, err := svc.Create(ctx, "p1", tc.name, tc.scope, tc.lifetime); !errors.Is(err, tc.want) {
				t.Errorf("create %q %q %s: %v, want %v", tc.name, tc.scope, tc.lifetime, err, tc.want)
			}
		}
		if n := storetest.CountRows(t, st, "api_tokens"); n != 2 {
			t.Fatalf("refused creations wrote rows: %d", n)
		}

		for i := 0; i < apitoken.MaxLive; i++ {
			if _, _, err := svc.Create(ctx, "p1", "bulk", apitoken.ScopeRead, time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := svc.Create(ctx, "p1", "one too many", apitoken.ScopeRead, time.Hour); !errors.Is(err, apitoken.ErrTooMany) {
			t.Fatalf("beyond MaxLive: %v", err)
		}
	})
}
