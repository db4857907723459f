package web

import (
	"github.com/gin-gonic/gin"

	"github.com/aauth-ps/aauth-ps/ps/audit"
)

// record logs and records a change made in the UI or through mission
// control (issue 14) with the recorder the CLI uses. asAdmin says the
// change used administrator rights; a change through an API token is
// attributed to the token (its person is in the detail).
func (u *UI) record(c *gin.Context, s *session, asAdmin bool, action, target, message string, detail map[string]any) {
	by := audit.Actor{Kind: audit.ActorPerson, ID: s.person.ID}
	if asAdmin {
		by.Kind = audit.ActorAdmin
	}
	if detail == nil {
		detail = map[string]any{}
	}
	detail["username"] = s.person.Username
	if s.apiToken != "" {
		by = audit.Actor{Kind: audit.ActorAPIToken, ID: s.apiToken}
		detail["person"] = s.person.ID
	}
	u.opt.Audit.Record(ctx(c), by, action, target, message, detail)
}
