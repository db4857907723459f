package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/aauth-ps/aauth-ps/mission"
	"github.com/aauth-ps/aauth-ps/mission/governance"
	"github.com/aauth-ps/aauth-ps/ps/aauth"
	"github.com/aauth-ps/aauth-ps/ps/audit"
	"github.com/aauth-ps/aauth-ps/ps/lifecycle"
)

// The governed lifecycle (issue 10, design §5) from the person's mission
// page and from mission control: every change goes through the one
// lifecycle service, which the CLI calls too.

// registerLifecycle adds the suspend and resume routes (revoke and
// terminate exist already and call the same service).
func (u *UI) registerLifecycle(g *gin.RouterGroup) {
	g.POST("/missions/:s256/suspend", u.authed(u.suspendMission))
	g.POST("/missions/:s256/resume", u.authed(u.resumeMission))
	api := g.Group(missionControlPath)
	api.POST("/missions/:s256/suspend", u.api(u.mcSuspend))
	api.POST("/missions/:s256/resume", u.api(u.mcResume))
}

// actor is who acts on m: its person, or an administrator acting on
// someone else's mission (visible has checked that). An administrator who
// owns the mission acts as an administrator on an administrator's hold.
func actor(m *mission.Record, s *session) lifecycle.Actor {
	owner := m.PersonID == s.person.ID
	if !owner || (s.person.IsAdmin && m.Hold != nil && m.Hold.ByKind == governance.ByAdmin) {
		return lifecycle.Actor{Kind: governance.ByAdmin, ID: s.person.ID}
	}
	return lifecycle.Actor{Kind: governance.ByPerson, ID: s.person.ID}
}

// change runs one lifecycle change on the mission the request names.
func (u *UI) change(c *gin.Context, s *session, do func(m *mission.Record, by lifecycle.Actor, a lifecycle.Audit) (*lifecycle.Result, error)) (*mission.Record, error) {
	m, err := u.visible(c, s)
	if err != nil {
		return nil, err
	}
	by := actor(m, s)
	if m.Hold != nil && m.Hold.ByKind == governance.ByAdmin && by.Kind != governance.ByAdmin {
		return nil, aauth.NewProblem(http.StatusForbidden, aauth.ErrAdminRequired, "an administrator suspended this mission; only an administrator can resume it")
	}
	// The audit row commits with the transition (issues 10/11 review): a
	// failed write rolls it back; the log line follows the commit.
	var rec audit.Change
	res, err := do(m, by, func(cx context.Context, tx audit.Store, t *governance.Transition) error {
		rec = u.auditChange(s, by.Kind == governance.ByAdmin, "mission."+string(t.To), "mission:"+m.S256, lifecycleEvent(t),
			map[string]any{"mission": m.S256, "from": t.From, "to": t.To, "reason": t.Reason})
		return u.opt.Audit.Write(cx, tx, rec)
	})
	if errors.Is(err, lifecycle.ErrTransition) {
		return nil, aauth.NewProblem(http.StatusConflict, aauth.ErrInvalidTransition, transitionWords(err))
	}
	if err != nil {
		return nil, err
	}
	rec.Detail["released"] = res.Released // known once committed: in the log line only
	u.opt.Audit.Logged(ctx(c), rec)
	return res.Mission, nil
}

// lifecycleEvent is a transition's log message. Operators search for
// "mission terminated" (issue 9's event names); the other transitions
// share one name.
func lifecycleEvent(t *governance.Transition) string {
	if t.To == "terminated" {
		return "mission terminated"
	}
	return "mission lifecycle changed"
}

// transitionWords is the refusal in words (the rule that refused).
func transitionWords(err error) string {
	return strings.TrimPrefix(err.Error(), lifecycle.ErrTransition.Error()+": ")
}

func (u *UI) suspendMission(c *gin.Context, s *session) error {
	return u.pageChange(c, s, "Mission suspended. New requests wait until you resume it.", func(m *mission.Record, by lifecycle.Actor, a lifecycle.Audit) (*lifecycle.Result, error) {
		return u.opt.Lifecycle.Suspend(ctx(c), m.S256, by, 0, a)
	})
}

