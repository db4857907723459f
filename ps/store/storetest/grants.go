package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
)

// runGrants checks the standing grants a person sees and removes (issue 9
// item 5): consents (PS-070) and scope grants listed per person, scope
// grants folded per agent × resource, their last use, removal only of the
// person's own.
func runGrants(t *testing.T, open func(t *testing.T) *store.Store) {
	ctx := context.Background()
	st := open(t)
	SeedPersons(t, st, "p1", "p2")
	at := time.Unix(1_800_000_000, 0).UTC()
	const iss, sub, rs = "https://ap.example", "aauth:a@ap.example", "https://rs.example"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.GrantConsent(ctx, "p1", iss, sub, rs, at))
	must(st.GrantScopes(ctx, "p1", iss, sub, rs, []string{"write", "read"}, at.Add(time.Minute)))
	must(st.GrantScopes(ctx, "p1", iss, sub, rs, []string{"admin"}, at.Add(2*time.Minute)))
	must(st.GrantConsent(ctx, "p2", iss, sub, rs, at))

	consent := tokens.GrantKey{Kind: tokens.GrantConsent, AgentIss: iss, AgentSub: sub, Resource: rs}
	scopes := tokens.GrantKey{Kind: tokens.GrantScopes, AgentIss: iss, AgentSub: sub, Resource: rs}
	got, err := st.Grants(ctx, "p1")
	must(err)
	want := []tokens.Grant{
		{GrantKey: scopes, Scopes: []string{"admin", "read", "write"}, GrantedAt: at.Add(time.Minute)},
		{GrantKey: consent, GrantedAt: at},
	}
	if !slices.EqualFunc(got, want, func(a, b tokens.Grant) bool {
		return a.GrantKey == b.GrantKey && slices.Equal(a.Scopes, b.Scopes) && a.GrantedAt.Equal(b.GrantedAt)
	}) {
		t.Fatalf("grants of p1 = %+v, want %+v", got, want)
	}

	// Last use (issue 9 item 5): none until an issuance touches the grant;
	// a scope grant's last use is its latest scope row's; touching a grant
	// that does not exist changes nothing.
	for _, g := range got {
		if !g.LastUsed.IsZero() {
			t.Fatalf("a grant never used has a last use: %+v", g)
		}
	}
	must(st.TouchGrant(ctx, "p1", consent, at.Add(5*time.Minute)))
	must(st.TouchGrant(ctx, "p1", scopes, at.Add(6*time.Minute)))
	must(st.TouchGrant(ctx, "p3", consent, at.Add(7*time.Minute)))
	must(st.TouchGrant(ctx, "p1", tokens.GrantKey{Kind: "other", AgentIss: iss, AgentSub: sub, Resource: rs}, at.Add(7*time.Minute)))
	got, err = st.Grants(ctx, "p1")
	must(err)
	if len(got) != 2 || !got[0].LastUsed.Equal(at.Add(6*time.Minute)) || !got[1].LastUsed.Equal(at.Add(5*time.Minute)) {
		t.Fatalf("grants of p1 after use = %+v", got)
	}
	if theirs, _ := st.Grants(ctx, "p2"); len(theirs) != 1 || !theirs[0].LastUsed.IsZero() {
		t.Fatalf("p1's use touched p2's grant: %+v", theirs)
	}
	// Issue 12: a use within the minute after the recorded one is not
	// written (no row version per issuance); a later one, or a clock that
	// went back, is.
	for _, c := range []struct{ touch, want time.Duration }{
		{5*time.Minute + 59*time.Second, 5 * time.Minute},
		{6 * time.Minute, 6 * time.Minute},
		{2 * time.Minute, 2 * time.Minute},
	} {
		must(st.TouchGrant(ctx, "p1", consent, at.Add(c.touch)))
		got, err = st.Grants(ctx, "p1")
		must(err)
		if !got[1].LastUsed.Equal(at.Add(c.want)) {
			t.Fatalf("touched at +%s: last use %s, want +%s", c.touch, got[1].LastUsed, c.want)
		}
	}

	// Another person's id cannot remove p1's grants: p3 has none, and p2's
	// removal of the consent key removes p2's own only.
	if err := st.RemoveGrant(ctx, "p3", consent); !errors.Is(err, dberr.ErrNotFound) {
		t.Fatalf("removing a grant the person does not have = %v, want not found", err)
	}
	if err := st.RemoveGrant(ctx, "p1", tokens.GrantKey{Kind: "other", AgentIss: iss, AgentSub: sub, Resource: rs}); !errors.Is(err, dberr.ErrNotFound) {
		t.Fatalf("removing an unknown kind = %v, want not found", err)
	}
	must(st.RemoveGrant(ctx, "p2", consent))
	if ok, _ := st.HasConsent(ctx, "p1", iss, sub, rs); !ok {
		t.Fatal("p2's removal removed p1's consent")
	}

	must(st.RemoveGrant(ctx, "p1", scopes))
	if s, _ := st.GrantedScopes(ctx, "p1", iss, sub, rs); len(s) != 0 {
		t.Fatalf("scopes after removal = %v", s)
	}
	if ok, _ := st.HasConsent(ctx, "p1", iss, sub, rs); !ok {
		t.Fatal("removing the scope grant removed the consent")
	}
	must(st.RemoveGrant(ctx, "p1", consent))
	if ok, _ := st.HasConsent(ctx, "p1", iss, sub, rs); ok {
		t.Fatal("the consent survived its removal")
	}
	if err := st.RemoveGrant(ctx, "p1", consent); !errors.Is(err, dberr.ErrNotFound) {
		t.Fatalf("removing twice = %v, want not found", err)
	}
	if g, err := st.Grants(ctx, "p1"); len(g) != 0 || err != nil {
		t.Fatalf("grants after removal = %+v, %v", g, err)
	}
}
