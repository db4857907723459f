package tokens

import (
	"slices"

	"github.com/aauth-ps/aauth-ps/ps/account"
)

// The identity this PS can assert about a person, advertised as
// scopes_supported and claims_supported: sub is always present (directed
// per resource); the rest only with the matching scope granted, and only
// when the person has a value.
var (
	IdentityScopesSupported = []string{"openid", "profile", "email", "tenant", "groups", "roles"}
	IdentityClaimsSupported = []string{"sub", "name", "email", "email_verified", "tenant", "groups", "roles"}
)

// oidcIdentityScopes are identity scopes OpenID Connect defines that this
// PS does not support: a request for one is narrowed, not refused.
var oidcIdentityScopes = []string{"phone", "address", "offline_access"}

// GrantableScopes narrows a resource token's scope (PS-111, A-32 (c):
// "either party may narrow"): supported identity scopes and the
// resource's own scopes are kept; an identity scope this PS does not
// support is dropped. A scope is the resource's when its metadata
// describes it (scope_descriptions); when the resource describes none,
// every scope that is not an OpenID identity scope counts as the
// resource's, shown verbatim (A-32 (d)).
func GrantableScopes(scope []string, described map[string]any) []string {
	var out []string
	for _, s := range scope {
		_, isResources := described[s]
		switch {
		case slices.Contains(IdentityScopesSupported, s), isResources:
		case slices.Contains(oidcIdentityScopes, s), len(described) > 0:
			continue // an identity scope this PS cannot grant
		}
		out = append(out, s)
	}
	return out
}

// IdentityClaims are the identity claims an auth token with scope carries
// for person p (PS-110): name with profile, email and email_verified with
// email, groups and roles with their scopes; each listed in
// IdentityClaimsSupported. tenant is not here: an auth token carries the
// resource token's tenant exactly (PS-108), which the flow has checked is
// the person's.
func IdentityClaims(scope []string, p *account.Person) map[string]any {
	out := map[string]any{}
	has := func(s string) bool { return slices.Contains(scope, s) }
	if has("profile") && p.Name != "" {
		out["name"] = p.Name
	}
	if has("email") && p.Email != "" {
		out["email"], out["email_verified"] = p.Email, p.EmailVerified
	}
	if has("groups") && len(p.Groups) > 0 {
		out["groups"] = slices.Clone(p.Groups)
	}
	if has("roles") && len(p.Roles) > 0 {
		out["roles"] = slices.Clone(p.Roles)
	}
	return out
}
