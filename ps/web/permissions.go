package web

import (
	"errors"

	"github.com/gin-gonic/gin"

	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/permission"
	"github.com/aauth-ps/aauth-ps/templates"
)

// The remembered answers to permission requests (E7) on the access page:
// what an agent may or may not do without asking, each removable.

// permissionRules lists the session person's remembered answers.
func (u *UI) permissionRules(c *gin.Context, s *session) ([]templates.PermissionRuleItem, error) {
	if u.opt.Permissions == nil {
		return nil, nil
	}
	rules, err := u.opt.Permissions.PermissionRules(ctx(c), s.person.ID)
	if err != nil {
		return nil, err
	}
	out := make([]templates.PermissionRuleItem, len(rules))
	for i, r := range rules {
		out[i] = templates.PermissionRuleItem{AgentIss: r.AgentIss, AgentSub: r.AgentSub, Action: r.Action,
			Granted: r.Permission == permission.Granted, DecidedAt: r.DecidedAt}
	}
	return out, nil
}

// removePermissionRule forgets one of the session person's remembered
// answers: the key comes from the form, the person from the session only,
// so another person's rule is the same 404 as none.
func (u *UI) removePermissionRule(c *gin.Context, s *session) error {
	key := permission.RuleKey{PersonID: s.person.ID, AgentIss: c.PostForm("agent_iss"), AgentSub: c.PostForm("agent_sub"), Action: c.PostForm("action")}
	if u.opt.Permissions == nil || key.AgentIss == "" || key.AgentSub == "" || key.Action == "" {
		return errNotFound
	}
	err := u.opt.Permissions.RemovePermissionRule(ctx(c), key)
	if errors.Is(err, dberr.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	u.log.InfoContext(ctx(c), "person removed a permission answer", "person", s.person.ID, "username", s.person.Username,
		"agent_iss", key.AgentIss, "agent_sub", key.AgentSub, "action", key.Action)
	u.redirectFlash(c, "/access", "Answer forgotten: the agent must ask you again before it does "+key.Action+".")
	return nil
}
