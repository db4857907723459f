package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/apitoken"
)

// bearer serves a mission-control request that carries
// Authorization: Bearer <API token> (issue 14). The token acts as its
// person within its scope: read is GET only, mission-control may also
// change missions, admin also carries the person's administrator rights.
// No CSRF token is asked: a bearer token is not sent by browsers on their
// own, so a forged cross-site request cannot carry it.
func (u *UI) bearer(c *gin.Context, f pageFunc) {
	invalid := func(desc string) {
		c.Header("WWW-Authenticate", `Bearer error="invalid_token"`)
		u.problem(c, aauth.NewProblem(http.StatusUnauthorized, aauth.ErrInvalidToken, desc))
	}
	scheme, secret, ok := strings.Cut(c.GetHeader("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || u.opt.APITokens == nil {
		invalid("send an API token as Authorization: Bearer")
		return
	}
	tok, err := u.opt.APITokens.Authenticate(ctx(c), strings.TrimSpace(secret))
	if errors.Is(err, apitoken.ErrInvalid) {
		invalid("the API token is not valid (unknown, revoked or expired)")
		return
	}
	if err != nil {
		u.problem(c, err)
		return
	}
	p, err := u.opt.Accounts.Person(ctx(c), tok.PersonID)
	if err != nil || p.Disabled {
		invalid("the API token is not valid (unknown, revoked or expired)")
		return
	}
	if c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead && !tok.Scope.AllowsChanges() {
		c.Header("WWW-Authenticate", `Bearer error="insufficient_scope", scope="mission-control"`)
		u.problem(c, aauth.NewProblem(http.StatusForbidden, aauth.ErrInsufficientScope, "this API token may only read"))
		return
	}
	acting := *p
	acting.IsAdmin = p.IsAdmin && tok.Scope.AllowsAdmin()
	if err := f(c, &session{person: &acting, apiToken: tok.ID}); err != nil {
		u.problem(c, apiProblem(err))
	}
}
