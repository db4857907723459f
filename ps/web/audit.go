package web

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/aauth-ps/aauth-ps/ps/audit"
	"github.com/aauth-ps/aauth-ps/ps/store"
	"github.com/aauth-ps/aauth-ps/templates"
)

// audited makes a change in the UI or through mission control (issue 14)
// and writes its audit row in the change's transaction, then logs it
// (audit.Commit, as the CLI does): a failed write undoes the change, and
// a refusal (change's error) records nothing. change runs its services
// WithStore(tx) and may complete rec or clear it (audit.Commit).
func (u *UI) audited(c *gin.Context, rec *audit.Change, change func(tx *store.Store) error) error {
	return audit.Commit(ctx(c), u.opt.Audit, u.opt.InTx, rec, change)
}

// auditChange is a change made by the session's person: asAdmin says the
// change used administrator rights; a change through an API token is
// attributed to the token (its person is in the detail).
func (u *UI) auditChange(s *session, asAdmin bool, action, target, message string, detail map[string]any) audit.Change {
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
	return audit.Change{By: by, Action: action, Target: target, Message: message, Detail: detail}
}

// auditPageSize is how many events /admin/audit shows at once.
const auditPageSize = 50

// adminAudit lists the audit trail newest first, a page at a time
// (?before=ID pages on; a malformed value shows the newest page).
func (u *UI) adminAudit(c *gin.Context, s *session) error {
	st := u.opt.Audit.Store
	if st == nil {
		return errNotFound
	}
	before, err := strconv.ParseInt(c.Query("before"), 10, 64)
	if err != nil || before < 0 {
		before = 0
	}
	events, err := st.AuditEvents(ctx(c), before, auditPageSize+1)
	if err != nil {
		return err
	}
	v := templates.AdminAuditView{Newer: before > 0}
	if len(events) > auditPageSize {
		events = events[:auditPageSize]
		v.Older = strconv.FormatInt(events[len(events)-1].ID, 10)
	}
	usernames := map[string]string{}
	if persons, err := u.opt.Accounts.ListPersons(ctx(c)); err == nil {
		for _, p := range persons {
			usernames[p.ID] = p.Username
		}
	}
	for _, e := range events {
		who := e.Actor.ID
		if name, ok := usernames[who]; ok && (e.Actor.Kind == audit.ActorPerson || e.Actor.Kind == audit.ActorAdmin) {
			who = name
		}
		item := templates.AuditItem{At: e.At, Actor: e.Actor.Kind, Who: who, Action: e.Action, Target: e.Target}
		if len(e.Detail) > 0 {
			b, _ := json.Marshal(e.Detail)
			item.Detail = string(b)
		}
		v.Events = append(v.Events, item)
	}
	u.render(c, http.StatusOK, templates.AdminAuditPage(u.pageFor(c, s, "Audit trail"), v))
	return nil
}
