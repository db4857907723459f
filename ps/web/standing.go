package web

import (
	"errors"

	"github.com/gin-gonic/gin"

	"github.com/aauth-ps/aauth-ps/ps/dberr"
)

// removeStandingApproval removes one of the session person's standing
// approvals (issue 10): the agent's later missions are asked again;
// missions already started stay as they are. An id the person does not
// hold (another person's included) is not found.
func (u *UI) removeStandingApproval(c *gin.Context, s *session) error {
	id := c.PostForm("id")
	if u.opt.RemoveStandingApproval == nil || id == "" || len(id) > 64 {
		return errNotFound
	}
	err := u.opt.RemoveStandingApproval(ctx(c), s.person.ID, id)
	if errors.Is(err, dberr.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	u.log.InfoContext(ctx(c), "person removed a standing approval", "person", s.person.ID, "template", id)
	u.redirectFlash(c, "/access", "Removed: the agent's next missions like that one ask you first. Missions already started are unchanged.")
	return nil
}
