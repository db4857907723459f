package web

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/composition"
	"github.com/aauth-ps/aauth-ps/ps/dberr"
	"github.com/aauth-ps/aauth-ps/ps/httperr"
	"github.com/aauth-ps/aauth-ps/ps/lifecycle"
	"github.com/aauth-ps/aauth-ps/ps/markdown"
	"github.com/aauth-ps/aauth-ps/ps/missionflow"
	"github.com/aauth-ps/aauth-ps/templates"
)

// missionControlPath is where the mission control API lives (the
// metadata's mission_control_endpoint).
const missionControlPath = "/mission-control"

// registerMissions adds the mission pages and the mission control API.
func (u *UI) registerMissions(g *gin.RouterGroup) {
	g.GET("/missions/:s256", u.authed(u.missionPage))
	g.POST("/missions/:s256/revoke", u.authed(u.revokeMission))
	g.POST("/missions/:s256/checkpoints/:id", u.authed(u.recordCheckpoint))
	g.POST("/missions/:s256/answers/:id/forget", u.authed(u.forgetAnswer))

	api := g.Group(missionControlPath)
	api.GET("/missions", u.api(u.mcList))
	api.GET("/missions/:s256", u.api(u.mcGet))
	api.GET("/missions/:s256/blob", u.api(u.mcBlob))
	api.GET("/missions/:s256/log", u.api(u.mcLog))
	api.POST("/missions/:s256/revoke", u.api(u.mcRevoke))
	api.POST("/missions/:s256/terminate", u.api(u.mcTerminate))
	api.GET("/missions/:s256/evidence", u.api(u.mcEvidence))
	u.registerLifecycle(g)
}

// missionItems lists a person's missions for the home page.
func (u *UI) missionItems(c *gin.Context, s *session) ([]templates.MissionItem, error) {
	ms, err := u.opt.Missions.ForPerson(ctx(c), s.person.ID)
	if err != nil {
		return nil, err
	}
	now := u.now()
	out := make([]templates.MissionItem, 0, len(ms))
	for _, m := range ms {
		b, err := m.Parsed()
		if err != nil {
			continue
		}
		active, reason := m.State().Active(now)
		out = append(out, templates.MissionItem{S256: m.S256, Title: title(b.Description), AgentID: m.AgentSub,
			ApprovedAt: m.ApprovedAt, Active: active, Reason: string(reason), Suspended: m.Hold != nil})
	}
	return out, nil
}

// title is a mission's first line, as plain text.
func title(desc string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(desc), "\n")
	line = strings.TrimSpace(strings.TrimLeft(markdown.Plain(line), "# "))
	if len(line) > 120 {
		line = line[:117] + "…"
	}
	if line == "" {
		return "Untitled mission"
	}
	return line
}

// visible loads a mission the viewer may see: their own, or any for an
// administrator. Anything else is not found (no oracle).
func (u *UI) visible(c *gin.Context, s *session) (*mission.Record, error) {
	m, err := u.opt.Missions.Get(ctx(c), c.Param("s256"))
	if errors.Is(err, missionflow.ErrNotFound) || (err == nil && m.PersonID != s.person.ID && !s.person.IsAdmin) {
		return nil, errNotFound
	}
	return m, err
}

func (u *UI) missionPage(c *gin.Context, s *session) error {
	m, err := u.visible(c, s)
	if err != nil {
		return err
	}
	info, err := u.opt.MissionKinds.Info(ctx(c), m)
	if err != nil {
		return err
	}
	entries, err := u.opt.Missions.Entries(ctx(c), m.S256)
	if err != nil {
		return err
	}
	active, reason := m.State().Active(u.now())
	v := templates.MissionPageView{Mission: *missionView(info), AgentID: m.AgentSub, Provider: m.AgentIss,
		Approved: m.ApprovedAt, Active: active, Reason: string(reason), Ended: m.EndedAt, Blob: string(m.Blob),
		Yours: m.PersonID == s.person.ID, CanAdmin: s.person.IsAdmin}
	if m.Hold != nil && active {
		v.Hold = &templates.HoldView{Until: m.Hold.Until, ByAdmin: m.Hold.ByKind == "admin"}
	}
	v.Mission.URL = ""
	for _, e := range entries {
		li := templates.LogItem{Seq: e.Seq, At: e.At, Kind: e.Kind, Actor: e.Actor, Digest: e.Digest}
		// The stored line stays as it is; the person reads it in plain words.
		text := templates.LogText(e.Kind, e.Actor, e.Summary, v.Yours)
		if e.Actor == "agent" {
			li.Summary = template.HTML(markdown.Render(text)) // agent-asserted: sanitized, attributed
		} else {
			li.Summary = text
		}
		v.Log = append(v.Log, li)
	}
	a, err := u.opt.MissionKinds.Authority(ctx(c), m)
	if err != nil {
		return err
	}
	if a != nil {
		v.Consented = consentedView(a)
	}
	if u.opt.Decisions != nil {
		ds, err := u.opt.Decisions(ctx(c), m.S256)
		if err != nil {
			return err
		}
		for _, d := range ds {
			v.Decisions = append(v.Decisions, decisionItem(d))
		}
	}
	if u.opt.StandingAnswers != nil {
		if v.Answers, err = u.opt.StandingAnswers(ctx(c), m.S256); err != nil {
			return err
		}
	}
	u.render(c, http.StatusOK, templates.MissionPage(u.pageFor(c, s, "Mission"), v))
	return nil
}

