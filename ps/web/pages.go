package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/agents"
	"github.com/aauth-ps/aauth-ps/ps/markdown"
	"github.com/aauth-ps/aauth-ps/ps/missionflow"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/templates"
)

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return s
}

// --- login, logout, invitations, sign-up ---

func (u *UI) loginPage(c *gin.Context, s *session) error {
	next := localPath(c.Query("next"))
	if s != nil {
		c.Redirect(http.StatusSeeOther, next)
		return nil
	}
	u.render(c, http.StatusOK, templates.LoginPage(u.pageFor(c, nil, "Log in"), u.loginView(next, u.takeFormUsername(c))))
	return nil
}

// redirectFormRefusal answers a refused login, sign-up or invitation form
// with POST/redirect/GET (issue 9 item 8): the refusal and the username
// typed (never the password) travel in 60-second HttpOnly cookies to the
// form's GET page, so a reload or Back shows the form, not a re-submission.
func (u *UI) redirectFormRefusal(c *gin.Context, to, username, msg string) {
	if username != "" && len(username) <= 256 {
		u.setCookie(c, formUsernameCookie, url.QueryEscape(username), 60)
	}
	u.redirectRefusal(c, to, msg)
}

// takeFormUsername reads (and clears) the username a refused form keeps.
func (u *UI) takeFormUsername(c *gin.Context) string {
	v, err := c.Cookie(u.cookie(formUsernameCookie))
	if err != nil || v == "" {
		return ""
	}
	u.setCookie(c, formUsernameCookie, "", -1)
	return v // gin's Cookie has unescaped it
}

func (u *UI) loginView(next, username string) templates.LoginView {
	v := templates.LoginView{Next: next, Username: username, Passkeys: u.opt.Accounts.PasskeysEnabled()}
	if u.opt.Signup {
		v.SignupURL = "/signup"
	}
	return v
}

func (u *UI) login(c *gin.Context, _ *session) error {
	next := localPath(c.PostForm("next"))
	username := strings.TrimSpace(c.PostForm("username"))
	person, err := u.opt.Accounts.Authenticate(ctx(c), username, c.PostForm("password"), c.ClientIP())
	if err != nil {
		var rl *account.RateLimitedError
		msg := ""
		switch {
		case errors.As(err, &rl):
			c.Header("Retry-After", strconv.Itoa(max(1, int(rl.RetryAfter.Seconds()))))
			msg = "Too many failed attempts. Wait a few minutes and try again."
			u.log.InfoContext(ctx(c), "login throttled", "username", username, "client_ip", c.ClientIP())
		case errors.Is(err, account.ErrBadCredentials):
			msg = "Wrong username or password."
			// The submitted username, which may name no one; never the password.
			u.log.InfoContext(ctx(c), "login failed", "username", username, "client_ip", c.ClientIP())
		default:
			return err
		}
		u.redirectFormRefusal(c, "/login?next="+url.QueryEscape(next), username, msg)
		return nil
	}
	return u.startSession(c, person, next)
}

// startSession logs person in: a fresh session (never a pre-login one,
// against session fixation) and a redirect to next.
func (u *UI) startSession(c *gin.Context, person *account.Person, next string) error {
	token, sess, err := u.opt.Accounts.StartSession(ctx(c), person.ID, c.Request.UserAgent(), c.ClientIP())
	if err != nil {
		return err
	}
	u.setSessionCookie(c, token, sess.ExpiresAt)
	u.log.InfoContext(ctx(c), "person logged in", "person", person.ID, "username", person.Username)
	c.Redirect(http.StatusSeeOther, localPath(next))
	return nil
}

func (u *UI) logout(c *gin.Context, s *session) error {
	if err := u.opt.Accounts.EndSession(ctx(c), s.token); err != nil {
		return err
	}
	u.clearCookie(c)
	c.Redirect(http.StatusSeeOther, "/login")
	return nil
}

func (u *UI) invitePage(c *gin.Context, s *session) error {
	inv, err := u.opt.Accounts.InviteInfo(ctx(c), c.Param("token"))
	if errors.Is(err, account.ErrInviteInvalid) {
		u.renderStatus(c, http.StatusNotFound, s, "Invitation not valid", "This invitation is unknown, expired or already used. Ask for a new one.")
		return nil
	}
	if err != nil {
		return err
	}
	u.render(c, http.StatusOK, templates.InvitePage(u.pageFor(c, s, "Accept your invitation"),
		templates.InviteView{Token: c.Param("token"), Email: inv.Email, IsAdmin: inv.IsAdmin, Username: u.takeFormUsername(c)}))
	return nil
}

