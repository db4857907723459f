package tokens

import (
	"reflect"
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/account"
)

// TestGrantableScopes: PS-111, A-32 (c)/(d). Supported identity scopes
// and the resource's described scopes stay; unsupported OpenID identity
// scopes go; an undescribed scope goes when the resource describes its
// scopes and stays (verbatim) when it describes none.
func TestGrantableScopes(t *testing.T) {
	described := map[string]any{"calendar.read": "Read"}
	for _, c := range []struct {
		scope     []string
		described map[string]any
		want      []string
	}{
		{[]string{"openid", "weird", "calendar.read"}, described, []string{"openid", "calendar.read"}},
		{[]string{"profile", "phone", "address", "offline_access", "email"}, described, []string{"profile", "email"}},
		{[]string{"openid", "weird", "calendar.read", "phone"}, nil, []string{"openid", "weird", "calendar.read"}},
		{[]string{"weird"}, described, nil},
	} {
		if got := GrantableScopes(c.scope, c.described); !reflect.DeepEqual(got, c.want) {
			t.Errorf("GrantableScopes(%v) = %v, want %v", c.scope, got, c.want)
		}
	}
}

// TestIdentityClaims: PS-110. Each claim only with its scope and a value;
// every released claim is in IdentityClaimsSupported; tenant never comes
// from a scope (PS-108).
func TestIdentityClaims(t *testing.T) {
	p := &account.Person{Name: "Alice", Email: "a@example.com", EmailVerified: true, Tenant: "acme", Groups: []string{"g"}, Roles: []string{}}
	all := IdentityClaims([]string{"openid", "profile", "email", "tenant", "groups", "roles"}, p)
	want := map[string]any{"name": "Alice", "email": "a@example.com", "email_verified": true, "groups": []string{"g"}}
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("claims %v, want %v", all, want)
	}
	for k := range all {
		found := false
		for _, s := range IdentityClaimsSupported {
			found = found || s == k
		}
		if !found {
			t.Errorf("%s is released but not in claims_supported", k)
		}
	}
	if got := IdentityClaims([]string{"openid", "calendar.read"}, p); len(got) != 0 {
		t.Fatalf("claims without identity scopes: %v", got)
	}
	if got := IdentityClaims([]string{"email", "profile"}, &account.Person{}); len(got) != 0 {
		t.Fatalf("claims for a person without values: %v", got)
	}
}
