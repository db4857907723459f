package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/templates"
)

// Re-authentication: adding or removing a passkey, or setting a password
// on an account without one, needs the person to have proved a credential
// within account.ReauthWindow (docs/decisions.md, "Credential changes need
// a recent proof"). A session cookie alone is not that proof.

var errReauthRequired = aauth.NewProblem(http.StatusForbidden, aauth.ErrReauthRequired,
	"confirm it is you first (your password or a passkey), then try again")

// toReauth sends a form's person to confirm it is them, then back to
// Settings (the form's values are not kept: they submit it again).
func (u *UI) toReauth(c *gin.Context) {
	u.redirectFlash(c, "/reauth?next="+url.QueryEscape("/settings"),
		"Confirm it is you first, then make the change again.")
}

func (u *UI) reauthPage(c *gin.Context, s *session) error {
	keys, err := u.opt.Accounts.Passkeys(ctx(c), s.person.ID)
	if err != nil {
		return err
	}
	u.render(c, http.StatusOK, templates.ReauthPage(u.pageFor(c, s, "Confirm it is you"), templates.ReauthView{
		Next: localPath(c.Query("next")), Password: s.person.HasPassword,
		Passkeys: u.opt.Accounts.PasskeysEnabled() && len(keys) > 0,
	}))
	return nil
}

// reauth checks the session's person's password (the login's check, with
// its rate limits) and records the proof in a replacement session.
func (u *UI) reauth(c *gin.Context, s *session) error {
	next := localPath(c.PostForm("next"))
	back := "/reauth?next=" + url.QueryEscape(next)
	if _, err := u.opt.Accounts.Authenticate(ctx(c), s.person.Username, c.PostForm("password"), c.ClientIP()); err != nil {
		var rl *account.RateLimitedError
		switch {
		case errors.As(err, &rl):
			c.Header("Retry-After", strconv.Itoa(max(1, int(rl.RetryAfter.Seconds()))))
			u.redirectRefusal(c, back, "Too many failed attempts. Wait a few minutes and try again.")
		case errors.Is(err, account.ErrBadCredentials):
			u.log.InfoContext(ctx(c), "re-authentication failed", "person", s.person.ID, "client_ip", c.ClientIP())
			u.redirectRefusal(c, back, "The password is wrong.")
		default:
			return err
		}
		return nil
	}
	if err := u.reauthenticated(c, s); err != nil {
		return err
	}
	c.Redirect(http.StatusSeeOther, next)
	return nil
}

// reauthenticated replaces the session by one holding a proof from now.
func (u *UI) reauthenticated(c *gin.Context, s *session) error {
	token, sess, err := u.opt.Accounts.Reauthenticate(ctx(c), s.token)
	if err != nil {
		return err
	}
	u.setSessionCookie(c, token, sess.ExpiresAt)
	u.log.InfoContext(ctx(c), "person re-authenticated", "person", s.person.ID)
	return nil
}

func (u *UI) reauthPasskeyFinish(c *gin.Context, s *session) error {
	person, err := u.opt.Accounts.FinishPasskeyLogin(ctx(c), c.Query("ceremony"), c.Request)
	if err != nil {
		return u.jsonError(c, err)
	}
	if person.ID != s.person.ID {
		return u.jsonError(c, account.ErrPasskeyRejected)
	}
	if err := u.reauthenticated(c, s); err != nil {
		return u.jsonError(c, err)
	}
	c.JSON(http.StatusOK, gin.H{"redirect": localPath(c.Query("next"))})
	return nil
}