func (u *UI) newPersonFromForm(c *gin.Context) account.NewPerson {
	return account.NewPerson{
		Username: strings.ToLower(strings.TrimSpace(c.PostForm("username"))),
		Name:     strings.TrimSpace(c.PostForm("name")),
		Password: c.PostForm("password"),
	}
}

func (u *UI) redeemInvite(c *gin.Context, s *session) error {
	np := u.newPersonFromForm(c)
	person, err := u.opt.Accounts.RedeemInvite(ctx(c), c.Param("token"), np)
	if err != nil {
		if msg, ok := personError(err); ok {
			u.redirectFormRefusal(c, "/invite/"+url.PathEscape(c.Param("token")), np.Username, msg)
			return nil
		}
		return err
	}
	return u.startSession(c, person, "/")
}

func (u *UI) signupPage(c *gin.Context, s *session) error {
	if !u.opt.Signup {
		return errNotFound
	}
	u.render(c, http.StatusOK, templates.InvitePage(u.pageFor(c, s, "Create your account"), templates.InviteView{Signup: true, Username: u.takeFormUsername(c)}))
	return nil
}

func (u *UI) signup(c *gin.Context, s *session) error {
	if !u.opt.Signup {
		return errNotFound
	}
	np := u.newPersonFromForm(c)
	person, err := u.opt.Accounts.CreatePerson(ctx(c), np)
	if err != nil {
		if msg, ok := personError(err); ok {
			u.redirectFormRefusal(c, "/signup", np.Username, msg)
			return nil
		}
		return err
	}
	return u.startSession(c, person, "/")
}

// personError turns validation failures into a message for the person.
func personError(err error) (string, bool) {
	for _, e := range []error{account.ErrUsernameTaken, account.ErrEmailTaken, account.ErrInvalidUsername,
		account.ErrInvalidEmail, account.ErrInvalidField, account.ErrWeakPassword, account.ErrInviteInvalid, account.ErrLastAdmin} {
		if errors.Is(err, e) {
			return sentence(strings.TrimPrefix(err.Error(), "account: ")), true
		}
	}
	return "", false
}

