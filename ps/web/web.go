// Package web is the PS's browser surface: login (password and passkeys),
// the home page, connected agents, settings, administration, and the
// interaction pages behind the URLs agents hand to their person.
//
// Security posture: a strict Content-Security-Policy (no inline script or
// style), session cookies that are HttpOnly, SameSite=Lax and Secure (with
// the __Host- prefix) whenever the PS is served over https, a per-session
// CSRF token on every form plus net/http's cross-origin protection on every
// unsafe method, and authentication before any consent decision
// (P§ps-approval-endpoint-auth). Pages work without JavaScript; only passkeys
// need it.
package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"

	"github.com/aauth-ps/aauth-ps/federation"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/agents"
	"github.com/aauth-ps/aauth-ps/ps/apitoken"
	"github.com/aauth-ps/aauth-ps/ps/audit"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/interact"
	"github.com/aauth-ps/aauth-ps/ps/lifecycle"
	"github.com/aauth-ps/aauth-ps/ps/missionflow"
	"github.com/aauth-ps/aauth-ps/ps/permission"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/ps/tokens"
	"github.com/aauth-ps/aauth-ps/templates"
)

// Options configure the web UI.
type Options struct {
	Issuer   string
	Dev      bool
	Signup   bool // open sign-up
	Accounts *account.Service
	Agents   *agents.Service
	Interact *interact.Service
	Missions *missionflow.Service
	// MissionKinds renders missions as "what you approved".
	MissionKinds *missionflow.Kinds
	// MissionFlows runs the decisions that span agents and missions.
	MissionFlows *missionflow.Flows
	Tokens       *tokens.Service
	// Decisions lists the mission's evidenced decisions (Mission
	// composition) for the mission page; nil: the section is left out.
	Decisions func(ctx context.Context, s256 string) ([]composition.Listed, error)
	// RemoveGrant, when set, removes a grant together with the revocation
	// of the tokens it let the agent have (issue 8); default Tokens.RemoveGrant.
	RemoveGrant func(ctx context.Context, personID string, key tokens.GrantKey) error
	// AccessServers shows and stops claim releases to access servers
	// (*federation.Trust, four-party); nil hides the section.
	AccessServers *federation.Trust
	// StandingApprovals lists the person's "Let missions like this start
	// without asking me" templates (issue 10); nil hides the section.
	StandingApprovals func(ctx context.Context, personID string) ([]templates.StandingApprovalItem, error)
	// RemoveStandingApproval removes one of them (dberr.ErrNotFound when
	// the person has none with that id).
	RemoveStandingApproval func(ctx context.Context, personID, id string) error
	// StandingAnswers lists a mission's standing answers to access
	// servers (issue 11); nil hides the section.
	StandingAnswers func(ctx context.Context, s256 string) ([]templates.StandingAnswerItem, error)
	// ForgetAnswer removes one of them, evidenced as the person's
	// (dberr.ErrNotFound when the mission has none with that id).
	ForgetAnswer func(ctx context.Context, s256, id string, p *account.Person) error
	// MissionDefaultLifetime is the end the mission review selects at
	// first (zero: when completed or revoked).
	MissionDefaultLifetime time.Duration
	Logger                 *slog.Logger
	Now                    func() time.Time
	// Permissions are the answers the person remembered at the permission
	// endpoint, listed and removable on the access page (optional).
	Permissions permission.Store
	// Lifecycle suspends, resumes and ends missions (issue 10): the one
	// service the mission page, mission control and the CLI use.
	Lifecycle *lifecycle.Service
	// Evidence exports a mission's evidence bundle (issue 10, Level 4).
	Evidence *lifecycle.Exporter
	// APITokens, when set, lets mission control accept
	// Authorization: Bearer API tokens (issue 14) besides sessions.
	APITokens *apitoken.Service
	// Audit logs and records administrative changes (issue 14) and lists
	// them at /admin/audit; nil: a log-only recorder, no page data.
	Audit *audit.Recorder
	// InTx runs an audited change and its audit row in one transaction
	// (store.Store.InTx).
	InTx func(ctx context.Context, fn func(tx *store.Store) error) error
}

// UI serves the browser pages.
type UI struct {
	opt    Options
	log    *slog.Logger
	secure bool // served over https: Secure cookies with the __Host- prefix
	origin *http.CrossOriginProtection
}