// forgetAnswer removes one of the mission's standing answers to access
// servers (issue 11): only the mission's person may; anything else,
// another mission's answer included, is not found (no oracle).
func (u *UI) forgetAnswer(c *gin.Context, s *session) error {
	m, err := u.visible(c, s)
	if err != nil {
		return err
	}
	id := c.Param("id")
	if u.opt.ForgetAnswer == nil || m.PersonID != s.person.ID || len(id) > 64 {
		return errNotFound
	}
	if err := u.opt.ForgetAnswer(ctx(c), m.S256, id, s.person); errors.Is(err, dberr.ErrNotFound) {
		return errNotFound
	} else if err != nil {
		return err
	}
	u.log.InfoContext(ctx(c), "person forgot a standing answer", "mission", m.S256, "answer", id, "by", s.person.ID)
	u.redirectFlash(c, "/missions/"+m.S256, "Forgotten: if the access server asks that again, you or the agent are asked.")
	return nil
}

// decisionItem is one decision in the person's words: what was asked, what
// the PS decided, and why (the decision's own explanation).
func decisionItem(d composition.Listed) templates.DecisionItem {
	what := d.Resource
	if d.Action != "" {
		what = d.Action
	}
	outcome := map[string]string{"issue": "Allowed", "defer": "Asked you first", "deny": "Refused"}[string(d.Outcome)]
	if outcome == "" {
		outcome = string(d.Outcome)
	}
	by := ""
	switch {
	case d.Exclusion != "":
		by = "the exclusion " + d.Exclusion
	case d.Entry != "":
		by = "the entry " + d.Entry
	}
	return templates.DecisionItem{ID: d.ID, At: d.At, What: what, Outcome: outcome, Refused: d.Outcome == "deny",
		Reason: d.Reason, By: by, Explanation: d.Explanation}
}

func (u *UI) revokeMission(c *gin.Context, s *session) error {
	return u.pageChange(c, s, "Mission revoked.", func(m *mission.Record, by lifecycle.Actor, a lifecycle.Audit) (*lifecycle.Result, error) {
		return u.opt.Lifecycle.Terminate(ctx(c), m.S256, mission.ReasonRevoked, by, a)
	})
}

// --- mission control: a JSON API for the person and administrators ---

// api wraps a mission-control handler: a session is required (401 JSON
// otherwise, never a redirect), and unsafe methods need the session's
// CSRF token in X-CSRF-Token. Every error goes through the one problem
// renderer.
func (u *UI) api(f pageFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.GetHeader("Authorization") != "" {
			u.bearer(c, f)
			return
		}
		s, err := u.loadSession(c)
		switch {
		case err != nil:
			u.problem(c, err)
		case s == nil:
			u.problem(c, errLoginRequired)
		case c.Request.Method != http.MethodGet && !u.csrfOK(c, s):
			u.problem(c, aauth.NewProblem(http.StatusForbidden, aauth.ErrInvalidCSRF, "send the session's CSRF token in X-CSRF-Token"))
		default:
			if err := f(c, s); err != nil {
				u.problem(c, apiProblem(err))
			}
		}
	}
}

// errLoginRequired answers a JSON request without a valid session.
var errLoginRequired = aauth.NewProblem(http.StatusUnauthorized, aauth.ErrLoginRequired, "log in to the person server first")

// apiProblem maps the page errors to mission control's problems; a
// *aauth.Problem passes as it is, anything else is a server error.
func apiProblem(err error) error {
	switch {
	case errors.Is(err, errNotFound):
		return aauth.NewProblem(http.StatusNotFound, aauth.ErrMissionNotFound, "no such mission")
	case errors.Is(err, errForbidden):
		return aauth.NewProblem(http.StatusForbidden, aauth.ErrAdminRequired, "administrators only")
	}
	return err
}

