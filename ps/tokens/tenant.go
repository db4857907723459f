package tokens

import (
	"net/http"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
)

// CheckTenant applies the `tenant` request parameter of the token
// endpoints (P§ps-token-endpoint, OpenID Connect Enterprise Extensions):
// a tenant the agent names must be the organisation the person belongs
// to, and the token then carries it; a person outside it is refused with
// 400 invalid_request, never issued a token with the tenant silently
// dropped or replaced. An empty requested tenant asks nothing.
func CheckTenant(requested, personTenant string) error {
	if requested == "" || requested == personTenant {
		return nil
	}
	return aauth.NewProblem(http.StatusBadRequest, aauth.ErrInvalidRequest,
		"the person this agent acts for does not belong to the tenant the request names")
}