// New builds the UI.
func New(opt Options) (*UI, error) {
	if opt.Accounts == nil || opt.Agents == nil || opt.Interact == nil || opt.InTx == nil || opt.Issuer == "" {
		return nil, errors.New("web: Issuer, Accounts, Agents, Interact and InTx are required")
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Audit == nil {
		opt.Audit = &audit.Recorder{Log: opt.Logger, Now: opt.Now}
	}
	u := &UI{opt: opt, log: opt.Logger, secure: strings.HasPrefix(opt.Issuer, "https://")}
	u.origin = http.NewCrossOriginProtection()
	u.origin.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	return u, nil
}

// session is the logged-in person for a request, passed explicitly to
// handlers (never stored in the gin context).
type session struct {
	token  string
	sess   *account.Session
	person *account.Person
	// apiToken is the id of the API token a mission-control request
	// carried ("" for a browser session).
	apiToken string
}

func (s *session) viewer() *templates.Viewer {
	if s == nil {
		return nil
	}
	return &templates.Viewer{Username: s.person.Username, Name: s.person.Name, IsAdmin: s.person.IsAdmin}
}

// page wraps a handler that may run without a session.
type pageFunc func(c *gin.Context, s *session) error

// Register adds every UI route to e.
func (u *UI) Register(e *gin.Engine) {
	e.StaticFS("/static", http.FS(mustSub(templates.Static, "static")))
	g := e.Group("/", u.securityHeaders(), u.crossOrigin())

	g.GET("/", u.authed(u.home))
	g.GET("/login", u.public(u.loginPage))
	g.POST("/login", u.public(u.login))
	g.POST("/logout", u.authed(u.logout))
	g.GET("/invite/:token", u.public(u.invitePage))
	g.POST("/invite/:token", u.public(u.redeemInvite))
	g.GET("/signup", u.public(u.signupPage))
	g.POST("/signup", u.public(u.signup))

	g.GET("/agents", u.authed(u.agentsPage))
	g.POST("/agents/:id/revoke", u.authed(u.revokeAgent))
	g.POST("/agents/:id/unbind", u.authed(u.unbindAgent))
	g.POST("/agents/providers/block", u.authed(u.blockProvider))
	g.POST("/agents/providers/unblock", u.authed(u.unblockProvider))

	g.GET("/settings", u.authed(u.settingsPage))
	g.POST("/settings/profile", u.authed(u.saveProfile))
	g.POST("/settings/password", u.authed(u.changePassword))
	g.POST("/settings/passkeys/begin", u.authed(u.passkeyRegisterBegin))
	g.POST("/settings/passkeys/finish", u.authed(u.passkeyRegisterFinish))
	g.POST("/settings/passkeys/:id/delete", u.authed(u.deletePasskey))
	g.GET("/reauth", u.authed(u.reauthPage))
	g.POST("/reauth", u.authed(u.reauth))
	g.POST("/reauth/passkey/begin", u.authed(u.passkeyLoginBegin))
	g.POST("/reauth/passkey/finish", u.authed(u.reauthPasskeyFinish))
	g.POST("/passkeys/login/begin", u.public(u.passkeyLoginBegin))
	g.POST("/passkeys/login/finish", u.public(u.passkeyLoginFinish))

	g.GET("/admin/persons", u.admin(u.adminPersons))
	g.POST("/admin/persons", u.admin(u.adminCreatePerson))
	g.POST("/admin/persons/:id/toggle", u.admin(u.adminTogglePerson))
	g.POST("/admin/invites", u.admin(u.adminInvite))
	g.POST("/admin/invites/revoke", u.admin(u.adminRevokeInvite))
	g.GET("/admin/providers", u.admin(u.adminProviders))
	g.POST("/admin/providers", u.admin(u.adminSetProvider))
	g.GET("/admin/audit", u.admin(u.adminAudit))
	u.registerRoles(g)

	g.GET("/interact/:id", u.authedNext(u.interactPage))
	g.POST("/interact/:id/:action", u.authed(u.interactAction))
	g.GET("/interact/:id/resource/:state", u.authedNext(u.resourceReturned))
	u.registerMissions(g)
	u.registerGrants(g)
	u.registerAPITokens(g)
}

// now is the clock missions are evaluated with.
func (u *UI) now() time.Time {
	if u.opt.Now != nil {
		return u.opt.Now()
	}
	return time.Now()
}

// securityHeaders sets the headers every page carries.
func (u *UI) securityHeaders() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https:; "+
			"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		h.Set("Cache-Control", "no-store")
		if u.secure {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
	}
}

// crossOrigin refuses unsafe cross-origin requests (Sec-Fetch-Site/Origin).
func (u *UI) crossOrigin() gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := u.origin.Check(c.Request); err != nil {
			if strings.HasPrefix(c.Request.URL.Path, missionControlPath+"/") {
				u.problem(c, aauth.NewProblem(http.StatusForbidden, aauth.ErrCrossOrigin, "request sent from another site"))
				return
			}
			u.renderStatus(c, http.StatusForbidden, nil, "Refused", "This form was submitted from another site.")
			c.Abort()
		}
	}
}

