package resourcetoken

import (
	"testing"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// TestMatchAbsenceEqualsAbsence: the resource token must name the presented
// token exactly: jti, issuer, sub, and mission_s256 and tenant where an
// absent claim equals only an absent claim, never an empty one (PS-093,
// PS-094, PS-263, PS-264). Every mismatch is invalid_resource_token.
func TestMatchAbsenceEqualsAbsence(t *testing.T) {
	rt := ResourceToken{PS: "https://ps.test", Sub: "s", PresentedJTI: "j", MissionS256: Claim{Value: "m", Present: true}}
	pt := Presented{Iss: "https://ps.test", Sub: "s", JTI: "j", MissionS256: Claim{Value: "m", Present: true}}
	if err := Match(&rt, &pt); err != nil {
		t.Fatalf("the matching pair: %v", err)
	}
	for name, edit := range map[string]func(r *ResourceToken){
		"PS-263 jti":                       func(r *ResourceToken) { r.PresentedJTI = "other" },
		"PS-264 ps":                        func(r *ResourceToken) { r.PS = "https://other.test" },
		"PS-093 sub":                       func(r *ResourceToken) { r.Sub = "t" },
		"PS-094 mission stripped":          func(r *ResourceToken) { r.MissionS256 = Claim{} },
		"PS-093 mission empty, not absent": func(r *ResourceToken) { r.MissionS256 = Claim{Present: true} },
		"PS-093 tenant empty, not absent":  func(r *ResourceToken) { r.Tenant = Claim{Present: true} },
		"PS-093 tenant added":              func(r *ResourceToken) { r.Tenant = Claim{Value: "acme", Present: true} },
	} {
		r := rt
		edit(&r)
		err := Match(&r, &pt)
		if p, ok := aauth.AsProblem(err); !ok || p.Status != 400 || p.Code != aauth.ErrInvalidResourceToken {
			t.Errorf("%s: %v, want 400 invalid_resource_token", name, err)
		}
	}
}