// problem writes err as problem+json (ps/httperr) and logs server errors.
func (u *UI) problem(c *gin.Context, err error) {
	if p := httperr.Write(c, err); p != nil && p.Status >= http.StatusInternalServerError {
		u.log.ErrorContext(ctx(c), "web JSON request failed", "path", c.FullPath(), "err", p.Cause)
	}
}

// missionJSON is a mission's status document.
func (u *UI) missionJSON(m *mission.Record) map[string]any {
	active, reason := m.State().Active(u.now())
	d := map[string]any{
		"s256": m.S256, "agent": m.AgentSub, "agent_provider": m.AgentIss, "approved_at": mission.FormatTime(m.ApprovedAt),
		"mission_status": "active", "blob_url": u.opt.Issuer + missionControlPath + "/missions/" + m.S256 + "/blob",
		"capabilities": m.Capabilities,
	}
	if m.ExpiresAt != nil {
		d["expires_at"] = mission.FormatTime(*m.ExpiresAt)
	}
	if !active {
		d["mission_status"], d["termination_reason"] = "terminated", string(reason)
	} else if m.Hold != nil {
		// Still active on the wire (design §5); mission control says why
		// its requests wait, and until when.
		d["hold"] = map[string]any{"since": mission.FormatTime(m.Hold.Since), "until": mission.FormatTime(m.Hold.Until), "by": m.Hold.ByKind}
	}
	if m.EndedAt != nil {
		d["terminated_at"] = mission.FormatTime(*m.EndedAt)
	}
	return d
}

func (u *UI) mcList(c *gin.Context, s *session) error {
	var (
		ms  []*mission.Record
		err error
	)
	if s.person.IsAdmin && c.Query("all") == "true" {
		ms, err = u.opt.Missions.All(ctx(c), 500)
	} else {
		ms, err = u.opt.Missions.ForPerson(ctx(c), s.person.ID)
	}
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(ms))
	for _, m := range ms {
		out = append(out, u.missionJSON(m))
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"missions": out})
	return nil
}

func (u *UI) mcGet(c *gin.Context, s *session) error {
	m, err := u.visible(c, s)
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, u.missionJSON(m))
	return nil
}

// mcBlob serves the exact bytes that were hashed (P§mission-identifier, PS-188).
func (u *UI) mcBlob(c *gin.Context, s *session) error {
	m, err := u.visible(c, s)
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "application/json", m.Blob)
	return nil
}

func (u *UI) mcLog(c *gin.Context, s *session) error {
	m, err := u.visible(c, s)
	if err != nil {
		return err
	}
	entries, err := u.opt.Missions.Entries(ctx(c), m.S256)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(entries))
	for _, e := range entries {
		x := map[string]any{"seq": e.Seq, "at": mission.FormatTime(e.At), "kind": e.Kind, "actor": e.Actor, "summary": e.Summary}
		if e.Body != nil {
			x["body"] = base64.RawURLEncoding.EncodeToString(e.Body) // the exact persisted bytes
			x["s256"] = e.Digest
		}
		out = append(out, x)
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"s256": m.S256, "log": out})
	return nil
}

func (u *UI) mcRevoke(c *gin.Context, s *session) error {
	m, err := u.endMission(c, s, mission.ReasonRevoked)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, u.missionJSON(m))
	return nil
}

// mcTerminate is administrative termination with a reason (administrators only).
func (u *UI) mcTerminate(c *gin.Context, s *session) error {
	if !s.person.IsAdmin {
		return errForbidden
	}
	if _, err := u.visible(c, s); err != nil {
		return err
	}
	var body struct {
		Reason string `json:"reason"`
	}
	_ = json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, 4096)).Decode(&body)
	reason := mission.Reason(body.Reason)
	switch reason {
	case mission.ReasonAdministrative, mission.ReasonSuperseded, mission.ReasonRevoked:
	case "":
		reason = mission.ReasonAdministrative
	default:
		return aauth.BadRequest("reason must be administrative, superseded or revoked")
	}
	m, err := u.endMission(c, s, reason)
	if err != nil {
		return err
	}
	// The change itself was recorded in the audit trail by change.
	u.log.InfoContext(ctx(c), "mission terminated", "mission", m.S256, "reason", reason, "by", s.person.ID, "username", s.person.Username, "administrator", true)
	c.JSON(http.StatusOK, u.missionJSON(m))
	return nil
}