// loadSession reads the session cookie; nil when absent or invalid.
func (u *UI) loadSession(c *gin.Context) (*session, error) {
	ck, err := c.Request.Cookie(u.cookie(sessionCookie))
	if err != nil || ck.Value == "" {
		return nil, nil
	}
	sess, person, err := u.opt.Accounts.Session(c.Request.Context(), ck.Value)
	if errors.Is(err, account.ErrNoSession) {
		u.clearCookie(c)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &session{token: ck.Value, sess: sess, person: person}, nil
}

func (u *UI) public(f pageFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		s, err := u.loadSession(c)
		if err == nil {
			err = f(c, s)
		}
		u.finish(c, s, err)
	}
}

// authed requires a session; unsafe methods also need the CSRF token.
func (u *UI) authed(f pageFunc) gin.HandlerFunc {
	return u.authedWith(f, false)
}

// authedNext is authed for pages an agent links to: a person without a
// session logs in and comes back to the same URL (with its query).
func (u *UI) authedNext(f pageFunc) gin.HandlerFunc {
	return u.authedWith(f, true)
}

func (u *UI) authedWith(f pageFunc, comeBack bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		s, err := u.loadSession(c)
		if err != nil {
			u.finish(c, nil, err)
			return
		}
		if s == nil {
			next := "/"
			if comeBack || c.Request.Method == http.MethodGet {
				next = c.Request.URL.RequestURI()
			}
			c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(next))
			return
		}
		if c.Request.Method != http.MethodGet && !u.csrfOK(c, s) {
			u.renderStatus(c, http.StatusForbidden, s, "Refused", "The form expired or did not come from this site. Go back, reload and try again.")
			return
		}
		u.finish(c, s, f(c, s))
	}
}

func (u *UI) admin(f pageFunc) gin.HandlerFunc {
	return u.authed(func(c *gin.Context, s *session) error {
		if !s.person.IsAdmin {
			return errForbidden
		}
		return f(c, s)
	})
}

func (u *UI) csrfOK(c *gin.Context, s *session) bool {
	tok := c.GetHeader("X-CSRF-Token")
	if tok == "" {
		tok = c.PostForm("csrf")
	}
	return account.CheckCSRF(s.sess, tok)
}

var (
	errForbidden = errors.New("forbidden")
	errNotFound  = errors.New("not found")
)

// finish renders an error the handler returned.
func (u *UI) finish(c *gin.Context, s *session, err error) {
	if err == nil || c.Writer.Written() {
		return
	}
	switch {
	case errors.Is(err, errForbidden):
		u.renderStatus(c, http.StatusForbidden, s, "Not allowed", "You cannot do this.")
	case errors.Is(err, errNotFound):
		u.renderStatus(c, http.StatusNotFound, s, "Not found", "There is nothing here.")
	default:
		u.log.ErrorContext(c.Request.Context(), "web request failed", "path", c.FullPath(), "err", err)
		u.renderStatus(c, http.StatusInternalServerError, s, "Something went wrong", "The server could not finish this. Try again later.")
	}
}

// pageFor builds the common page model.
func (u *UI) pageFor(c *gin.Context, s *session, title string) templates.Page {
	p := templates.Page{Title: title, Dev: u.opt.Dev, Viewer: s.viewer()}
	if s != nil {
		p.CSRF = s.sess.CSRFToken
	}
	if f, err := c.Cookie(u.cookie(flashCookie)); err == nil && f != "" {
		p.Flash = f
		u.setCookie(c, flashCookie, "", -1)
	}
	if e, err := c.Cookie(u.cookie(refusalCookie)); err == nil && e != "" {
		p.Error = e
		u.setCookie(c, refusalCookie, "", -1)
	}
	return p
}

func (u *UI) render(c *gin.Context, status int, comp templ.Component) {
	c.Status(status)
	c.Header("Content-Type", "text/html; charset=utf-8")
	if err := comp.Render(c.Request.Context(), c.Writer); err != nil {
		u.log.ErrorContext(c.Request.Context(), "render page", "err", err)
	}
}

func (u *UI) renderStatus(c *gin.Context, status int, s *session, heading, msg string) {
	u.render(c, status, templates.ErrorPage(u.pageFor(c, s, heading), heading, msg))
	c.Abort()
}