// sentence makes a message a sentence for people: capital first letter,
// final full stop (the account errors are lowercase Go error strings).
func sentence(msg string) string {
	if msg == "" {
		return msg
	}
	r, size := utf8.DecodeRuneInString(msg)
	msg = string(unicode.ToUpper(r)) + msg[size:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

// --- passkeys ---

func (u *UI) passkeyLoginBegin(c *gin.Context, _ *session) error {
	id, opts, err := u.opt.Accounts.BeginPasskeyLogin(ctx(c))
	if err != nil {
		return u.jsonError(c, err)
	}
	c.JSON(http.StatusOK, gin.H{"ceremony": id, "options": json.RawMessage(opts)})
	return nil
}

func (u *UI) passkeyLoginFinish(c *gin.Context, _ *session) error {
	person, err := u.opt.Accounts.FinishPasskeyLogin(ctx(c), c.Query("ceremony"), c.Request)
	if err != nil {
		return u.jsonError(c, err)
	}
	token, sess, err := u.opt.Accounts.StartSession(ctx(c), person.ID, c.Request.UserAgent(), c.ClientIP())
	if err != nil {
		return err
	}
	u.setSessionCookie(c, token, sess.ExpiresAt)
	c.JSON(http.StatusOK, gin.H{"redirect": localPath(c.Query("next"))})
	return nil
}

func (u *UI) passkeyRegisterBegin(c *gin.Context, s *session) error {
	if !u.opt.Accounts.RecentlyAuthenticated(s.sess) {
		u.problem(c, errReauthRequired)
		return nil
	}
	id, opts, err := u.opt.Accounts.BeginPasskeyRegistration(ctx(c), s.person.ID)
	if err != nil {
		return u.jsonError(c, err)
	}
	c.JSON(http.StatusOK, gin.H{"ceremony": id, "options": json.RawMessage(opts)})
	return nil
}

func (u *UI) passkeyRegisterFinish(c *gin.Context, s *session) error {
	name := strings.TrimSpace(c.Query("name"))
	if name == "" {
		name = "Passkey"
	}
	if !u.opt.Accounts.RecentlyAuthenticated(s.sess) {
		u.problem(c, errReauthRequired)
		return nil
	}
	token, sess, err := u.opt.Accounts.RegisterPasskey(ctx(c), s.token, c.Query("ceremony"), name, c.Request)
	if err != nil {
		return u.jsonError(c, err)
	}
	u.setSessionCookie(c, token, sess.ExpiresAt)
	c.JSON(http.StatusOK, gin.H{"status": "registered"})
	return nil
}

func (u *UI) deletePasskey(c *gin.Context, s *session) error {
	if !u.opt.Accounts.RecentlyAuthenticated(s.sess) {
		u.toReauth(c)
		return nil
	}
	token, sess, err := u.opt.Accounts.RemovePasskey(ctx(c), s.token, c.Param("id"))
	if errors.Is(err, account.ErrNotFound) {
		u.redirectRefusal(c, "/settings", "There is no such passkey.")
		return nil
	}
	if err != nil {
		return err
	}
	u.setSessionCookie(c, token, sess.ExpiresAt)
	u.redirectFlash(c, "/settings", "Passkey removed. Every other session of yours has ended.")
	return nil
}

// jsonError answers the passkey script with a problem: known refusals are
// 400 invalid_request with a detail, a session that ended meanwhile is 401
// login_required, anything else is a 500.
func (u *UI) jsonError(c *gin.Context, err error) error {
	switch {
	case errors.Is(err, account.ErrPasskeysDisabled), errors.Is(err, account.ErrCeremonyInvalid),
		errors.Is(err, account.ErrPasskeyRejected), errors.Is(err, account.ErrInvalidField):
		err = aauth.BadRequest(strings.TrimPrefix(err.Error(), "account: "))
	case errors.Is(err, account.ErrNoSession):
		err = errLoginRequired
	}
	u.problem(c, err)
	return nil
}

// --- home, agents ---

func (u *UI) home(c *gin.Context, s *session) error {
	open, err := u.opt.Interact.Waiting(ctx(c), s.person.ID)
	if err != nil {
		return err
	}
	waiting := make([]templates.WaitingItem, len(open))
	for i, w := range open {
		waiting[i] = waitingItem(w)
	}
	agentItems, err := u.agentItems(c, s)
	if err != nil {
		return err
	}
	missionItems, err := u.missionItems(c, s)
	if err != nil {
		return err
	}
	var roleSteps []missionflow.RoleStep
	if u.opt.MissionKinds != nil {
		if roleSteps, err = u.opt.MissionKinds.RoleSteps(ctx(c), s.person); err != nil {
			return err
		}
	}
	u.render(c, http.StatusOK, templates.HomePage(u.pageFor(c, s, "Home"),
		templates.HomeView{Waiting: waiting, Agents: agentItems, Missions: missionItems, RoleSteps: len(roleSteps)}))
	return nil
}

func (u *UI) agentItems(c *gin.Context, s *session) ([]templates.AgentItem, error) {
	bs, err := u.opt.Agents.Bindings(ctx(c), s.person.ID)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	out := make([]templates.AgentItem, 0, len(bs))
	for _, b := range bs {
		name, ok := names[b.Provider]
		if !ok {
			if p, err := u.opt.Agents.Provider(ctx(c), b.Provider); err == nil {
				name = markdown.Plain(p.Name)
			}
			names[b.Provider] = name
		}
		out = append(out, templates.AgentItem{BindingID: b.ID, AgentID: b.AgentID, Provider: b.Provider, ProviderName: name,
			Platform: b.Platform, Device: b.Device, Since: b.CreatedAt, LastSeen: b.LastSeenAt, Revoked: b.State == agents.BindingRevoked})
	}
	return out, nil
}

func (u *UI) agentsPage(c *gin.Context, s *session) error {
	items, err := u.agentItems(c, s)
	if err != nil {
		return err
	}
	blocked, err := u.opt.Agents.BlockedProviders(ctx(c), s.person.ID)
	if err != nil {
		return err
	}
	u.render(c, http.StatusOK, templates.AgentsPage(u.pageFor(c, s, "Connected agents"), templates.AgentsView{Agents: items, Blocked: blocked}))
	return nil
}

func (u *UI) revokeAgent(c *gin.Context, s *session) error {
	return u.endBinding(c, s, false, "Agent revoked: its requests are now refused")
}

func (u *UI) unbindAgent(c *gin.Context, s *session) error {
	return u.endBinding(c, s, true, "Agent unbound")
}

// endBinding revokes or unbinds an agent; the flow ends the missions it
// runs for this person with it.
func (u *UI) endBinding(c *gin.Context, s *session, unbind bool, done string) error {
	event, action := "agent revoked", "agent.revoke"
	if unbind {
		event, action = "agent unbound", "agent.unbind"
	}
	rec := u.auditChange(s, false, action, "binding:"+c.Param("id"), event, map[string]any{"binding": c.Param("id")})
	n := 0
	err := u.audited(c, &rec, func(tx *store.Store) error {
		var err error
		n, err = u.opt.MissionFlows.EndBindingIn(ctx(c), tx, s.person.ID, c.Param("id"), unbind)
		rec.Detail["missions_ended"] = n
		return err
	})
	if errors.Is(err, agents.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	if n > 0 {
		done += fmt.Sprintf("; %d of its missions ended", n)
	}
	u.redirectFlash(c, "/agents", done+".")
	return nil
}

func (u *UI) blockProvider(c *gin.Context, s *session) error {
	iss := strings.TrimSpace(c.PostForm("issuer"))
	if err := u.opt.Interact.CheckIssuer(iss); err != nil {
		u.redirectRefusal(c, "/agents", "That is not an agent provider identifier (https://host).")
		return nil
	}
	rec := u.auditChange(s, false, "provider.block", "provider:"+iss, "agent provider blocked", map[string]any{"issuer": iss})
	var agentsEnded, missionsEnded int
	err := u.audited(c, &rec, func(tx *store.Store) error {
		var err error
		agentsEnded, missionsEnded, err = u.opt.MissionFlows.BlockProviderIn(ctx(c), tx, s.person.ID, iss)
		rec.Detail["agents_revoked"], rec.Detail["missions_ended"] = agentsEnded, missionsEnded
		return err
	})
	if err != nil {
		return err
	}
	done := "Provider blocked"
	if agentsEnded > 0 {
		done += fmt.Sprintf("; %d of its agents revoked, %d missions ended", agentsEnded, missionsEnded)
	}
	u.redirectFlash(c, "/agents", done+".")
	return nil
}

func (u *UI) unblockProvider(c *gin.Context, s *session) error {
	if err := u.opt.Agents.UnblockProvider(ctx(c), s.person.ID, c.PostForm("issuer")); err != nil {
		return err
	}
	u.redirectFlash(c, "/agents", "Provider unblocked.")
	return nil
}

// --- settings ---

func (u *UI) settingsPage(c *gin.Context, s *session) error {
	keys, err := u.opt.Accounts.Passkeys(ctx(c), s.person.ID)
	if err != nil && !errors.Is(err, account.ErrPasskeysDisabled) {
		return err
	}
	v := templates.SettingsView{Username: s.person.Username, Name: s.person.Name, Email: s.person.Email,
		InboxChannel: s.person.InboxChannel, HasPassword: s.person.HasPassword}
	for _, k := range keys {
		v.Passkeys = append(v.Passkeys, templates.PasskeyItem{ID: k.ID, Name: k.Name, Created: k.CreatedAt, LastUsed: k.LastUsedAt})
	}
	v.Claims = claimsOf(s.person)
	u.render(c, http.StatusOK, templates.SettingsPage(u.pageFor(c, s, "Settings"), v))
	return nil
}

func claimsOf(p *account.Person) []templates.Claim {
	out := []templates.Claim{{Name: "sub", Value: "a different identifier for each resource"}}
	add := func(name, v string) {
		if v != "" {
			out = append(out, templates.Claim{Name: name, Value: v})
		}
	}
	add("name", p.Name)
	add("email", p.Email)
	add("tenant", p.Tenant)
	add("groups", strings.Join(p.Groups, ", "))
	add("roles", strings.Join(p.Roles, ", "))
	return out
}

func (u *UI) saveProfile(c *gin.Context, s *session) error {
	name := strings.TrimSpace(c.PostForm("name"))
	email := strings.TrimSpace(c.PostForm("email"))
	inbox := c.PostForm("inbox_channel") == "on"
	_, err := u.opt.Accounts.UpdateOwnProfile(ctx(c), s.person.ID, account.PersonUpdate{Name: &name, Email: &email, InboxChannel: &inbox})
	var rl *account.RateLimitedError
	if errors.As(err, &rl) {
		c.Header("Retry-After", strconv.Itoa(max(1, int(rl.RetryAfter.Seconds()))))
		u.redirectRefusal(c, "/settings", fmt.Sprintf("Too many email address changes. Nothing was saved; try again in %d minutes.",
			max(1, int(rl.RetryAfter.Round(time.Minute).Minutes()))))
		return nil
	}
	if msg, ok := personError(err); ok {
		u.redirectRefusal(c, "/settings", msg)
		return nil
	}
	if err != nil {
		return err
	}
	u.redirectFlash(c, "/settings", "Saved.")
	return nil
}

// changePassword sets a password. The current password, when there is
// one, is the proof that the person is at the keyboard; without one (a
// passkey-only account) the session must hold a recent proof.
func (u *UI) changePassword(c *gin.Context, s *session) error {
	if s.person.HasPassword {
		if _, err := u.opt.Accounts.Authenticate(ctx(c), s.person.Username, c.PostForm("current"), c.ClientIP()); err != nil {
			u.redirectRefusal(c, "/settings", "The current password is wrong.")
			return nil
		}
	} else if !u.opt.Accounts.RecentlyAuthenticated(s.sess) {
		u.toReauth(c)
		return nil
	}
	token, sess, err := u.opt.Accounts.ChangePassword(ctx(c), s.token, c.PostForm("new"))
	if msg, ok := personError(err); ok {
		u.redirectRefusal(c, "/settings", msg)
		return nil
	}
	if err != nil {
		return err
	}
	u.setSessionCookie(c, token, sess.ExpiresAt)
	u.redirectFlash(c, "/settings", "Password changed. Every other session of yours has ended.")
	return nil
}

// --- administration ---

// adminPersons shows the people, and a just-created invitation link once:
// it arrives in a short-lived cookie set by adminInvite's redirect
// (POST/redirect/GET) and is cleared as it is shown.
func (u *UI) adminPersons(c *gin.Context, s *session) error {
	inviteURL := ""
	if v, err := c.Cookie(u.cookie(inviteCookie)); err == nil && strings.HasPrefix(v, u.opt.Issuer+"/invite/") {
		inviteURL = v
		u.setCookie(c, inviteCookie, "", -1)
	}
	ps, err := u.opt.Accounts.ListPersons(ctx(c))
	if err != nil {
		return err
	}
	v := templates.AdminPersonsView{InviteURL: inviteURL}
	usernames := map[string]string{}
	for _, p := range ps {
		usernames[p.ID] = p.Username
		v.Persons = append(v.Persons, templates.PersonItem{ID: p.ID, Username: p.Username, Name: p.Name, Email: p.Email,
			IsAdmin: p.IsAdmin, Disabled: p.Disabled, Created: p.CreatedAt})
	}
	invites, err := u.opt.Accounts.OpenInvites(ctx(c))
	if err != nil {
		return err
	}
	if v.ApproverRoles, err = u.adminRoles(c, ps); err != nil {
		return err
	}
	for _, inv := range invites {
		v.Invites = append(v.Invites, templates.InviteItem{ID: inv.TokenHash, Email: inv.Email, IsAdmin: inv.IsAdmin,
			CreatedBy: usernames[inv.CreatedBy], Created: inv.CreatedAt, Expires: inv.ExpiresAt})
	}
	u.render(c, http.StatusOK, templates.AdminPersonsPage(u.pageFor(c, s, "People"), v))
	return nil
}

func (u *UI) adminCreatePerson(c *gin.Context, s *session) error {
	np := u.newPersonFromForm(c)
	np.Email = strings.TrimSpace(c.PostForm("email"))
	np.IsAdmin = c.PostForm("admin") == "on"
	np.Tenant = strings.TrimSpace(c.PostForm("tenant"))
	np.Groups, np.Roles = commaList(c.PostForm("groups")), commaList(c.PostForm("roles"))
	rec := u.auditChange(s, true, "person.create", "person:"+np.Username, "administrator created a person", map[string]any{"admin": np.IsAdmin})
	pp, err := u.opt.Accounts.PreparePerson(np) // hashes: before the transaction
	if err == nil {
		err = u.audited(c, &rec, func(tx *store.Store) error {
			_, err := u.opt.Accounts.WithStore(tx).InsertPerson(ctx(c), pp)
			return err
		})
	}
	if err != nil {
		if msg, ok := personError(err); ok {
			u.redirectRefusal(c, "/admin/persons", msg)
			return nil
		}
		return err
	}
	u.redirectFlash(c, "/admin/persons", "Account created.")
	return nil
}

func (u *UI) adminTogglePerson(c *gin.Context, s *session) error {
	p, err := u.opt.Accounts.Person(ctx(c), c.Param("id"))
	if errors.Is(err, account.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	disabled := !p.Disabled
	action := "person.enable"
	if disabled {
		action = "person.disable"
	}
	// Disabling also ends every session of the person, in the update's
	// transaction.
	rec := u.auditChange(s, true, action, "person:"+p.Username, "administrator changed a person", map[string]any{"person": p.ID, "disabled": disabled})
	if err := u.audited(c, &rec, func(tx *store.Store) error {
		_, err := u.opt.Accounts.WithStore(tx).UpdatePerson(ctx(c), p.ID, account.PersonUpdate{Disabled: &disabled})
		return err
	}); err != nil {
		if msg, ok := personError(err); ok {
			u.redirectRefusal(c, "/admin/persons", msg)
			return nil
		}
		return err
	}
	u.redirectFlash(c, "/admin/persons", "Saved.")
	return nil
}

func (u *UI) adminInvite(c *gin.Context, s *session) error {
	admin := c.PostForm("admin") == "on"
	rec := u.auditChange(s, true, "person.invite", "invitation", "invitation created", map[string]any{"admin": admin})
	var token string
	err := u.audited(c, &rec, func(tx *store.Store) error {
		var err error
		token, _, err = u.opt.Accounts.WithStore(tx).CreateInvite(ctx(c), s.person.ID, strings.TrimSpace(c.PostForm("email")), admin)
		return err
	})
	if msg, ok := personError(err); ok {
		u.redirectRefusal(c, "/admin/persons", msg)
		return nil
	}
	if err != nil {
		return err
	}
	u.setCookie(c, inviteCookie, u.opt.Issuer+"/invite/"+token, 60)
	u.redirectFlash(c, "/admin/persons", "Invitation created.")
	return nil
}

// adminRevokeInvite makes an open invitation unusable (issue 9 item 10).
func (u *UI) adminRevokeInvite(c *gin.Context, s *session) error {
	rec := u.auditChange(s, true, "invitation.revoke", "invitation", "invitation revoked", nil)
	err := u.audited(c, &rec, func(tx *store.Store) error {
		return u.opt.Accounts.WithStore(tx).RevokeInvite(ctx(c), c.PostForm("id"))
	})
	if errors.Is(err, account.ErrInviteInvalid) {
		u.redirectRefusal(c, "/admin/persons", "That invitation is no longer open: it was used, revoked or has expired.")
		return nil
	}
	if err != nil {
		return err
	}
	u.redirectFlash(c, "/admin/persons", "Invitation revoked: its link no longer works.")
	return nil
}

func (u *UI) adminProviders(c *gin.Context, s *session) error {
	ps, err := u.opt.Agents.Providers(ctx(c))
	if err != nil {
		return err
	}
	v := templates.AdminProvidersView{Policy: string(u.opt.Agents.Policy())}
	for _, p := range ps {
		v.Providers = append(v.Providers, templates.ProviderItem{Issuer: p.Issuer, Status: string(p.Status),
			Name: markdown.Plain(p.Name), Description: markdown.Render(p.Description), LogoURI: p.LogoURI, LastSeen: p.LastSeen})
	}
	u.render(c, http.StatusOK, templates.AdminProvidersPage(u.pageFor(c, s, "Agent providers"), v))
	return nil
}

func (u *UI) adminSetProvider(c *gin.Context, s *session) error {
	iss := strings.TrimSpace(c.PostForm("issuer"))
	if err := u.opt.Interact.CheckIssuer(iss); err != nil {
		u.redirectRefusal(c, "/admin/providers", "That is not an agent provider identifier (https://host).")
		return nil
	}
	rec := u.auditChange(s, true, "provider."+c.PostForm("status"), "provider:"+iss, "administrator decided on an agent provider", nil)
	if err := u.audited(c, &rec, func(tx *store.Store) error {
		return u.opt.Agents.WithStore(tx).SetProviderStatus(ctx(c), iss, agents.ProviderStatus(c.PostForm("status")), s.person.ID)
	}); err != nil {
		return err
	}
	u.redirectFlash(c, "/admin/providers", "Saved.")
	return nil
}

// commaList splits a comma-separated form value, dropping empty items.
func commaList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
