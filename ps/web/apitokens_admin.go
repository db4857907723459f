package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/aauth-ps/aauth-ps/ps/apitoken"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/templates"
)

// apiTokenCookie carries a new token's secret to the page after the
// redirect, once (like an invitation link): HttpOnly, Secure, one minute,
// cleared when shown. The PS keeps only its hash.
const apiTokenCookie = "aauth_ps_apitoken"

// apiTokenLifetimes are the lifetimes offered, in days (apitoken bounds
// them: at most MaxLifetime).
var apiTokenLifetimes = []int{7, 30, 90, 366}

const adminAPITokensPath = "/admin/api-tokens"

func (u *UI) registerAPITokens(g gin.IRoutes) {
	g.GET(adminAPITokensPath, u.admin(u.adminAPITokens))
	g.POST(adminAPITokensPath, u.admin(u.adminCreateAPIToken))
	g.POST(adminAPITokensPath+"/:id/revoke", u.admin(u.adminRevokeAPIToken))
}

// adminAPITokens lists every API token (never a secret) and the form to
// make one; a token just made is shown this once.
func (u *UI) adminAPITokens(c *gin.Context, s *session) error {
	if u.opt.APITokens == nil {
		return errNotFound
	}
	v := templates.AdminAPITokensView{Lifetimes: apiTokenLifetimes, DefaultDays: int(apitoken.DefaultLifetime / (24 * time.Hour))}
	if raw, err := c.Cookie(u.cookie(apiTokenCookie)); err == nil {
		u.setCookie(c, apiTokenCookie, "", -1)
		if i := strings.LastIndexByte(raw, '|'); i > 0 && strings.HasPrefix(raw[i+1:], apitoken.Prefix) {
			name, _ := url.QueryUnescape(raw[:i])
			v.Secret, v.SecretFor = raw[i+1:], name
		}
	}
	persons, err := u.opt.Accounts.ListPersons(ctx(c))
	if err != nil {
		return err
	}
	usernames := map[string]string{}
	for _, p := range persons {
		usernames[p.ID] = p.Username
		if !p.Disabled {
			v.Persons = append(v.Persons, templates.PersonChoice{ID: p.ID, Username: p.Username, IsAdmin: p.IsAdmin, Selected: p.ID == s.person.ID})
		}
	}
	tokens, err := u.opt.APITokens.List(ctx(c))
	if err != nil {
		return err
	}
	now := u.now()
	for _, t := range tokens {
		item := templates.APITokenItem{ID: t.ID, Name: t.Name, Username: usernames[t.PersonID], Scope: string(t.Scope),
			State: "live", Created: t.CreatedAt, Expires: t.ExpiresAt}
		switch {
		case t.RevokedAt != nil:
			item.State = "revoked"
		case !t.Live(now):
			item.State = "expired"
		}
		if t.LastUsedAt != nil {
			item.LastUsed = *t.LastUsedAt
		}
		v.Tokens = append(v.Tokens, item)
	}
	u.render(c, http.StatusOK, templates.AdminAPITokensPage(u.pageFor(c, s, "API tokens"), v))
	return nil
}

// adminCreateAPIToken makes a token through ps/apitoken, as the command
// line does, and redirects to the page that shows its secret once.
func (u *UI) adminCreateAPIToken(c *gin.Context, s *session) error {
	if u.opt.APITokens == nil {
		return errNotFound
	}
	refuse := func(msg string) error {
		u.redirectRefusal(c, adminAPITokensPath, msg)
		return nil
	}
	p, err := u.opt.Accounts.Person(ctx(c), c.PostForm("person"))
	if err != nil || p.Disabled {
		return refuse("Choose a person with an enabled account for the token to act as.")
	}
	scope, err := apitoken.ParseScope(c.PostForm("scope"))
	if err != nil {
		return refuse("Choose a scope: read, mission-control or admin.")
	}
	if scope.AllowsAdmin() && !p.IsAdmin {
		return refuse("An admin-scoped token must act as an administrator; " + p.Username + " is not one.")
	}
	days, err := strconv.Atoi(c.PostForm("days"))
	if err != nil || days < 1 {
		return refuse("Choose how long the token lasts.")
	}
	rec := u.auditChange(s, true, "api-token.create", "", "api token created", map[string]any{"for": p.ID, "scope": string(scope)})
	var secret string
	var tok *apitoken.Token
	err = u.audited(c, &rec, func(tx *store.Store) error {
		var err error
		secret, tok, err = u.opt.APITokens.WithStore(tx).Create(ctx(c), p.ID, c.PostForm("name"), scope, time.Duration(days)*24*time.Hour)
		if err == nil {
			rec.Target, rec.Detail["id"], rec.Detail["expires"] = "api-token:"+tok.ID, tok.ID, tok.ExpiresAt.UTC()
		}
		return err
	})
	switch {
	case errors.Is(err, apitoken.ErrBadName):
		return refuse("Give the token a name of 1 to 100 printable characters.")
	case errors.Is(err, apitoken.ErrBadLifetime):
		return refuse("A token lasts at most a year.")
	case errors.Is(err, apitoken.ErrTooMany):
		return refuse("There are too many live API tokens: revoke one first.")
	case err != nil:
		return err
	}
	u.setCookie(c, apiTokenCookie, url.QueryEscape(tok.Name)+"|"+secret, 60)
	u.redirectFlash(c, adminAPITokensPath, "API token made.")
	return nil
}

// adminRevokeAPIToken makes a token unusable at once.
func (u *UI) adminRevokeAPIToken(c *gin.Context, s *session) error {
	if u.opt.APITokens == nil {
		return errNotFound
	}
	id := c.Param("id")
	rec := u.auditChange(s, true, "api-token.revoke", "api-token:"+id, "api token revoked", map[string]any{"id": id})
	err := u.audited(c, &rec, func(tx *store.Store) error { return u.opt.APITokens.WithStore(tx).Revoke(ctx(c), id) })
	if errors.Is(err, apitoken.ErrNotFound) {
		u.redirectRefusal(c, adminAPITokensPath, "That API token is already revoked or does not exist.")
		return nil
	}
	if err != nil {
		return err
	}
	u.redirectFlash(c, adminAPITokensPath, "API token revoked: it no longer works.")
	return nil
}