// BrowserError answers a request no route or method matched with an HTML
// error page when a browser asked for a page (its Accept names text/html)
// outside the mission control API, and reports whether it did; API
// clients get the server's problem+json (issue 9 item 8).
func (u *UI) BrowserError(c *gin.Context, status int) bool {
	if !wantsHTML(c.Request) || strings.HasPrefix(c.Request.URL.Path, missionControlPath+"/") {
		return false
	}
	u.securityHeaders()(c)
	s, err := u.loadSession(c)
	if err != nil {
		s = nil
	}
	heading, msg := "Page not found", "There is no page at this address. Check the link, or start again from your home page."
	if status == http.StatusMethodNotAllowed {
		heading, msg = "This page cannot be opened directly", "This address only takes a form sent from the page before it. Start again from your home page."
	}
	u.renderStatus(c, status, s, heading, msg)
	return true
}

// wantsHTML reports whether the request's Accept names an HTML type, as
// browsers' page loads do; API clients ask for JSON or send no Accept.
func wantsHTML(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
			if mt = strings.ToLower(strings.TrimSpace(mt)); mt == "text/html" || mt == "application/xhtml+xml" {
				return true
			}
		}
	}
	return false
}

// redirectRefusal redirects with a one-line refusal for the next page,
// shown as an alert, never in the success notice (issue 9 item 9).
func (u *UI) redirectRefusal(c *gin.Context, to, msg string) {
	u.setCookie(c, refusalCookie, url.QueryEscape(msg), 60)
	c.Redirect(http.StatusSeeOther, to)
}

// redirectFlash redirects with a one-line notice for the next page.
func (u *UI) redirectFlash(c *gin.Context, to, flash string) {
	if flash != "" {
		u.setCookie(c, flashCookie, url.QueryEscape(flash), 60)
	}
	c.Redirect(http.StatusSeeOther, to)
}

// Cookie base names; cookie adds the prefix.
const (
	sessionCookie = "aauth_ps_session"
	flashCookie   = "aauth_ps_flash"
	refusalCookie = "aauth_ps_refusal"
	inviteCookie  = "aauth_ps_invite" // a new invitation link, shown once after the redirect
	// formUsernameCookie keeps the username of a refused login, sign-up or
	// invitation form for its GET page (never the password).
	formUsernameCookie = "aauth_ps_form_username"
)

// cookie is the name a cookie goes by: with the __Host- prefix over https,
// so the browser only accepts it Secure, host-only and for Path=/.
func (u *UI) cookie(base string) string {
	if u.secure {
		return "__Host-" + base
	}
	return base
}

// newCookie is one of the UI's cookies. Every cookie gets the same flags:
// HttpOnly, SameSite=Lax, Path=/ and, over https, Secure and the __Host-
// prefix.
func (u *UI) newCookie(base, value string) *http.Cookie {
	return &http.Cookie{Name: u.cookie(base), Value: value, Path: "/",
		HttpOnly: true, Secure: u.secure, SameSite: http.SameSiteLaxMode}
}

// setCookie sets (maxAge > 0) or clears (maxAge < 0) a cookie.
func (u *UI) setCookie(c *gin.Context, base, value string, maxAge int) {
	ck := u.newCookie(base, value)
	ck.MaxAge = maxAge
	http.SetCookie(c.Writer, ck)
}

// setSessionCookie sets the session cookie to end with the session.
func (u *UI) setSessionCookie(c *gin.Context, token string, expires time.Time) {
	ck := u.newCookie(sessionCookie, token)
	ck.Expires = expires
	http.SetCookie(c.Writer, ck)
}

func (u *UI) clearCookie(c *gin.Context) { u.setCookie(c, sessionCookie, "", -1) }

// localPath admits only a same-origin path as a redirect target and
// answers "/" for anything else. Browsers drop TAB, CR and LF inside URLs
// and read '\' as '/', so "/\t/evil.example" would become the
// scheme-relative "//evil.example": any control, space or backslash
// character refuses the target outright, before it is parsed. What is left
// must parse to a bare path (no scheme, host or user) that does not start
// with "//".
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return "/"
	}
	if strings.ContainsFunc(next, func(r rune) bool {
		return r == '\\' || unicode.IsControl(r) || unicode.IsSpace(r) || r == utf8.RuneError
	}) {
		return "/"
	}
	p, err := url.Parse(next)
	if err != nil || p.Scheme != "" || p.Host != "" || p.User != nil || p.Opaque != "" ||
		!strings.HasPrefix(p.Path, "/") || strings.HasPrefix(p.Path, "//") {
		return "/"
	}
	return next
}

// ctx is shorthand for the request context.
func ctx(c *gin.Context) context.Context { return c.Request.Context() }