func (u *UI) resumeMission(c *gin.Context, s *session) error {
	return u.pageChange(c, s, "Mission resumed. The requests that waited continue.", func(m *mission.Record, by lifecycle.Actor, a lifecycle.Audit) (*lifecycle.Result, error) {
		return u.opt.Lifecycle.Resume(ctx(c), m.S256, by, a)
	})
}

// pageChange runs a change from the mission page and redirects back to it
// (PRG) with what happened, or why it could not.
func (u *UI) pageChange(c *gin.Context, s *session, done string, do func(m *mission.Record, by lifecycle.Actor, a lifecycle.Audit) (*lifecycle.Result, error)) error {
	m, err := u.change(c, s, do)
	var p *aauth.Problem
	if errors.As(err, &p) && p.Status < http.StatusInternalServerError {
		u.redirectFlash(c, "/missions/"+c.Param("s256"), "Nothing changed: "+p.Detail+".")
		return nil
	}
	if err != nil {
		return err
	}
	u.redirectFlash(c, "/missions/"+m.S256, done)
	return nil
}

func (u *UI) mcSuspend(c *gin.Context, s *session) error {
	var body struct {
		// Hold is how long new requests are held before the mission ends
		// (a Go duration such as "30m"; the default 15m, at most 24h).
		Hold string `json:"hold"`
	}
	var hold time.Duration
	if c.Request.ContentLength != 0 {
		dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			return aauth.BadRequest("the body must be a JSON object with an optional hold duration")
		}
		if body.Hold != "" {
			d, err := time.ParseDuration(body.Hold)
			if err != nil || d <= 0 || d > governance.MaxHoldTimeout {
				return aauth.BadRequest("hold must be a duration between 1s and 24h")
			}
			hold = d
		}
	}
	return u.apiChange(c, s, func(m *mission.Record, by lifecycle.Actor, a lifecycle.Audit) (*lifecycle.Result, error) {
		return u.opt.Lifecycle.Suspend(ctx(c), m.S256, by, hold, a)
	})
}

func (u *UI) mcResume(c *gin.Context, s *session) error {
	return u.apiChange(c, s, func(m *mission.Record, by lifecycle.Actor, a lifecycle.Audit) (*lifecycle.Result, error) {
		return u.opt.Lifecycle.Resume(ctx(c), m.S256, by, a)
	})
}

// apiChange runs a change from mission control and answers the mission's
// status.
func (u *UI) apiChange(c *gin.Context, s *session, do func(m *mission.Record, by lifecycle.Actor, a lifecycle.Audit) (*lifecycle.Result, error)) error {
	m, err := u.change(c, s, do)
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, u.missionJSON(m))
	return nil
}

// endMission revokes (or, for an administrator, terminates for reason)
// through the lifecycle service. Ending an ended mission changes nothing
// and is not an error (its first reason stays).
func (u *UI) endMission(c *gin.Context, s *session, reason mission.Reason) (*mission.Record, error) {
	m, err := u.change(c, s, func(m *mission.Record, by lifecycle.Actor, a lifecycle.Audit) (*lifecycle.Result, error) {
		if reason != mission.ReasonRevoked {
			by.Kind = governance.ByAdmin // administrative reasons are an administrator's (checked by the caller)
		}
		return u.opt.Lifecycle.Terminate(ctx(c), m.S256, reason, by, a)
	})
	var p *aauth.Problem
	if errors.As(err, &p) && p.Code == aauth.ErrInvalidTransition {
		if m, err := u.visible(c, s); err == nil && m.Terminated {
			return m, nil
		}
	}
	return m, err
}

// mcEvidence serves the mission's evidence bundle, the same file
// `aauth-ps evidence export` writes (verify it with `aauth-ps evidence
// verify`).
func (u *UI) mcEvidence(c *gin.Context, s *session) error {
	m, err := u.visible(c, s)
	if err != nil {
		return err
	}
	b, err := u.opt.Evidence.Bundle(ctx(c), m.S256)
	if errors.Is(err, lifecycle.ErrNoEvidence) {
		return aauth.NewProblem(http.StatusNotFound, aauth.ErrMissionNotFound, "this mission was approved before evidence was kept")
	}
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Content-Disposition", `attachment; filename="evidence-`+m.S256+`.json"`)
	c.JSON(http.StatusOK, b)
	return nil
}
