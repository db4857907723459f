package web

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/aauth-ps/aauth-ps/ps/account"
	"github.com/aauth-ps/aauth-ps/ps/audit"
	"github.com/aauth-ps/aauth-ps/ps/interact"
	"github.com/aauth-ps/aauth-ps/ps/markdown"
	"github.com/aauth-ps/aauth-ps/ps/missionflow"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/templates"
)

// Approver roles (issue 10): administrators give and take them on the
// People page; a person holding one records the mission steps that wait
// for it on /roles.

func (u *UI) registerRoles(g *gin.RouterGroup) {
	g.GET("/roles", u.authed(u.roleStepsPage))
	g.POST("/roles/steps/:s256/:id", u.authed(u.recordRoleStep))
	g.POST("/admin/roles", u.admin(u.adminAddRole))
	g.POST("/admin/persons/:id/roles/remove", u.admin(u.adminRemoveRole))
}

func (u *UI) roleStepsPage(c *gin.Context, s *session) error {
	roles, err := u.opt.Accounts.ApproverRoles(ctx(c), s.person.ID)
	if err != nil {
		return err
	}
	steps, err := u.opt.MissionKinds.RoleSteps(ctx(c), s.person)
	if err != nil {
		return err
	}
	v := templates.RoleStepsView{Roles: roles}
	waiting := map[string]map[string][]interact.StepWaiting{} // by mission, then step
	for _, st := range steps {
		w, ok := waiting[st.S256]
		if !ok {
			if w, err = u.opt.Interact.WaitingForSteps(ctx(c), st.PersonID, st.S256); err != nil {
				return err
			}
			waiting[st.S256] = w
		}
		item := templates.RoleStepItem{S256: st.S256, Mission: title(st.Mission), Agent: st.Agent,
			ID: st.ID, Text: st.Text, Role: st.Role, Consumed: st.Consumed}
		for _, x := range w[st.ID] {
			item.Waiting = append(item.Waiting, templates.RoleWaitingItem{Asked: x.Asked, Says: markdown.Plain(x.Says)})
		}
		v.Steps = append(v.Steps, item)
	}
	u.render(c, http.StatusOK, templates.RoleStepsPage(u.pageFor(c, s, "Steps for your roles"), v))
	return nil
}

// recordRoleStep is POST /roles/steps/{s256}/{id}. Whatever the person may
// not record — no such mission or step, another role's, one waiting for
// an earlier step, a mission that ended — is the same 403, so the answer
// tells nothing about missions the person cannot see.
func (u *UI) recordRoleStep(c *gin.Context, s *session) error {
	role, err := u.opt.MissionKinds.RecordRoleStep(ctx(c), c.Param("s256"), s.person, c.Param("id"))
	if errors.Is(err, missionflow.ErrNoRoleStep) {
		return errForbidden
	}
	if err != nil {
		return err
	}
	u.log.InfoContext(ctx(c), "mission checkpoint recorded by role", "mission", c.Param("s256"), "checkpoint", c.Param("id"),
		"role", role, "by", s.person.ID, "username", s.person.Username)
	u.redirectFlash(c, "/roles", "Step recorded.")
	return nil
}

// adminRoles lists every approver role held, for the People page.
func (u *UI) adminRoles(c *gin.Context, ps []account.Person) ([]templates.ApproverRoleItem, error) {
	var out []templates.ApproverRoleItem
	for _, p := range ps {
		roles, err := u.opt.Accounts.ApproverRoles(ctx(c), p.ID)
		if err != nil {
			return nil, err
		}
		for _, r := range roles {
			out = append(out, templates.ApproverRoleItem{PersonID: p.ID, Username: p.Username, Role: r})
		}
	}
	return out, nil
}

func (u *UI) adminAddRole(c *gin.Context, s *session) error {
	return u.changeRole(c, s, c.PostForm("person"), true)
}

func (u *UI) adminRemoveRole(c *gin.Context, s *session) error {
	return u.changeRole(c, s, c.Param("id"), false)
}

// changeRole gives or takes an approver role and audits the change; a
// bad role or an unknown person is refused with an alert and changes
// nothing.
func (u *UI) changeRole(c *gin.Context, s *session, personID string, add bool) error {
	const to = "/admin/persons"
	p, err := u.opt.Accounts.Person(ctx(c), personID)
	if errors.Is(err, account.ErrNotFound) {
		u.redirectRefusal(c, to, "There is no such person.")
		return nil
	}
	if err != nil {
		return err
	}
	role, err := account.NormalizeRole(c.PostForm("role"))
	if errors.Is(err, account.ErrInvalidField) {
		u.redirectRefusal(c, to, "A role is 1 to 128 characters, without control characters.")
		return nil
	}
	if err != nil {
		return err
	}
	action, msg, flash := "person.role-add", "administrator gave a person an approver role", p.Username+" now holds the role "+role+"."
	if !add {
		action, msg, flash = "person.role-remove", "administrator took an approver role from a person", p.Username+" no longer holds the role "+role+"."
	}
	rec := u.auditChange(s, true, action, "person:"+p.Username, msg, map[string]any{"person": p.ID, "role": role})
	err = u.audited(c, &rec, func(tx *store.Store) error {
		accounts, changed := u.opt.Accounts.WithStore(tx), false
		var err error
		if add {
			changed, err = accounts.AddApproverRole(ctx(c), p.ID, role)
		} else {
			changed, err = accounts.RemoveApproverRole(ctx(c), p.ID, role)
		}
		if !changed {
			rec = audit.Change{} // held already, or not at all: nothing to record
		}
		return err
	})
	if err != nil {
		return err
	}
	u.redirectFlash(c, to, flash)
	return nil
}
